"""Scoring rules and run statistics: per-answer correctness, run summaries, paired comparison.

Correctness rules (used by the suites):
    * multiple choice: the chosen 0-based option index equals the reference index;
    * open-ended: exact match after ``normalize_answer``;
    * counts: the first number in the answer equals the reference count.

A run summary counts every sample: an unscored answer (unparsed, budget exhausted, error,
missing video) is wrong in ``accuracy`` and left out of ``accuracy_answered``.

Paired comparison of two runs over the same samples: accuracy difference with a seeded
paired-bootstrap percentile CI, McNemar's exact test on the discordant pairs, the sample
keys that flipped, and mean cost differences.
"""

from __future__ import annotations

import math
import re
import statistics
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict

from evals.samples import SampleCost, SampleScore

# ---------------------------------------------------------------------------------------
# Answer normalisation and per-answer correctness

_UNITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
          "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen",
          "nineteen", "twenty"]
_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80,
         "ninety": 90}
NUMBER_WORDS: dict[str, int] = {w: i for i, w in enumerate(_UNITS)} | _TENS
ARTICLES = frozenset({"a", "an", "the"})

_THOUSANDS_COMMA = re.compile(r"(?<=\d),(?=\d{3}\b)")
_APOSTROPHE = re.compile(r"['\u2019`]")
_TOKEN = re.compile(r"\d+\.\d+|[^\W_]+")  # decimals, else runs of letters and digits


def normalize_answer(text: str) -> str:
    """Canonical form of a short free-text answer, for exact-match scoring.

    Lowercase; apostrophes dropped (``don't`` -> ``dont``); thousands commas dropped
    (``1,000`` -> ``1000``); any other punctuation separates words (decimals like ``2.5``
    stay); number words become digits (``twenty one`` / ``twenty-one`` -> ``21``); the
    articles a/an/the are removed; words are joined by single spaces.

    >>> normalize_answer("The Two dogs!")
    '2 dogs'
    """
    text = _APOSTROPHE.sub("", text.lower())
    text = _THOUSANDS_COMMA.sub("", text)
    tokens = [t for t in _TOKEN.findall(text) if t not in ARTICLES]
    words: list[str] = []
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token in _TENS and i + 1 < len(tokens) and 1 <= NUMBER_WORDS.get(tokens[i + 1], 0) <= 9:
            words.append(str(_TENS[token] + NUMBER_WORDS[tokens[i + 1]]))
            i += 2
            continue
        words.append(str(NUMBER_WORDS[token]) if token in NUMBER_WORDS else token)
        i += 1
    return " ".join(words)


def parse_count(text: str) -> int | None:
    """The first whole number in ``text`` after normalisation (``"three times"`` -> 3), or None."""
    for word in normalize_answer(text).split():
        if re.fullmatch(r"\d+", word):
            return int(word)
        if re.fullmatch(r"\d+\.\d+", word):
            value = float(word)
            return int(value) if value.is_integer() else None
    return None


def open_ended_correct(prediction: str, reference: str) -> bool:
    """Exact match after ``normalize_answer``."""
    return normalize_answer(prediction) == normalize_answer(reference)


def multiple_choice_correct(choice: int | None, reference: int) -> bool:
    return choice is not None and choice == reference


def count_correct(prediction: int | None, reference: int) -> bool:
    return prediction is not None and prediction == reference


def choice_from_text(text: str, options: Sequence[str]) -> int | None:
    """The option whose text equals ``text`` after normalisation, if exactly one does.

    For multiple-choice answers whose ``choice`` is missing but whose text names an option.
    """
    wanted = normalize_answer(text)
    hits = [i for i, option in enumerate(options) if normalize_answer(option) == wanted]
    return hits[0] if len(hits) == 1 else None


# ---------------------------------------------------------------------------------------
# Run summaries


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


COST_FIELDS: tuple[str, ...] = tuple(SampleCost.model_fields)


class AccuracySummary(_Frozen):
    """Outcome counts and rates over a set of samples (rates are fractions in [0, 1])."""

    n: int
    n_answered: int
    n_correct: int
    n_unparsed: int
    n_budget_exhausted: int
    n_error: int
    accuracy: float
    accuracy_answered: float | None
    unparsed_rate: float
    budget_exhausted_rate: float
    error_rate: float


class CostSummary(_Frozen):
    """Per-question cost over the samples the agent ran on (``n``; missing-video rows excluded).

    Keys of ``mean`` / ``median`` / ``total`` are ``COST_FIELDS`` (steps, tool_calls,
    invalid_tool_calls, frames_decoded, frames_through_models, prompt_tokens,
    completion_tokens, wall_seconds in seconds, cache_hits).
    """

    n: int
    mean: dict[str, float]
    median: dict[str, float]
    total: dict[str, float]


