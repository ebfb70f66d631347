"""Video I/O on PyAV: probing, an exact frame index, and random or sequential decoding.

``VideoReader.open(path)`` demuxes the file once (no decoding) to build the frame index: the
presentation time of every frame, in seconds from the first frame, and where the keyframes are.
It then decodes the first and the last frame so that a truncated or corrupt file is rejected
at open with a one-line :class:`~tools.errors.VideoError`, never a PyAV traceback.

Frames are addressed by index ``0 .. n_frames - 1`` in presentation order. Requests are served
from an LRU of decoded frames bounded in bytes, else decoded in one forward pass, seeking to
the keyframe before a target when that skips enough frames (containers whose seeking is not
frame-accurate, such as MPEG-PS and GIF, are decoded from the start instead).

One reader may be shared by several threads: a lock guards the container and the LRU.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict
from fractions import Fraction
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

Size = tuple[int, int]  # (width, height) in pixels

DEFAULT_CACHE_BYTES = 256 * 2**20
#: Seek instead of decoding forward only when the seek skips at least this many frames.
MIN_FRAMES_SKIPPED_BY_SEEK = 8
#: At open, decode the last frame only if that decodes at most this many pixels from its
#: keyframe (300 frames of 720p, about 1 s on one core); longer tails are left to the header checks.
MAX_PIXELS_TO_VALIDATE_TAIL = 300 * 1280 * 720
#: Frames decoded per lock hold in ``iter_frames`` (other threads may read in between).
ITER_CHUNK = 16

# Demuxers whose keyframe seeking lands exactly on the requested keyframe.
_SEEKABLE_FORMATS = frozenset({"mov", "mp4", "matroska", "webm", "avi", "flv", "asf"})
# Demuxers that store the duration in their header (others estimate it from the bitrate).
_HEADER_DURATION_FORMATS = frozenset({"mov", "mp4", "matroska", "webm", "avi"})
# Demuxers that read a single still image.
_IMAGE_FORMATS = frozenset({"image2", "image2pipe"})
_ISO_BOX_TYPES = (b"ftyp", b"moov", b"mdat", b"free", b"wide", b"skip")

_sha_cache: dict[tuple, str] = {}


def probe(path: str | Path, *, validate: bool = True) -> VideoMeta:
    """Metadata of the video at ``path``, after the same checks as :meth:`VideoReader.open`."""
    with VideoReader.open(path, cache_bytes=0, validate=validate) as reader:
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


class _Index:
    """Every frame's raw pts (stream time base units) in presentation order, and keyframes."""

    def __init__(self, pts: np.ndarray, keyframes: np.ndarray, last_duration: int):
        self.pts = pts  # (n,) int64, sorted
        self.keyframes = keyframes  # (k,) int64 frame indices, sorted, starts with 0
        self.last_duration = last_duration  # stream time base units, 0 if unknown

    def keyframe_at_or_before(self, index: int) -> int:
        return int(self.keyframes[np.searchsorted(self.keyframes, index, side="right") - 1])


