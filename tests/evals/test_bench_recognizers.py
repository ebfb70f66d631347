"""The benchmark's split of top-1 into "right pair" and "right order within the pair"."""

from __future__ import annotations

import pytest

from evals.bench_recognizers import pair_and_order

LABELS = ["appearing", "approaching", "disappearing", "left_to_right", "receding", "right_to_left"]


def test_an_order_blind_guess_gets_half_the_pair_right():
    # every clip in its pair, half of each pair's clips given the other order
    confusion = [[5, 0, 5, 0, 0, 0], [0, 5, 0, 0, 5, 0], [5, 0, 5, 0, 0, 0],
                 [0, 0, 0, 5, 0, 5], [0, 5, 0, 0, 5, 0], [0, 0, 0, 5, 0, 5]]
    assert pair_and_order(LABELS, confusion) == (1.0, 0.5)


def test_pair_mistakes_leave_the_order_of_the_rest():
    confusion = [[8, 2, 0, 0, 0, 0], [0, 10, 0, 0, 0, 0], [0, 0, 10, 0, 0, 0],
                 [0, 0, 0, 6, 0, 4], [0, 0, 0, 0, 10, 0], [0, 0, 0, 0, 0, 10]]
    pair, order = pair_and_order(LABELS, confusion)
    assert pair == pytest.approx(58 / 60) and order == pytest.approx(54 / 58)
