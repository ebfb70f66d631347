"""Full backend of ``track_objects`` by masks: SAM2's video predictor seeded by detections
(Grounded-SAM-2 style).

The profile's ``detect_objects`` (a cached nested call) finds the phrases in the sampled frames.
SAM2 carries each object's mask from one sampled frame to the next; a detection that no tracked
mask of its label covers (box IoU below ``NEW_OBJECT_IOU``) starts a new object, seeded by its
box. Rows are the frames where an object's mask is not empty, ``xyxy`` the tight box around the
mask, ``confidence`` SAM2's probability that the object is in the frame; ids are 1..N in order
of first appearance, as ByteTrack's. Not the default tracker: choose it with
``[tools] backends = { track_objects = "sam2" }``.
"""

from __future__ import annotations

import numpy as np

from tools.backends.core.track_objects import tracks_output
from tools.backends.full.models.sam2 import SAM2_VIDEO, FrameMasks
from tools.capabilities import TRACK_OBJECTS, DetectionsResult, TrackObjectsArgs, TracksResult
from tools.context import ToolContext
from tools.detections import Detections
from tools.masks import mask_boxes
from tools.registry import backend
from tools.tracking import sampling_rate
from tools.tubes import iou_matrix
from tools.types import ToolOutput

#: A detection whose box overlaps a tracked mask's box of its label at least this much is that object.
NEW_OBJECT_IOU = 0.5
#: Objects tracked per call, most confident detections first (SAM2's cost grows with each).
MAX_OBJECTS = 10
#: Masks are kept in the result while they take at most this many bytes (one byte a pixel).
MASK_BUDGET_BYTES = 512 * 2**20
#: Frames decoded at a time.
DECODE_CHUNK = 16


def new_objects(boxes: np.ndarray, labels: np.ndarray, confidence: np.ndarray, tracked_boxes: np.ndarray,
                tracked_labels: np.ndarray, room: int) -> np.ndarray:
    """Rows of the detections (``boxes`` (n, 4) pixels, ``labels`` (n,), ``confidence`` (n,)) that
    start new objects: those whose box overlaps no tracked box of the same label by
    ``NEW_OBJECT_IOU`` or more, nor a more confident detection already chosen; at most ``room``,
    most confident first.

    >>> new_objects(np.array([[0, 0, 10, 10], [50, 50, 60, 60], [1, 1, 10, 10]]), np.array(["a", "a", "a"]),
    ...             np.array([0.9, 0.5, 0.8]), np.array([[48, 50, 60, 60]]), np.array(["b"]), room=5).tolist()
    [0, 1]
    """
    chosen: list[int] = []
    if room <= 0:
        return np.zeros(0, np.int64)
    for i in np.argsort(-np.asarray(confidence), kind="stable"):
        others = np.nonzero(np.asarray(tracked_labels) == labels[i])[0]
        taken = [j for j in chosen if labels[j] == labels[i]]
        against = np.concatenate([np.asarray(tracked_boxes, np.float64).reshape(-1, 4)[others],
                                  np.asarray(boxes, np.float64)[taken].reshape(-1, 4)])
        if len(against) and iou_matrix(boxes[i : i + 1], against).max() >= NEW_OBJECT_IOU:
            continue
        chosen.append(int(i))
        if len(chosen) == room:
            break
    return np.asarray(chosen, np.int64)


@backend(TRACK_OBJECTS, name="sam2", profiles=("full",), requires=("detect_objects",), timeout_s=900,
         models=(SAM2_VIDEO.name,), priority=-1,
         limits=f"Follows at most {MAX_OBJECTS} objects per call (the most confident detections first) by their masks.")
def track_objects(args: TrackObjectsArgs, ctx: ToolContext) -> ToolOutput[TracksResult]:
    detected: DetectionsResult = ctx.call_data("detect_objects", **args.model_dump(mode="json"))
    sampled = list(zip(detected.sampled_frames, detected.sampled_times_s))
    dets = detected.detections
    tracked, capped = _track(ctx, dets, sampled)
    notes = []
    if capped:
        notes.append(f"followed the {MAX_OBJECTS} most confident objects only")
    if tracked.mask is None:
        notes.append("masks too large to keep: boxes only")
    note = "".join(f". Note: {n}" for n in notes)
    return tracks_output(tracked, detected, sampling_rate(sampled, args.fps), note=note)


