"""Model loading: weights overrides, precision, memory budget with LRU eviction, one-line errors
for missing checkpoints, and GPU discipline (one model at a time per device, even when a call
is abandoned on a timeout). Real loader, real runner and threads, small real objects as models."""

from __future__ import annotations

import dataclasses
import threading
import time

import pytest
from pydantic import BaseModel, Field

from tools.cache import ResultCache
from tools.capabilities import Capability
from tools.errors import ConfigError
from tools.model_loading import (ModelLoader, ModelNotFoundError, ModelOptions, ModelSpec, Weights, local_checkpoint,
                                 resolve_precision)
from tools.registry import ToolRegistry, backend
from tools.runner import ToolRunner
from tools.toolset import ToolsConfig
from tools.types import ToolCall, ToolOutput
from tools.video import VideoReader

MB = 2**20


@dataclasses.dataclass
class Blob:
    """A stand-in model of a known size: what the loader measures is ``nbytes``."""

    name: str
    weights: Weights
    device: str
    dtype: str | None = None
    nbytes: int = 0


def spec(name: str, size_mb: int, **kw) -> ModelSpec[Blob]:
    return ModelSpec(name=name, extra="full", devices=("cpu", "cuda"),
                     build=lambda w, d, *dt: Blob(name, w, d, dt[0] if dt else None, size_mb * MB), **kw)


def test_a_model_is_built_once_per_device_weights_and_precision():
    loader = ModelLoader()
    a = spec("a", 1, precisions=("float32", "float16"))
    first = loader.load(a, "cpu")
    assert loader.load(a, "cpu") is first and first.dtype == "float32"
    half = loader.load(a, "cpu", precision="float16")
    assert half is not first and half.dtype == "float16"
    other = loader.load(a, "cpu", Weights.path("/somewhere"))
    assert other.weights == Weights.path("/somewhere")
    assert loader.loaded() == ["a@cpu", "a@cpu", "a@cpu"]


def test_precision_auto_is_float32_on_the_cpu_and_a_spec_without_half_gets_none():
    assert resolve_precision("auto", "cpu") == "float32"
    assert resolve_precision("bfloat16", "cuda:1") == "bfloat16"
    assert spec("x", 1).dtype_for("float16", "cuda") is None
    assert spec("x", 1, precisions=("float32", "float16")).dtype_for("bfloat16", "cuda") == "float32"


def test_least_recently_used_models_are_evicted_past_the_budget():
    loader = ModelLoader()
    a, b, c = spec("a", 40), spec("b", 40), spec("c", 40)
    budget = 100 * MB
    loader.load(a, "cpu", budget_bytes=budget)
    loader.load(b, "cpu", budget_bytes=budget)
    loader.load(a, "cpu", budget_bytes=budget)  # a is now the most recently used
    loader.load(c, "cpu", budget_bytes=budget)
    assert loader.loaded() == ["a@cpu", "c@cpu"] and loader.evicted == ["b@cpu"]
    assert loader.held_bytes("cpu") == 80 * MB
    loader.load(spec("d", 10), "cuda", budget_bytes=budget)  # another device has its own budget
    assert loader.held_bytes("cpu") == 80 * MB and loader.held_bytes("cuda") == 10 * MB


def test_a_declared_size_makes_room_before_the_build():
    loader = ModelLoader()
    loader.load(spec("a", 60), "cpu", budget_bytes=100 * MB)
    seen: list[list[str]] = []

    def build(weights, device):
        seen.append(loader.loaded())
        return Blob("big", weights, device, nbytes=50 * MB)

    big = ModelSpec(name="big", build=build, extra="full", memory_bytes=50 * MB)
    loader.load(big, "cpu", budget_bytes=100 * MB)
    assert seen == [[]], "the old model should be gone before the new one is built"


def test_a_model_larger_than_the_budget_still_loads_alone():
    loader = ModelLoader()
    loader.load(spec("a", 10), "cpu", budget_bytes=50 * MB)
    loader.load(spec("huge", 80), "cpu", budget_bytes=50 * MB)
    assert loader.loaded() == ["huge@cpu"]


def test_missing_local_checkpoint_is_one_line_naming_model_path_and_config_key(tmp_path):
    with pytest.raises(ModelNotFoundError) as info:
        local_checkpoint("grounding-dino", Weights.path(tmp_path / "nope"))
    text = str(info.value)
    assert "\n" not in text
    assert "grounding-dino" in text and str(tmp_path / "nope") in text and "[tools] weights" in text


