"""Video I/O: frames of a video file or of a folder of numbered images, by index or by time.

``VideoReader.open(path)`` builds the frame index: the presentation time of every frame, in
seconds from the first, taken from the packets of a file (``tools.video_container``) or from
the numbers of an image folder's file names (``tools.video_images``). Header values are hints:
when they disagree with the packets, or a file is cut short, the reader keeps the frames that
decode and logs one warning (also in ``reader.warnings``); only a file with no decodable frame
is refused, with a one-line :class:`~tools.errors.VideoError`.

Frames are addressed by index ``0 .. n_frames - 1`` in presentation order, or by time through
:meth:`VideoReader.index_at`, the one time-to-frame mapping of the project: the frame whose
presentation time is nearest. Images are upright (a rotation in the file's display matrix is
applied), and ``meta.width`` / ``meta.height`` are the upright size. Requests are served from an
LRU of decoded frames bounded in bytes, else decoded in one forward pass, seeking to the
keyframe before a target when that skips enough frames.

One reader may be shared by several threads: a lock guards the decoder and the LRU.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import av
import numpy as np

from tools.errors import (
    CorruptVideoError,
    EmptyVideoError,
    NotAVideoError,
    NoVideoStreamError,
    VideoError,
    VideoNotFoundError,
)
from tools.types import DecodeStats, Frame, TimeSpan, VideoMeta
from tools.video_container import ContainerSource
from tools.video_images import ImageFolderSource
from tools.video_truncation import container_truncation

log = logging.getLogger(__name__)

Size = tuple[int, int]  # (width, height) in pixels

DEFAULT_CACHE_BYTES = 256 * 2**20
#: Frames decoded per lock hold in ``iter_frames`` (other threads may read in between).
ITER_CHUNK = 16

_sha_cache: dict[tuple, str] = {}


def probe(path: str | Path, *, validate: bool = True, stream: int | None = None, fps: float | None = None) -> VideoMeta:
    """Metadata of the video at ``path``, after the same checks as :meth:`VideoReader.open`."""
    with VideoReader.open(path, cache_bytes=0, validate=validate, stream=stream, fps=fps) as reader:
        return reader.meta


def file_sha256(path: str | Path, chunk_bytes: int = 2**20) -> str:
    """Hex sha256 of a file, read in chunks; memoised per (path, size, mtime, inode)."""
    st = os.stat(path)
    key = (os.path.realpath(path), st.st_size, st.st_mtime_ns, st.st_ino)
    if key not in _sha_cache:
        digest = hashlib.sha256()
        with open(path, "rb") as fh:
            while block := fh.read(chunk_bytes):
                digest.update(block)
        _sha_cache[key] = digest.hexdigest()
    return _sha_cache[key]


def size_for_width(width: int, height: int, target_width: int) -> Size:
    """(w, h) that scales a ``width`` x ``height`` frame to ``target_width`` keeping the aspect
    ratio, height rounded to an even number of pixels (at least 2)."""
    target_height = max(2, int(round(height * target_width / width / 2)) * 2)
    return int(target_width), target_height


class FrameLRU:
    """Decoded frames keyed by ``(index, size)``, least recently used evicted first, bounded
    in bytes of image data. Not thread-safe on its own (the reader's lock guards it)."""

    def __init__(self, max_bytes: int):
        self.max_bytes = int(max_bytes)
        self.bytes = 0
        self._frames: OrderedDict[tuple[int, Size | None], Frame] = OrderedDict()

    def __len__(self) -> int:
        return len(self._frames)

    def get(self, key: tuple[int, Size | None]) -> Frame | None:
        frame = self._frames.get(key)
        if frame is not None:
            self._frames.move_to_end(key)
        return frame

    def put(self, key: tuple[int, Size | None], frame: Frame) -> None:
        nbytes = frame.image.nbytes
        if nbytes > self.max_bytes or key in self._frames:
            return
        self._frames[key] = frame
        self.bytes += nbytes
        while self.bytes > self.max_bytes:
            _, old = self._frames.popitem(last=False)
            self.bytes -= old.image.nbytes

    def clear(self) -> None:
        self._frames.clear()
        self.bytes = 0


class VideoReader:
    """Random and sequential access to the frames of one video.

    Use ``VideoReader.open(path)`` as a context manager. ``meta``: :class:`VideoMeta`.
    ``timestamps``: (n_frames,) float64, presentation time of each frame in seconds, the first
    at 0.0, strictly increasing. ``keyframes``: (k,) int64 frame indices of keyframes.
    ``warnings``: what the reader had to work around at open (at most one line), also logged.
    ``image_files``: the images in frame order when the video is an image folder, else None.
    ``stats``: totals of every read on this reader (``seeks`` counts container seeks and
    restarts from the first frame). Every decode method takes ``size=(width, height)`` to get
    frames resized by FFmpeg's scaler, and ``stats`` to count that call's work as well.
    Returned images are read-only (they may be shared through the LRU): copy before drawing.
    """

    def __init__(self, path: str, cache_bytes: int = DEFAULT_CACHE_BYTES):
        self.path = path
        self.stats = DecodeStats()
        self.warnings: list[str] = []
        self.image_files: tuple[Path, ...] | None = None
        self._lock = threading.RLock()
        self._lru = FrameLRU(cache_bytes)
        self._source: ContainerSource | ImageFolderSource | None = None
        self._closed = False

    # ------------------------------------------------------------------ opening

    @classmethod
    def open(
        cls,
        path: str | Path,
        cache_bytes: int = DEFAULT_CACHE_BYTES,
        *,
        validate: bool = True,
        stream: int | None = None,
        fps: float | None = None,
    ) -> "VideoReader":
        """Open a video file or a folder of numbered images and build its frame index.

        ``stream``: which video stream of a file (0-based, cover pictures not counted; default
        the first). ``fps``: frame rate of an image folder (default: its seqinfo.ini
        ``frameRate``, else 25 with a warning); video files carry their own timestamps and
        ignore it. With ``validate`` (the default) the header is compared with the frame index
        and the last frame is decoded when the two disagree (or that is cheap), so the frame
        count is what really decodes; ``validate=False`` only decodes the first frame.

        Raises VideoNotFoundError, NotAVideoError, NoVideoStreamError, EmptyVideoError or
        CorruptVideoError (no frame decodes).
        """
        reader = cls(str(path), cache_bytes)
        try:
            reader._open(validate, stream, fps)
        except (NotAVideoError, NoVideoStreamError, EmptyVideoError) as exc:
            reader.close()
            # A cut-short file can look like any of these; its chunk sizes tell.
            problem = container_truncation(path) if os.path.isfile(path) and os.path.getsize(path) else None
            if problem:
                raise CorruptVideoError(str(path), problem) from None
            raise exc
        except BaseException:
            reader.close()
            raise
        return reader

    def _open(self, validate: bool, stream: int | None, fps: float | None) -> None:
        _check_readable(self.path)
        if os.path.isdir(self.path):
            self._source = ImageFolderSource(self.path, fps, self.stats)
        else:
            self._source = ContainerSource(self.path, stream, self.stats)
        self._source.open(validate)
        self.timestamps = np.asarray(self._source.timestamps, dtype=np.float64)
        self.keyframes = self._source.keyframes
        if isinstance(self._source, ImageFolderSource):
            self.image_files = tuple(self._source.files)
            sha256 = self._source.content_sha256()
        else:
            sha256 = file_sha256(self.path)
        self.meta = self._make_meta(sha256)
        if self._source.warnings:
            message = (
                f"{self.path}: {'; '.join(self._source.warnings)};"
                f" reading {self.meta.n_frames} frames, 0-{self.meta.duration_s:.2f} s"
            )
            self.warnings.append(message)
            log.warning(message)

    def _make_meta(self, sha256: str) -> VideoMeta:
        source = self._source
        n = len(self.timestamps)
        last = source.last_duration_s
        if last <= 0:
            spacing = np.diff(self.timestamps)
            last = float(np.median(spacing)) if n > 1 else (1 / source.nominal_fps if source.nominal_fps else 0.04)
        duration = float(self.timestamps[-1]) + last
        measured = n / duration
        nominal = source.nominal_fps
        # The declared rate is exact for constant-rate files; an AVI that skips frames or a
        # variable-rate file shows far fewer frames per second than its header's rate.
        fps = nominal if nominal and abs(nominal - measured) <= 0.01 * nominal else measured
        width, height = source.coded_size
        if source.rotation in (90, 270):
            width, height = height, width
        return VideoMeta(
            path=self.path,
            sha256=sha256,
            duration_s=duration,
            fps=fps,
            n_frames=n,
            width=width,
            height=height,
            codec=source.codec,
        )

    # ------------------------------------------------------------------ public API

    @property
    def n_frames(self) -> int:
        return self.meta.n_frames

    @property
    def cache_bytes(self) -> int:
        """Bytes of image data currently held by the LRU."""
        return self._lru.bytes

    @property
    def origin_s(self) -> float:
        """Seconds on the container's clock of the first frame: time 0.0 of every timestamp
        here (0.0 for an image folder). Other streams of the file (audio) are read against it."""
        source = self._source
        if isinstance(source, ContainerSource):
            return float(int(source.pts[0]) * source.time_base)
        return 0.0

    def index_at(self, time_s: float) -> int:
        """Index of the frame whose presentation time is nearest to ``time_s`` seconds (the
        earlier one on a tie), clamped to ``0 .. n_frames - 1``.

        This is the one time-to-frame mapping: a time written from a frame's timestamp and
        rounded (planners and observations write 2 decimals) maps back to that frame whenever
        frames are more than twice the rounding apart, at any constant or variable rate."""
        ts = self.timestamps
        i = int(np.searchsorted(ts, time_s, side="left"))
        if i <= 0:
            return 0
        if i >= len(ts):
            return len(ts) - 1
        return i if ts[i] - time_s < time_s - ts[i - 1] else i - 1

    def indices_in(self, span: TimeSpan | None) -> range:
        """Indices of the frames from the one at ``span.start_s`` to the one at ``span.end_s``
        (all frames if None)."""
        if span is None:
            return range(self.n_frames)
        return range(self.index_at(span.start_s), self.index_at(span.end_s) + 1)

    def frame(self, index: int, *, size: Size | None = None, stats: DecodeStats | None = None) -> Frame:
        """Frame ``index`` (0-based, presentation order)."""
        return self.frames([index], size=size, stats=stats)[0]

    def frame_at(self, time_s: float, *, size: Size | None = None, stats: DecodeStats | None = None) -> Frame:
        """The frame shown at ``time_s`` seconds."""
        return self.frame(self.index_at(time_s), size=size, stats=stats)

    def frames(
        self, indices: Iterable[int], *, size: Size | None = None, stats: DecodeStats | None = None
    ) -> list[Frame]:
        """Frames at ``indices`` (any order, repeats allowed), returned in that order.

        The missing ones are decoded in one ascending pass."""
        wanted = [self._check_index(i) for i in indices]
        size = _check_size(size)
        with self._lock:
            got = self._read_sorted(sorted(set(wanted)), size, stats, use_lru=True)
        return [got[i] for i in wanted]

    def span(
        self,
        span: TimeSpan,
        *,
        fps: float | None = None,
        size: Size | None = None,
        stats: DecodeStats | None = None,
    ) -> list[Frame]:
        """Frames shown during ``span``: all of them, or sampled at ``fps`` frames per second."""
        if fps is not None:
            return self.at_fps(fps, span=span, size=size, stats=stats)
        return self.frames(self.indices_in(span), size=size, stats=stats)

    def uniform(
        self, n: int, *, span: TimeSpan | None = None, size: Size | None = None, stats: DecodeStats | None = None
    ) -> list[Frame]:
        """``n`` frames evenly spaced over ``span`` (the centres of ``n`` equal parts), fewer
        if the span holds fewer frames."""
        return self.frames(self.uniform_indices(n, span), size=size, stats=stats)

    def uniform_indices(self, n: int, span: TimeSpan | None = None) -> list[int]:
        """Indices that :meth:`uniform` returns, ascending and unique."""
        if n < 1:
            raise ValueError(f"n must be at least 1, got {n}")
        candidates = self.indices_in(span)
        if n >= len(candidates):
            return list(candidates)
        picks = ((np.arange(n) + 0.5) * len(candidates) / n).astype(np.int64)
        return [candidates[int(p)] for p in picks]

    def at_fps(
        self, fps: float, *, span: TimeSpan | None = None, size: Size | None = None, stats: DecodeStats | None = None
    ) -> list[Frame]:
        """Frames sampled every ``1 / fps`` seconds over ``span`` (all frames at or above the
        video's own rate)."""
        return self.frames(self.fps_indices(fps, span), size=size, stats=stats)

    def fps_indices(self, fps: float, span: TimeSpan | None = None) -> list[int]:
        """Indices that :meth:`at_fps` returns: frames shown at ``start, start + 1/fps, ...``
        up to the span's end (never past the video's end), ascending and unique."""
        if fps <= 0:
            raise ValueError(f"fps must be positive, got {fps}")
        start = span.start_s if span else 0.0
        end = min(span.end_s if span else self.meta.duration_s, self.meta.duration_s)
        count = max(int(np.floor((end - start) * fps + 1e-9)) + 1, 1)
        times = start + np.arange(count) / fps
        times = times[(times < self.meta.duration_s) | (np.arange(count) == 0)]
        return sorted({self.index_at(float(t)) for t in times})

    def iter_frames(
        self,
        span: TimeSpan | None = None,
        *,
        step: int = 1,
        size: Size | None = None,
        stats: DecodeStats | None = None,
    ) -> Iterator[Frame]:
        """Stream every ``step``-th frame of ``span`` in order, for long passes: frames are not
        added to the LRU and the lock is released every ``ITER_CHUNK`` frames."""
        if step < 1:
            raise ValueError(f"step must be at least 1, got {step}")
        size = _check_size(size)
        indices = list(self.indices_in(span))[::step]
        for start in range(0, len(indices), ITER_CHUNK):
            chunk = indices[start : start + ITER_CHUNK]
            with self._lock:
                got = self._read_sorted(chunk, size, stats, use_lru=False)
            for i in chunk:
                yield got[i]

    def check_decodable(self, stats: DecodeStats | None = None) -> int:
        """Decode every frame once, in order (no RGB conversion). Returns the frame count.

        Raises CorruptVideoError saying how many frames, up to what time, were decodable."""
        with self._lock:
            self._ensure_open()
            generation = self._source.generation
            count = self._source.check_decodable(stats)
            if self._source.generation != generation:
                self._lru.clear()
            return count

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._lru.clear()
            if self._source is not None:
                self._source.close()

    def __enter__(self) -> "VideoReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        meta = getattr(self, "meta", None)
        return f"VideoReader({self.path!r}, {meta.n_frames if meta else '?'} frames)"

    # ------------------------------------------------------------------ decoding

    def _check_index(self, index: int) -> int:
        i = int(index)
        if not 0 <= i < self.n_frames:
            raise IndexError(f"frame index {i} is outside 0..{self.n_frames - 1} of {self.path}")
        return i

    def _ensure_open(self) -> None:
        if self._closed:
            raise ValueError(f"{self.path}: the reader is closed")

    def _read_sorted(
        self, indices: Sequence[int], size: Size | None, stats: DecodeStats | None, use_lru: bool
    ) -> dict[int, Frame]:
        """Frames for ascending unique ``indices``; caller holds the lock."""
        self._ensure_open()
        while True:
            generation = self._source.generation
            got: dict[int, Frame] = {}
            for i in indices:
                cached = self._lru.get((i, size))
                if cached is not None:
                    got[i] = cached
            if got:
                self.stats.add(from_cache=len(got))
                if stats is not None and stats is not self.stats:
                    stats.add(from_cache=len(got))
            for i in indices:
                if i in got:
                    continue
                image = _to_rgb(self._source.decode(i, stats), size or (self.meta.width, self.meta.height), self._source.rotation)
                frame = Frame(i, self.timestamps[i], image)
                got[i] = frame
                if use_lru:
                    self._lru.put((i, size), frame)
            if self._source.generation == generation:
                return got
            # The decoder's frames turned out to be numbered differently: forget what was read.
            self._lru.clear()


# ---------------------------------------------------------------------- helpers


def _check_readable(path: str) -> None:
    if not os.path.exists(path):
        raise VideoNotFoundError(path)
    if not os.access(path, os.R_OK):
        raise VideoError(path, "permission denied: cannot read it")
    if os.path.isfile(path) and os.path.getsize(path) == 0:
        raise NotAVideoError(path, "empty file, 0 bytes")


def _check_size(size: Size | None) -> Size | None:
    if size is None:
        return None
    width, height = (int(v) for v in size)
    if width < 1 or height < 1:
        raise ValueError(f"size must be (width, height) in positive pixels, got {size}")
    return width, height


def _to_rgb(frame: av.VideoFrame, size: Size, rotation: int) -> np.ndarray:
    """(H, W, 3) uint8 RGB, read-only, upright, ``size`` = (W, H) of the upright image.

    Frames are scaled before they are rotated (a 90 or 270 degree turn swaps the sides)."""
    width, height = size if rotation in (0, 180) else (size[1], size[0])
    if (width, height) == (frame.width, frame.height):
        image = frame.to_ndarray(format="rgb24")
    else:
        image = frame.to_ndarray(format="rgb24", width=width, height=height, interpolation="AREA")
    if rotation:
        image = np.rot90(image, k=rotation // 90)
    image = np.ascontiguousarray(image)
    image.setflags(write=False)
    return image