def _track(ctx: ToolContext, dets: Detections, sampled: list[tuple[int, float]]) -> tuple[Detections, bool]:
    """Masks of the detected objects through the sampled frames, track ids 1..N (masks dropped,
    ``mask`` None, past ``MASK_BUDGET_BYTES``); and whether detections were left out for
    ``MAX_OBJECTS``."""
    with_dets = set(dets.frame_index.tolist())
    start = next((k for k, (index, _) in enumerate(sampled) if index in with_dets), len(sampled))
    todo = sampled[start:]
    if not todo:
        return _no_tracks(ctx), False
    tracker = ctx.load(SAM2_VIDEO).tracker()
    labels: dict[int, str] = {}
    parts, capped, mask_bytes = [], False, 0
    for chunk in range(0, len(todo), DECODE_CHUNK):
        part = todo[chunk : chunk + DECODE_CHUNK]
        for frame, (index, time_s) in zip(ctx.frames_by_index([i for i, _ in part]), part):
            ctx.check()
            with ctx.on_device():
                masks = tracker.propagate(frame.image)
            rows = np.nonzero(dets.frame_index == index)[0]
            known = np.array([labels[int(i)] for i in masks.object_ids], dtype=object)
            fresh = new_objects(dets.xyxy[rows], dets.label[rows], dets.confidence[rows], mask_boxes(masks.masks),
                                known, room=len(rows))
            seeds = fresh[: MAX_OBJECTS - len(labels)]
            capped |= len(seeds) < len(fresh)
            if len(seeds):
                ids = list(range(len(labels) + 1, len(labels) + 1 + len(seeds)))
                labels.update(zip(ids, dets.label[rows[seeds]].tolist()))
                with ctx.on_device():
                    masks = tracker.add(dets.xyxy[rows[seeds]], ids)
            ctx.count_model_frames(SAM2_VIDEO.name, 1)
            parts.append(_rows(masks, labels, index, time_s, keep_mask=mask_bytes <= MASK_BUDGET_BYTES))
            mask_bytes += parts[-1].mask.nbytes if parts[-1].mask is not None else 0
            if mask_bytes > MASK_BUDGET_BYTES:
                parts = [_without_masks(p) for p in parts]
    return _renumbered(Detections.merge(parts)) if parts else _no_tracks(ctx), capped


def _rows(masks: FrameMasks, labels: dict[int, str], index: int, time_s: float, keep_mask: bool) -> Detections:
    """One row per object whose mask in this frame is not empty (its mask kept with ``keep_mask``)."""
    keep = masks.masks.reshape(len(masks.masks), -1).any(axis=1)
    n = int(keep.sum())
    return Detections(
        xyxy=mask_boxes(masks.masks[keep]), confidence=masks.presence[keep],
        label=np.array([labels[int(i)] for i in masks.object_ids[keep]], dtype=object).astype(str),
        frame_index=np.full(n, index), time_s=np.full(n, time_s), track_id=masks.object_ids[keep],
        mask=masks.masks[keep] if keep_mask else None,
    )


def _without_masks(dets: Detections) -> Detections:
    return Detections(dets.xyxy, dets.confidence, dets.label, dets.frame_index, dets.time_s, track_id=dets.track_id)


def _renumbered(dets: Detections) -> Detections:
    """Track ids 1..N in order of first appearance (objects whose masks stayed empty have none)."""
    order = {tid: k + 1 for k, tid in enumerate(dict.fromkeys(dets.track_id.tolist()))}
    return Detections(dets.xyxy, dets.confidence, dets.label, dets.frame_index, dets.time_s,
                      track_id=np.array([order[t] for t in dets.track_id.tolist()], np.int64), mask=dets.mask)


def _no_tracks(ctx: ToolContext) -> Detections:
    return Detections(np.zeros((0, 4)), [], [], [], [], track_id=np.zeros(0, np.int64),
                      mask=np.zeros((0, ctx.meta.height, ctx.meta.width), bool))