class VideoReader:
    """Random and sequential access to the frames of one video file.

    Use ``VideoReader.open(path)`` as a context manager. ``meta``: :class:`VideoMeta`.
    ``timestamps``: (n_frames,) float64, presentation time of each frame in seconds, the first
    at 0.0. ``keyframes``: (k,) int64 frame indices of keyframes. ``stats``: totals of every
    read on this reader (``seeks`` counts container seeks and restarts from the first frame).
    Every decode method takes ``size=(width, height)`` to get frames resized by FFmpeg's
    scaler, and ``stats`` to count that call's work as well.
    Returned images are read-only (they may be shared through the LRU): copy before drawing.
    """

    def __init__(self, path: str, cache_bytes: int = DEFAULT_CACHE_BYTES):
        self.path = path
        self.stats = DecodeStats()
        self._lock = threading.RLock()
        self._lru = FrameLRU(cache_bytes)
        self._container: av.container.InputContainer | None = None
        self._stream: av.video.stream.VideoStream | None = None
        self._frames_iter: Iterator[av.VideoFrame] | None = None
        self._pos = -1  # index of the frame the decoder produced last (-1: none yet)
        self._resumed_at = 0  # index of the keyframe the decoder last restarted or seeked to
        self._pts_matched = True  # whether the last decoded frame's pts was found in the index
        self._seekable = False
        self._closed = False

    # ------------------------------------------------------------------ opening

    @classmethod
    def open(cls, path: str | Path, cache_bytes: int = DEFAULT_CACHE_BYTES, *, validate: bool = True) -> "VideoReader":
        """Open ``path`` and build its frame index.

        Raises VideoNotFoundError, NotAVideoError, NoVideoStreamError, EmptyVideoError or
        CorruptVideoError. With ``validate`` (the default) the header is compared with the
        frame index and the first and the last frame are decoded, so truncation is caught here;
        ``validate=False`` opens a damaged file anyway so that its readable part can be decoded
        (reads past it raise CorruptVideoError; ``check_decodable`` runs the full check).
        """
        reader = cls(str(path), cache_bytes)
        try:
            reader._open(validate)
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

    def _open(self, validate: bool) -> None:
        _check_is_file(self.path)
        self._open_container()
        fmt = self._container.format.name
        if set(fmt.split(",")) & _IMAGE_FORMATS or fmt.endswith("_pipe"):
            raise NotAVideoError(self.path, f"a still image ({fmt.removesuffix('_pipe')})")
        self._seekable = bool(set(fmt.split(",")) & _SEEKABLE_FORMATS)
        self._index = self._build_index()
        self.timestamps = _seconds(self._index.pts - self._index.pts[0], self._stream.time_base)
        self.keyframes = self._index.keyframes
        self.meta = self._make_meta()
        if validate:
            self._check_structure()
            self._validate_decodable_ends()
        self.meta = self.meta.model_copy(update={"sha256": file_sha256(self.path)})

    def _open_container(self) -> None:
        """(Re)open the container and its first video stream; the decoder starts at frame 0."""
        if self._container is not None:
            self._container.close()
        self._container = _av_open(self.path)
        if not self._container.streams.video:
            raise NoVideoStreamError(self.path)
        self._stream = self._container.streams.video[0]
        self._stream.thread_type = "AUTO"
        self._frames_iter = None
        self._pos = -1

    def _build_index(self) -> _Index:
        """Demux every packet of the video stream (no decoding) into an :class:`_Index`."""
        pts: list[int] = []
        keyframes: list[int] = []
        durations: list[int] = []
        try:
            for packet in self._container.demux(self._stream):
                stamp = packet.pts if packet.pts is not None else packet.dts
                if packet.size == 0 or packet.is_discard or stamp is None:
                    continue
                pts.append(stamp)
                durations.append(packet.duration or 0)
                if packet.is_keyframe:
                    keyframes.append(stamp)
        except av.FFmpegError as exc:
            raise CorruptVideoError(self.path, f"demuxing failed: {_ffmpeg_reason(exc)}", len(pts)) from None
        if not pts:
            raise EmptyVideoError(self.path)
        order = np.argsort(np.asarray(pts, dtype=np.int64), kind="stable")
        sorted_pts = np.asarray(pts, dtype=np.int64)[order]
        key_index = np.searchsorted(sorted_pts, np.asarray(keyframes, dtype=np.int64))
        key_index = np.unique(np.concatenate([[0], key_index])).astype(np.int64)
        self._open_container()  # rewind for decoding
        return _Index(sorted_pts, key_index, int(np.asarray(durations)[order][-1]))

    def _make_meta(self) -> VideoMeta:
        n = len(self._index.pts)
        time_base = self._stream.time_base
        rate = self._stream.average_rate or self._stream.guessed_rate
        last_duration = float(self._index.last_duration * time_base) if self._index.last_duration else 0.0
        if last_duration <= 0:
            last_duration = float(np.median(np.diff(self.timestamps))) if n > 1 else (1 / float(rate) if rate else 0.04)
        duration = float(self.timestamps[-1]) + last_duration
        fps = float(rate) if rate else n / duration
        ctx = self._stream.codec_context
        return VideoMeta(
            path=self.path,
            sha256="0" * 64,  # filled in once the file has passed the checks
            duration_s=duration,
            fps=fps,
            n_frames=n,
            width=ctx.width or self._stream.width,
            height=ctx.height or self._stream.height,
            codec=ctx.name,
        )

    def _check_structure(self) -> None:
        """Cheap truncation checks: the container's chunk sizes, and the frame count or duration
        its header promises (a cut-short file still carries the full ones) against the index."""
        problem = container_truncation(self.path)
        if problem:
            self._raise_truncated(problem)
        n = len(self._index.pts)
        declared_frames = self._stream.frames
        if declared_frames > n:
            self._raise_truncated(
                f"the header lists {declared_frames} frames but the file holds {n}: it was probably cut short"
            )
        fmt = set(self._container.format.name.split(","))
        if fmt & _HEADER_DURATION_FORMATS and len(self._container.streams) == 1 and self._container.duration:
            declared_s = self._container.duration / av.time_base
            if declared_s > self.meta.duration_s + 2.0 / self.meta.fps + 0.01 * declared_s:
                self._raise_truncated(
                    f"the header says {declared_s:.3f} s but the frames end at {self.meta.duration_s:.3f} s:"
                    " it was probably cut short"
                )
        if self._container.format.name == "gif" and not _ends_with(self.path, b";"):
            self._raise_truncated("the GIF trailer is missing: it was cut short")

    def _raise_truncated(self, detail: str) -> None:
        decoded = self._count_decodable_tail()
        last = float(self.timestamps[decoded - 1]) if decoded else None
        raise CorruptVideoError(self.path, detail, decoded, last)

    def _count_decodable_tail(self) -> int:
        """How many leading frames decode, assuming damage only at the end (decodes the last GOP)."""
        try:
            self._decode_to(len(self.timestamps) - 1, DecodeStats())
        except CorruptVideoError as exc:
            return exc.decoded_frames
        return len(self.timestamps)

    def _validate_decodable_ends(self) -> None:
        """Decode frame 0 and, when affordable, the last frame (raises CorruptVideoError)."""
        last = len(self.timestamps) - 1
        self._decode_to(0, self.stats)
        start = self._index.keyframe_at_or_before(last) if self._seekable else 0
        if (last - start + 1) * self.meta.width * self.meta.height <= MAX_PIXELS_TO_VALIDATE_TAIL:
            self._decode_to(last, self.stats)

    # ------------------------------------------------------------------ public API

    @property
    def n_frames(self) -> int:
        return self.meta.n_frames

    @property
    def cache_bytes(self) -> int:
        """Bytes of image data currently held by the LRU."""
        return self._lru.bytes

    def index_at(self, time_s: float) -> int:
        """Index of the frame shown at ``time_s`` seconds (the last frame starting at or before
        it), clamped to ``0 .. n_frames - 1``."""
        i = int(np.searchsorted(self.timestamps, time_s + 1e-9, side="right")) - 1
        return min(max(i, 0), self.n_frames - 1)

    def indices_in(self, span: TimeSpan | None) -> range:
        """Indices of the frames shown during ``span`` (all frames if None)."""
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
        """Check the whole file: the header checks of ``open`` and one in-order decode of every
        frame (no RGB conversion). Returns the frame count.

        Raises CorruptVideoError saying how many frames, up to what time, were decodable."""
        with self._lock:
            self._ensure_open()
            self._check_structure()
            self._restart(stats)
            last = self.n_frames - 1
            while self._pos < last:
                expected = self._pos + 1
                self._next_frame(stats, last)
                if self._pos != expected:
                    self._pos = expected - 1
                    raise self._corrupt(f"frame {expected} could not be decoded", last)
            return last + 1

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._lru.clear()
            if self._container is not None:
                self._container.close()
                self._container = None
                self._frames_iter = None

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

    def _count(self, stats: DecodeStats | None, **counts: int) -> None:
        self.stats.add(**counts)
        if stats is not None and stats is not self.stats:
            stats.add(**counts)

    def _read_sorted(
        self, indices: Sequence[int], size: Size | None, stats: DecodeStats | None, use_lru: bool
    ) -> dict[int, Frame]:
        """Frames for ascending unique ``indices``; caller holds the lock."""
        self._ensure_open()
        got: dict[int, Frame] = {}
        for i in indices:
            cached = self._lru.get((i, size))
            if cached is not None:
                got[i] = cached
        if got:
            self._count(stats, from_cache=len(got))
        for i in indices:
            if i in got:
                continue
            frame = Frame(i, self.timestamps[i], _to_rgb(self._decode_to(i, stats), size))
            got[i] = frame
            if use_lru:
                self._lru.put((i, size), frame)
        return got

    def _decode_to(self, target: int, stats: DecodeStats | None) -> av.VideoFrame:
        """Advance the decoder to frame ``target`` and return it (caller holds the lock)."""
        seeked = self._position_for(target, stats)
        while True:
            try:
                frame = self._next_frame(stats, target)
                landed_wrong = seeked and (self._pos > self._resumed_at or not self._pts_matched)
            except CorruptVideoError:
                if not seeked:
                    raise
                landed_wrong = True
            if landed_wrong:
                # The seek landed past its keyframe, somewhere the index does not know, or at
                # the end: this container's seeking is not accurate, decode it from the start.
                self._seekable = False
                self._restart(stats)
                seeked = False
                continue
            seeked = False
            if self._pos == target:
                return frame
            if self._pos > target:
                raise self._corrupt(f"the decoder skipped frame {target}", target)

    def _position_for(self, target: int, stats: DecodeStats | None) -> bool:
        """Seek (or restart) unless decoding forward from the current position is cheaper.

        Returns True if it seeked."""
        keyframe = self._index.keyframe_at_or_before(target)
        if self._frames_iter is not None and target > self._pos:
            if not (self._seekable and keyframe - self._pos - 1 >= MIN_FRAMES_SKIPPED_BY_SEEK):
                return False
        if not self._seekable:
            self._restart(stats)
            return False
        self._count(stats, seeks=1)
        try:
            self._container.seek(int(self._index.pts[keyframe]), stream=self._stream, backward=True)
        except av.FFmpegError:
            self._seekable = False
            self._restart(stats)
            return False
        self._frames_iter = self._container.decode(self._stream)
        self._pos = -1  # unknown until the first frame arrives
        self._resumed_at = keyframe
        return True

    def _restart(self, stats: DecodeStats | None) -> None:
        """Decode from the first frame again by reopening the container (works for any format)."""
        self._open_container()
        self._frames_iter = self._container.decode(self._stream)
        self._resumed_at = 0
        self._count(stats, seeks=1)

    def _next_frame(self, stats: DecodeStats | None, target: int) -> av.VideoFrame:
        """Next decoded frame; sets ``_pos`` to its index and ``_pts_matched``."""
        try:
            frame = next(self._frames_iter)
        except StopIteration:
            self._frames_iter = None
            raise self._corrupt(f"the stream ended before frame {target}", target) from None
        except av.FFmpegError as exc:
            self._frames_iter = None
            raise self._corrupt(f"decoder error before frame {target}: {_ffmpeg_reason(exc)}", target) from None
        self._count(stats, decoded=1)
        matched = self._match_pts(frame.pts)
        self._pts_matched = matched is not None
        if matched is not None:
            self._pos = matched
        else:  # no usable pts: the frame after the previous one
            self._pos = self._pos + 1 if self._pos >= 0 else self._resumed_at
        return frame

    def _match_pts(self, pts: int | None) -> int | None:
        """Index of the frame with this pts, if the index has one after the current position."""
        if pts is None:
            return None
        i = int(np.searchsorted(self._index.pts, pts))
        if i < len(self._index.pts) and self._index.pts[i] == pts and i > self._pos:
            return i
        return None

    def _corrupt(self, detail: str, target: int) -> CorruptVideoError:
        decoded = self._pos + 1 if self._pos >= 0 else self._resumed_at
        self._pos = -1
        last = float(self.timestamps[decoded - 1]) if decoded else None
        return CorruptVideoError(self.path, detail, decoded, last)


