"""Tracking over any detector's boxes (``tools.tracking``, ByteTrack from the ``trackers`` package)."""

from __future__ import annotations

import numpy as np
import pytest

from tools.detections import Detections
from tools.tracking import ACTIVATION_CONFIDENCE, track, tracks_of

FPS = 10.0


def boxes(rows: list[tuple[int, float, float, float]], label: str = "person") -> Detections:
    """Detections from (frame, x, y, confidence) rows of 40x80 boxes."""
    return Detections(
        xyxy=[[x, y, x + 40, y + 80] for _, x, y, _ in rows],
        confidence=[c for *_, c in rows],
        label=[label] * len(rows),
        frame_index=[f for f, *_ in rows],
        time_s=[f / FPS for f, *_ in rows],
    )


def sampled(n: int) -> list[tuple[int, float]]:
    return [(i, i / FPS) for i in range(n)]


def test_every_box_of_a_track_is_kept_from_its_first_frame():
    walker = [(f, 10 + 6 * f, 20, 0.9) for f in range(10)]  # from the first frame
    late = [(f, 300 - 5 * f, 150, 0.8) for f in range(3, 10)]  # enters at frame 3
    tracked = track(boxes(walker + late), sampled(10), FPS)
    tracks = tracks_of(tracked)
    assert [(t.track_id, t.n_boxes, t.first_s) for t in tracks] == [(1, 10, 0.0), (2, 7, pytest.approx(0.3))]
    first = tracked[tracked.frame_index == 0]
    assert len(first) == 1 and first.track_id[0] == 1
    np.testing.assert_allclose(first.xyxy[0], [10, 20, 50, 100])
    assert sorted(tracked[tracked.track_id == 2].frame_index.tolist()) == list(range(3, 10))


def test_a_track_confirmed_after_a_gap_keeps_its_first_box():
    rows = [(0, 10, 20, 0.9), (2, 16, 20, 0.9), (3, 19, 20, 0.9)]  # frame 1 missed
    tracked = track(boxes(rows), sampled(4), FPS)
    assert sorted(tracked.frame_index.tolist()) == [0, 2, 3] and set(tracked.track_id.tolist()) == {1}


def test_flicker_and_weak_starts_make_no_track():
    flicker = [(4, 500, 300, 0.9)]  # one box, never seen again
    weak = [(f, 200, 40, ACTIVATION_CONFIDENCE - 0.1) for f in range(10)]  # never confident enough to start
    tracked = track(boxes(flicker + weak), sampled(10), FPS)
    assert len(tracked) == 0 and tracked.track_id is not None


def test_labels_are_tracked_apart_and_numbered_by_first_appearance():
    cars = boxes([(f, 100 + 4 * f, 200, 0.9) for f in range(2, 8)], label="car")
    people = boxes([(f, 100 + 4 * f, 200, 0.9) for f in range(0, 8)])  # same place: another label
    tracked = track(Detections.merge([cars, people]), sampled(8), FPS)
    tracks = tracks_of(tracked)
    assert [(t.track_id, t.label, t.n_boxes) for t in tracks] == [(1, "person", 8), (2, "car", 6)]
