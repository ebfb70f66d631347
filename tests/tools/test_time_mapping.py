"""The one time-to-frame mapping: the frame whose presentation time is nearest, from the real
timestamps. Planners and observations write times with 2 decimals; such a time must lead back
to the frame it was written from, at 25 fps, at 29.97 fps and at a variable rate."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from pydantic import BaseModel, Field

from tests.videos import make_video, write_timed_video
from tools.context import ToolContext
from tools.capabilities import Capability
from tools.registry import ToolRegistry, backend
from tools.runner import ToolRunner
from tools.types import Evidence, ToolCall, ToolOutput, VideoMeta
from tools.video import VideoReader

N = 1000
RATES = {"25": Fraction(25), "29.97": Fraction(30000, 1001)}


def _vfr_times(n: int = 300) -> list[float]:
    """Gaps between 20 and 120 ms in a fixed pseudo-random order, in milliseconds."""
    gaps = np.random.default_rng(7).integers(20, 121, size=n - 1)
    return (np.concatenate([[0], np.cumsum(gaps)]) / 1000.0).tolist()


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    root = tmp_path_factory.mktemp("rates")
    return {
        "25": make_video(root / "25.mp4", n_frames=N, fps=25, size=(32, 32), codec="mpeg4", box=False, gop=250),
        "29.97": make_video(root / "2997.mp4", n_frames=N, fps=Fraction(30000, 1001), size=(32, 32), codec="mpeg4", box=False, gop=250),
        "vfr": write_timed_video(root / "vfr.mkv", _vfr_times(), codec="mpeg4", size=(32, 32)),
    }


def as_planners_write(t: float) -> float:
    return float(f"{t:.2f}")


@pytest.mark.parametrize("rate", ["25", "29.97", "vfr"])
def test_rounded_times_lead_back_to_their_frame(clips, rate):
    with VideoReader.open(clips[rate]) as reader:
        ts = reader.timestamps
        assert [reader.index_at(as_planners_write(t)) for t in ts] == list(range(len(ts)))
        assert [reader.index_at(t) for t in ts] == list(range(len(ts)))
        if rate != "vfr":
            fps = float(RATES[rate])
            assert reader.meta.fps == pytest.approx(fps)
            # What `int(t * fps)` did with the same times: wrong for many frames.
            constant_rate = [min(int(as_planners_write(t) * fps), N - 1) for t in ts]
            assert sum(c != i for i, c in enumerate(constant_rate)) > 0
        else:
            np.testing.assert_allclose(ts, _vfr_times(), atol=1e-9)


def test_times_between_frames_and_outside_the_video(clips):
    with VideoReader.open(clips["vfr"]) as reader:
        ts, last = reader.timestamps, reader.n_frames - 1
        for i in (0, 17, 150, last - 1):
            middle = (ts[i] + ts[i + 1]) / 2
            assert reader.index_at(middle - 1e-4) == i and reader.index_at(middle + 1e-4) == i + 1
        assert reader.index_at(-3.0) == 0
        assert reader.index_at(ts[-1] + 0.01) == last and reader.index_at(1e6) == last


def test_video_meta_has_no_constant_rate_mapping():
    assert not hasattr(VideoMeta, "frame_at")


def test_tool_context_maps_times_without_decoding(clips):
    with VideoReader.open(clips["29.97"]) as reader:
        ctx = ToolContext(video=reader, runner=None)
        before = reader.stats.frames_decoded
        times = [as_planners_write(t) for t in reader.timestamps[::37]]
        assert [ctx.frame_index_at(t) for t in times] == list(range(0, N, 37))
        assert reader.stats.frames_decoded == before
        frame = ctx.frame_at(times[3])
        assert frame.index == 111 and frame.time_s == reader.timestamps[111]


class TimesArgs(BaseModel):
    times: list[float] = Field(description="seconds, as a planner writes them")


def test_runner_fills_evidence_frames_from_rounded_times(clips, tmp_path):
    """A tool that cites only times gets the frame indices of the frames at those times."""
    registry = ToolRegistry()
    registry._entry_points_loaded = True

    cite_times = Capability(name="cite", args=TimesArgs, result=None, description="cites the given times")

    @backend(cite_times, name="test", registry=registry, profiles=("core",))
    def cite(args: TimesArgs, ctx) -> ToolOutput:
        return ToolOutput(observation="cited", evidence=[Evidence(time_s=t) for t in args.times])

    with VideoReader.open(clips["29.97"]) as reader:
        wanted = [0, 1, 2, 3, 299, 500, 998, 999]
        times = [as_planners_write(reader.timestamps[i]) for i in wanted]
        runner = ToolRunner(registry.toolset("core"), reader, cache=None, timeout_s=10)
        (result,) = runner.run([ToolCall(name="cite", args={"times": times})])
    assert result.status == "ok", result.observation
    assert [e.frame_index for e in result.evidence] == wanted


def test_shots_end_on_the_frame_at_the_span_end(tmp_path):
    """detect_shots gives each shot its first and last frame through the same mapping."""
    from tools.registry import default_registry

    path = make_video(tmp_path / "cut.mp4", n_frames=90, fps=Fraction(30000, 1001), cuts=(40,))
    with VideoReader.open(path) as reader:
        runner = ToolRunner(default_registry().toolset("core"), reader, cache=None, timeout_s=60)
        span = {"start_s": as_planners_write(reader.timestamps[10]), "end_s": as_planners_write(reader.timestamps[70])}
        (result,) = runner.run([ToolCall(name="detect_shots", args={"span": span})])
    assert result.status == "ok", result.observation
    shots = result.data.shots
    assert [(s.start_frame, s.end_frame) for s in shots] == [(10, 39), (40, 70)]
