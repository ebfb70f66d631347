"""Per-frame text notes for planners that cannot see images: what the CPU models say a frame shows.

A note holds the frame's top ImageNet labels (EfficientNet-Lite3) and its COCO objects
(SSD-MobileNet) with coarse positions. Notes are kept per (video, frame) for the life of
the process, so retrieval and description share them.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import numpy as np

from tools.backends.lite.models.image_classifier import IMAGE_CLASSIFIER
from tools.backends.lite.models.ssd_detector import SSD_DETECTOR
from tools.context import ToolContext
from tools.types import Frame

CLASSIFIER = "efficientnet_lite3"
DETECTOR = "ssd_mobilenet_v2_coco"
MIN_LABEL_SCORE = 0.08
MIN_OBJECT_SCORE = 0.4


@dataclass(frozen=True)
class SeenObject:
    label: str
    score: float
    box: tuple[float, float, float, float]
    where: str


@dataclass(frozen=True)
class FrameNote:
    """What the models report for one frame. ``labels``: (name, probability) best first."""

    frame_index: int
    time_s: float
    labels: tuple[tuple[str, float], ...]
    objects: tuple[SeenObject, ...]

    def text(self) -> str:
        """The note as one line, for retrieval and for the planner."""
        labels = ", ".join(name for name, _ in self.labels) or "nothing recognised"
        counts: dict[str, int] = {}
        for o in self.objects:
            counts[o.label] = counts.get(o.label, 0) + 1
        objects = ", ".join(f"{n} {label}" for label, n in sorted(counts.items())) or "no COCO objects"
        return f"scene: {labels}; objects: {objects}"


@dataclass
class NoteStore:
    notes: dict[tuple[str, int], FrameNote] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


#: Notes of every frame described in this process, by (video sha256, frame index).
_NOTES = NoteStore()


def where(box, width: int, height: int) -> str:
    """Coarse position and size words: 'left, bottom, large'."""
    cx, cy = (box[0] + box[2]) / 2 / width, (box[1] + box[3]) / 2 / height
    horizontal = "left" if cx < 1 / 3 else "right" if cx > 2 / 3 else "centre"
    vertical = "top" if cy < 1 / 3 else "bottom" if cy > 2 / 3 else "middle"
    area = (box[2] - box[0]) * (box[3] - box[1]) / (width * height)
    size = "large" if area > 0.25 else "small" if area < 0.03 else "medium"
    return f"{horizontal}, {vertical}, {size}"


def frame_notes(frames: list[Frame], ctx: ToolContext) -> list[FrameNote]:
    """Notes for ``frames`` (computed once per frame and process)."""
    store = _NOTES
    sha = ctx.meta.sha256
    with store.lock:
        missing = [f for f in frames if (sha, f.index) not in store.notes]
    if missing:
        classifier = ctx.load(IMAGE_CLASSIFIER)
        detector = ctx.load(SSD_DETECTOR)
        for start in range(0, len(missing), 8):
            ctx.check()
            chunk = missing[start : start + 8]
            images = [f.image for f in chunk]
            labels = classifier.classify(images, top_k=3)
            found = detector.detect(images, min_confidence=MIN_OBJECT_SCORE)
            ctx.count_model_frames(CLASSIFIER, len(chunk))
            ctx.count_model_frames(DETECTOR, len(chunk))
            for frame, top, dets in zip(chunk, labels, found):
                objects = tuple(_seen(frame, b, s, lbl, ctx) for b, s, lbl in zip(dets.xyxy, dets.scores, dets.labels))
                note = FrameNote(
                    frame_index=frame.index,
                    time_s=frame.time_s,
                    labels=tuple((p.label, round(p.score, 3)) for p in top if p.score >= MIN_LABEL_SCORE),
                    objects=objects,
                )
                with store.lock:
                    store.notes[(sha, frame.index)] = note
    with store.lock:
        return [store.notes[(sha, f.index)] for f in frames]


def _seen(frame: Frame, box, score, label, ctx: ToolContext) -> SeenObject:
    """A detected object with its box scaled from the (possibly shrunk) frame to source pixels."""
    h, w = frame.image.shape[:2]
    sx, sy = ctx.meta.width / w, ctx.meta.height / h
    source = (float(box[0] * sx), float(box[1] * sy), float(box[2] * sx), float(box[3] * sy))
    return SeenObject(str(label), float(score), source, where(source, ctx.meta.width, ctx.meta.height))


def temporal_top_k(times: np.ndarray, scores: np.ndarray, k: int, min_gap_s: float) -> list[int]:
    """Indices of the ``k`` best scores, skipping any within ``min_gap_s`` of one already
    kept (near-duplicate neighbours), returned in time order."""
    kept: list[int] = []
    for i in np.argsort(-scores, kind="stable"):
        if all(abs(times[i] - times[j]) >= min_gap_s for j in kept):
            kept.append(int(i))
        if len(kept) == k:
            break
    return sorted(kept, key=lambda i: times[i])