def test_unreachable_hub_is_one_line_naming_the_hub_id_and_config_key(monkeypatch, tmp_path):
    pytest.importorskip("huggingface_hub")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-hub-cache"))
    with pytest.raises(ModelNotFoundError) as info:
        local_checkpoint("open-clip", Weights.hub("laion/CLIP-ViT-B-32-laion2B-s34B-b79K"))
    text = str(info.value)
    assert "\n" not in text and "open-clip" in text and "hub:laion/CLIP-ViT-B-32-laion2B-s34B-b79K" in text
    assert "HF_HUB_OFFLINE" in text and "[tools] weights" in text


def test_tools_config_turns_into_model_options():
    config = ToolsConfig(profile="core", weights={"grounding-dino": "/ckpt/gd", "open-clip": "laion/x@v1"},
                         precision="float16", batch_size={"grounding-dino": 8}, model_memory_gb=2)
    options = config.model_options()
    assert options.weights == {"grounding-dino": Weights.path("/ckpt/gd"), "open-clip": Weights.hub("laion/x", "v1")}
    assert options.batch_sizes == {"grounding-dino": 8} and options.budget_bytes == 2 * 2**30
    with pytest.raises(ValueError, match="at least 1"):
        ToolsConfig(batch_size={"grounding-dino": 0})
    with pytest.raises(ValueError):
        ToolsConfig(precision="int3")


# -- through the runner ----------------------------------------------------------------------


class NArgs(BaseModel):
    n: int = Field(ge=0, le=10)


RUNS: list[tuple[str, float, float]] = []
BUILDS: list[Weights] = []
SLOW = ModelSpec(name="slow-model", extra="full", devices=("cpu", "cuda"),
                 build=lambda w, d: BUILDS.append(w) or Blob("slow", w, d))


@pytest.fixture(scope="module")
def registry():
    reg = ToolRegistry()
    reg._entry_points_loaded = True

    @backend(Capability("gpu_work", NArgs, None, "runs n batches on the device"), name="test", registry=reg,
             profiles=("core",), timeout_s=0.6, cacheable=False)
    def gpu_work(args: NArgs, ctx) -> ToolOutput:
        ctx.load(SLOW)
        for _ in range(args.n):
            with ctx.on_device():
                start = time.monotonic()
                time.sleep(0.25)  # one "forward pass" that no timeout can interrupt
                RUNS.append((threading.current_thread().name, start, time.monotonic()))
        return ToolOutput(observation=f"{args.n} batches")

    @backend(Capability("weighted", NArgs, None, "reports its model's weights"), name="test", registry=reg,
             profiles=("core",), models=("slow-model",))
    def weighted(args: NArgs, ctx) -> ToolOutput:
        return ToolOutput(observation=str(ctx.load(SLOW).weights))

    return reg


def test_an_abandoned_call_never_runs_beside_the_next_one_on_the_device(registry, bikes_mp4):
    RUNS.clear()
    with VideoReader.open(bikes_mp4) as reader:
        runner = ToolRunner(registry.toolset("core"), reader, cache=None, timeout_s=5, models=ModelLoader())
        (first,) = runner.run([ToolCall(name="gpu_work", args={"n": 10})])
        assert first.status == "error" and "timed out" in first.observation
        (second,) = runner.run([ToolCall(name="gpu_work", args={"n": 1})])
        assert second.status == "ok", second.observation
        time.sleep(0.6)  # let the abandoned thread reach its next check
    starts = sorted(RUNS, key=lambda r: r[1])
    for (_, _, end), (_, start, _) in zip(starts, starts[1:]):
        assert start >= end, f"two forward passes overlapped on the device: {starts}"
    assert len(RUNS) <= 5, "the abandoned call kept running batches after its time limit"


def test_weights_overrides_reach_the_model_and_the_cache_key(registry, bikes_mp4, tmp_path):
    cache = ResultCache(tmp_path / "c.sqlite")
    with VideoReader.open(bikes_mp4) as reader:
        def ask(options):
            toolset = dataclasses.replace(registry.toolset("core"), models=options)
            (result,) = ToolRunner(toolset, reader, cache=cache, models=ModelLoader()).run(
                [ToolCall(name="weighted", args={"n": 1})])
            return result

        default = ask(ModelOptions())
        assert default.observation == "none" and not default.cache_hit
        mine = ask(ModelOptions(weights={"slow-model": Weights.path("/my/finetune")}))
        assert mine.observation == "path:/my/finetune" and not mine.cache_hit
        assert ask(ModelOptions(weights={"slow-model": Weights.path("/my/finetune")})).cache_hit
        assert ask(ModelOptions()).cache_hit


def test_a_device_the_model_does_not_support_is_a_config_error():
    with pytest.raises(ConfigError, match="runs on cpu"):
        ModelLoader().load(ModelSpec(name="cpu-only", build=lambda w, d: 1, extra="lite"), "cuda:0")
