"""The three-way split: train, validation (early stopping, best epoch) and a held-out test set
that no training decision sees."""

from __future__ import annotations

import numpy as np
import pytest

from tools.recognition.data import DatasetError
from tools.recognition.training import stratified_split

#: 5 classes of 10, 11, 20, 3 and 7 clips, interleaved as a folder listing would not be.
TARGETS = np.random.default_rng(0).permutation(np.repeat(np.arange(5), [10, 11, 20, 3, 7]))


def test_every_clip_is_in_exactly_one_part():
    split = stratified_split(TARGETS, 0.2, 0.2, seed=0)
    parts = [split.train, split.val, split.test]
    assert sorted(np.concatenate(parts).tolist()) == list(range(len(TARGETS)))
    for a in range(3):
        for b in range(a + 1, 3):
            assert not set(parts[a].tolist()) & set(parts[b].tolist())


def test_each_class_is_split_in_proportion():
    split = stratified_split(TARGETS, 0.2, 0.3, seed=0)
    for part, fraction in ((split.val, 0.2), (split.test, 0.3)):
        counts = np.bincount(TARGETS[part], minlength=5)
        sizes = np.bincount(TARGETS, minlength=5)
        assert counts.tolist() == [max(1, round(fraction * n)) for n in sizes]
    assert np.bincount(TARGETS[split.train], minlength=5).min() >= 1  # 3 clips: one in each part


def test_the_split_follows_the_seed():
    a, b = stratified_split(TARGETS, 0.2, 0.2, seed=3), stratified_split(TARGETS, 0.2, 0.2, seed=3)
    other = stratified_split(TARGETS, 0.2, 0.2, seed=4)
    assert all(np.array_equal(getattr(a, p), getattr(b, p)) for p in ("train", "val", "test"))
    assert not np.array_equal(a.test, other.test)


def test_a_class_too_small_for_three_parts_is_one_line():
    targets = np.array([0, 0, 0, 0, 1, 1])
    with pytest.raises(DatasetError) as err:
        stratified_split(targets, 0.2, 0.2, seed=0, labels=["waving", "running"])
    assert str(err.value) == ("class 'running' has 2 clips: too few for a training, a validation and a test part "
                              "(give each class at least 3 clips, or lower --val-fraction/--test-fraction)")
