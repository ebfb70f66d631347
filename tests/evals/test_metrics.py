"""Scoring rules, run summaries and paired comparison, against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from evals.metrics import (
    COST_FIELDS,
    accuracy_summary,
    choice_from_text,
    compare_runs,
    cost_summary,
    grounding_summary,
    mcnemar_exact_p,
    normalize_answer,
    open_ended_correct,
    paired_bootstrap_ci,
    parse_count,
    summarize,
)
from evals.samples import Grounding, SampleCost, SampleScore


def row(
    sample_id: str,
    status: str = "answered",
    correct: bool | None = None,
    qtype: str = "",
    cost: SampleCost | None = None,
    suite: str = "s",
    grounding: Grounding | None = None,
    squared_error: float | None = None,
) -> SampleScore:
    if status == "answered" and correct is None:
        correct = False
    return SampleScore(suite=suite, sample_id=sample_id, qtype=qtype, status=status, correct=correct,
                       cost=cost, grounding=grounding, squared_error=squared_error)


# ---------------------------------------------------------------------------------------
# Normalisation and per-answer rules


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Yes", "yes"),
        ("  yes.  ", "yes"),
        ("The dog", "dog"),
        ("an apple", "apple"),
        ("A man and a woman", "man and woman"),
        ("Two", "2"),
        ("twenty-one", "21"),
        ("Twenty one apples", "21 apples"),
        ("twenty", "20"),
        ("zero", "0"),
        ("1,000 people", "1000 people"),
        ("2.5 m", "2.5 m"),
        ("don't", "dont"),
        ("man's hat", "mans hat"),
        ("t-shirt", "t shirt"),
        ("no.3 athlete", "no 3 athlete"),
        ("red, white & blue!", "red white blue"),
        ("Theatre", "theatre"),  # 'the' only as a whole word
        ("the", ""),
        ("", ""),
    ],
)
def test_normalize_answer(text, expected):
    assert normalize_answer(text) == expected


@pytest.mark.parametrize(
    "text, expected",
    [("3", 3), ("three", 3), ("He waved 4 times, then stopped.", 4), ("twenty-two", 22), ("2.0", 2),
     ("2.5", None), ("several", None), ("", None)],
)
def test_parse_count(text, expected):
    assert parse_count(text) == expected


def test_open_ended_and_choice_from_text():
    assert open_ended_correct("The Kitchen.", "kitchen")
    assert not open_ended_correct("in the kitchen", "kitchen")
    options = ["roll the handle", "tap their feet", "Tap their feet!"]
    assert choice_from_text("Roll the handle.", options) == 0
    assert choice_from_text("tap their feet", options) is None  # ambiguous
    assert choice_from_text("something else", options) is None


# ---------------------------------------------------------------------------------------
# Summaries


def test_accuracy_summary_counts_unscored_as_wrong():
    scores = [row("1", correct=True), row("2", correct=True), row("3", correct=True), row("4"), row("5"),
              row("6", "unparsed"), row("7", "unparsed"), row("8", "budget_exhausted"), row("9", "error"),
              row("10", "error")]
    s = accuracy_summary(scores)
    assert (s.n, s.n_answered, s.n_correct) == (10, 5, 3)
    assert (s.n_unparsed, s.n_budget_exhausted, s.n_error) == (2, 1, 2)
    assert s.accuracy == pytest.approx(0.3)
    assert s.accuracy_answered == pytest.approx(0.6)
    assert (s.unparsed_rate, s.budget_exhausted_rate, s.error_rate) == pytest.approx((0.2, 0.1, 0.2))
    assert accuracy_summary([row("1", "unparsed")]).accuracy_answered is None
    with pytest.raises(ValueError):
        accuracy_summary([])


def test_summary_by_qtype_and_group():
    scores = [row("1", correct=True, qtype="CW"), row("2", qtype="CW"), row("3", correct=True, qtype="CH"),
              row("4", correct=True, qtype="TN"), row("5", "unparsed", qtype="TN"), row("6", qtype="XX")]
    summary = summarize(scores, qtype_groups={"CW": "C", "CH": "C", "TN": "T"})
    assert {k: v.accuracy for k, v in summary.by_qtype.items()} == {"CH": 1.0, "CW": 0.5, "TN": 0.5, "XX": 0.0}
    assert {k: (v.n, v.n_correct) for k, v in summary.by_group.items()} == {"C": (3, 2), "T": (2, 1)}
    assert summary.overall.accuracy == pytest.approx(3 / 6)
    assert summary.grounding is None and summary.count is None


def test_cost_summary_mean_median_total_skip_rows_without_cost():
    costs = [SampleCost(steps=2, tool_calls=1, wall_seconds=1.0, prompt_tokens=100),
             SampleCost(steps=4, tool_calls=3, wall_seconds=2.0, prompt_tokens=300),
             SampleCost(steps=9, tool_calls=5, wall_seconds=6.0, prompt_tokens=200, invalid_tool_calls=3)]
    scores = [row(str(i), cost=c) for i, c in enumerate(costs)] + [row("missing", "error")]
    c = cost_summary(scores)
    assert c.n == 3
    assert set(c.mean) == set(c.median) == set(c.total) == set(COST_FIELDS)
    assert (c.mean["steps"], c.median["steps"], c.total["steps"]) == (5.0, 4.0, 15.0)
    assert (c.mean["wall_seconds"], c.median["wall_seconds"]) == (3.0, 2.0)
    assert (c.mean["prompt_tokens"], c.median["prompt_tokens"]) == (200.0, 200.0)
    assert (c.mean["invalid_tool_calls"], c.median["invalid_tool_calls"]) == (1.0, 0.0)


def test_grounding_summary_hand_computed():
    g = lambda iou, iop: Grounding(iou=iou, iop=iop)  # noqa: E731
    scores = [
        row("1", correct=True, grounding=g(0.6, 0.9)),
        row("2", correct=False, grounding=g(0.4, 0.5)),
        row("3", correct=True, grounding=g(0.2, 0.3)),
        row("4", "unparsed", grounding=g(0.0, 0.0)),
        row("5", correct=True),  # no grounding: not counted
    ]
    s = grounding_summary(scores)
    assert s.n == 4
    assert s.miou == pytest.approx((0.6 + 0.4 + 0.2) / 4)
    assert s.miop == pytest.approx((0.9 + 0.5 + 0.3) / 4)
    assert (s.iou_at_0_3, s.iou_at_0_5) == (0.5, 0.25)
    assert (s.iop_at_0_3, s.iop_at_0_5) == (0.75, 0.5)
    assert s.acc_at_gqa == 0.25  # only sample 1 is correct with IoP >= 0.5
    assert grounding_summary([row("1")]) is None


def test_count_summary_is_mean_squared_error():
    summary = summarize([row("1", correct=True, squared_error=0.0), row("2", squared_error=4.0),
                         row("3", squared_error=16.0), row("4", "unparsed")])
    assert (summary.count.n, summary.count.mse) == (3, pytest.approx(20 / 3))


# ---------------------------------------------------------------------------------------
# McNemar, bootstrap, paired comparison


@pytest.mark.parametrize(
    "gained, lost, p",
    [
        (0, 0, 1.0),
        (1, 6, 2 * (1 + 7) / 2**7),  # 2 * P[X <= 1], X ~ Bin(7, 1/2)
        (6, 1, 2 * (1 + 7) / 2**7),
        (0, 5, 2 / 2**5),
        (2, 10, 2 * (1 + 12 + 66) / 2**12),
        (3, 3, 1.0),  # 2 * 42/64 > 1 is capped
    ],
)
def test_mcnemar_exact_hand_computed(gained, lost, p):
    assert mcnemar_exact_p(gained, lost) == pytest.approx(p, rel=1e-12)


def test_mcnemar_exact_matches_scipy_binomtest_on_large_counts():
    stats = pytest.importorskip("scipy.stats")
    for gained, lost in [(40, 65), (400, 460), (1000, 1000)]:
        expected = stats.binomtest(min(gained, lost), gained + lost, 0.5).pvalue
        assert mcnemar_exact_p(gained, lost) == pytest.approx(expected, rel=1e-9)


def test_paired_bootstrap_ci_contains_true_difference_and_matches_normal_theory():
    rng = np.random.default_rng(7)
    n = 2000
    a = (rng.random(n) < 0.60).astype(float)  # true accuracy 0.60
    b = (rng.random(n) < 0.65).astype(float)  # true accuracy 0.65: true difference 0.05
    low, high = paired_bootstrap_ci(a, b, n_resamples=10_000, seed=0)
    assert low < 0.05 < high
    observed = b.mean() - a.mean()
    assert low < observed < high
    half_width = 1.959964 * (b - a).std() / math.sqrt(n)
    assert low == pytest.approx(observed - half_width, abs=0.004)
    assert high == pytest.approx(observed + half_width, abs=0.004)
    assert paired_bootstrap_ci(a, b, n_resamples=10_000, seed=0) == (low, high)
    assert paired_bootstrap_ci(a, b, n_resamples=10_000, seed=1) != (low, high)


def test_paired_bootstrap_ci_degenerate_and_invalid_inputs():
    same = np.ones(50)
    assert paired_bootstrap_ci(same, same, n_resamples=200) == (0.0, 0.0)
    with pytest.raises(ValueError):
        paired_bootstrap_ci([1.0, 0.0], [1.0])
    with pytest.raises(ValueError):
        paired_bootstrap_ci([1.0], [1.0], level=1.5)


def test_compare_runs_flips_difference_and_costs():
    a = [row("1", correct=True, cost=SampleCost(steps=2, wall_seconds=1.0)),
         row("2", correct=True, cost=SampleCost(steps=4, wall_seconds=3.0)),
         row("3", correct=False, cost=SampleCost(steps=2, wall_seconds=2.0)),
         row("4", "unparsed", cost=SampleCost(steps=6)),
         row("5", correct=True, cost=SampleCost(steps=1)),
         row("only-a", correct=True)]
    b = [row("1", correct=True, cost=SampleCost(steps=3, wall_seconds=2.0)),
         row("2", correct=False, cost=SampleCost(steps=4, wall_seconds=1.0)),
         row("3", correct=True, cost=SampleCost(steps=5, wall_seconds=5.0)),
         row("4", correct=True, cost=SampleCost(steps=6)),
         row("5", "error"),  # missing video in run b: no cost
         row("only-b", correct=False)]
    c = compare_runs(a, b, n_resamples=2000, seed=3)
    assert c.n_paired == 5
    assert (c.accuracy_a, c.accuracy_b) == (pytest.approx(3 / 5), pytest.approx(3 / 5))
    assert c.difference == pytest.approx(0.0)
    assert c.gained == ("s/3", "s/4")  # unparsed in A counts as wrong
    assert c.lost == ("s/2", "s/5")
    assert c.mcnemar_p == mcnemar_exact_p(2, 2) == 1.0
    assert (c.only_in_a, c.only_in_b) == (("s/only-a",), ("s/only-b",))
    # pairs 1-4 both ran: steps diffs +1, 0, +3, 0; seconds diffs +1, -2, +3, 0
    assert c.cost_difference["steps"] == pytest.approx(1.0)
    assert c.cost_difference["wall_seconds"] == pytest.approx(0.5)
    assert c.ci_low <= 0.0 <= c.ci_high
    assert (c.n_resamples, c.seed, c.ci_level) == (2000, 3, 0.95)


def test_compare_runs_rejects_duplicates_and_disjoint_runs():
    with pytest.raises(ValueError, match="twice"):
        compare_runs([row("1"), row("1")], [row("1")])
    with pytest.raises(ValueError, match="share no samples"):
        compare_runs([row("1")], [row("2")])
    # the same sample id in different suites is a different sample
    with pytest.raises(ValueError, match="share no samples"):
        compare_runs([row("1", suite="x")], [row("1", suite="y")])


def test_sample_score_requires_correct_exactly_when_answered():
    with pytest.raises(ValueError):
        SampleScore(suite="s", sample_id="1", status="answered", correct=None)
    with pytest.raises(ValueError):
        SampleScore(suite="s", sample_id="1", status="unparsed", correct=False)
