"""NExT-QA multiple choice (doc-doc/NExT-QA): ``val.csv`` / ``test.csv``.

Columns: video, frame_count, width, height, question, answer (0-4), qid, type, a0..a4.
The sample id is ``<video>_<qid>``, the key the official ``eval_mc.py`` uses.

Question types follow ``eval_mc.py``: ``TP`` (temporal, previous) is merged into ``TN``
("we combine temporal qns of previous and next as 'TN'"), so ``qtype`` is one of
CW CH TN TC DC DL DO and the raw code stays in ``extra["type"]``; ``qtype_groups`` gives the
official C/T/D (causal, temporal, descriptive) accuracies. Scoring: chosen index == answer.

Videos: ``<videos_dir>/<video>.mp4`` or the official ``NExTVideo/<folder>/<video>.mp4``
layout (pass ``NExTVideo`` as ``videos_dir``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

from agent.types import Answer
from evals.samples import Sample
from evals.suites.base import Suite, Verdict, judge_multiple_choice, read_csv_rows, register_suite

NEXTQA_QTYPE_NAMES = {
    "CW": "causal why",
    "CH": "causal how",
    "TN": "temporal before/after",
    "TC": "temporal when",
    "DC": "descriptive count",
    "DL": "descriptive location",
    "DO": "descriptive other",
}
NEXTQA_QTYPE_GROUPS = {code: code[0] for code in NEXTQA_QTYPE_NAMES}
OPTION_COLUMNS = ("a0", "a1", "a2", "a3", "a4")


def official_qtype(raw: str) -> str:
    """The type ``eval_mc.py`` reports a question under (TP counts as TN)."""
    return "TN" if raw == "TP" else raw


@register_suite
class NextQASuite(Suite):
    name: ClassVar[str] = "nextqa"
    description: ClassVar[str] = "NExT-QA multiple choice (5 options), causal/temporal/descriptive questions"
    annotations_subdir: ClassVar[str] = "nextqa"
    qtype_names = {**NEXTQA_QTYPE_NAMES, "C": "causal", "T": "temporal", "D": "descriptive"}
    qtype_groups = NEXTQA_QTYPE_GROUPS

    def __init__(self, annotations_dir: Path | str | None = None, split: str = "val"):
        super().__init__(annotations_dir)
        self.split = split

    def read_samples(self) -> Iterator[Sample]:
        required = ("video", "frame_count", "width", "height", "question", "answer", "qid", "type", *OPTION_COLUMNS)
        for row in read_csv_rows(self._path(f"{self.split}.csv"), required):
            yield Sample(
                suite=self.name,
                sample_id=f"{row['video']}_{row['qid']}",
                video_id=row["video"],
                question=row["question"],
                options=tuple(row[c] for c in OPTION_COLUMNS),
                answer=int(row["answer"]),
                qtype=official_qtype(row["type"]),
                extra={
                    "qid": row["qid"],
                    "type": row["type"],
                    "frame_count": int(row["frame_count"]),
                    "width": int(row["width"]),
                    "height": int(row["height"]),
                },
            )

    def judge(self, sample: Sample, answer: Answer) -> Verdict:
        return judge_multiple_choice(sample, answer)
