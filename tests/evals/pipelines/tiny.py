"""The Python half of the test pipelines: a tiny suite and planners written as functions.

``TinySuite`` holds its samples in memory (no annotation files). Its questions carry their
own instructions for ``question_keyed``, the function planner the ``function.toml`` pipeline
is run with: ``"... [pick 2]"`` answers option 2; ``"... [hang]"`` never answers (sleeps), to
exercise per-sample timeouts; every other question is answered after one ``detect_shots`` call
with the number of shots it found.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator, Sequence
from typing import ClassVar

from agent.types import Answer
from evals.samples import Sample
from evals.suites.base import Suite, Verdict, judge_multiple_choice, judge_open_ended
from planners.base import PlannerInput
from planners.scripted import FunctionPlanner

HANG_S = 120.0


class TinySuite(Suite):
    """A suite of the given samples: multiple choice when a sample has options, else open-ended."""

    name: ClassVar[str] = "tiny"
    description: ClassVar[str] = "in-memory test suite"
    annotations_subdir: ClassVar[str] = "tiny"
    qtype_names = {"A": "alpha questions", "B": "beta questions"}
    qtype_groups = {"A": "G", "B": "G"}

    def __init__(self, samples: Sequence[dict]):
        super().__init__(annotations_dir=".")
        self._rows = list(samples)

    def read_samples(self) -> Iterator[Sample]:
        for row in self._rows:
            yield Sample(suite=self.name, **row)

    def judge(self, sample: Sample, answer: Answer) -> Verdict:
        if sample.options is not None:
            return judge_multiple_choice(sample, answer)
        return judge_open_ended(sample, answer)


def question_keyed(request: PlannerInput) -> dict:
    if "[hang]" in request.question:
        time.sleep(HANG_S)
    pick = re.search(r"\[pick (\d+)\]", request.question)
    if pick:
        return {"action": "answer", "answer": request.options[int(pick.group(1))], "choice": int(pick.group(1))}
    if not request.history:
        return {"action": "call_tools", "thought": "count the shots", "calls": [{"name": "detect_shots", "args": {}}]}
    shots = re.search(r"(\d+) shots?", request.history[-1].observations[0].text)
    count = shots.group(1) if shots else "unknown"
    return {"action": "answer", "answer": f"{count} shots"}


def question_keyed_planner() -> FunctionPlanner:
    return FunctionPlanner(question_keyed, name="question_keyed")