class GroundingSummary(_Frozen):
    """NExT-GQA grounding metrics as fractions in [0, 1] (the official script prints x100).

    ``miou`` / ``miop``: mean over samples of the best IoU / IoP; ``iou_at_0_3`` etc.: share
    of samples whose best IoU (IoP) is >= the threshold; ``acc_at_gqa``: share answered
    correctly with IoP >= 0.5. ``n_with_span``: samples whose answer gave a span.
    """

    n: int
    n_with_span: int
    miou: float
    miop: float
    iou_at_0_3: float
    iou_at_0_5: float
    iop_at_0_3: float
    iop_at_0_5: float
    acc_at_gqa: float


class CountSummary(_Frozen):
    """Count questions: mean squared error of the predicted counts over ``n`` scored answers."""

    n: int
    mse: float


class RunSummary(_Frozen):
    overall: AccuracySummary
    by_qtype: dict[str, AccuracySummary]
    by_group: dict[str, AccuracySummary]
    cost: CostSummary
    grounding: GroundingSummary | None = None
    count: CountSummary | None = None


def accuracy_summary(scores: Sequence[SampleScore]) -> AccuracySummary:
    if not scores:
        raise ValueError("no scores to summarise")
    n = len(scores)
    by_status = defaultdict(int)
    for s in scores:
        by_status[s.status] += 1
    n_answered = by_status["answered"]
    n_correct = sum(s.counts_as_correct for s in scores)
    return AccuracySummary(
        n=n,
        n_answered=n_answered,
        n_correct=n_correct,
        n_unparsed=by_status["unparsed"],
        n_budget_exhausted=by_status["budget_exhausted"],
        n_error=by_status["error"],
        accuracy=n_correct / n,
        accuracy_answered=n_correct / n_answered if n_answered else None,
        unparsed_rate=by_status["unparsed"] / n,
        budget_exhausted_rate=by_status["budget_exhausted"] / n,
        error_rate=by_status["error"] / n,
    )


def cost_summary(scores: Iterable[SampleScore]) -> CostSummary:
    costs = [s.cost for s in scores if s.cost is not None]
    columns = {f: [float(getattr(c, f)) for c in costs] for f in COST_FIELDS}
    return CostSummary(
        n=len(costs),
        mean={f: statistics.fmean(v) if v else 0.0 for f, v in columns.items()},
        median={f: float(statistics.median(v)) if v else 0.0 for f, v in columns.items()},
        total={f: float(sum(v)) for f, v in columns.items()},
    )


def grounding_summary(scores: Iterable[SampleScore]) -> GroundingSummary | None:
    """Grounding metrics over the samples that carry a ``grounding`` (None if none do)."""
    rows = [s for s in scores if s.grounding is not None]
    if not rows:
        return None
    iou = np.array([s.grounding.iou for s in rows])
    iop = np.array([s.grounding.iop for s in rows])
    correct = np.array([s.counts_as_correct for s in rows])
    return GroundingSummary(
        n=len(rows),
        n_with_span=sum(s.grounding.pred_span is not None for s in rows),
        miou=float(iou.mean()),
        miop=float(iop.mean()),
        iou_at_0_3=float((iou >= 0.3).mean()),
        iou_at_0_5=float((iou >= 0.5).mean()),
        iop_at_0_3=float((iop >= 0.3).mean()),
        iop_at_0_5=float((iop >= 0.5).mean()),
        acc_at_gqa=float((correct & (iop >= 0.5)).mean()),
    )


def count_summary(scores: Iterable[SampleScore]) -> CountSummary | None:
    errors = [s.squared_error for s in scores if s.squared_error is not None]
    return CountSummary(n=len(errors), mse=statistics.fmean(errors)) if errors else None


def _grouped(scores: Sequence[SampleScore], key: Callable[[SampleScore], str | None]) -> dict[str, AccuracySummary]:
    groups: dict[str, list[SampleScore]] = defaultdict(list)
    for s in scores:
        k = key(s)
        if k is not None:
            groups[k].append(s)
    return {k: accuracy_summary(v) for k, v in sorted(groups.items())}


def summarize(scores: Sequence[SampleScore], qtype_groups: Mapping[str, str] | None = None) -> RunSummary:
    """Summary of one run.

    ``by_qtype`` has one entry per non-empty ``qtype``. ``qtype_groups`` maps question types to coarser groups reported in ``by_group`` (a
    suite's ``qtype_groups``, e.g. NExT-QA's causal/temporal/descriptive).
    """
    groups = qtype_groups or {}
    return RunSummary(
        overall=accuracy_summary(scores),
        by_qtype=_grouped(scores, lambda s: s.qtype or None),
        by_group=_grouped(scores, lambda s: groups.get(s.qtype)),
        cost=cost_summary(scores),
        grounding=grounding_summary(scores),
        count=count_summary(scores),
    )


# ---------------------------------------------------------------------------------------
# Paired comparison of two runs


