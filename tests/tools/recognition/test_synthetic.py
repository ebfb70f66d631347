"""The generated dataset: classes of a pair differ only in the order of frames."""

from __future__ import annotations

import numpy as np

from tools.recognition.data import load_clips, read_clip
from tools.recognition.synthetic import CLASSES, _photos, render_clip


def test_a_reversed_class_is_the_forward_clip_played_backwards():
    photos = _photos()
    assert len(photos) >= 4  # real scikit-image photographs
    for motion in ("cross", "appear", "grow"):
        forward = render_clip(motion, False, np.random.default_rng(7), photos, 64, 12)
        backward = render_clip(motion, True, np.random.default_rng(7), photos, 64, 12)
        assert np.array_equal(backward, forward[::-1])
        # the same frames, so the same mean frame: order is the only difference
        assert np.array_equal(np.sort(forward.reshape(12, -1), axis=0), np.sort(backward.reshape(12, -1), axis=0))
        assert not np.array_equal(forward, backward)


def test_sampling_picks_the_same_frames_of_a_clip_and_of_its_reverse():
    """8 of the 17 frames, at the centres of 8 equal parts, are the same frames played forwards
    or backwards (with 16 frames they would be the odd ones forwards and the even ones backwards)."""
    from tools.recognition.data import frame_indices

    picks = frame_indices(17, 8)
    assert sorted((16 - picks).tolist()) == sorted(picks.tolist())
    assert sorted((15 - frame_indices(16, 8)).tolist()) != sorted(frame_indices(16, 8).tolist())


def test_motion_is_where_the_label_says(tiny_dataset):
    """The object's column (where the frame differs from the clip's median) moves right in
    left_to_right clips and left in right_to_left ones, after a real encode and decode."""
    ds = load_clips(tiny_dataset)
    for clip in ds.clips:
        if clip.label not in ("left_to_right", "right_to_left"):
            continue
        frames = read_clip(clip, 8, (64, 64)).astype(np.float32)
        background = np.median(frames, axis=0)
        columns = [np.argmax(np.abs(f - background).sum(axis=(0, 2))) for f in (frames[0], frames[-1])]
        assert (columns[1] > columns[0]) == (clip.label == "left_to_right"), clip.name
    assert set(CLASSES) >= set(ds.labels)


def test_a_clip_and_its_reverse_decode_to_the_same_frames(tmp_path):
    """Written and read back, a clip and its reverse hold exactly the same frames (lossless
    encoding; only the RGB-YUV conversion rounds, frame by frame): no compression noise that
    depends on the order is left for a probe to read."""
    from pathlib import Path

    from tools.recognition.data import ClipRecord
    from tools.recognition.synthetic import write_video

    photos = _photos()
    forward = render_clip("grow", False, np.random.default_rng(5), photos, 64, 17)
    decoded = []
    for name, frames in (("f", forward), ("b", forward[::-1])):
        path = write_video(Path(tmp_path / f"{name}.mp4"), frames, lossless=True)
        decoded.append(read_clip(ClipRecord(video=path, label="x"), 17, (64, 64)))
    assert np.array_equal(decoded[1], decoded[0][::-1])
    assert np.abs(decoded[0].astype(int) - forward).max() <= 2
