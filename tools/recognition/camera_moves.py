"""Camera pans and zooms cut from real footage: a clip dataset whose labels are known by construction.

A clip is a window cropped from consecutive frames of a real video taken by a still camera
(OpenCV's ``vtest.avi``: a hall with people walking, 768x576, 10 fps), the window moving over
the clip as a camera would:

- ``pan_left`` / ``pan_right``: the window slides horizontally to the left / right by
  ``PAN_TRAVEL`` of its own width or more, so the scene slides the other way in the clip;
- ``zoom_in`` / ``zoom_out``: the window shrinks to / grows from ``ZOOM_END`` of its size
  about a fixed point, so the scene grows / shrinks in the clip.

Speeds, window sizes and positions and the source frames are random (``seed``). Every class is
drawn forwards in time from the same footage, so people walk forwards in all of them: a clip's
label is the window's motion and nothing else. Clips are resized to ``size`` pixels and written
as H.264 at the source's frame rate.

    write_camera_moves(Path("data/camera"), "vtest.avi", clips_per_class=40, frame_range=(0, 600))

``frame_range`` keeps a part of the footage for training; clips from another part are unseen.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

CLASSES = ("pan_left", "pan_right", "zoom_in", "zoom_out")
#: A pan moves the window by this fraction of its width at least (up to twice it).
PAN_TRAVEL = 0.35
#: A zoom ends (zoom_in) or starts (zoom_out) with the window at this fraction of its size.
ZOOM_END = 0.6
DEFAULT_SOURCE = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")


def window_path(label: str, rng: np.random.Generator, frame_w: int, frame_h: int, n_frames: int
                ) -> np.ndarray:
    """(n_frames, 4) float windows (x, y, w, h) in source pixels for one clip of class ``label``:
    square windows inside the frame, moving as the module docstring says."""
    t = np.linspace(0.0, 1.0, n_frames)
    if label in ("pan_left", "pan_right"):
        side = rng.uniform(0.45, 0.7) * frame_h
        travel = min(rng.uniform(PAN_TRAVEL, 2 * PAN_TRAVEL) * side, frame_w - side)
        x0 = rng.uniform(0, frame_w - side - travel)
        y = rng.uniform(0, frame_h - side)
        xs = x0 + t * travel if label == "pan_right" else x0 + travel - t * travel
        return np.stack([xs, np.full(n_frames, y), np.full(n_frames, side), np.full(n_frames, side)], axis=1)
    if label in ("zoom_in", "zoom_out"):
        big = rng.uniform(0.7, 1.0) * frame_h
        end = rng.uniform(ZOOM_END - 0.1, ZOOM_END)
        sides = big * (1 - t * (1 - end)) if label == "zoom_in" else big * (end + t * (1 - end))
        # the fixed point: where the smallest window sits, anywhere the biggest one still fits
        cx = rng.uniform(big / 2, frame_w - big / 2)
        cy = rng.uniform(big / 2, frame_h - big / 2)
        return np.stack([cx - sides / 2, cy - sides / 2, sides, sides], axis=1)
    raise ValueError(f"unknown camera move {label!r}; known: {', '.join(CLASSES)}")


def crop_windows(frames: np.ndarray, windows: np.ndarray, size: int) -> np.ndarray:
    """(T, size, size, 3) uint8: window t of (T, 4) (x, y, w, h) cut from frame t of (T, H, W, 3)
    uint8 and resized by one bilinear affine warp (sub-pixel positions)."""
    from tools.errors import require

    cv2 = require("cv2", "lite")
    out = np.empty((len(frames), size, size, 3), np.uint8)
    for i, (frame, (x, y, w, h)) in enumerate(zip(frames, windows)):
        scale_x, scale_y = size / w, size / h
        matrix = np.array([[scale_x, 0, -x * scale_x], [0, scale_y, -y * scale_y]], np.float64)
        out[i] = cv2.warpAffine(np.ascontiguousarray(frame), matrix, (size, size), flags=cv2.INTER_LINEAR,
                                borderMode=cv2.BORDER_REFLECT)
    return out


def camera_clip(frames: np.ndarray, label: str, rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
    """One clip of class ``label`` from consecutive source frames (T, H, W, 3) uint8: the
    (T, size, size, 3) uint8 clip and its (T, 4) windows."""
    windows = window_path(label, rng, frames.shape[2], frames.shape[1], len(frames))
    return crop_windows(frames, windows, size), windows


def write_camera_moves(root: str | Path, source: str | Path = DEFAULT_SOURCE, clips_per_class: int = 40, *,
                       frame_range: tuple[int, int] | None = None, n_frames: int = 17, size: int = 160,
                       seed: int = 0) -> Path:
    """Write ``root/<class>/<i>.mp4``: ``clips_per_class`` clips of every camera move, each
    ``n_frames`` consecutive frames of ``source`` starting at a random frame inside
    ``frame_range`` (first, end) (default: the whole video), ``size`` x ``size`` pixels, at the
    source's frame rate. Deterministic for a ``seed``. Returns ``root``."""
    from tools.recognition.synthetic import write_video
    from tools.video import VideoReader

    root = Path(root)
    with VideoReader.open(source) as reader:
        first, end = frame_range or (0, reader.n_frames)
        end = min(end, reader.n_frames)
        if end - first < n_frames:
            raise ValueError(f"frame range {first}-{end} of {source} is shorter than a clip ({n_frames} frames)")
        fps = max(1, round(reader.meta.fps))
        for c, label in enumerate(CLASSES):
            rng = np.random.default_rng([seed, c])
            for i in range(clips_per_class):
                start = int(rng.integers(first, end - n_frames + 1))
                frames = np.stack([f.image for f in reader.frames(list(range(start, start + n_frames)))])
                clip, _ = camera_clip(frames, label, rng, size)
                write_video(root / label / f"{i:03d}.mp4", clip, fps=fps)
    return root


def write_sequence(path: str | Path, source: str | Path, start_frame: int, moves: list[tuple[str, int]], *,
                   size: int = 160, seed: int = 0) -> Path:
    """Write one longer clip of ``source`` from ``start_frame``: the camera moves of ``moves``
    ((class, frames) in order, each its own random window path) one after another, at the
    source's frame rate. For trying a trained recogniser on footage it never saw."""
    from tools.recognition.synthetic import write_video
    from tools.video import VideoReader

    rng = np.random.default_rng(seed)
    parts = []
    with VideoReader.open(source) as reader:
        at = start_frame
        for label, n in moves:
            frames = np.stack([f.image for f in reader.frames(list(range(at, at + n)))])
            parts.append(camera_clip(frames, label, rng, size)[0])
            at += n
        fps = max(1, round(reader.meta.fps))
    return write_video(Path(path), np.concatenate(parts), fps=fps)
