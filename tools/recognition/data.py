"""Clip datasets for training and scoring recognisers.

Two layouts, both read by :func:`load_clips`:

- a folder per class (the UCF101 / HMDB51 layout): ``DIR/<label>/<clip>.mp4``, one label per
  sub-folder, every video file in it one clip (the whole file);
- a CSV of labelled spans of long videos, header ``video,start_s,end_s,label``, video paths
  relative to the CSV's folder (or absolute), times in seconds.

A clip is read as ``n`` frames evenly spaced over its span (:func:`read_clip`), decoded through
:class:`tools.video.VideoReader` and resized by FFmpeg's scaler. Bad input (a missing folder, an
empty class folder, a bad CSV row, a clip that does not decode) is one :class:`DatasetError` line.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from tools.errors import InputError, VideoError

#: File suffixes taken as video clips in a class folder.
VIDEO_SUFFIXES = (".mp4", ".avi", ".mkv", ".mov", ".webm", ".mpg", ".mpeg", ".m4v", ".gif")
CSV_COLUMNS = ("video", "start_s", "end_s", "label")


class DatasetError(InputError):
    """A clip dataset cannot be used as given (one line: what, where, what to do)."""


class ClipRecord(BaseModel):
    """One labelled clip: a whole video file, or the span ``start_s``-``end_s`` (seconds) of one."""

    model_config = ConfigDict(frozen=True)

    video: Path
    label: str
    start_s: float | None = Field(default=None, ge=0)
    end_s: float | None = Field(default=None, ge=0)

    @property
    def name(self) -> str:
        """A short name for messages: the file, with the span when there is one."""
        span = f"@{self.start_s:g}-{self.end_s:g}s" if self.start_s is not None else ""
        return f"{self.video}{span}"


class ClipDataset(BaseModel):
    """Clips with their labels. ``labels``: the sorted label set (class index = position)."""

    model_config = ConfigDict(frozen=True)

    source: Path
    layout: str = Field(description="'folders' or 'csv'")
    labels: list[str]
    clips: list[ClipRecord]

    def targets(self) -> np.ndarray:
        """(n,) int64 class index of each clip."""
        index = {label: i for i, label in enumerate(self.labels)}
        return np.array([index[c.label] for c in self.clips], dtype=np.int64)


def load_clips(path: str | Path) -> ClipDataset:
    """The dataset at ``path``: a folder of class folders, or a ``.csv`` of labelled spans.

    Raises DatasetError for a missing path, a folder with fewer than two classes, an empty class
    folder, or a CSV with a bad header, row, label or missing video.
    """
    path = Path(path).expanduser()
    if not path.exists():
        raise DatasetError(f"{path}: no such dataset (give a folder with one sub-folder per class, or a CSV)")
    if path.is_file():
        return _load_csv(path)
    classes = sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))
    if len(classes) < 2:
        raise DatasetError(f"{path}: needs at least two class folders (found {len(classes)}), one per label")
    clips = []
    for folder in classes:
        files = sorted(f for f in folder.iterdir() if f.is_file() and f.suffix.lower() in VIDEO_SUFFIXES)
        if not files:
            raise DatasetError(f"{folder}: class folder '{folder.name}' has no video clips "
                               f"({', '.join(VIDEO_SUFFIXES[:4])}, ...); add clips or remove the folder")
        clips += [ClipRecord(video=f, label=folder.name) for f in files]
    return ClipDataset(source=path, layout="folders", labels=[c.name for c in classes], clips=clips)


def _load_csv(path: Path) -> ClipDataset:
    with path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    if not rows or tuple(c.strip() for c in rows[0]) != CSV_COLUMNS:
        raise DatasetError(f"{path}: the first line must be the header {','.join(CSV_COLUMNS)}")
    clips = []
    for line, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != 4:
            raise DatasetError(f"{path} line {line}: expected 4 columns ({','.join(CSV_COLUMNS)}), got {len(row)}")
        video, start, end, label = (cell.strip() for cell in row)
        try:
            start_s, end_s = float(start), float(end)
        except ValueError:
            raise DatasetError(f"{path} line {line}: start_s and end_s must be numbers of seconds") from None
        if not 0 <= start_s < end_s:
            raise DatasetError(f"{path} line {line}: need 0 <= start_s < end_s (got {start_s:g}, {end_s:g})")
        if not label:
            raise DatasetError(f"{path} line {line}: empty label")
        file = Path(video).expanduser()
        file = file if file.is_absolute() else path.parent / file
        if not file.is_file():
            raise DatasetError(f"{path} line {line}: video {file} not found")
        clips.append(ClipRecord(video=file, label=label, start_s=start_s, end_s=end_s))
    labels = sorted({c.label for c in clips})
    if len(labels) < 2:
        raise DatasetError(f"{path}: needs clips of at least two labels (found {len(labels)})")
    return ClipDataset(source=path, layout="csv", labels=labels, clips=clips)


def frame_indices(n_available: int, n: int) -> np.ndarray:
    """(n,) positions in ``0 .. n_available - 1``: the centres of ``n`` equal parts (repeats when
    the clip has fewer than ``n`` frames)."""
    return np.minimum(((np.arange(n) + 0.5) * n_available / n).astype(np.int64), n_available - 1)


def read_clip(clip: ClipRecord, n_frames: int, size: tuple[int, int]) -> np.ndarray:
    """(n_frames, H, W, 3) uint8 RGB: ``n_frames`` frames evenly spaced over the clip, resized to
    ``size`` = (width, height) pixels. Raises DatasetError naming the clip when it does not decode."""
    from tools.types import TimeSpan
    from tools.video import VideoReader

    try:
        with VideoReader.open(clip.video) as reader:
            span = None
            if clip.start_s is not None:
                if clip.start_s >= reader.meta.duration_s:
                    raise DatasetError(f"clip {clip.name}: starts after the video ends "
                                       f"({reader.meta.duration_s:.2f} s)")
                span = TimeSpan(start_s=clip.start_s, end_s=min(clip.end_s, reader.meta.duration_s))
            candidates = reader.indices_in(span)
            picks = [candidates[int(i)] for i in frame_indices(len(candidates), n_frames)]
            frames = reader.frames(picks, size=size)
    except VideoError as exc:
        raise DatasetError(f"clip {clip.name} does not decode: {exc.reason}") from None
    return np.stack([f.image for f in frames])
