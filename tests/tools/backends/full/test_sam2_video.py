"""SAM2's video predictor through transformers (``Sam2VideoModel``): a tiny random-initialised
checkpoint saved and loaded back as a user's is, carrying masks through frames of bikes.mp4
(640x272), and the ``track_objects`` backend ``sam2`` seeding it from Grounding DINO's boxes.

Random weights make the masks arbitrary; asserted: masks at source resolution, one per tracked
object in every frame, objects added mid-video without disturbing the others, state kept to what
SAM2 reads, track ids in order of first appearance starting where a detection was, boxes derived
from masks, the nested detection reused from the cache, masks surviving the result cache."""

from __future__ import annotations

import numpy as np
import pytest

from tools.backends.full.models.sam2 import SAM2_VIDEO
from tools.backends.full.track import MAX_OBJECTS
from tools.cache import ResultCache
from tools.capabilities import TracksResult
from tools.masks import mask_boxes
from tools.model_loading import ModelLoader
from tools.runner import ToolRunner
from tools.toolset import ToolsConfig, build_toolset
from tools.tracking import tracks_of
from tools.types import ToolCall

pytestmark = [pytest.mark.full, pytest.mark.slow]

W, H = 640, 272


def test_masks_are_carried_from_frame_to_frame_and_objects_join_midway(tiny, reader):
    sam = ModelLoader().load(SAM2_VIDEO, "cpu", tiny["sam2-video"], precision="float32")
    frames = reader.frames([0, 5, 10])
    tracker = sam.tracker()

    nothing = tracker.propagate(frames[0].image)
    assert nothing.masks.shape == (0, H, W) and tracker.n_objects == 0, "no object yet: nothing runs"
    first = tracker.add(np.array([[100.0, 50.0, 300.0, 250.0], [350.0, 20.0, 600.0, 200.0]]), [1, 2])
    assert first.object_ids.tolist() == [1, 2] and first.masks.shape == (2, H, W) and first.masks.dtype == bool
    assert first.masks.reshape(2, -1).any(axis=1).all()

    carried = tracker.propagate(frames[1].image)
    assert carried.object_ids.tolist() == [1, 2] and carried.masks.shape == (2, H, W)
    assert ((carried.presence >= 0) & (carried.presence <= 1)).all()
    joined = tracker.add(np.array([[10.0, 10.0, 90.0, 90.0]]), [7])
    assert joined.object_ids.tolist() == [1, 2, 7]
    np.testing.assert_array_equal(joined.masks[:2], carried.masks, "adding an object leaves the others' masks alone")

    for frame in frames[2:]:
        later = tracker.propagate(frame.image)
        assert later.object_ids.tolist() == [1, 2, 7] and later.masks.shape == (3, H, W)
    session = tracker._session
    assert list(session.processed_frames) == [2], "only the current frame's pixels are kept"
    assert session.cache.get_vision_features(2) is not None


def test_half_precision_runs_the_same_path(tiny, reader):
    """bfloat16 (what ``precision = "auto"`` picks on a recent GPU) through the whole tracker;
    run here on the CPU, which has the same dtype rules for these operations."""
    sam = ModelLoader().load(SAM2_VIDEO, "cpu", tiny["sam2-video"], precision="bfloat16")
    assert sam.dtype == "bfloat16" and next(sam.model.parameters()).dtype.__str__() == "torch.bfloat16"
    first, second = reader.frames([0, 5])
    tracker = sam.tracker()
    tracker.propagate(first.image)
    seeded = tracker.add(np.array([[100.0, 50.0, 300.0, 250.0]]), [1])
    carried = tracker.propagate(second.image)
    for masks in (seeded, carried):
        assert masks.masks.shape == (1, H, W) and masks.masks.dtype == bool and masks.masks.any()
        assert masks.presence.dtype == np.float32 and np.isfinite(masks.presence).all()


@pytest.fixture
def runner(tiny, reader, tmp_path):
    config = ToolsConfig(profile="full", weights={name: w.ref for name, w in tiny.items()},
                         backends={"track_objects": "sam2"})
    return ToolRunner(build_toolset(config), reader, cache=ResultCache(tmp_path / "c.sqlite"), timeout_s=900,
                      models=ModelLoader())


def test_detections_seed_mask_tracks_through_the_span(runner):
    args = {"phrases": ["bicycle"], "span": {"start_s": 0.0, "end_s": 2.0}, "fps": 2}
    (detected,) = runner.run([ToolCall(name="detect_objects", args=args)])
    (result,) = runner.run([ToolCall(name="track_objects", args=args)])
    assert result.status == "ok", result.observation
    assert result.nested_cache_hits == 1, "the seeds should come from the cached detection"
    data = result.data
    assert isinstance(data, TracksResult) and data.sampled_frames == detected.data.sampled_frames
    dets, seeds = data.detections, detected.data.detections
    assert len(seeds) and len(dets), "the tiny detector finds boxes here, so there is something to track"
    assert dets.mask.shape == (len(dets), H, W) and dets.mask.reshape(len(dets), -1).any(axis=1).all()
    np.testing.assert_array_equal(dets.xyxy, mask_boxes(dets.mask))
    assert set(dets.label.tolist()) == {"bicycle"} and ((dets.confidence >= 0) & (dets.confidence <= 1)).all()

    ids = sorted(set(dets.track_id.tolist()))
    assert ids == list(range(1, len(ids) + 1)) and len(ids) <= MAX_OBJECTS
    first_frames = [int(dets.frame_index[dets.track_id == i].min()) for i in ids]
    assert first_frames == sorted(first_frames), "ids in order of first appearance"
    assert set(first_frames) <= set(seeds.frame_index.tolist()), "every object starts at a detection"
    start = min(seeds.frame_index.tolist())
    assert result.model_frames.get("sam2-video") == sum(i >= start for i in data.sampled_frames)
    assert data.tracks == tracks_of(dets)
    assert result.observation.startswith(f"{len(ids)} tracks (over {len(data.sampled_frames)} frames")
    assert all(0 <= e.box[0] <= e.box[2] <= W and 0 <= e.box[1] <= e.box[3] <= H for e in result.evidence)

    (counted,) = runner.run([ToolCall(name="count_objects", args=args)])
    assert counted.status == "ok" and counted.nested_cache_hits == 1, "tools built on tracks reuse these"
    (again,) = runner.run([ToolCall(name="track_objects", args=args)])
    assert again.cache_hit and again.data.detections == dets, "masks must survive the cache's run-length encoding"


def test_object_cap_and_mask_budget_are_reported(runner, monkeypatch):
    from tools.backends.full import track

    monkeypatch.setattr(track, "MAX_OBJECTS", 1)
    monkeypatch.setattr(track, "MASK_BUDGET_BYTES", W * H)  # one mask fits, a second does not
    args = {"phrases": ["bicycle"], "span": {"start_s": 0.0, "end_s": 1.0}, "fps": 1}
    (detected,) = runner.run([ToolCall(name="detect_objects", args=args)])
    (result,) = runner.run([ToolCall(name="track_objects", args=args)])
    assert result.status == "ok", result.observation
    dets = result.data.detections
    assert set(dets.track_id.tolist()) <= {1} and dets.mask is None
    assert "masks too large to keep: boxes only" in result.observation
    assert len(detected.data.detections) > 1, "the tiny detector finds several boxes here, so the cap bites"
    assert "followed the 1 most confident objects only" in result.observation
