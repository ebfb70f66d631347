"""Option scores: how closely each option of a multiple-choice question matches what the tools
found so far. The agent shows them to the planner as a hint (``PlannerInput.option_scores``);
they never choose an option.

A score is the largest MiniLM cosine similarity, clipped to [0, 1], between the option and one
evidence note of the successful tool results ("bicycle first seen", "mostly blue",
'text "TAXI"'). Evidence marks what a tool found, so a phrase a tool looked for and did not
find ("'airplane' -> airplane: not seen" in an observation) does not raise that option:
text similarity cannot read a negation. Similarity measures topical closeness, not truth
("red" is close to "mostly orange" too), which is why this is a hint for the planner to weigh.
Measured on the first 20 questions of the ``smoke_mc`` suite with similarity to whole
observation lines instead, the top option was the correct one 8 times in 20 (chance: 4), and
the misses were mostly phrases reported as not found.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from typing import Protocol

from planners.base import HistoryStep

log = logging.getLogger(__name__)

#: Longest evidence note embedded, characters (MiniLM reads 256 word pieces at most).
MAX_NOTE_CHARS = 300
#: Most evidence notes scored per question (the newest are kept).
MAX_NOTES = 200


class TextSimilarity(Protocol):
    def similarity(self, a: Sequence[str], b: Sequence[str]):
        """(len(a), len(b)) cosine similarities."""
        ...


def evidence_notes(history: Iterable[HistoryStep]) -> list[str]:
    """The distinct evidence notes of the successful observations in ``history``, oldest first."""
    notes: dict[str, None] = {}
    for step in history:
        for obs in step.observations:
            if obs.status == "ok":
                for e in obs.evidence:
                    if e.note.strip():
                        notes.setdefault(e.note.strip()[:MAX_NOTE_CHARS], None)
    return list(notes)[-MAX_NOTES:]


class EmbeddingOptionScorer:
    """Scores options by text similarity to the tools' evidence notes (see the module docstring).

    ``model``: anything with ``similarity(a, b) -> (len(a), len(b))`` array; by default the
    lite tier's MiniLM embedder, loaded on first use. If that cannot be loaded the scorer
    logs why once and gives no scores from then on: the hint is optional.
    """

    def __init__(self, model: TextSimilarity | None = None):
        self._model = model
        self._failed = False

    def __call__(self, options: Sequence[str], history: Sequence[HistoryStep]) -> tuple[float, ...] | None:
        """One score in [0, 1] per option, or None when there is nothing to score against."""
        notes = evidence_notes(history)
        if not options or not notes or self._failed:
            return None
        try:
            model = self._model or self._default_model()
            sims = model.similarity(list(options), notes)
        except Exception as exc:  # noqa: BLE001 - a hint that cannot be computed is left out
            self._failed = True
            log.warning("option scores disabled: %s: %s", type(exc).__name__, exc)
            return None
        return tuple(round(min(1.0, max(0.0, float(row.max()))), 3) for row in sims)

    def _default_model(self) -> TextSimilarity:
        from tools.backends.lite.models.text_embedder import TEXT_EMBEDDER
        from tools.model_loading import MODELS

        self._model = MODELS.load(TEXT_EMBEDDER)
        return self._model


#: (options, history) -> one hint score per option, or None.
OptionScorer = Callable[[Sequence[str], Sequence[HistoryStep]], "tuple[float, ...] | None"]


def default_option_scorer(profile: str) -> OptionScorer | None:
    """The scorer a toolset profile gets: none for the weight-free ``core`` profile, MiniLM
    (a lite-tier model) for the others."""
    return None if profile == "core" else EmbeddingOptionScorer()
