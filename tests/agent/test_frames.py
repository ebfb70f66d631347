"""Which frames a vision planner sees each step, within its budget, and what the trace records."""

import base64
import io

import pytest

from agent import Budgets, VideoAgent
from agent.frames import choose_frames, evenly_spaced, image_source, pointed_frames, spread
from planners.base import CallTools, HistoryStep
from planners.config import PlannerConfig, VisionLimits
from planners.scripted import ScriptedPlanner
from tools.cache import ResultCache
from tools.types import Evidence, Observation, ToolCall
from tools.video import VideoReader

N_FRAMES = 250  # 10 s at 25 fps


def index_at(time_s: float) -> int:
    """A 25 fps clip's time-to-frame mapping (nearest frame), standing in for VideoReader.index_at."""
    return min(max(round(time_s * 25), 0), N_FRAMES - 1)


def step(*evidence_lists: list[Evidence]) -> HistoryStep:
    """A tool step whose observations carry these evidence lists."""
    calls = tuple(ToolCall(name="t", args={}) for _ in evidence_lists)
    observations = tuple(
        Observation(call_id=c.id, name="t", status="ok", text="x", evidence=tuple(ev)) for c, ev in zip(calls, evidence_lists)
    )
    return HistoryStep(action=CallTools(calls=calls), observations=observations)


@pytest.mark.parametrize(
    ("n_frames", "k", "expected"),
    [(250, 4, [31, 93, 156, 218]), (250, 1, [125]), (3, 8, [0, 1, 2]), (250, 0, []), (10, 5, [1, 3, 5, 7, 9])],
)
def test_evenly_spaced_takes_the_centres_of_equal_parts(n_frames, k, expected):
    assert evenly_spaced(n_frames, k) == expected


@pytest.mark.parametrize(
    ("indices", "k", "expected"),
    [([3, 10, 40, 41, 90], 3, [3, 40, 90]), ([3, 10], 3, [3, 10]), ([3, 10, 40], 1, [10]), ([1, 2], 0, [])],
)
def test_spread_keeps_first_and_last_and_spaces_the_rest(indices, k, expected):
    assert spread(indices, k) == expected


def test_the_first_step_gets_an_evenly_spaced_overview():
    assert choose_frames((), 4, N_FRAMES, index_at) == [31, 93, 156, 218]


def test_later_steps_get_the_frames_the_latest_tools_cite():
    earlier = step([Evidence(time_s=9.0)])
    latest = step([Evidence(time_s=2.0), Evidence(time_s=2.01)], [Evidence(time_s=7.5, frame_index=180)])
    # 2.0 s and 2.01 s are the same frame (50); an explicit frame index wins over the time
    assert pointed_frames(latest, N_FRAMES, index_at) == [50, 180]
    assert choose_frames((earlier, latest), 4, N_FRAMES, index_at) == [50, 180]


def test_more_cited_frames_than_the_budget_are_spread_over_time():
    latest = step([Evidence(time_s=t) for t in (0.4, 1.2, 3.0, 5.52, 7.52, 9.72)])  # frames 10 30 75 138 188 243
    assert choose_frames((latest,), 3, N_FRAMES, index_at) == [10, 75, 243]


def test_a_step_citing_no_frame_falls_back_to_the_overview():
    assert choose_frames((step([]),), 2, N_FRAMES, index_at) == evenly_spaced(250, 2)


def test_a_cited_frame_index_past_the_end_is_the_last_frame():
    assert pointed_frames(step([Evidence(time_s=0.0, frame_index=400)]), N_FRAMES, index_at) == [249]


def test_images_respect_the_side_and_pixel_budget(bikes_mp4):
    class Seeing:
        vision_limits = VisionLimits(enabled=True, max_images=3, max_image_side=320, max_image_pixels=20000)

    from PIL import Image

    with VideoReader.open(bikes_mp4) as reader:
        images = image_source(Seeing(), reader)(0, ())
    assert [i.frame_index for i in images] == evenly_spaced(250, 3)
    for image in images:
        assert image.width <= 320 and image.width * image.height <= 20000
        assert abs(image.width / image.height - 640 / 272) < 0.05  # aspect kept
        with Image.open(io.BytesIO(base64.b64decode(image.jpeg_b64))) as decoded:
            assert decoded.size == (image.width, image.height) and decoded.format == "JPEG"


def test_a_text_only_planner_gets_no_images(bikes_mp4):
    with VideoReader.open(bikes_mp4) as reader:
        assert image_source(ScriptedPlanner([]), reader)(0, ()) == ()


def test_the_trace_records_images_and_pixels_per_step(bikes_mp4, tmp_path):
    """Step 1 sees the overview; step 2 sees the cuts detect_shots found (5 cuts, budget 3)."""
    limits = PlannerConfig(vision=True, max_images=3, max_image_side=256).vision_limits
    planner = ScriptedPlanner(
        [
            {"action": "call_tools", "calls": [{"name": "detect_shots", "args": {}}]},
            {"action": "answer", "answer": "six shots"},
        ],
        vision_limits=limits,
    )
    agent = VideoAgent(planner=planner, tools="core", cache=ResultCache(tmp_path / "c.sqlite"), budgets=Budgets(max_steps=3))
    answer = agent.ask(bikes_mp4, "How many shots?")
    assert answer.status == "answered"
    first, second = answer.trace.steps
    assert first.image_frames == evenly_spaced(250, 3) and first.images == 3
    with VideoReader.open(bikes_mp4) as reader:
        cuts = pointed_frames(planner.requests[1].history[0], reader.meta.n_frames, reader.index_at)
    assert len(cuts) == 5 and second.image_frames == spread(cuts, 3) and second.images == 3
    for trace_step, request in zip(answer.trace.steps, planner.requests):
        assert trace_step.image_frames == [i.frame_index for i in request.images]
        assert trace_step.image_pixels == sum(i.width * i.height for i in request.images) > 0
        assert all(max(i.width, i.height) <= 256 for i in request.images)
    assert answer.trace.totals.images == 6
    assert answer.trace.totals.image_pixels == first.image_pixels + second.image_pixels