# ---------------------------------------------------------------------- helpers


def _check_is_file(path: str) -> None:
    if not os.path.exists(path):
        raise VideoNotFoundError(path)
    if os.path.isdir(path):
        raise NotAVideoError(path, "it is a directory")
    if not os.access(path, os.R_OK):
        raise VideoError(path, "permission denied: cannot read the file")
    if os.path.getsize(path) == 0:
        raise NotAVideoError(path, "empty file, 0 bytes")


def _av_open(path: str) -> av.container.InputContainer:
    """``av.open`` with FFmpeg's errors turned into VideoErrors."""
    try:
        return av.open(path, "r")
    except av.FFmpegError as exc:
        problem = container_truncation(path)
        if problem is None and _is_iso_media(path):
            problem = "MP4/MOV header could not be parsed"
        if problem:
            raise CorruptVideoError(path, problem) from None
        raise NotAVideoError(path, f"FFmpeg: {_ffmpeg_reason(exc)}") from None


def container_truncation(path: str | Path) -> str | None:
    """Why the container's own size fields say ``path`` was cut short, else None.

    Reads only the top-level chunk headers of MP4/MOV (ISO boxes), AVI (RIFF) and
    Matroska/WebM (EBML) files; other formats return None."""
    size = os.path.getsize(path)
    with open(path, "rb") as fh:
        head = fh.read(12)
        if head[:4] == b"RIFF":
            return _riff_truncation(fh, size)
        if head[4:8] in _ISO_BOX_TYPES:
            return _iso_truncation(fh, size)
        if head[:4] == _EBML_MAGIC:
            return _ebml_truncation(fh, size)
    return None


