"""EgoSchema multiple choice (egoschema/EgoSchema): ``questions.json`` + ``subset_answers.json``.

``questions.json``: ``[{"q_uid", "question", "option 0", ..., "option 4", ...}]``;
``subset_answers.json``: ``{q_uid: answer index}``. Only the public subset has answers (the
rest are scored by the benchmark's server), so only questions with an answer are loaded.
The sample id and the video id are the ``q_uid``; videos are ``<q_uid>.mp4``.
These files are not shipped with vidagent: put them in the suite's data folder
(``--data DIR``, or ``<data root>/egoschema/``; see ``evals.data_dirs``). Scoring: chosen index == answer.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import ClassVar

from agent.types import Answer
from evals.samples import Sample
from evals.suites.base import Suite, Verdict, judge_multiple_choice, register_suite

EGOSCHEMA_OPTION_KEYS = tuple(f"option {i}" for i in range(5))


@register_suite
class EgoSchemaSuite(Suite):
    name: ClassVar[str] = "egoschema"
    description: ClassVar[str] = "EgoSchema: 5-way multiple choice on 3-minute egocentric clips (public answer subset)"
    annotations_subdir: ClassVar[str] = "egoschema"

    def read_samples(self) -> Iterator[Sample]:
        with self._path("questions.json").open(encoding="utf-8") as fh:
            questions = json.load(fh)
        with self._path("subset_answers.json").open(encoding="utf-8") as fh:
            answers = json.load(fh)
        for q in questions:
            if q["q_uid"] not in answers:
                continue
            missing = [k for k in ("question", *EGOSCHEMA_OPTION_KEYS) if k not in q]
            if missing:
                raise ValueError(f"{self.name}: question {q['q_uid']} lacks {missing}")
            yield Sample(
                suite=self.name,
                sample_id=q["q_uid"],
                video_id=q["q_uid"],
                question=q["question"],
                options=tuple(q[k] for k in EGOSCHEMA_OPTION_KEYS),
                answer=int(answers[q["q_uid"]]),
                extra={k: v for k, v in q.items() if k not in ("q_uid", "question", *EGOSCHEMA_OPTION_KEYS)},
            )

    def judge(self, sample: Sample, answer: Answer) -> Verdict:
        return judge_multiple_choice(sample, answer)