def mcnemar_exact_p(n_gained: int, n_lost: int) -> float:
    """Two-sided exact McNemar p-value: binomial test of the discordant pairs against 1/2.

    p = min(1, 2 * P[X <= min(n_gained, n_lost)]) for X ~ Binomial(n_gained + n_lost, 1/2),
    and 1 when there are no discordant pairs (statsmodels' ``mcnemar(exact=True)``).
    Exact integer arithmetic, so it stays accurate for thousands of pairs.
    """
    if n_gained < 0 or n_lost < 0:
        raise ValueError("counts must be non-negative")
    n = n_gained + n_lost
    if n == 0:
        return 1.0
    k = min(n_gained, n_lost)
    tail = sum(math.comb(n, i) for i in range(k + 1))
    return min(1.0, 2 * tail / 2**n)


def paired_bootstrap_ci(
    a: Sequence[float] | np.ndarray,
    b: Sequence[float] | np.ndarray,
    *,
    n_resamples: int = 10_000,
    seed: int = 0,
    level: float = 0.95,
) -> tuple[float, float]:
    """Percentile CI of ``mean(b) - mean(a)``, resampling paired items with replacement.

    ``a[i]`` and ``b[i]`` belong to the same item (e.g. 1.0/0.0 correctness on one question).
    Seeded (numpy PCG64), so the same inputs give the same interval.
    """
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    if a.shape != b.shape or a.ndim != 1 or len(a) == 0:
        raise ValueError("a and b must be non-empty 1-d sequences of the same length")
    if not 0 < level < 1:
        raise ValueError("level must be in (0, 1)")
    diff = b - a
    n = len(diff)
    rng = np.random.default_rng(seed)
    means = np.empty(n_resamples)
    chunk = max(1, 2_000_000 // n)
    for start in range(0, n_resamples, chunk):
        stop = min(start + chunk, n_resamples)
        idx = rng.integers(0, n, size=(stop - start, n))
        means[start:stop] = diff[idx].mean(axis=1)
    alpha = (1 - level) / 2
    low, high = np.quantile(means, [alpha, 1 - alpha])
    return float(low), float(high)


class PairedComparison(_Frozen):
    """Run B against run A on the samples both scored (paired by ``suite/sample_id``).

    ``difference`` = accuracy_b - accuracy_a (an unscored answer counts as wrong);
    ``gained``: keys wrong in A and correct in B; ``lost``: correct in A and wrong in B;
    ``cost_difference``: mean(B) - mean(A) per cost field over pairs where both ran.
    """

    n_paired: int
    accuracy_a: float
    accuracy_b: float
    difference: float
    ci_low: float
    ci_high: float
    ci_level: float
    n_resamples: int
    seed: int
    mcnemar_p: float
    gained: tuple[str, ...]
    lost: tuple[str, ...]
    only_in_a: tuple[str, ...]
    only_in_b: tuple[str, ...]
    cost_difference: dict[str, float]


def score_key(score: SampleScore) -> str:
    """How two runs' rows are paired: ``"<suite>/<sample_id>"``."""
    return f"{score.suite}/{score.sample_id}"


def compare_runs(
    a: Sequence[SampleScore],
    b: Sequence[SampleScore],
    *,
    n_resamples: int = 10_000,
    seed: int = 0,
    level: float = 0.95,
) -> PairedComparison:
    """Paired comparison of run ``b`` against baseline run ``a``."""
    by_a = _index(a, "a")
    by_b = _index(b, "b")
    keys = sorted(by_a.keys() & by_b.keys())
    if not keys:
        raise ValueError("the two runs share no samples")
    ca = np.array([by_a[k].counts_as_correct for k in keys], dtype=float)
    cb = np.array([by_b[k].counts_as_correct for k in keys], dtype=float)
    gained = tuple(k for k, x, y in zip(keys, ca, cb) if y > x)
    lost = tuple(k for k, x, y in zip(keys, ca, cb) if x > y)
    low, high = paired_bootstrap_ci(ca, cb, n_resamples=n_resamples, seed=seed, level=level)
    ran = [k for k in keys if by_a[k].cost is not None and by_b[k].cost is not None]
    cost_difference = {
        f: statistics.fmean(getattr(by_b[k].cost, f) - getattr(by_a[k].cost, f) for k in ran) if ran else 0.0
        for f in COST_FIELDS
    }
    return PairedComparison(
        n_paired=len(keys),
        accuracy_a=float(ca.mean()),
        accuracy_b=float(cb.mean()),
        difference=float(cb.mean() - ca.mean()),
        ci_low=low,
        ci_high=high,
        ci_level=level,
        n_resamples=n_resamples,
        seed=seed,
        mcnemar_p=mcnemar_exact_p(len(gained), len(lost)),
        gained=gained,
        lost=lost,
        only_in_a=tuple(sorted(by_a.keys() - by_b.keys())),
        only_in_b=tuple(sorted(by_b.keys() - by_a.keys())),
        cost_difference=cost_difference,
    )


def _index(scores: Sequence[SampleScore], name: str) -> dict[str, SampleScore]:
    out: dict[str, SampleScore] = {}
    for s in scores:
        key = score_key(s)
        if key in out:
            raise ValueError(f"run {name} has sample {key} twice")
        out[key] = s
    return out