def _is_iso_media(path: str) -> bool:
    with open(path, "rb") as fh:
        return fh.read(8)[4:8] in _ISO_BOX_TYPES


def _iso_truncation(fh, size: int) -> str | None:
    boxes: list[str] = []
    offset = 0
    while offset + 8 <= size:
        fh.seek(offset)
        head = fh.read(16)
        box_size, box_type = int.from_bytes(head[:4], "big"), head[4:8].decode("latin-1")
        if box_size == 1 and len(head) == 16:
            box_size = int.from_bytes(head[8:16], "big")
        boxes.append(box_type)
        if box_size == 0:
            break  # the last box runs to the end of the file
        if box_size < 8:
            return f"MP4/MOV box '{box_type}' at byte {offset} has an impossible size"
        if offset + box_size > size:
            missing = "" if "moov" in boxes else ", so its 'moov' index is missing"
            return f"the file ends at byte {size}, inside its '{box_type}' box that needs {offset + box_size}{missing}: it was cut short"
        offset += box_size
    if boxes and "moov" not in boxes:
        return "the MP4/MOV file has no 'moov' index: it was probably cut short"
    return None


def _riff_truncation(fh, size: int) -> str | None:
    offset = 0  # AVI files over 1 GB chain several RIFF chunks (AVI, then AVIX)
    while offset + 8 <= size:
        fh.seek(offset)
        head = fh.read(8)
        if head[:4] != b"RIFF":
            break
        end = offset + 8 + int.from_bytes(head[4:8], "little")
        if end > size:
            return f"the file ends at byte {size}, inside a RIFF chunk that needs {end}: it was cut short"
        offset = end + (end & 1)
    return None


