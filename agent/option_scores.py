"""Option scores: how closely each option of a multiple-choice question matches what the tools
reported so far. The agent shows them to the planner as a hint (``PlannerInput.option_scores``);
they never choose an option.

A score is the largest MiniLM cosine similarity, clipped to [0, 1], between the option and one
line of the observations (each observation's text split into lines and ``;``-separated
clauses, plus its evidence notes). Similarity measures topical closeness, not truth: "red" is
close to "dominant colours: red 41%" and also, less so, to "blue 12%", which is why this is a
hint for the planner to weigh, not a verdict.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Sequence
from typing import Protocol

from planners.base import HistoryStep

log = logging.getLogger(__name__)

#: Longest observation line embedded, characters (MiniLM reads 256 word pieces at most).
MAX_LINE_CHARS = 300
#: Most observation lines scored per question (the newest are kept).
MAX_LINES = 200
_SPLIT = re.compile(r"\n|;\s+")


class TextSimilarity(Protocol):
    def similarity(self, a: Sequence[str], b: Sequence[str]):
        """(len(a), len(b)) cosine similarities."""
        ...


def observation_lines(history: Iterable[HistoryStep]) -> list[str]:
    """The distinct text lines of the successful observations in ``history``, oldest first."""
    lines: dict[str, None] = {}
    for step in history:
        for obs in step.observations:
            if obs.status != "ok":
                continue
            parts = [p.strip() for p in _SPLIT.split(obs.text)]
            parts += [e.note.strip() for e in obs.evidence]
            for part in parts:
                if part:
                    lines.setdefault(part[:MAX_LINE_CHARS], None)
    return list(lines)[-MAX_LINES:]


class EmbeddingOptionScorer:
    """Scores options by text similarity to the observation lines (see the module docstring).

    ``model``: anything with ``similarity(a, b) -> (len(a), len(b))`` array; by default the
    lite tier's MiniLM embedder, loaded on first use. If that cannot be loaded the scorer
    logs why once and gives no scores from then on: the hint is optional.
    """

    def __init__(self, model: TextSimilarity | None = None):
        self._model = model
        self._failed = False

    def __call__(self, options: Sequence[str], history: Sequence[HistoryStep]) -> tuple[float, ...] | None:
        """One score in [0, 1] per option, or None when there is nothing to score against."""
        lines = observation_lines(history)
        if not options or not lines or self._failed:
            return None
        try:
            model = self._model or self._default_model()
            sims = model.similarity(list(options), lines)
        except Exception as exc:  # noqa: BLE001 - a hint that cannot be computed is left out
            self._failed = True
            log.warning("option scores disabled: %s: %s", type(exc).__name__, exc)
            return None
        return tuple(round(min(1.0, max(0.0, float(row.max()))), 3) for row in sims)

    def _default_model(self) -> TextSimilarity:
        from tools.models.text_embedder import shared_embedder

        self._model = shared_embedder()
        return self._model


#: (options, history) -> one hint score per option, or None.
OptionScorer = Callable[[Sequence[str], Sequence[HistoryStep]], "tuple[float, ...] | None"]


def default_option_scorer(profile: str) -> OptionScorer | None:
    """The scorer a toolset profile gets: none for the weight-free ``core`` profile, MiniLM
    (a lite-tier model) for the others."""
    return None if profile == "core" else EmbeddingOptionScorer()
