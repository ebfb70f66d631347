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

Ground truth is prepared as TrackEval prepares MOTChallenge data (``mot_challenge_filter``):
rows with ``conf == 0`` are dropped (``drop_ignored_gt``); when the ground truth carries
classes (MOT16/17/20), only pedestrians (class 1) are scored and hypothesis boxes that match
a distractor (person on vehicle, static person, distractor, reflection) are removed first.
Ground truth without classes (MOT15, class -1) keeps every box.

``evaluate_mot`` keeps what combining sequences needs (additive counts and TrackEval's HOTA
state, ``MotEvaluation``); ``combine_evaluations`` pools sequences as motmetrics' "OVERALL"
and TrackEval's "COMBINED_SEQ" do.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
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
    """Tracking scores of one sequence, or of several combined. Ratios are fractions (MOTA may
    be negative; a ratio with a zero denominator is NaN, as motmetrics gives it).

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


class MotCounts(BaseModel):
    """The additive CLEAR MOT and identity counts of one or more sequences (motmetrics' names).

    ``num_detections`` counts matched pairs, switches included; ``distance_sum`` is the sum of
    their (1 - IoU) distances; ``idtp``/``idfp``/``idfn`` are the identity true positives,
    false positives and false negatives of the best global id pairing. Every score in
    ``MotScores`` except HOTA follows from these, and counts of several sequences add up.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    num_frames: int
    num_objects: int
    num_predictions: int
    num_detections: int
    num_switches: int
    num_false_positives: int
    num_misses: int
    num_fragmentations: int
    num_unique_objects: int
    mostly_tracked: int
    partially_tracked: int
    mostly_lost: int
    idtp: int
    idfp: int
    idfn: int
    distance_sum: float

    def __add__(self, other: "MotCounts") -> "MotCounts":
        return MotCounts(**{k: getattr(self, k) + getattr(other, k) for k in MotCounts.model_fields})


class HotaParts(BaseModel):
    """TrackEval's HOTA state of one or more sequences, one value per localisation threshold
    alpha = 0.05, 0.10, ..., 0.95 (19 values): true positive, false negative and false positive
    detections, and association accuracy / recall / precision and localisation accuracy.
    TrackEval combines sequences from exactly these (``HOTA.combine_sequences``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    tp: list[float]
    fn: list[float]
    fp: list[float]
    assa: list[float]
    assre: list[float]
    asspr: list[float]
    loca: list[float]

    @classmethod
    def from_trackeval(cls, res: Mapping[str, np.ndarray]) -> "HotaParts":
        return cls(**{ours: [float(v) for v in res[theirs]] for ours, theirs in _TRACKEVAL_FIELDS.items()})

    def to_trackeval(self) -> dict[str, np.ndarray]:
        return {theirs: np.array(getattr(self, ours), dtype=float) for ours, theirs in _TRACKEVAL_FIELDS.items()}


_TRACKEVAL_FIELDS = {"tp": "HOTA_TP", "fn": "HOTA_FN", "fp": "HOTA_FP", "assa": "AssA", "assre": "AssRe",
                     "asspr": "AssPr", "loca": "LocA"}


class MotEvaluation(BaseModel):
    """What scoring one sequence (or combining several) keeps: enough to print its scores
    and to combine it with other sequences exactly (``combine_evaluations``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    counts: MotCounts
    hota: HotaParts | None = None

    def scores(self) -> MotScores:
        c = self.counts
        values: dict[str, float | int | None] = {
            "mota": 1.0 - _ratio(c.num_misses + c.num_switches + c.num_false_positives, c.num_objects),
            "motp": _ratio(c.distance_sum, c.num_detections),
            "idf1": _ratio(2 * c.idtp, c.num_objects + c.num_predictions),
            "idp": _ratio(c.idtp, c.idtp + c.idfp),
            "idr": _ratio(c.idtp, c.idtp + c.idfn),
            "recall": _ratio(c.num_detections, c.num_objects),
            "precision": _ratio(c.num_detections, c.num_false_positives + c.num_detections),
        }
        values.update({k: getattr(c, k) for k in MotScores.model_fields if k in MotCounts.model_fields})
        if self.hota is not None:
            from trackeval.metrics import HOTA

            res = HOTA._compute_final_fields(self.hota.to_trackeval())
            values.update(hota=float(np.mean(res["HOTA"])), deta=float(np.mean(res["DetA"])),
                          assa=float(np.mean(res["AssA"])), loca=float(np.mean(res["LocA"])))
        return MotScores(**values)


def _ratio(a: float, b: float) -> float:
    return a / b if b else float("nan")


def combine_evaluations(evaluations: Sequence[MotEvaluation]) -> MotEvaluation:
    """Several sequences as one: counts add up (so MOTA, IDF1, ... are those of the pooled
    boxes, as motmetrics' "OVERALL" row), HOTA is combined by TrackEval's own
    ``combine_sequences`` (detection counts summed, association and localisation accuracy
    weighted by true positives). HOTA is left out unless every sequence has it."""
    if not evaluations:
        raise ValueError("no sequences to combine")
    counts = evaluations[0].counts
    for e in evaluations[1:]:
        counts = counts + e.counts
    hota = None
    if all(e.hota is not None for e in evaluations):
        from trackeval.metrics import HOTA

        combined = HOTA().combine_sequences({str(i): e.hota.to_trackeval() for i, e in enumerate(evaluations)})
        hota = HotaParts.from_trackeval(combined)
    return MotEvaluation(counts=counts, hota=hota)


_MOTMETRICS_COUNTS = (
    "num_frames", "num_objects", "num_predictions", "num_detections", "num_switches", "num_false_positives",
    "num_misses", "num_fragmentations", "num_unique_objects", "mostly_tracked", "partially_tracked",
    "mostly_lost", "idtp", "idfp", "idfn",
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


#: MOTChallenge ground-truth class of the objects scored.
PEDESTRIAN = 1
#: Classes whose matched hypotheses are removed before scoring (TrackEval, MOT16/17): person on
#: vehicle, static person, distractor, reflection. MOT20 adds 6, non-motorized vehicle.
DISTRACTOR_CLASSES = frozenset({2, 7, 8, 12})


def has_classes(gt_rows: Sequence[MotRow]) -> bool:
    """Whether ground truth is of the MOT16/17/20 kind: every row has a class >= 1 and a
    visibility in [0, 1]. MOT15 files have no class (-1), or world coordinates in those
    columns (TUD-Stadtmitte: x, y, z in metres), and fail this."""
    return bool(gt_rows) and all(r.cls >= 1 and 0 <= r.visibility <= 1 for r in gt_rows)


def mot_challenge_filter(
    gt_rows: Sequence[MotRow],
    hyp_rows: Sequence[MotRow],
    distractor_classes: Collection[int] = DISTRACTOR_CLASSES,
    *,
    drop_ignored_gt: bool = True,
) -> tuple[list[MotRow], list[MotRow]]:
    """Ground truth and hypotheses as TrackEval's ``MotChallenge2DBox`` scores them.

    With classes in the ground truth (``has_classes``): per frame, hypotheses are matched one
    to one to every ground-truth box (highest total IoU, pairs with IoU >= 0.5, Hungarian);
    those matched to a ``distractor_classes`` box are removed; then only pedestrian ground
    truth is kept. Without classes nothing is removed. ``drop_ignored_gt`` also drops ground
    truth whose conf is 0.
    """
    gt_rows, hyp_rows = list(gt_rows), list(hyp_rows)
    if has_classes(gt_rows):
        from scipy.optimize import linear_sum_assignment

        gt_by_frame: dict[int, list[MotRow]] = defaultdict(list)
        for r in gt_rows:
            gt_by_frame[r.frame].append(r)
        hyp_by_frame: dict[int, list[MotRow]] = defaultdict(list)
        for r in hyp_rows:
            hyp_by_frame[r.frame].append(r)
        kept: list[MotRow] = []
        for frame, hyps in hyp_by_frame.items():
            gts = gt_by_frame.get(frame, [])
            if not gts:
                kept += hyps
                continue
            iou = _box_iou(np.array([g.xywh for g in gts]), np.array([h.xywh for h in hyps]))
            iou[iou < 0.5 - np.finfo(float).eps] = 0
            rows, cols = linear_sum_assignment(-iou)
            removed = {int(c) for r, c in zip(rows, cols)
                       if iou[r, c] > np.finfo(float).eps and gts[r].cls in distractor_classes}
            kept += [h for i, h in enumerate(hyps) if i not in removed]
        hyp_rows = sorted(kept, key=lambda r: (r.frame, r.track_id))
        gt_rows = [r for r in gt_rows if r.cls == PEDESTRIAN]
    if drop_ignored_gt:
        gt_rows = [r for r in gt_rows if r.conf != 0]
    return gt_rows, hyp_rows


def evaluate_mot(
    gt_rows: Sequence[MotRow],
    hyp_rows: Sequence[MotRow],
    *,
    iou_threshold: float = 0.5,
    drop_ignored_gt: bool = True,
    distractor_classes: Collection[int] | None = DISTRACTOR_CLASSES,
    with_hota: bool = True,
) -> MotEvaluation:
    """Score one sequence's hypothesis tracks against ground truth; keep what combining needs.

    ``iou_threshold``: a box pair can match in CLEAR/identity metrics when IoU >= this.
    ``drop_ignored_gt``: leave out ground-truth rows whose conf is 0 (MOTChallenge "ignore").
    ``distractor_classes``: MOTChallenge class filtering (``mot_challenge_filter``), applied
    when the ground truth has classes; None scores every ground-truth box.
    ``with_hota``: also compute HOTA if TrackEval is installed.
    """
    mm = require("motmetrics", "eval", "motmetrics")
    if distractor_classes is not None:
        gt_rows, hyp_rows = mot_challenge_filter(gt_rows, hyp_rows, distractor_classes,
                                                 drop_ignored_gt=drop_ignored_gt)
    elif drop_ignored_gt:
        gt_rows = [r for r in gt_rows if r.conf != 0]
    gt_frames = _frames(gt_rows)
    hyp_frames = _frames(hyp_rows)
    frames = sorted(gt_frames.keys() | hyp_frames.keys())
    acc = _accumulate(gt_frames, hyp_frames, frames, iou_threshold)
    summary = mm.metrics.create().compute(acc, metrics=list(_MOTMETRICS_COUNTS), name="sequence")
    counts = {k: int(summary.loc["sequence", k]) for k in _MOTMETRICS_COUNTS}
    events = acc.mot_events
    matched = events[events.Type.isin(["MATCH", "SWITCH"])]  # motmetrics' MOTP sums these (not TRANSFER etc.)
    counts["distance_sum"] = float(matched["D"].to_numpy(dtype=float).sum())
    hota = _hota(gt_frames, hyp_frames, frames) if with_hota else None
    return MotEvaluation(counts=MotCounts(**counts), hota=hota)


def motmetrics_accumulator(gt_rows: Sequence[MotRow], hyp_rows: Sequence[MotRow], iou_threshold: float = 0.5):
    """motmetrics' ``MOTAccumulator`` of one sequence (every row kept), for motmetrics' own summaries."""
    gt_frames, hyp_frames = _frames(gt_rows), _frames(hyp_rows)
    return _accumulate(gt_frames, hyp_frames, sorted(gt_frames.keys() | hyp_frames.keys()), iou_threshold)


def _accumulate(gt_frames: FrameBoxes, hyp_frames: FrameBoxes, frames: Sequence[int], iou_threshold: float):
    mm = require("motmetrics", "eval", "motmetrics")
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
    return acc


def score_mot(
    gt_rows: Sequence[MotRow],
    hyp_rows: Sequence[MotRow],
    *,
    iou_threshold: float = 0.5,
    drop_ignored_gt: bool = True,
    distractor_classes: Collection[int] | None = DISTRACTOR_CLASSES,
    with_hota: bool = True,
) -> MotScores:
    """Scores of one sequence (``evaluate_mot``'s arguments)."""
    return evaluate_mot(gt_rows, hyp_rows, iou_threshold=iou_threshold, drop_ignored_gt=drop_ignored_gt,
                        distractor_classes=distractor_classes, with_hota=with_hota).scores()


def _hota(gt_frames: FrameBoxes, hyp_frames: FrameBoxes, frames: Sequence[int]) -> HotaParts | None:
    """TrackEval's HOTA state of one sequence, or None when TrackEval is not installed."""
    try:
        from trackeval.metrics import HOTA
    except ImportError:
        return None
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
    return HotaParts.from_trackeval(HOTA().eval_sequence(data))