def _ebml_truncation(fh, size: int) -> str | None:
    """Matroska: the EBML header is followed by one Segment whose size field covers the rest
    (live recordings write "unknown size", which cannot be checked)."""
    fh.seek(0)
    data = fh.read(64)
    offset = 0
    for expected_id in (_EBML_MAGIC, _MATROSKA_SEGMENT):
        element_id, offset = _read_vint(data, offset, keep_marker=True)
        if element_id is None or element_id.to_bytes(4, "big") != expected_id:
            return None
        body_size, offset = _read_vint(data, offset)
        if body_size is None:
            return "the Matroska header is cut short" if len(data) < 64 else None
        if expected_id == _EBML_MAGIC:
            offset += body_size
            if offset > len(data):
                return None
    if body_size == _UNKNOWN_SIZE:
        return None
    end = offset + body_size
    if end > size:
        return f"the file ends at byte {size}, inside its Matroska segment that needs {end}: it was cut short"
    return None


_EBML_MAGIC = b"\x1a\x45\xdf\xa3"
_MATROSKA_SEGMENT = b"\x18\x53\x80\x67"
_UNKNOWN_SIZE = -1


def _read_vint(data: bytes, offset: int, keep_marker: bool = False) -> tuple[int | None, int]:
    """An EBML variable-length integer at ``offset``: (value, offset after it); value None if
    ``data`` ends first, _UNKNOWN_SIZE for an all-ones size."""
    if offset >= len(data) or data[offset] == 0:
        return None, offset
    length = 8 - data[offset].bit_length() + 1
    if offset + length > len(data):
        return None, offset
    value = int.from_bytes(data[offset : offset + length], "big")
    if keep_marker:
        return value, offset + length
    value &= (1 << (7 * length)) - 1
    return (_UNKNOWN_SIZE if value == (1 << (7 * length)) - 1 else value), offset + length


def _ffmpeg_reason(exc: Exception) -> str:
    reason = getattr(exc, "strerror", None) or str(exc)
    return " ".join(str(reason).split())


def _ends_with(path: str, suffix: bytes) -> bool:
    with open(path, "rb") as fh:
        fh.seek(-len(suffix), os.SEEK_END)
        return fh.read() == suffix


def _seconds(pts: np.ndarray, time_base: Fraction) -> np.ndarray:
    return pts.astype(np.float64) * time_base.numerator / time_base.denominator


def _check_size(size: Size | None) -> Size | None:
    if size is None:
        return None
    width, height = (int(v) for v in size)
    if width < 1 or height < 1:
        raise ValueError(f"size must be (width, height) in positive pixels, got {size}")
    return width, height


def _to_rgb(frame: av.VideoFrame, size: Size | None) -> np.ndarray:
    """(H, W, 3) uint8 RGB, read-only, resized to ``size`` = (W, H) if given."""
    if size is None or size == (frame.width, frame.height):
        image = frame.to_ndarray(format="rgb24")
    else:
        image = frame.to_ndarray(format="rgb24", width=size[0], height=size[1], interpolation="AREA")
    image = np.ascontiguousarray(image)
    image.setflags(write=False)
    return image
