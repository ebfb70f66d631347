"""The learning-rate schedule: half a cosine from the peak to zero over the run's steps."""

from __future__ import annotations

import math

import pytest

from tools.recognition.training import learning_rate


def test_cosine_falls_from_the_peak_to_zero():
    rates = [learning_rate(0.01, "cosine", step, 100) for step in range(101)]
    assert rates[0] == 0.01 and rates[50] == pytest.approx(0.005) and rates[100] == pytest.approx(0.0, abs=1e-12)
    assert all(a > b for a, b in zip(rates, rates[1:]))
    assert rates[25] == pytest.approx(0.005 * (1 + math.cos(math.pi / 4)))


def test_constant_stays_at_the_peak():
    assert {learning_rate(0.01, "constant", step, 100) for step in range(101)} == {0.01}


@pytest.mark.parametrize("method, rate", [("linear", 3e-3), ("temporal-head", 3e-3), ("side", 3e-3),
                                          ("adapter", 3e-3), ("lora", 1e-3), ("prompt", 1e-3),
                                          ("finetune-last-2", 1e-3)])
def test_default_peak_rates(method, rate):
    from tools.recognition.methods import parse_method
    from tools.recognition.training import default_lr

    assert default_lr(parse_method(method)) == rate
