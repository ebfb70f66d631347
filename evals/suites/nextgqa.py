"""NExT-GQA grounded QA (doc-doc/NExT-GQA): ``val.csv`` / ``test.csv`` + ``gsub_<split>.json``.

The CSV has NExT-QA's columns with ``video_id`` for ``video`` and the answer given as the
option *text*; the loader turns it into the option index. ``gsub_<split>.json`` holds, per
video, ``{"duration": s, "fps": f, "location": {qid: [[start_s, end_s], ...]}}``: the
ground-truth spans, in seconds, that support each answer (``Sample.gt_spans``).

Answer scoring is NExT-QA's (chosen index == answer). Grounding follows the official
``code/TempGQA/eval_ground.py`` (functions ``get_tIoU`` and ``eval_ground``):

* for a predicted span ``p`` and a ground-truth span ``g``: if ``p`` is a single instant,
  IoU = 0 and IoP = 1 if the instant lies in ``g`` (ends included) else 0; otherwise
  IoU = (min(ends) - max(starts)) / (max(ends) - min(starts)) and
  IoP = (min(ends) - max(starts)) / (p.end - p.start), "intersection over prediction";
* a question's IoU and IoP are the maxima over its ground-truth spans, each taken
  separately and starting from 0 (so disjoint spans score 0);
* mIoU / mIoP are means over questions; IoU@0.3, IoU@0.5, IoP@0.3, IoP@0.5 are the shares
  of questions at or above the threshold; Acc@GQA is the share of questions answered
  correctly with IoP >= 0.5 (``evals.metrics.grounding_summary``).

Where this harness differs: the official script skips questions with no prediction (its
models always predict); here a question whose answer gave no span, or was not answered,
scores IoU = IoP = 0, so abstaining cannot raise the grounding scores.

The agent's predicted span (``predicted_span``): an evidence note containing
``span: <start>-<end>`` (seconds) gives that span; otherwise the span runs from the earliest
to the latest evidence time (a single evidence item gives an instant); no evidence, no span.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import ClassVar

from agent.types import Answer
from evals.samples import Grounding, Sample
from evals.suites.base import Suite, Verdict, judge_multiple_choice, read_csv_rows, register_suite
from evals.suites.nextqa import NEXTQA_QTYPE_GROUPS, NEXTQA_QTYPE_NAMES, OPTION_COLUMNS, official_qtype
from tools.types import TimeSpan

SPAN_NOTE = re.compile(
    r"\bspan\s*[:=]?\s*\[?\s*(\d+(?:\.\d+)?)\s*(?:-|\u2013|to|,)\s*(\d+(?:\.\d+)?)\s*\]?",
    re.IGNORECASE,
)


def predicted_span(answer: Answer) -> TimeSpan | None:
    """The time span (seconds) the answer points at, read from its evidence (see module doc)."""
    for evidence in answer.evidence:
        match = SPAN_NOTE.search(evidence.note)
        if match:
            start, end = sorted((float(match.group(1)), float(match.group(2))))
            return TimeSpan(start_s=start, end_s=end)
    if not answer.evidence:
        return None
    times = [e.time_s for e in answer.evidence]
    return TimeSpan(start_s=min(times), end_s=max(times))


def official_tiou(gt: TimeSpan, pred: TimeSpan) -> tuple[float, float]:
    """(IoU, IoP) of one prediction against one ground-truth span, as ``get_tIoU`` computes them.

    Values can be negative for disjoint spans, as in the official code; ``best_tiou`` clips.
    """
    if pred.start_s == pred.end_s:
        return 0.0, 1.0 if gt.start_s <= pred.start_s <= gt.end_s else 0.0
    intersection = min(gt.end_s, pred.end_s) - max(gt.start_s, pred.start_s)
    union = max(gt.end_s, pred.end_s) - min(gt.start_s, pred.start_s)
    iou = intersection / union if union > 0 else 0.0
    iop = intersection / (pred.end_s - pred.start_s)
    return iou, iop


def best_tiou(gts: Sequence[TimeSpan], pred: TimeSpan) -> tuple[float, float]:
    """Maximum IoU and maximum IoP over the ground-truth spans, each starting from 0."""
    best_iou = best_iop = 0.0
    for gt in gts:
        iou, iop = official_tiou(gt, pred)
        best_iou = max(best_iou, iou)
        best_iop = max(best_iop, iop)
    return best_iou, best_iop


@register_suite
class NextGQASuite(Suite):
    name: ClassVar[str] = "nextgqa"
    description: ClassVar[str] = "NExT-GQA: NExT-QA multiple choice plus the time span that supports the answer"
    annotations_subdir: ClassVar[str] = "nextgqa"
    qtype_names = {**NEXTQA_QTYPE_NAMES, "C": "causal", "T": "temporal"}
    qtype_groups = NEXTQA_QTYPE_GROUPS

    def __init__(self, annotations_dir: Path | str | None = None, split: str = "val"):
        super().__init__(annotations_dir)
        self.split = split

    def read_samples(self) -> Iterator[Sample]:
        with self._path(f"gsub_{self.split}.json").open(encoding="utf-8") as fh:
            spans_by_video = json.load(fh)
        required = ("video_id", "question", "answer", "qid", "type", *OPTION_COLUMNS)
        for row in read_csv_rows(self._path(f"{self.split}.csv"), required):
            options = tuple(row[c] for c in OPTION_COLUMNS)
            if options.count(row["answer"]) != 1:
                raise ValueError(f"{self.name}: answer {row['answer']!r} of {row['video_id']}_{row['qid']} "
                                 f"is not exactly one of its options {options}")
            video = spans_by_video.get(row["video_id"], {})
            spans = video.get("location", {}).get(row["qid"], [])
            yield Sample(
                suite=self.name,
                sample_id=f"{row['video_id']}_{row['qid']}",
                video_id=row["video_id"],
                question=row["question"],
                options=options,
                answer=options.index(row["answer"]),
                qtype=official_qtype(row["type"]),
                gt_spans=tuple(TimeSpan(start_s=float(s), end_s=float(e)) for s, e in spans),
                extra={
                    "qid": row["qid"],
                    "type": row["type"],
                    "duration_s": video.get("duration"),
                    "fps": video.get("fps"),
                },
            )

    def judge(self, sample: Sample, answer: Answer) -> Verdict:
        return judge_multiple_choice(sample, answer)

    def grounding(self, sample: Sample, answer: Answer) -> Grounding | None:
        if not sample.gt_spans:
            return None
        span = predicted_span(answer) if answer.status == "answered" else None
        if span is None:
            return Grounding(iou=0.0, iop=0.0)
        iou, iop = best_tiou(sample.gt_spans, span)
        return Grounding(iou=iou, iop=iop, pred_span=span)
