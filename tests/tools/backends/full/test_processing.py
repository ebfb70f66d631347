"""Pre- and post-processing of the full tier on crafted inputs, values worked out by hand: Grounding
DINO's prompt and boxes, tube linking, temporal NMS (plain numpy: runs without the full environment)."""

from __future__ import annotations

import numpy as np
import pytest

from tools.backends.full.models.grounding_dino import (assign_phrases, boxes_of_image, build_prompt, cxcywh_to_xyxy,
                                                       nms, phrase_scores, token_phrases)
from tools.tubes import Candidates, iou_matrix, link_tube


def test_prompt_lowercases_and_puts_one_period_after_each_phrase():
    prompt = build_prompt(["Red  Car", "person.", " the man in the coat "])
    assert prompt.text == "red car. person. the man in the coat."
    assert [prompt.text[a:b] for a, b in prompt.spans] == ["red car", "person", "the man in the coat"]
    with pytest.raises(ValueError):
        build_prompt(["car", " . "])


def test_tokens_map_to_the_phrase_whose_characters_they_cover():
    # "[CLS] red car . person . [SEP]" with a fast tokenizer's offsets for "red car. person."
    offsets = [(0, 0), (0, 3), (4, 7), (7, 8), (9, 15), (15, 16), (0, 0)]
    assert token_phrases(offsets, [(0, 7), (9, 15)]).tolist() == [-1, 0, 0, -1, 1, -1, -1]


def test_phrase_score_is_the_best_token_of_the_phrase_and_ignores_separators():
    probs = np.array([
        # CLS  red   car   .     person .    SEP  (pad)
        [0.99, 0.10, 0.70, 0.95, 0.20, 0.90, 0.9, 0.99],
        [0.00, 0.30, 0.20, 0.00, 0.60, 0.00, 0.0, 0.00],
    ])
    token_phrase = np.array([-1, 0, 0, -1, 1, -1, -1])
    np.testing.assert_allclose(phrase_scores(probs, token_phrase, 2), [[0.70, 0.20], [0.30, 0.60]])
    np.testing.assert_allclose(phrase_scores(probs, token_phrase, 3)[:, 2], [0, 0])  # a phrase cut off: 0


def test_a_box_needs_the_box_threshold_once_and_the_text_threshold_per_phrase():
    scores = np.array([[0.70, 0.30], [0.30, 0.34], [0.20, 0.90]])
    q, j = assign_phrases(scores, box_threshold=0.35, text_threshold=0.25)
    assert list(zip(q.tolist(), j.tolist())) == [(0, 0), (0, 1), (2, 1)]
    q, j = assign_phrases(scores, box_threshold=0.35, text_threshold=0.5)
    assert list(zip(q.tolist(), j.tolist())) == [(0, 0), (2, 1)]


def test_normalised_centre_boxes_become_clipped_pixel_corners():
    boxes = np.array([[0.5, 0.5, 1.0, 1.0], [0.25, 0.75, 0.1, 0.2], [0.95, 0.05, 0.2, 0.2]])
    np.testing.assert_allclose(cxcywh_to_xyxy(boxes, 640, 272), [
        [0, 0, 640, 272],
        [128, 176.8, 192, 231.2],
        [544, 0, 640, 40.8],  # 0.95 + 0.1 and 0.05 - 0.1 fall outside: clipped
    ], rtol=1e-6)


def test_nms_keeps_the_best_of_overlapping_boxes():
    xyxy = np.array([[0, 0, 10, 10], [1, 0, 11, 10], [20, 20, 30, 30]], dtype=np.float32)
    assert nms(xyxy, np.array([0.5, 0.9, 0.4]), iou=0.7).tolist() == [1, 2]
    assert nms(xyxy, np.array([0.5, 0.9, 0.4]), iou=0.9).tolist() == [1, 0, 2]


def test_post_processing_of_one_image_end_to_end():
    token_phrase = np.array([-1, 0, -1, 1, -1, -1])
    probs = np.zeros((3, 8))
    probs[0, 1], probs[0, 3] = 0.8, 0.3   # query 0: car (0.8), also person (0.3 >= text threshold)
    probs[1, 1] = 0.2                     # query 1: below the box threshold
    probs[2, 3] = 0.6                     # query 2: person
    boxes = np.array([[0.5, 0.5, 0.2, 0.2], [0.1, 0.1, 0.1, 0.1], [0.25, 0.25, 0.5, 0.5]])
    out = boxes_of_image(probs, boxes, token_phrase, 2, (100, 50), box_threshold=0.35, text_threshold=0.25)
    assert out.query.tolist() == [0, 0, 2] and out.phrase.tolist() == [0, 1, 1]
    np.testing.assert_allclose(out.score, [0.8, 0.3, 0.6], rtol=1e-6)
    np.testing.assert_allclose(out.xyxy, [[40, 20, 60, 30], [40, 20, 60, 30], [0, 0, 50, 25]])


