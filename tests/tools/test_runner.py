"""The runner on a real video with small test tools: validation, cache, errors, timeouts."""

import time

import pytest
from pydantic import BaseModel, Field

from tools.cache import ResultCache
from tools.errors import ToolRetry
from tools.capabilities import Capability
from tools.registry import ToolRegistry, backend
from tools.runner import ToolRunner
from tools.types import Evidence, ToolCall, ToolOutput
from tools.video import VideoReader


class NArgs(BaseModel):
    n: int = Field(ge=0, le=10)


class Payload(BaseModel):
    n: int


def cap(name: str, description: str, result: type[BaseModel] | None = None) -> Capability:
    return Capability(name=name, args=NArgs, result=result, description=description)


CALLS = {"count": 0}
SPANS: list[tuple[float, float]] = []


@pytest.fixture(scope="module")
def registry():
    reg = ToolRegistry()
    reg._entry_points_loaded = True

    @backend(cap("square", "n squared", Payload), name="test", registry=reg, profiles=("core",))
    def square(args: NArgs, ctx) -> ToolOutput:
        CALLS["count"] += 1
        frame = ctx.frame_at(0.5)
        ctx.count_model_frames("fake-model", 1)
        return ToolOutput(observation=f"{args.n ** 2}", data=Payload(n=args.n ** 2),
                          evidence=[Evidence(time_s=frame.time_s, note="looked here")])

    @backend(cap("boom", "raises"), name="test", registry=reg, profiles=("core",))
    def boom(args: NArgs, ctx) -> ToolOutput:
        raise RuntimeError("model exploded")

    @backend(cap("picky", "asks for another n"), name="test", registry=reg, profiles=("core",))
    def picky(args: NArgs, ctx) -> ToolOutput:
        raise ToolRetry("n must be even")

    @backend(cap("hang", "never returns"), name="test", registry=reg, profiles=("core",), timeout_s=0.5)
    def hang(args: NArgs, ctx) -> ToolOutput:
        time.sleep(30)
        return ToolOutput(observation="too late")

    @backend(cap("nap", "sleeps, recording when"), name="test", registry=reg, profiles=("core",), cacheable=False)
    def nap(args: NArgs, ctx) -> ToolOutput:
        start = time.monotonic()
        time.sleep(0.3)
        SPANS.append((start, time.monotonic()))
        return ToolOutput(observation="rested")

    @backend(cap("outer", "calls square"), name="test", registry=reg, profiles=("core",))
    def outer(args: NArgs, ctx) -> ToolOutput:
        inner = ctx.call("square", n=args.n)
        return ToolOutput(observation=f"inner said {inner.observation}")

    return reg


@pytest.fixture
def runner(registry, bikes_mp4, tmp_path):
    reader = VideoReader.open(bikes_mp4)
    yield ToolRunner(registry.toolset("core"), reader, cache=ResultCache(tmp_path / "c.sqlite"), timeout_s=5)
    reader.close()


def test_ok_result_carries_data_evidence_and_counters(runner):
    (r,) = runner.run([ToolCall(name="square", args={"n": 3})])
    assert r.status == "ok" and r.observation == "9" and r.data == Payload(n=9)
    assert r.evidence[0].frame_index == 12  # filled in from the time (0.5 s at 25 fps)
    assert r.frames_decoded >= 1 and r.model_frames == {"fake-model": 1}


def test_second_identical_call_is_a_cache_hit(runner):
    before = CALLS["count"]
    first = runner.run([ToolCall(name="square", args={"n": 4})])[0]
    second = runner.run([ToolCall(name="square", args={"n": 4})])[0]
    assert CALLS["count"] == before + 1
    assert not first.cache_hit and second.cache_hit
    assert second.data == first.data and second.evidence == first.evidence


@pytest.mark.parametrize(
    "call, status, text",
    [
        (ToolCall(name="nope", args={}), "retry", "unknown tool 'nope'"),
        (ToolCall(name="square", args={"n": 99}), "retry", "invalid arguments for square: n:"),
        (ToolCall(name="square", args={"m": 1}), "retry", "invalid arguments"),
        (ToolCall(name="picky", args={"n": 1}), "retry", "n must be even"),
        (ToolCall(name="boom", args={"n": 1}), "error", "RuntimeError: model exploded"),
    ],
)
def test_failures_become_observations(runner, call, status, text):
    (r,) = runner.run([call])
    assert r.status == status and text in r.observation


def test_a_hanging_tool_is_abandoned_at_its_time_limit(runner):
    started = time.monotonic()
    (r,) = runner.run([ToolCall(name="hang", args={"n": 1})])
    assert r.status == "error" and "timed out" in r.observation
    assert time.monotonic() - started < 5  # limit 0.5 s: the runner did not wait for the 30 s sleep


def test_calls_of_one_step_run_concurrently(runner):
    SPANS.clear()
    results = runner.run([ToolCall(name="nap", args={"n": i}) for i in range(3)])
    assert [r.status for r in results] == ["ok"] * 3
    (s0, e0), (s1, e1), (s2, e2) = sorted(SPANS)
    assert s1 < e0 and s2 < e0  # all three were asleep at the same moment


def test_results_keep_call_order(runner):
    calls = [ToolCall(name="square", args={"n": i}) for i in (5, 1, 3)]
    assert [r.observation for r in runner.run(calls)] == ["25", "1", "9"]


def test_nested_calls_share_the_cache(runner):
    runner.run([ToolCall(name="square", args={"n": 7})])
    (r,) = runner.run([ToolCall(name="outer", args={"n": 7})])
    assert r.observation == "inner said 49" and r.nested_cache_hits == 1


def test_run_deadline_caps_every_call(runner):
    (r,) = runner.run([ToolCall(name="nap", args={"n": 0})], deadline=time.monotonic() + 0.05)
    assert r.status == "error" and "time budget ran out" in r.observation
