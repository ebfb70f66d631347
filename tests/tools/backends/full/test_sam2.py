"""SAM2 through transformers: a tiny random-initialised checkpoint saved and loaded back as a
user's is, prompted with Grounding DINO's boxes (phrases) or given boxes, on bikes.mp4 (640x272).

Random weights make the masks arbitrary; asserted: masks at source resolution, boxes derived from
masks, the caps, the nested detection reused from the cache, and masks surviving the result
cache's run-length encoding unchanged."""

from __future__ import annotations

import numpy as np
import pytest

from tools.backends.full.segment import MAX_MASKS, MAX_MASKS_PER_FRAME
from tools.capabilities import SegmentationResult
from tools.masks import mask_boxes
from tools.types import ToolCall

pytestmark = [pytest.mark.full, pytest.mark.slow]

W, H = 640, 272
SPAN = {"start_s": 0.0, "end_s": 2.0}



def test_phrases_are_detected_then_segmented_at_source_resolution(runner):
    args = {"phrases": ["bicycle"], "span": SPAN, "fps": 1}
    (detected,) = runner.run([ToolCall(name="detect_objects", args=args)])
    (result,) = runner.run([ToolCall(name="segment_objects", args=args)])
    assert result.status == "ok", result.observation
    assert result.nested_cache_hits == 1, "the boxes should come from the cached detection"
    data = result.data
    assert isinstance(data, SegmentationResult) and data.sampled_frames == detected.data.sampled_frames
    dets = data.detections
    assert len(dets) > 0 and dets.mask is not None and dets.mask.shape == (len(dets), H, W)
    assert dets.mask.reshape(len(dets), -1).any(axis=1).all(), "empty masks are dropped"
    np.testing.assert_array_equal(dets.xyxy, mask_boxes(dets.mask))
    per_frame = np.unique(dets.frame_index, return_counts=True)[1]
    assert per_frame.max() <= MAX_MASKS_PER_FRAME and len(dets) <= MAX_MASKS
    assert set(dets.frame_index.tolist()) <= set(data.sampled_frames)
    assert result.model_frames.get("sam2") == len(per_frame)
    assert "'bicycle':" in result.observation and "of the frame" in result.observation
    (box,) = [e.box for e in result.evidence]
    assert 0 <= box[0] <= box[2] <= W and 0 <= box[1] <= box[3] <= H

    (again,) = runner.run([ToolCall(name="segment_objects", args=args)])
    assert again.cache_hit
    assert again.data.detections == dets, "masks must survive the cache's run-length encoding exactly"


def test_given_boxes_are_segmented_in_the_frame_at_their_time(runner, reader):
    boxes = [[100.0, 50.0, 300.0, 250.0], [400.0, 20.0, 700.0, 200.0]]  # the second runs off the frame
    call = ToolCall(name="segment_objects", args={"phrases": ["rider", "sign"], "boxes": boxes, "time_s": 3.0})
    (result,) = runner.run([call])
    assert result.status == "ok", result.observation
    dets = result.data.detections
    frame = reader.index_at(3.0)
    assert result.data.sampled_frames == [frame] and set(dets.frame_index.tolist()) <= {frame}
    assert set(dets.label.tolist()) <= {"rider", "sign"} and len(dets) <= 2
    assert dets.mask.shape[1:] == (H, W)
    np.testing.assert_array_equal(dets.xyxy, mask_boxes(dets.mask))


def test_boxes_without_a_time_come_back_for_a_retry(runner):
    (result,) = runner.run([ToolCall(name="segment_objects", args={"phrases": ["car"], "boxes": [[0, 0, 10, 10]]})])
    assert result.status == "retry" and "time_s" in result.observation