def box(x: float, w: float = 10) -> list[float]:
    return [x, 0, x + w, 10]


def test_the_tube_follows_overlapping_boxes_over_a_higher_scoring_jump():
    frames = [
        Candidates(np.array([box(0), box(100)]), np.array([0.9, 0.5])),
        Candidates(np.array([box(1), box(100)]), np.array([0.5, 0.6])),  # box(100) scores higher alone
        Candidates(np.array([box(2)]), np.array([0.8])),
    ]
    assert link_tube(frames, overlap_weight=1.0) == [0, 0, 0]
    assert link_tube(frames, overlap_weight=0.0) == [0, 1, 0]


def test_the_tube_is_the_best_run_and_bridges_short_gaps():
    empty = Candidates(np.zeros((0, 4)), np.zeros(0))
    one = lambda s: Candidates(np.array([box(0)]), np.array([s]))  # noqa: E731
    frames = [one(0.9), empty, empty, one(0.4), empty, one(0.4), one(0.4)]
    # runs: [0] (gap of 2 not bridged), [3..6] (gap of 1 bridged): 1.2 + 2 IoU links of 1 beats 0.9
    assert link_tube(frames) == [None, None, None, 0, None, 0, 0]
    assert link_tube([empty, empty]) == [None, None]
    np.testing.assert_allclose(iou_matrix(np.array([box(0)]), np.array([box(5)])), [[1 / 3]])


def test_temporal_nms_keeps_the_best_frames_apart_and_returns_them_in_time_order():
    from tools.retrieval import temporal_nms

    times = np.array([0.0, 0.5, 1.0, 2.0, 2.4, 5.0])
    scores = np.array([0.1, 0.7, 0.9, 0.8, 0.85, 0.2])
    assert temporal_nms(times, scores, k=3, min_gap_s=1.0) == [2, 4, 5]  # 0.9 @1.0, 0.85 @2.4, then 0.2 @5.0
    assert temporal_nms(times, scores, k=2, min_gap_s=0.0) == [2, 4]
    assert temporal_nms(times[:0], scores[:0], k=3, min_gap_s=1.0) == []


def test_an_open_clip_folder_without_weights_is_one_line_naming_the_file_and_config_key(tmp_path):
    from tools.backends.full.models.clip import model_id
    from tools.model_loading import ModelNotFoundError, Weights

    (tmp_path / "open_clip_config.json").write_text("{}")
    with pytest.raises(ModelNotFoundError, match=r"no weights file \(open_clip_model.safetensors.*\[tools\] weights"):
        model_id(Weights.path(tmp_path))
    assert model_id(Weights.parse("ViT-B-32:laion2b_s34b_b79k")) == ("ViT-B-32", "laion2b_s34b_b79k")
    (tmp_path / "open_clip_model.safetensors").write_bytes(b"")
    assert model_id(Weights.path(tmp_path)) == (f"local-dir:{tmp_path.resolve()}", None)


def test_a_detection_starts_an_object_only_where_no_tracked_mask_of_its_label_covers_it():
    from tools.backends.full.track import NEW_OBJECT_IOU, new_objects

    boxes = np.array([[0, 0, 10, 10], [100, 0, 110, 10], [1, 0, 10, 10], [200, 0, 210, 10], [0, 0, 10, 10]], float)
    labels = np.array(["car", "car", "car", "car", "person"])
    confidence = np.array([0.5, 0.6, 0.9, 0.4, 0.3])
    tracked = np.array([[100, 0, 110, 12]], float)  # IoU with box 1: 100 / 120 = 0.83
    assert iou_matrix(boxes[1:2], tracked)[0, 0] >= NEW_OBJECT_IOU
    # Box 2 (0.9) is new; box 0 overlaps it (IoU 0.9) so is the same object; box 1 is tracked;
    # box 3 is new; the person at box 0's place is another label, so new too. Most confident first.
    assert new_objects(boxes, labels, confidence, tracked, np.array(["car"]), room=10).tolist() == [2, 3, 4]
    assert new_objects(boxes, labels, confidence, tracked, np.array(["person"]), room=10).tolist() == [2, 1, 3, 4]
    assert new_objects(boxes, labels, confidence, tracked, np.array(["car"]), room=2).tolist() == [2, 3]
    assert new_objects(boxes, labels, confidence, np.zeros((0, 4)), np.array([]), room=0).tolist() == []
