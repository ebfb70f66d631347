"""The tracker on boxes with known identities: crossings, misses, re-appearance, flicker.

Appearance vectors come from real photos (scikit-image's astronaut and coffee: a white suit
and a brown-red cup) so the colour histograms see real pixels, not made-up vectors.
"""

import numpy as np
import pytest

from tools.appearance import FEATURE_DIM, colour_features
from tools.bytetrack import ByteTracker, TrackerConfig, iou_matrix
from tools.detections import Detections
from tools.tracking import track, tracks_of

skimage_data = pytest.importorskip("skimage.data")
pytest.importorskip("scipy")

FPS = 10.0


@pytest.fixture(scope="module")
def looks():
    """Two clearly different appearances: (FEATURE_DIM,) unit vectors."""
    a = colour_features(skimage_data.astronaut(), np.array([[120, 200, 380, 510]]))[0]
    b = colour_features(skimage_data.coffee(), np.array([[150, 50, 450, 350]]))[0]
    return a, b


def boxes_of(frames: dict[int, list[tuple[str, tuple, float, np.ndarray | None]]], n_frames: int):
    """Detections (label 'person') and their features from {frame: [(who, box, score, feature)]}."""
    rows, feats, who = [], [], []
    for f in range(n_frames):
        for name, box, score, feat in frames.get(f, []):
            rows.append((f, box, score))
            feats.append(feat if feat is not None else np.zeros(FEATURE_DIM, np.float32))
            who.append(name)
    dets = Detections(np.array([r[1] for r in rows], dtype=np.float32).reshape(-1, 4), [r[2] for r in rows],
                      ["person"] * len(rows), [r[0] for r in rows], [r[0] / FPS for r in rows])
    sampled = [(f, f / FPS) for f in range(n_frames)]
    return dets, np.array(feats, dtype=np.float32).reshape(-1, FEATURE_DIM), np.array(who), sampled


def walker(x0: float, vx: float, f: int, y: float = 100.0, w: float = 30.0, h: float = 80.0):
    x = x0 + vx * f
    return (x, y, x + w, y + h)


def identities(tracked: Detections, dets: Detections, who: np.ndarray) -> dict[str, set[int]]:
    """Who -> the track ids their observed boxes got (matched back by frame and box)."""
    out: dict[str, set[int]] = {}
    for f in np.unique(dets.frame_index):
        mine, theirs = dets.frame_index == f, tracked.frame_index == f
        if not theirs.any():
            continue
        iou = iou_matrix(dets.xyxy[mine], tracked.xyxy[theirs])
        # one to one: where two boxes coincide (mid-crossing) each still maps to its own track
        from scipy.optimize import linear_sum_assignment

        for k, j in zip(*linear_sum_assignment(-iou)):
            if iou[k, j] > 0.5:
                out.setdefault(str(who[mine][k]), set()).add(int(tracked.track_id[theirs][j]))
    return out


def test_two_people_crossing_keep_their_ids(looks):
    """A walks right, B walks left at the same height: their boxes overlap for several frames."""
    a, b = looks
    frames = {f: [("A", walker(0, 6, f), 0.8, a), ("B", walker(240, -6, f), 0.8, b)] for f in range(40)}
    dets, feats, who, sampled = boxes_of(frames, 40)
    tracked = track(dets, sampled, FPS, features=feats)
    ids = identities(tracked, dets, who)
    assert len(ids["A"]) == 1 and len(ids["B"]) == 1 and ids["A"] != ids["B"]
    assert [t.n_boxes for t in tracks_of(tracked)] == [40, 40]


def test_a_missed_stretch_is_bridged_and_filled(looks):
    """The detector misses A for 8 frames (0.8 s): one track, with 8 interpolated boxes of confidence 0."""
    a, _ = looks
    frames = {f: [("A", walker(0, 5, f), 0.8, a)] for f in range(30) if not 10 <= f < 18}
    dets, feats, who, sampled = boxes_of(frames, 30)
    tracked = track(dets, sampled, FPS, features=feats)
    assert set(tracked.track_id) == {1} and len(tracked) == 30
    filled = tracked[tracked.confidence == 0]
    assert sorted(filled.frame_index.tolist()) == list(range(10, 18))
    expected = np.array([walker(0, 5, f) for f in range(10, 18)])
    assert np.abs(filled.xyxy - expected).max() < 3.0  # on the straight line between the two sides
    assert tracks_of(tracked)[0].n_boxes == 22


def test_someone_hidden_for_two_seconds_is_found_again_by_appearance(looks):
    """A is hidden for 2 s (20 frames) while B stands still nearby: A's track is picked up again,
    B keeps its own."""
    a, b = looks
    frames = {}
    for f in range(60):
        frames[f] = [("B", (300, 100, 330, 180), 0.8, b)]
        if not 20 <= f < 40:
            frames[f].append(("A", walker(0, 4, f), 0.8, a))
    dets, feats, who, sampled = boxes_of(frames, 60)
    tracked = track(dets, sampled, FPS, features=feats)
    ids = identities(tracked, dets, who)
    assert len(ids["A"]) == 1 and len(ids["B"]) == 1 and ids["A"] != ids["B"]


