"""Scene-text reading with PP-OCRv4 (detector, direction classifier, recogniser) via rapidocr-onnxruntime.

Images are read at their own resolution (downscaled only beyond ``max_side`` pixels).
RapidOCR's default upscales the short side to 736 px, which on bikes.mp4 (640x272) lost the
"TAXI" sign that native resolution reads at 0.99, and took 4x longer.

>>> OcrReader().read(frame_rgb)                       # doctest: +SKIP
[OcrRead(text='TAXI', score=0.99, box=(282.0, 129.0, 481.0, 182.0))]
"""

from __future__ import annotations

import difflib
import os
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from tools.errors import require
from tools.backends.lite.models import check_rgb_images, asset_copy, lite_model
from tools.backends.lite.models.assets import LITE_EXTRA, load_failed, model_file

MODEL = "ppocr_v4"

Box = tuple[float, float, float, float]


class OcrRead(NamedTuple):
    """One line of text: ``score`` in [0, 1] (recogniser confidence), ``box`` x1 y1 x2 y2
    in source pixels (the axis-aligned hull of the detected quadrilateral)."""

    text: str
    score: float
    box: Box


class OcrReader:
    """PP-OCRv4 text reader; loads on first use; thread-safe.

    max_side: images whose longer side exceeds this are downscaled for detection.
    min_score: lines recognised with a lower confidence are dropped.
    det_path / rec_path / cls_path: replace the packaged .onnx files (copies of them, held
    to the same size and hash).
    """

    def __init__(
        self,
        max_side: int = 1280,
        min_score: float = 0.5,
        det_path: str | os.PathLike | None = None,
        rec_path: str | os.PathLike | None = None,
        cls_path: str | os.PathLike | None = None,
    ):
        self.max_side = max_side
        self.min_score = min_score
        self._paths = {"det": det_path, "rec": rec_path, "cls": cls_path}
        self._engine = None
        # RapidOCR keeps per-call settings on the object; one caller at a time.
        self._lock = threading.Lock()

    def load(self) -> None:
        """Verify the three model files and build the engine (done once)."""
        with self._lock:
            self._load_locked()

    def _load_locked(self) -> None:
        if self._engine is not None:
            return
        rapidocr = require("rapidocr_onnxruntime", LITE_EXTRA, "rapidocr-onnxruntime")
        paths = {role: model_file(MODEL, role, p) for role, p in self._paths.items()}
        try:
            self._engine = rapidocr.RapidOCR(
                det_model_path=str(paths["det"]),
                rec_model_path=str(paths["rec"]),
                cls_model_path=str(paths["cls"]),
                det_limit_type="max",
                det_limit_side_len=self.max_side,
                text_score=self.min_score,
            )
        except Exception as exc:  # onnxruntime raises its own (non-exported) exception types
            raise load_failed(MODEL, paths["det"], exc) from exc

    def read(self, image: np.ndarray) -> list[OcrRead]:
        """Text lines in one (H, W, 3) uint8 RGB image, top to bottom."""
        check_rgb_images([image])
        bgr = np.ascontiguousarray(image[..., ::-1])  # RapidOCR takes arrays as BGR (OpenCV order)
        with self._lock:
            self._load_locked()
            result, _ = self._engine(bgr)
        reads = []
        for quad, text, score in result or []:
            pts = np.asarray(quad, dtype=np.float32).reshape(-1, 2)
            x1, y1 = np.clip(pts.min(axis=0), 0, None)
            x2, y2 = np.minimum(pts.max(axis=0), [image.shape[1], image.shape[0]])
            if text.strip() and float(score) >= self.min_score:
                reads.append(OcrRead(text.strip(), float(score), (float(x1), float(y1), float(x2), float(y2))))
        return reads


def box_iou(a: Box, b: Box) -> float:
    """Intersection over union of two x1 y1 x2 y2 boxes (0 when either is empty)."""
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def text_similarity(a: str, b: str) -> float:
    """Similarity in [0, 1] of two reads, ignoring case and spaces ("AXI" vs "TAXI": 0.86)."""
    a, b = "".join(a.casefold().split()), "".join(b.casefold().split())
    return difflib.SequenceMatcher(None, a, b).ratio()


@dataclass(frozen=True)
class MergedRead:
    """One piece of text seen over consecutive frames.

    text: the most confident spelling (highest summed score over its reads).
    score: best score among the reads of that spelling.
    box: box of that read, source pixels.
    first_s / last_s: times of the first and last frame it was read in, seconds.
    n_reads: number of frames it was read in.
    """

    text: str
    score: float
    box: Box
    first_s: float
    last_s: float
    n_reads: int


@dataclass
class _Group:
    reads: list[tuple[float, OcrRead]]

    @property
    def last(self) -> tuple[float, OcrRead]:
        return self.reads[-1]


def merge_reads(
    frames: Iterable[tuple[float, Sequence[OcrRead]]],
    min_iou: float = 0.1,
    max_gap_s: float = 1.0,
    min_similarity: float = 0.8,
) -> list[MergedRead]:
    """Merge reads of the same text across frames into one read each.

    frames: (time_s, reads of that frame) pairs, in any order.
    A read joins the group whose latest read is at most ``max_gap_s`` earlier, has a box
    overlapping it by ``min_iou`` or more and a text at least ``min_similarity`` alike (so
    "AXI" with a cut-off T joins "TAXI"); the best-overlapping group wins, otherwise it
    starts a new group. Returns merged reads ordered by first time.
    """
    groups: list[_Group] = []
    for t, reads in sorted(frames, key=lambda f: f[0]):
        for read in reads:
            best, best_iou = None, min_iou
            for gi, g in enumerate(groups):
                last_t, last = g.last
                if t == last_t or t - last_t > max_gap_s:  # one read per frame per group
                    continue
                iou = box_iou(last.box, read.box)
                if iou >= best_iou and text_similarity(last.text, read.text) >= min_similarity:
                    best, best_iou = gi, iou
            if best is None:
                groups.append(_Group([(t, read)]))
            else:
                groups[best].reads.append((t, read))
    out = []
    for g in groups:
        totals: dict[str, float] = {}
        for _, r in g.reads:
            totals[r.text] = totals.get(r.text, 0.0) + r.score
        text = max(totals, key=totals.get)
        top = max((r for _, r in g.reads if r.text == text), key=lambda r: r.score)
        out.append(MergedRead(text, top.score, top.box, g.reads[0][0], g.reads[-1][0], len(g.reads)))
    return sorted(out, key=lambda m: (m.first_s, m.box[1], m.box[0]))


OCR_READER = lite_model(
    "pp-ocrv4", "ppocr_v4",
    lambda folder: OcrReader(det_path=asset_copy("ppocr_v4", "det", folder), rec_path=asset_copy("ppocr_v4", "rec", folder),
                             cls_path=asset_copy("ppocr_v4", "cls", folder)),
)
