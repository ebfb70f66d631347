"""TGIF-QA (YunseokJANG/tgif-qa): one tab-separated file per task, ``<Split>_<task>_question.csv``.

Column layouts (``dataset/README.md`` and the released files; the first line is a header):

* count:      gif_name, question, answer (integer), vid_id, key
* action:     gif_name, question, a1, a2, a3, a4, a5, answer (0-based index), vid_id, key
* transition: same columns as action
* frameqa:    gif_name, question, answer (a word), type, vid_id, key, description;
  type 0/1/2/3 = object/number/color/location

``vid_id`` (e.g. ``COUNT12``, ``ACTION4``, ``FRAMEQA1159``) is the sample id; the video is
``<gif_name>.gif`` (or any common video extension). ``qtype`` is the task, and for FrameQA
``frameqa_<type name>``; ``qtype_groups`` folds the FrameQA types into ``frameqa``.

Scoring follows the released code (``code/gifqa/models/*_base.py``): action/transition by
chosen index; FrameQA by exact answer match (here after ``normalize_answer``, since answers
are free text); count predictions are rounded and clipped to 1..10 before comparison and the
task's official metric is the mean squared error (``SampleScore.squared_error``,
``evals.metrics.count_summary``), with accuracy reported too.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import ClassVar

from agent.types import Answer
from evals.samples import Sample
from evals.suites.base import (
    Suite,
    Verdict,
    judge_count,
    judge_multiple_choice,
    judge_open_ended,
    read_csv_rows,
    register_suite,
)

TGIF_TASKS = ("count", "action", "transition", "frameqa")
FRAMEQA_TYPES = {"0": "object", "1": "number", "2": "color", "3": "location"}
COUNT_CLIP = (1, 10)
_MC_OPTIONS = ("a1", "a2", "a3", "a4", "a5")
_COLUMNS = {
    "count": ("gif_name", "question", "answer", "vid_id"),
    "action": ("gif_name", "question", *_MC_OPTIONS, "answer", "vid_id"),
    "transition": ("gif_name", "question", *_MC_OPTIONS, "answer", "vid_id"),
    "frameqa": ("gif_name", "question", "answer", "type", "vid_id"),
}


@register_suite
class TgifQASuite(Suite):
    name: ClassVar[str] = "tgif_qa"
    description: ClassVar[str] = "TGIF-QA on GIFs: repetition count, repeating action, state transition, frame QA"
    annotations_subdir: ClassVar[str] = "tgif_qa"
    qtype_names = {
        "count": "repetition count",
        "action": "repeating action",
        "transition": "state transition",
        "frameqa": "frame QA",
        **{f"frameqa_{name}": f"frame QA ({name})" for name in FRAMEQA_TYPES.values()},
    }
    qtype_groups = {f"frameqa_{name}": "frameqa" for name in FRAMEQA_TYPES.values()}

    def __init__(
        self, annotations_dir: Path | str | None = None, split: str = "Test", tasks: Sequence[str] = TGIF_TASKS
    ):
        super().__init__(annotations_dir)
        unknown = [t for t in tasks if t not in TGIF_TASKS]
        if unknown:
            raise ValueError(f"unknown TGIF-QA tasks {unknown}; choose from {TGIF_TASKS}")
        self.split = split
        self.tasks = tuple(tasks)

    def read_samples(self) -> Iterator[Sample]:
        for task in self.tasks:
            path = self._path(f"{self.split}_{task}_question.csv")
            for line_no, row in enumerate(read_csv_rows(path, _COLUMNS[task], delimiter="\t"), start=2):
                try:
                    sample = self._sample(task, row)
                except ValueError as exc:
                    raise ValueError(f"{path}:{line_no}: {exc}") from None
                yield sample

    def _sample(self, task: str, row: dict[str, str]) -> Sample:
        common = dict(suite=self.name, sample_id=row["vid_id"], video_id=row["gif_name"], question=row["question"])
        extra = {"task": task, "key": row.get("key")}
        if task == "count":
            return Sample(**common, answer=int(row["answer"]), qtype="count", extra=extra)
        if task in ("action", "transition"):
            options = tuple(row[c] for c in _MC_OPTIONS)
            return Sample(**common, options=options, answer=int(row["answer"]), qtype=task, extra=extra)
        type_name = FRAMEQA_TYPES.get(row["type"], row["type"])
        extra["description"] = row.get("description")
        return Sample(**common, answer=row["answer"], qtype=f"frameqa_{type_name}", extra=extra)

    def judge(self, sample: Sample, answer: Answer) -> Verdict:
        if sample.qtype == "count":
            return judge_count(sample, answer, clip=COUNT_CLIP)
        if sample.is_multiple_choice:
            return judge_multiple_choice(sample, answer)
        return judge_open_ended(sample, answer)