def test_without_appearance_a_long_gap_splits_the_track(looks):
    a, _ = looks
    frames = {f: [("A", walker(0, 4, f), 0.8, a)] for f in range(60) if not 20 <= f < 45}
    dets, feats, who, sampled = boxes_of(frames, 60)
    assert len(identities(track(dets, sampled, FPS), dets, who)["A"]) == 2
    assert len(identities(track(dets, sampled, FPS, features=feats), dets, who)["A"]) == 1


def test_low_score_boxes_extend_tracks_but_start_none(looks):
    a, b = looks
    frames = {f: [("A", walker(0, 5, f), 0.8 if f < 10 else 0.3, a)] for f in range(20)}
    for f in range(20):
        frames[f].append(("ghost", walker(300, 0, f), 0.3, b))  # never confident
    dets, feats, who, sampled = boxes_of(frames, 20)
    tracked = track(dets, sampled, FPS, features=feats)
    ids = identities(tracked, dets, who)
    assert "ghost" not in ids and len(ids["A"]) == 1
    assert int((tracked.frame_index >= 10).sum()) == 10  # A's weak boxes kept it going


def test_a_flicker_box_is_dropped_and_a_track_keeps_its_first_box(looks):
    a, b = looks
    frames = {f: [("A", walker(0, 5, f), 0.9, a)] for f in range(5, 15)}
    frames[2] = [("flicker", (400, 300, 430, 380), 0.9, b)]
    dets, feats, who, sampled = boxes_of(frames, 15)
    tracked = track(dets, sampled, FPS, features=feats)
    assert set(tracked.frame_index.tolist()) == set(range(5, 15))
    assert tracks_of(tracked)[0].first_s == pytest.approx(0.5)


def test_tracker_steps_and_ids():
    tracker = ByteTracker(TrackerConfig(), fps=FPS)
    first = tracker.update(np.array([[0, 0, 10, 20], [50, 0, 60, 20]]), np.array([0.9, 0.9]))
    second = tracker.update(np.array([[51, 0, 61, 20], [1, 0, 11, 20]]), np.array([0.9, 0.9]))
    assert first.tolist() == [1, 2] and second.tolist() == [2, 1]
    assert [len(t.boxes) for t in tracker.finish()] == [2, 2]
    with pytest.raises(ValueError):
        tracker.update(np.zeros((2, 4)), np.zeros(3))


def test_colour_features_tell_clothes_apart(looks):
    a, b = looks
    assert a.shape == (FEATURE_DIM,) and np.linalg.norm(a) == pytest.approx(1.0, abs=1e-5)
    # the same suit at another size is close; the cup is far
    smaller = colour_features(skimage_data.astronaut()[::2, ::2], np.array([[60, 100, 190, 255]]))[0]
    assert 1 - a @ smaller < 0.1 < 1 - a @ b
    assert not colour_features(skimage_data.astronaut(), np.array([[600, 600, 700, 700]])).any()  # outside


# -- ids, first boxes, labels (plain boxes, motion only) -----------------------------------------


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
    rows = [(0, 10, 20, 0.9)] + [(f, 10 + 3 * f, 20, 0.9) for f in range(2, 8)]  # frame 1 missed
    tracked = track(boxes(rows), sampled(8), FPS)
    assert set(tracked.track_id.tolist()) == {1}
    assert sorted(tracked[tracked.confidence > 0].frame_index.tolist()) == [0, 2, 3, 4, 5, 6, 7]
    assert tracked[tracked.confidence == 0].frame_index.tolist() == [1]  # the miss, interpolated


def test_flicker_and_weak_starts_make_no_track():
    flicker = [(4, 500, 300, 0.9)]  # one box, never seen again
    weak = [(f, 200, 40, TrackerConfig().new_track_score - 0.1) for f in range(10)]  # never confident enough to start
    tracked = track(boxes(flicker + weak), sampled(10), FPS)
    assert len(tracked) == 0 and tracked.track_id is not None


def test_labels_are_tracked_apart_and_numbered_by_first_appearance():
    cars = boxes([(f, 100 + 4 * f, 200, 0.9) for f in range(2, 8)], label="car")
    people = boxes([(f, 100 + 4 * f, 200, 0.9) for f in range(0, 8)])  # same place: another label
    tracked = track(Detections.merge([cars, people]), sampled(8), FPS)
    tracks = tracks_of(tracked)
    assert [(t.track_id, t.label, t.n_boxes) for t in tracks] == [(1, "person", 8), (2, "car", 6)]


def test_smoothed_boxes_stay_inside_the_frame(looks):
    """A walker that speeds up into the right edge and stops there: the straight-line fit of
    the smoothing reads past the edge, and ``frame_size`` clips it back."""
    width, height = 320.0, 240.0
    xs = [200, 210, 225, 245, 270, 290, 290, 290, 290, 290]  # x1; x2 = x1 + 30 reaches 320 and stays
    frames = {f: [("a", (x, 100.0, x + 30.0, 180.0), 0.9, looks[0])] for f, x in enumerate(xs)}
    dets, feats, _, sampled = boxes_of(frames, len(xs))
    loose = track(dets, sampled, FPS, features=feats)
    assert loose.xyxy[:, 2].max() > width, "the fit overshoots the edge (else this test shows nothing)"
    clipped = track(dets, sampled, FPS, features=feats, frame_size=(width, height))
    assert len(clipped) == len(loose) and set(clipped.track_id.tolist()) == {1}
    assert clipped.xyxy.min() >= 0 and clipped.xyxy[:, [0, 2]].max() <= width and clipped.xyxy[:, [1, 3]].max() <= height
