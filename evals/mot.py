"""Multi-object tracking: MOTChallenge text files and track scoring.

A MOTChallenge row is ``frame, id, x, y, w, h, conf, class, visibility``: frames count
from 1, the box is its top-left corner plus width and height in pixels, and in ground truth
``conf`` 0 marks a box to ignore. Ground truth lives in ``gt.txt``, a tracker's output in
``<sequence>.txt`` with the same columns (class and visibility -1 when unknown).

``score_mot`` computes
    * CLEAR MOT and identity metrics (MOTA, MOTP, IDF1, IDP, IDR, ID switches, FP, FN, ...)
      with ``motmetrics`` (py-motmetrics): boxes are matched per frame when IoU >= 0.5;
    * HOTA, DetA, AssA, LocA with TrackEval's ``HOTA`` metric, when ``trackeval`` is
      installed (averaged over its IoU thresholds 0.05..0.95, as TrackEval reports them).

motmetrics 1.4.0 (the latest on PyPI) computes IoU distances through ``np.asfarray``,
which numpy 2 removed. This module never takes that path: it builds each frame's distance
matrix itself with motmetrics' own ``boxiou`` (the same formula ``iou_matrix`` uses) and
feeds ``MOTAccumulator.update`` directly, so no numpy patching is needed.

Like TrackEval's MOT15 setting, no distractor classes are removed; ground-truth rows with
``conf == 0`` are dropped (``drop_ignored_gt``).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict

from tools.detections import Detections
from tools.errors import require


@dataclass(frozen=True, slots=True)
class MotRow:
    """One box of one track in one frame (MOTChallenge columns, pixels, frames from 1)."""

    frame: int
    track_id: int
    x: float
    y: float
    w: float
    h: float
    conf: float = 1.0
    cls: int = -1
    visibility: float = -1.0

    def __post_init__(self):
        if self.frame < 1:
            raise ValueError(f"MOTChallenge frames start at 1, got frame {self.frame}")
        if self.w < 0 or self.h < 0:
            raise ValueError(f"box width and height must be >= 0, got w={self.w} h={self.h}")

    @property
    def xywh(self) -> tuple[float, float, float, float]:
        return self.x, self.y, self.w, self.h


_SEPARATOR = re.compile(r"\s*,\s*|\s+")


def parse_mot_rows(text: str, source: str = "<text>") -> list[MotRow]:
    """Rows of a MOTChallenge file's text (comma- or whitespace-separated, 6 to 10 columns).

    Columns beyond ``visibility`` (MOT15's world coordinates) are ignored; missing
    ``conf`` / ``class`` / ``visibility`` default to 1 / -1 / -1.
    """
    rows: list[MotRow] = []
    for line_no, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        fields = [f for f in _SEPARATOR.split(line) if f]
        if len(fields) < 6:
            raise ValueError(f"{source}:{line_no}: expected at least 6 columns, got {len(fields)}: {line!r}")
        try:
            values = [float(f) for f in fields[:9]]
        except ValueError as exc:
            raise ValueError(f"{source}:{line_no}: {exc}") from None
        frame, track_id, x, y, w, h = values[:6]
        rest = values[6:] + [1.0, -1.0, -1.0][len(values) - 6:]
        rows.append(MotRow(int(frame), int(track_id), x, y, w, h, rest[0], int(rest[1]), rest[2]))
    return rows


def read_mot_file(path: str | Path) -> list[MotRow]:
    """Rows of a MOTChallenge ``gt.txt`` or results file."""
    path = Path(path)
    return parse_mot_rows(path.read_text(encoding="utf-8"), source=str(path))


def format_mot_rows(rows: Iterable[MotRow]) -> str:
    """MOTChallenge text, one ``frame,id,x,y,w,h,conf,class,visibility`` line per row.

    Floats are written exactly (shortest round-trip form; whole numbers without ``.0``).
    """
    return "".join(
        f"{r.frame},{r.track_id},{_num(r.x)},{_num(r.y)},{_num(r.w)},{_num(r.h)},"
        f"{_num(r.conf)},{r.cls},{_num(r.visibility)}\n"
        for r in rows
    )


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def write_mot_file(rows: Iterable[MotRow], path: str | Path) -> Path:
    """Write rows as a MOTChallenge file (sorted by frame, then id) and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(format_mot_rows(sorted(rows, key=lambda r: (r.frame, r.track_id))), encoding="utf-8")
    return path


def detections_to_mot_rows(
    detections: Detections,
    class_ids: Mapping[str, int] | None = None,
    labels: Iterable[str] | None = None,
) -> list[MotRow]:
    """Hypothesis rows from tracked vidagent ``Detections``.

    ``frame_index`` (0-based) becomes the 1-based MOT frame; ``xyxy`` becomes x, y, w, h;
    ``confidence`` becomes conf. Boxes without a track (``track_id == -1``) are left out.
    ``class_ids`` maps labels to MOT class numbers (else -1); ``labels`` keeps only those
    labels (e.g. ``["person"]`` to score pedestrians). Raises ValueError if the detections
    carry no track ids.
    """
    if detections.track_id is None:
        raise ValueError("detections have no track ids: run a tracker first")
    keep_labels = set(labels) if labels is not None else None
    rows = []
    for i in range(len(detections)):
        label = str(detections.label[i])
        track = int(detections.track_id[i])
        if track < 0 or (keep_labels is not None and label not in keep_labels):
            continue
        x1, y1, x2, y2 = (float(v) for v in detections.xyxy[i])
        rows.append(MotRow(
            frame=int(detections.frame_index[i]) + 1,
            track_id=track,
            x=x1, y=y1, w=x2 - x1, h=y2 - y1,
            conf=float(detections.confidence[i]),
            cls=(class_ids or {}).get(label, -1),
        ))
    return rows


class MotScores(BaseModel):
    """Tracking scores of one sequence. Ratios are fractions (MOTA may be negative).

    ``motp`` is motmetrics' MOTP: the mean (1 - IoU) distance of matched pairs, so lower is
    better (MOTChallenge tables print 1 - motp). ``hota``/``deta``/``assa``/``loca`` are
    None when TrackEval is not installed.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    mota: float
    motp: float
    idf1: float
    idp: float
    idr: float
    recall: float
    precision: float
    num_switches: int
    num_false_positives: int
    num_misses: int
    num_fragmentations: int
    num_objects: int
    num_predictions: int
    num_unique_objects: int
    mostly_tracked: int
    partially_tracked: int
    mostly_lost: int
    num_frames: int
    hota: float | None = None
    deta: float | None = None
    assa: float | None = None
    loca: float | None = None


_MOTMETRICS_FIELDS = (
    "mota", "motp", "idf1", "idp", "idr", "recall", "precision", "num_switches", "num_false_positives",
    "num_misses", "num_fragmentations", "num_objects", "num_predictions", "num_unique_objects",
    "mostly_tracked", "partially_tracked", "mostly_lost", "num_frames",
)


FrameBoxes = dict[int, tuple[np.ndarray, np.ndarray]]


def _frames(rows: Sequence[MotRow]) -> FrameBoxes:
    """frame -> (ids (n,), boxes (n, 4) x y w h)."""
    grouped: dict[int, list[MotRow]] = defaultdict(list)
    for r in rows:
        grouped[r.frame].append(r)
    return {
        f: (np.array([r.track_id for r in rs], dtype=np.int64), np.array([r.xywh for r in rs], dtype=np.float64))
        for f, rs in grouped.items()
    }


def _box_iou(gt_xywh: np.ndarray, hyp_xywh: np.ndarray) -> np.ndarray:
    """(n_gt, n_hyp) IoU matrix, computed by motmetrics' ``boxiou``."""
    from motmetrics.distances import boxiou

    return boxiou(gt_xywh[:, None], hyp_xywh[None, :])


def score_mot(
    gt_rows: Sequence[MotRow],
    hyp_rows: Sequence[MotRow],
    *,
    iou_threshold: float = 0.5,
    drop_ignored_gt: bool = True,
    with_hota: bool = True,
) -> MotScores:
    """Score one sequence's hypothesis tracks against ground truth.

    ``iou_threshold``: a box pair can match in CLEAR/identity metrics when IoU >= this.
    ``drop_ignored_gt``: leave out ground-truth rows whose conf is 0 (MOTChallenge "ignore").
    ``with_hota``: also compute HOTA if TrackEval is installed.
    """
    mm = require("motmetrics", "eval", "motmetrics")
    if drop_ignored_gt:
        gt_rows = [r for r in gt_rows if r.conf != 0]
    gt_frames = _frames(gt_rows)
    hyp_frames = _frames(hyp_rows)
    frames = sorted(gt_frames.keys() | hyp_frames.keys())
    empty = (np.empty(0, dtype=np.int64), np.empty((0, 4)))

    acc = mm.MOTAccumulator()
    max_distance = 1.0 - iou_threshold
    for frame in frames:
        gt_ids, gt_boxes = gt_frames.get(frame, empty)
        hyp_ids, hyp_boxes = hyp_frames.get(frame, empty)
        if len(gt_ids) and len(hyp_ids):
            distances = 1.0 - _box_iou(gt_boxes, hyp_boxes)
            distances = np.where(distances > max_distance, np.nan, distances)
        else:
            distances = np.empty((0, 0))
        acc.update(gt_ids, hyp_ids, distances, frameid=frame)

    summary = mm.metrics.create().compute(acc, metrics=list(_MOTMETRICS_FIELDS), name="sequence")
    values = {k: summary.loc["sequence", k] for k in _MOTMETRICS_FIELDS}
    scores = {k: (int(v) if k.startswith(("num_", "mostly_", "partially_")) else float(v)) for k, v in values.items()}
    if with_hota:
        scores.update(_hota(gt_frames, hyp_frames, frames))
    return MotScores(**scores)


def _hota(gt_frames: FrameBoxes, hyp_frames: FrameBoxes, frames: Sequence[int]) -> dict[str, float]:
    """HOTA / DetA / AssA / LocA from TrackEval, or {} when it is not installed."""
    try:
        from trackeval.metrics import HOTA
    except ImportError:
        return {}
    gt_index: dict[int, int] = {}
    hyp_index: dict[int, int] = {}
    empty = (np.empty(0, dtype=np.int64), np.empty((0, 4)))
    data = {"gt_ids": [], "tracker_ids": [], "similarity_scores": []}
    for frame in frames:
        gt_ids, gt_boxes = gt_frames.get(frame, empty)
        hyp_ids, hyp_boxes = hyp_frames.get(frame, empty)
        # TrackEval wants ids relabelled 0..n-1 over the sequence.
        data["gt_ids"].append(np.array([gt_index.setdefault(int(i), len(gt_index)) for i in gt_ids], dtype=int))
        data["tracker_ids"].append(np.array([hyp_index.setdefault(int(i), len(hyp_index)) for i in hyp_ids], dtype=int))
        if len(gt_ids) and len(hyp_ids):
            data["similarity_scores"].append(_box_iou(gt_boxes, hyp_boxes))
        else:
            data["similarity_scores"].append(np.zeros((len(gt_ids), len(hyp_ids))))
    data.update(
        num_timesteps=len(frames),
        num_gt_ids=len(gt_index),
        num_tracker_ids=len(hyp_index),
        num_gt_dets=sum(len(ids) for ids in data["gt_ids"]),
        num_tracker_dets=sum(len(ids) for ids in data["tracker_ids"]),
    )
    res = HOTA().eval_sequence(data)
    return {
        "hota": float(np.mean(res["HOTA"])),
        "deta": float(np.mean(res["DetA"])),
        "assa": float(np.mean(res["AssA"])),
        "loca": float(np.mean(res["LocA"])),
    }
