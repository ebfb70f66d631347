"""Clip datasets: both layouts, frame sampling over spans, and one-line errors for bad input."""

from __future__ import annotations

import shutil
from fractions import Fraction

import av
import numpy as np
import pytest

from tools.recognition.data import DatasetError, load_clips, read_clip


def _gray_video(path, n=40, fps=8, size=32):
    """Frame i is uniform grey level 5 * i (so a decoded frame tells its index)."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=Fraction(fps))
        stream.width = stream.height = size
        stream.pix_fmt = "yuv444p"
        stream.options = {"crf": "0", "g": "1"}
        for i in range(n):
            image = np.full((size, size, 3), 5 * i, np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def test_class_folders(tiny_dataset):
    ds = load_clips(tiny_dataset)
    assert ds.layout == "folders" and ds.labels == ["appearing", "left_to_right", "right_to_left"]
    assert len(ds.clips) == 12 and sorted(set(ds.targets().tolist())) == [0, 1, 2]
    clip = read_clip(ds.clips[0], 8, (48, 40))
    assert clip.shape == (8, 40, 48, 3) and clip.dtype == np.uint8


def test_csv_spans_sample_inside_the_span(tmp_path):
    _gray_video(tmp_path / "long.mp4")
    (tmp_path / "spans.csv").write_text("video,start_s,end_s,label\nlong.mp4,1.0,2.0,b\nlong.mp4,3.0,4.0,a\n")
    ds = load_clips(tmp_path / "spans.csv")
    assert ds.layout == "csv" and ds.labels == ["a", "b"] and ds.clips[0].video == tmp_path / "long.mp4"
    levels = read_clip(ds.clips[0], 4, (32, 32)).mean(axis=(1, 2, 3)) / 5  # frame indices, 8 fps
    assert np.all(levels >= 8 - 0.5) and np.all(levels <= 16 + 0.5) and np.all(np.diff(levels) > 0)


def test_an_empty_class_folder_is_one_line(tiny_dataset, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(tiny_dataset, data)
    (data / "waving").mkdir()
    with pytest.raises(DatasetError) as err:
        load_clips(data)
    assert "waving" in str(err.value) and "no video clips" in str(err.value) and "\n" not in str(err.value)


def test_a_clip_that_does_not_decode_is_one_line(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "broken.mp4").write_bytes(b"not a video at all" * 100)
    ds = load_clips_with_two_classes(tmp_path)
    with pytest.raises(DatasetError) as err:
        read_clip(ds.clips[0], 4, (32, 32))
    assert str(err.value).startswith(f"clip {tmp_path / 'a' / 'broken.mp4'} does not decode:")
    assert "\n" not in str(err.value)


def load_clips_with_two_classes(root):
    (root / "b").mkdir(exist_ok=True)
    _gray_video(root / "b" / "ok.mp4", n=8)
    return load_clips(root)


@pytest.mark.parametrize("text, message", [
    ("video,label\nx.mp4,a\n", "header"),
    ("video,start_s,end_s,label\nmissing.mp4,0,1,a\n", "line 2: video"),
    ("video,start_s,end_s,label\nlong.mp4,2,1,a\n", "line 2: need 0 <= start_s < end_s"),
    ("video,start_s,end_s,label\nlong.mp4,0,1,a\n", "at least two labels"),
])
def test_bad_csv_rows_are_one_line(tmp_path, text, message):
    _gray_video(tmp_path / "long.mp4", n=8)
    (tmp_path / "spans.csv").write_text(text)
    with pytest.raises(DatasetError, match=message):
        load_clips(tmp_path / "spans.csv")
