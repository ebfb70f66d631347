import numpy as np
import pytest

from tools.detections import Detections
from tools.track_analysis import max_simultaneous, motion_of, summarize_tracks, visible_intervals


def tracks(*paths, fps=5.0):
    """Detections from per-track lists of (frame, x1, y1, x2, y2); label from the track id."""
    rows = [(tid, f, box) for tid, path in enumerate(paths) for f, *box in path]
    return Detections(
        xyxy=[r[2] for r in rows],
        confidence=[0.9] * len(rows),
        label=["car" if r[0] % 2 == 0 else "person" for r in rows],
        frame_index=[r[1] for r in rows],
        time_s=[r[1] / fps for r in rows],
        track_id=[r[0] for r in rows],
    )


def test_visible_intervals_split_at_gaps():
    times = np.array([0.0, 0.2, 0.4, 2.0, 2.2, 5.0])
    got = [(i.start_s, i.end_s) for i in visible_intervals(times, max_gap_s=0.5)]
    assert got == [(0.0, 0.4), (2.0, 2.2), (5.0, 5.0)]


def test_summaries_order_and_fields():
    right = [(f, 10 + 20 * f, 50, 40 + 20 * f, 80) for f in range(10)]
    still = [(f, 100, 100, 120, 140) for f in range(3, 8)]
    s = summarize_tracks(tracks(right, still), sample_period_s=0.2)
    assert [t.track_id for t in s] == [0, 1]
    assert s[0].label == "car" and s[0].first_s == 0.0 and s[0].last_s == pytest.approx(1.8)
    assert s[1].label == "person" and s[1].n_boxes == 5 and len(s[1].intervals) == 1


@pytest.mark.parametrize(
    "path, expected",
    [
        ([(f, 10 + 30 * f, 50, 40 + 30 * f, 80) for f in range(10)], "left to right"),
        ([(f, 400 - 30 * f, 50, 430 - 30 * f, 80) for f in range(10)], "right to left"),
        ([(f, 200, 20 + 20 * f, 230, 50 + 20 * f) for f in range(10)], "downwards"),
        ([(f, 200 - 5 * f, 100 - 5 * f, 220 + 5 * f, 120 + 5 * f) for f in range(10)], "towards the camera"),
        ([(f, 200, 100, 220 + (f % 2), 120) for f in range(10)], "roughly stationary"),
    ],
)
def test_motion_words(path, expected):
    (t,) = summarize_tracks(tracks(path), 0.2)
    assert expected in motion_of(t, frame_width=640, frame_height=360)


def test_max_simultaneous():
    a = [(f, 0, 0, 10, 10) for f in range(5)]
    b = [(f, 20, 0, 30, 10) for f in range(2, 4)]
    c = [(f, 40, 0, 50, 10) for f in range(3, 6)]
    d = tracks(a, [], b, [], c)  # even track ids -> all "car"
    assert max_simultaneous(d, "car") == (3, pytest.approx(0.6))
    assert max_simultaneous(d, "bus") == (0, None)
