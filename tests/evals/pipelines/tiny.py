"""The Python half of the test pipelines: a tiny suite and a planner written as a function.

``TinySuite`` reads ``samples.json`` (a list of ``Sample`` fields without ``suite``) from its
annotations folder; importing this module registers it as ``tiny``, so ``vidagent eval run
--suite tiny --annotations DIR`` works in a process that imported it.

``question_keyed`` (the planner of the ``function.toml`` tests) follows instructions in the
question: ``[pick N]`` answers option N at once; ``[garbage]`` replies text that is not JSON
(twice, so the answer is ``unparsed``); ``[hang]`` sleeps ``HANG_S`` seconds (per-sample
timeouts); any other question is answered after one ``detect_shots`` call with the number of
shots that call reported, e.g. ``"3 shots"``.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import ClassVar

from agent.types import Answer
from evals.samples import Sample
from evals.suites.base import Suite, Verdict, judge_multiple_choice, judge_open_ended, register_suite
from planners.base import PlannerInput
from planners.scripted import FunctionPlanner
from tests.videos import make_video

HANG_S = 120.0
PIPELINES = Path(__file__).parent
#: The planner factory of ``function.toml``.
QUESTION_KEYED = "tests.evals.pipelines.tiny:question_keyed_planner"


@register_suite
class TinySuite(Suite):
    """Multiple choice when a sample has options, else open-ended exact match."""

    name: ClassVar[str] = "tiny"
    description: ClassVar[str] = "test suite read from <annotations>/samples.json"
    annotations_subdir: ClassVar[str] = "tiny"
    qtype_names = {"A": "alpha", "B": "beta"}
    qtype_groups = {"A": "G", "B": "G"}

    def read_samples(self) -> Iterator[Sample]:
        for row in json.loads(self._path("samples.json").read_text()):
            yield Sample(suite=self.name, **row)

    def judge(self, sample: Sample, answer: Answer) -> Verdict:
        if sample.options is not None:
            return judge_multiple_choice(sample, answer)
        return judge_open_ended(sample, answer)


def write_suite(folder: Path, samples: Sequence[dict]) -> TinySuite:
    """A TinySuite over ``samples``, written to ``folder/samples.json``."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "samples.json").write_text(json.dumps(list(samples)))
    return TinySuite(folder)


def make_clips(folder: Path, n_frames: int = 48) -> dict[str, Path]:
    """Two synthetic clips with known cuts: ``two_cuts`` (3 shots) and ``one_cut`` (2 shots);
    ``not_a_video`` is a text file with a video suffix."""
    folder.mkdir(parents=True, exist_ok=True)
    clips = {
        "two_cuts": make_video(folder / "two_cuts.mp4", n_frames=n_frames, cuts=(n_frames // 4, 5 * n_frames // 8)),
        "one_cut": make_video(folder / "one_cut.mp4", n_frames=n_frames, cuts=(n_frames // 2,)),
    }
    (folder / "not_a_video.mp4").write_text("this is not a video\n")
    clips["not_a_video"] = folder / "not_a_video.mp4"
    return clips


def question_keyed(request: PlannerInput) -> dict | str:
    if "[hang]" in request.question:
        time.sleep(HANG_S)
    if "[crash]" in request.question:
        os._exit(3)
    if "[garbage]" in request.question:
        return "I think the answer is B"
    pick = re.search(r"\[pick (\d+)\]", request.question)
    if pick:
        choice = int(pick.group(1))
        return {"action": "answer", "answer": request.options[choice], "choice": choice}
    if not request.history:
        return {"action": "call_tools", "thought": "count the shots", "calls": [{"name": "detect_shots", "args": {}}]}
    shots = re.search(r"(\d+) shots?", request.history[-1].observations[0].text)
    return {"action": "answer", "answer": f"{shots.group(1) if shots else 'unknown'} shots"}


def question_keyed_planner() -> FunctionPlanner:
    return FunctionPlanner(question_keyed, name="question_keyed")
