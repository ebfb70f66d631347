"""ActivityNet-QA open-ended QA (MILVLG/activitynet-qa): ``<split>_q.json`` + ``<split>_a.json``.

``<split>_q.json``: ``[{"video_name", "question", "question_id"}]``;
``<split>_a.json``: ``[{"answer", "type", "question_id"}]``, joined on ``question_id``
(the sample id). ``qtype`` is the type code as text, "0".."8": question types 0 motion,
1 spatial relation, 2 temporal relation; 3-8 are the "free" questions by answer type:
3 yes/no, 4 color, 5 object, 6 location, 7 number, 8 other (``dataset/README.md``).

Scoring: the official ``evaluation/eval.py`` counts a prediction correct when it equals the
reference string exactly, reports accuracy per type, for "Free" (types 3-8) and for all
questions, each over every question of the split. Its predictions come from a classifier
over the answer vocabulary; this harness scores free text, so it compares both sides after
``evals.metrics.normalize_answer`` (lowercase, punctuation and articles removed, number
words to digits). ``qtype_groups`` maps 3-8 to "free" for the official Free accuracy.

Videos: ActivityNet files are usually named ``v_<video_name>.mp4``; both that and
``<video_name>.<ext>`` are looked up.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

from agent.types import Answer
from evals.samples import Sample
from evals.suites.base import Suite, Verdict, judge_open_ended, register_suite

ACTIVITYNET_QTYPE_NAMES = {
    "0": "motion",
    "1": "spatial relation",
    "2": "temporal relation",
    "3": "yes/no",
    "4": "color",
    "5": "object",
    "6": "location",
    "7": "number",
    "8": "other",
    "free": "free (types 3-8)",
}


@register_suite
class ActivityNetQASuite(Suite):
    name: ClassVar[str] = "activitynet_qa"
    description: ClassVar[str] = "ActivityNet-QA: open-ended questions on ActivityNet videos, normalised exact match"
    annotations_subdir: ClassVar[str] = "activitynet_qa"
    qtype_names = ACTIVITYNET_QTYPE_NAMES
    qtype_groups = {str(t): "free" for t in range(3, 9)}

    def __init__(self, annotations_dir: Path | str | None = None, split: str = "val"):
        super().__init__(annotations_dir)
        self.split = split

    def read_samples(self) -> Iterator[Sample]:
        questions = self._read_json(f"{self.split}_q.json")
        answers = {a["question_id"]: a for a in self._read_json(f"{self.split}_a.json")}
        unanswered = [q["question_id"] for q in questions if q["question_id"] not in answers]
        if unanswered:
            raise ValueError(f"{self.name}: {len(unanswered)} questions have no answer, e.g. {unanswered[:3]}")
        for q in questions:
            a = answers[q["question_id"]]
            yield Sample(
                suite=self.name,
                sample_id=q["question_id"],
                video_id=q["video_name"],
                question=q["question"],
                answer=str(a["answer"]),
                qtype=str(a["type"]),
            )

    def video_stems(self, sample: Sample) -> tuple[str, ...]:
        return (f"v_{sample.video_id}", sample.video_id)

    def judge(self, sample: Sample, answer: Answer) -> Verdict:
        return judge_open_ended(sample, answer)

    def _read_json(self, filename: str) -> list[dict]:
        with self._path(filename).open(encoding="utf-8") as fh:
            return json.load(fh)
