"""One video stream of a container file, decoded with PyAV: its frame index and a decoder that
moves to any frame.

The frame index is the truth about a file: ``open`` demuxes every packet of the stream (no
decoding) and takes the presentation time of each frame from the packets. Header values (frame
count, duration) are only compared with it; when they disagree, or the container's chunk sizes
say the file was cut short, the last frame is decoded, the index is cut to the frames that
really decode, and one warning says so. Only a file with no decodable frame is an error.

Frames are matched to the index by their presentation time (pts), which also tells where a seek
landed. DivX/Xvid AVIs with *packed B-frames* (a B-frame stored in the packet of the P-frame
after it, followed by a placeholder packet) decode to the right images in the right order, but
FFmpeg stamps them with the packets' pts, which are out of order there (1, 2, 3, 5, 4, 6, 8, 7,
...). Sorting by pts would show frames out of order, and FFmpeg's ``mpeg4_unpack_bframes``
bitstream filter yields the same images with the same stamps (both measured on Debian's
opencv-doc ``Megamind.avi``; see tests/tools/test_video_formats.py). So for such streams (the
DivX user data ends in ``p``, or decoded pts are seen to go backwards) the decoder's output
order is trusted instead: the k-th frame it outputs is frame k. Those streams are then decoded
from the start rather than by seeking, since a seek could not be checked.
"""

from __future__ import annotations

import logging
import os
import re
from fractions import Fraction

import av
import numpy as np

from tools.errors import CorruptVideoError, EmptyVideoError, NotAVideoError, NoVideoStreamError, VideoError
from tools.types import DecodeStats
from tools.video_truncation import ISO_BOX_TYPES, container_truncation

log = logging.getLogger(__name__)

#: Seek instead of decoding forward only when the seek skips at least this many frames.
MIN_FRAMES_SKIPPED_BY_SEEK = 8
#: At open, decode the last frame of a file with no sign of damage only if that decodes at most
#: this many pixels (300 frames of 720p, about 1 s on one core).
MAX_PIXELS_TO_VALIDATE_TAIL = 300 * 1280 * 720

# Demuxers whose keyframe seeking lands exactly on the requested keyframe.
_SEEKABLE_FORMATS = frozenset({"mov", "mp4", "matroska", "webm", "avi", "flv", "asf"})
# Demuxers that store the duration in their header (others estimate it from the bitrate).
_HEADER_DURATION_FORMATS = frozenset({"mov", "mp4", "matroska", "webm", "avi"})
# Demuxers that read a single still image.
_IMAGE_FORMATS = frozenset({"image2", "image2pipe"})
# MPEG-4 Part 2 user data of DivX 5 / Xvid: build string, then "p" when B-frames are packed.
_DIVX_PACKED = re.compile(rb"DivX\d+(?:Build|b)\d+p")


class _OutOfOrder(Exception):
    """Decoded pts went backwards: the stream's stamps do not follow presentation order."""


class ContainerSource:
    """Frames of one video stream of a container; the reader holds a lock around every call.

    After :meth:`open`: ``pts`` (n,) int64 sorted presentation times in ``time_base`` units,
    ``keyframes`` (k,) int64 frame indices (starting with 0), ``last_duration_s`` (0 if
    unknown), ``nominal_fps`` (the stream's declared rate, 0 if none), ``codec``,
    ``rotation`` (degrees counter-clockwise to make frames upright), ``coded_size``
    (width, height) of decoded frames, and ``warnings`` (at most one line).
    """

    def __init__(self, path: str, stream: int | None, stats: DecodeStats):
        self.path = path
        self.stats = stats
        self.warnings: list[str] = []
        self.in_decoder_order = False  # True: the k-th decoded frame is frame k (pts unusable)
        self.generation = 0  # bumped when frame numbering changes (decoded frames must be dropped)
        self._stream_choice = stream
        self._container: av.container.InputContainer | None = None
        self._stream: av.video.stream.VideoStream | None = None
        self._frames_iter = None
        self._pending: av.VideoFrame | None = None  # a frame read ahead to check the order
        self._pos = -1  # index of the frame the decoder produced last (-1: none yet)
        self._resumed_at = 0  # index of the keyframe the decoder last restarted or seeked to
        self._pts_matched = True  # whether the last decoded frame's pts was found in the index
        self._last_pts: int | None = None  # pts of the last decoded frame since the last (re)start
        self._seekable = False

    # ------------------------------------------------------------------ opening

    def open(self, validate: bool) -> None:
        """Build the index, decode frame 0 and, with ``validate``, check the header and the end.

        Raises NotAVideoError, NoVideoStreamError, EmptyVideoError or CorruptVideoError."""
        self._open_container()
        fmt = set(self._container.format.name.split(","))
        if fmt & _IMAGE_FORMATS or self._container.format.name.endswith("_pipe"):
            raise NotAVideoError(self.path, f"a still image ({self._container.format.name.removesuffix('_pipe')})")
        self._seekable = bool(fmt & _SEEKABLE_FORMATS)
        if self._stream.codec_context is None:
            raise NotAVideoError(self.path, "FFmpeg has no decoder for its video stream")
        codec = self._stream.codec_context.codec
        self.codec = getattr(codec, "canonical_name", None) or codec.name  # "av1", not the decoder "libdav1d"
        rate = self._stream.average_rate or self._stream.guessed_rate
        self.nominal_fps = float(rate) if rate else 0.0
        self.time_base: Fraction = self._stream.time_base
        self._build_index()
        if _has_packed_bframes(self._stream, self._first_packet):
            self._use_decoder_order()
        try:
            first = self.decode(0, self.stats)
        except CorruptVideoError:
            problem = container_truncation(self.path)
            if problem:
                raise CorruptVideoError(self.path, problem, 0) from None
            raise
        self.rotation = _rotation(first)
        self.coded_size = (first.width, first.height)
        if validate:
            self._check_end()

    def _open_container(self) -> None:
        """(Re)open the container and its chosen video stream; the decoder starts at frame 0."""
        if self._container is not None:
            self._container.close()
        self._container = _av_open(self.path)
        self._stream = _choose_stream(self._container, self._stream_choice, self.path)
        self._stream.thread_type = "AUTO"
        self._frames_iter = None
        self._pending = None
        self._pos = -1
        self._last_pts = None

    def _build_index(self) -> None:
        """Demux every packet of the stream (no decoding) into ``pts``, ``keyframes``.

        A packet the end of the file cuts through (FFmpeg flags a short read as corrupt; a GIF
        frame whose data blocks do not close) is not a frame of the video."""
        pts: list[int] = []
        keyframes: list[int] = []
        durations: list[int] = []
        cut: list[bool] = []
        last_packet = b""
        self._first_packet = b""
        is_gif = self._container.format.name == "gif"
        try:
            for packet in self._container.demux(self._stream):
                stamp = packet.pts if packet.pts is not None else packet.dts
                if packet.size == 0 or packet.is_discard or stamp is None:
                    continue
                if not pts:
                    self._first_packet = bytes(packet)[:512]
                if is_gif:
                    last_packet = bytes(packet)
                pts.append(stamp)
                durations.append(packet.duration or 0)
                cut.append(packet.is_corrupt)
                if packet.is_keyframe:
                    keyframes.append(stamp)
        except av.FFmpegError as exc:
            if not pts:
                raise CorruptVideoError(self.path, f"demuxing failed: {ffmpeg_reason(exc)}", 0) from None
            self.warnings.append(f"demuxing stopped after {len(pts)} packets ({ffmpeg_reason(exc)})")
        if is_gif and cut and not _gif_frame_complete(last_packet):
            cut[-1] = True
        dropped = 0
        while cut and cut[-1]:
            cut.pop()
            keyframes = [k for k in keyframes if k != pts.pop()]
            durations.pop()
            dropped += 1
        if not pts and dropped:
            raise CorruptVideoError(self.path, "the file ends inside its first frame: it was cut short", 0)
        if not pts:
            raise EmptyVideoError(self.path)
        order = np.argsort(np.asarray(pts, dtype=np.int64), kind="stable")
        self.pts = np.asarray(pts, dtype=np.int64)[order]
        key_index = np.searchsorted(self.pts, np.asarray(keyframes, dtype=np.int64))
        self.keyframes = np.unique(np.concatenate([[0], key_index])).astype(np.int64)
        last = int(np.asarray(durations)[order][-1])
        self.last_duration_s = float(last * self.time_base) if last > 0 else 0.0
        self._open_container()  # rewind for decoding

    def _check_end(self) -> None:
        """Compare the header with the index and decode the last frame when the header or the
        chunk sizes cast doubt on the file (or it is cheap); cut the index to what decodes."""
        doubts = self._header_doubts()
        last = len(self.pts) - 1
        if doubts or self._tail_pixels() <= MAX_PIXELS_TO_VALIDATE_TAIL:
            try:
                self.decode(last, self.stats)
            except CorruptVideoError as exc:
                if exc.decoded_frames == 0:
                    raise
                doubts.append(f"frames {exc.decoded_frames}..{last} do not decode")
                self._cut_index(exc.decoded_frames)
        if doubts:
            self.warnings.append("; ".join(doubts))

    def _header_doubts(self) -> list[str]:
        """What the header or the chunk sizes say that the frame index does not."""
        doubts: list[str] = []
        problem = container_truncation(self.path)
        if problem:
            doubts.append(problem)
        n = len(self.pts)
        declared = self._stream.frames
        if declared and declared != n:
            doubts.append(f"the header lists {declared} frames but the file holds {n}")
        end = float(int(self.pts[-1] - self.pts[0]) * self.time_base) + self.last_duration_s
        frame_s = 1.0 / self.nominal_fps if self.nominal_fps else 0.04
        for declared_s in self._declared_durations_s():
            if abs(declared_s - end) > 2 * frame_s + 0.01 * declared_s:
                doubts.append(f"the header says {declared_s:.3f} s but the frames end at {end:.3f} s")
                break
        if self._container.format.name == "gif" and not _ends_with(self.path, b";"):
            doubts.append("the GIF trailer is missing")
        return doubts

    def _declared_durations_s(self) -> list[float]:
        """Durations the header states for this stream: its own, and the file's when the
        stream is the only one."""
        if not set(self._container.format.name.split(",")) & _HEADER_DURATION_FORMATS:
            return []
        declared = [float(self._stream.duration * self.time_base)] if self._stream.duration else []
        if len(self._container.streams) == 1 and self._container.duration:
            declared.append(self._container.duration / av.time_base)
        return declared

    def _tail_pixels(self) -> int:
        last = len(self.pts) - 1
        start = int(self.keyframes[np.searchsorted(self.keyframes, last, side="right") - 1]) if self._seekable else 0
        width, height = self.coded_size
        return (last - start + 1) * width * height

    def _cut_index(self, n: int) -> None:
        """Keep only the first ``n`` frames (the rest did not decode)."""
        spacing = np.diff(self.pts[:n])
        self.pts = self.pts[:n]
        self.keyframes = self.keyframes[self.keyframes < n]
        self.last_duration_s = float(np.median(spacing)) * float(self.time_base) if len(spacing) else self.last_duration_s

    @property
    def timestamps(self) -> np.ndarray:
        """(n,) float64 seconds from the first frame."""
        return (self.pts - self.pts[0]).astype(np.float64) * self.time_base.numerator / self.time_base.denominator

    # ------------------------------------------------------------------ decoding

    def decode(self, target: int, stats: DecodeStats | None) -> av.VideoFrame:
        """Advance the decoder to frame ``target`` and return it."""
        seeked = self._position_for(target, stats)
        while True:
            try:
                frame = self._next_frame(stats, target)
                landed_wrong = seeked and (self._pos > self._resumed_at or not self._pts_matched)
            except _OutOfOrder:
                self._use_decoder_order()
                self._restart(stats)
                seeked = False
                continue
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
                if self._pts_go_back_next(stats):
                    self._use_decoder_order()
                    self._restart(stats)
                    continue
                raise self._corrupt(f"the decoder skipped frame {target}", target)

    def check_decodable(self, stats: DecodeStats | None) -> int:
        """Decode every frame once, in order; return the frame count or raise CorruptVideoError."""
        self._restart(stats)
        last = len(self.pts) - 1
        while self._pos < last:
            expected = self._pos + 1
            try:
                self._next_frame(stats, last)
            except _OutOfOrder:
                self._use_decoder_order()
                self._restart(stats)
                continue
            if self._pos != expected:
                if self._pts_go_back_next(stats):
                    self._use_decoder_order()
                    self._restart(stats)
                    continue
                self._pos = expected - 1
                raise self._corrupt(f"frame {expected} could not be decoded", last)
        return last + 1

    def close(self) -> None:
        if self._container is not None:
            self._container.close()
            self._container = None
            self._frames_iter = None
            self._pending = None

    def _use_decoder_order(self) -> None:
        if not self.in_decoder_order:
            log.debug("%s: decoded pts are out of order; numbering frames in decoder output order", self.path)
            self.in_decoder_order = True
            self.generation += 1
        self._seekable = False

    def _position_for(self, target: int, stats: DecodeStats | None) -> bool:
        """Seek (or restart) unless decoding forward from the current position is cheaper.

        Returns True if it seeked."""
        keyframe = int(self.keyframes[np.searchsorted(self.keyframes, target, side="right") - 1])
        if self._frames_iter is not None and target > self._pos:
            if not (self._seekable and keyframe - self._pos - 1 >= MIN_FRAMES_SKIPPED_BY_SEEK):
                return False
        if not self._seekable:
            self._restart(stats)
            return False
        _count(self.stats, stats, seeks=1)
        try:
            self._container.seek(int(self.pts[keyframe]), stream=self._stream, backward=True)
        except av.FFmpegError:
            self._seekable = False
            self._restart(stats)
            return False
        self._frames_iter = self._container.decode(self._stream)
        self._pending = None
        self._last_pts = None
        self._pos = -1  # unknown until the first frame arrives
        self._resumed_at = keyframe
        return True

    def _restart(self, stats: DecodeStats | None) -> None:
        """Decode from the first frame again by reopening the container (works for any format)."""
        self._open_container()
        self._frames_iter = self._container.decode(self._stream)
        self._resumed_at = 0
        _count(self.stats, stats, seeks=1)

    def _read(self, stats: DecodeStats | None, target: int) -> av.VideoFrame:
        """The next frame out of the decoder (or the one read ahead)."""
        if self._pending is not None:
            frame, self._pending = self._pending, None
            return frame
        try:
            frame = next(self._frames_iter)
        except StopIteration:
            self._frames_iter = None
            raise self._corrupt(f"the stream ended before frame {target}", target) from None
        except av.FFmpegError as exc:
            self._frames_iter = None
            raise self._corrupt(f"decoder error before frame {target}: {ffmpeg_reason(exc)}", target) from None
        _count(self.stats, stats, decoded=1)
        return frame

    def _next_frame(self, stats: DecodeStats | None, target: int) -> av.VideoFrame:
        """Next decoded frame; sets ``_pos`` to its index and ``_pts_matched``."""
        frame = self._read(stats, target)
        if self.in_decoder_order:
            self._pos += 1
            self._pts_matched = True
            return frame
        if frame.pts is not None:
            if self._last_pts is not None and frame.pts < self._last_pts:
                raise _OutOfOrder
            self._last_pts = frame.pts
        matched = self._match_pts(frame.pts)
        self._pts_matched = matched is not None
        if matched is not None:
            self._pos = matched
        else:  # no usable pts: the frame after the previous one
            self._pos = self._pos + 1 if self._pos >= 0 else self._resumed_at
        return frame

    def _pts_go_back_next(self, stats: DecodeStats | None) -> bool:
        """After a frame that jumped past the next index: whether the frame after it has a smaller
        pts (stamps out of order, not a frame lost). The frame read ahead is kept for later."""
        if self.in_decoder_order or self._frames_iter is None or self._last_pts is None:
            return False
        try:
            ahead = self._read(stats, self._pos + 1)
        except CorruptVideoError:
            return False
        self._pending = ahead
        return ahead.pts is not None and ahead.pts < self._last_pts

    def _match_pts(self, pts: int | None) -> int | None:
        """Index of the frame with this pts, if the index has one after the current position."""
        if pts is None:
            return None
        i = int(np.searchsorted(self.pts, pts))
        if i < len(self.pts) and self.pts[i] == pts and i > self._pos:
            return i
        return None

    def _corrupt(self, detail: str, target: int) -> CorruptVideoError:
        decoded = self._pos + 1 if self._pos >= 0 else self._resumed_at
        self._pos = -1
        self._frames_iter = None  # the next read restarts or seeks
        self._pending = None
        last = float(int(self.pts[decoded - 1] - self.pts[0]) * self.time_base) if decoded else None
        return CorruptVideoError(self.path, detail, decoded, last)


# ---------------------------------------------------------------------- helpers


def _count(total: DecodeStats, stats: DecodeStats | None, **counts: int) -> None:
    total.add(**counts)
    if stats is not None and stats is not total:
        stats.add(**counts)


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
        raise NotAVideoError(path, f"FFmpeg: {ffmpeg_reason(exc)}") from None


def _choose_stream(container: av.container.InputContainer, choice: int | None, path: str):
    """The ``choice``-th video stream (0-based, cover pictures not counted), or the first."""
    attached_pic = getattr(getattr(av.stream, "Disposition", None), "attached_pic", 0)
    streams = [s for s in container.streams.video if not (attached_pic and s.disposition & attached_pic)]
    if not streams:
        raise NoVideoStreamError(path)
    index = choice or 0
    if not 0 <= index < len(streams):
        raise VideoError(path, f"video stream {choice} does not exist: the file has {len(streams)} (0..{len(streams) - 1})")
    return streams[index]


def _has_packed_bframes(stream, first_packet: bytes) -> bool:
    """Whether an MPEG-4 Part 2 stream declares DivX-style packed B-frames in its user data."""
    if stream.codec_context.name != "mpeg4":
        return False
    extradata = stream.codec_context.extradata or b""
    return bool(_DIVX_PACKED.search(extradata) or _DIVX_PACKED.search(first_packet))


def _rotation(frame: av.VideoFrame) -> int:
    """Degrees counter-clockwise that make ``frame`` upright: 0, 90, 180 or 270."""
    try:
        degrees = frame.rotation
    except (AttributeError, av.FFmpegError):
        return 0
    return int(round((degrees or 0) / 90.0)) % 4 * 90


def _gif_frame_complete(packet: bytes) -> bool:
    """Whether a GIF frame's data (extensions, image descriptor, colour table, LZW data) ends
    with the empty sub-block that closes its image data."""
    offset, size = 0, len(packet)
    if packet[:4] == b"GIF8" and size >= 13:  # the first frame carries the file header
        flags = packet[10]
        offset = 13 + (3 * 2 ** ((flags & 7) + 1) if flags & 0x80 else 0)
    while offset < size and packet[offset] == 0x21:  # extension: label, then sub-blocks
        offset = _gif_skip_sub_blocks(packet, offset + 2)
    if offset >= size or packet[offset] != 0x2C or offset + 10 > size:
        return False
    flags = packet[offset + 9]
    offset += 10 + (3 * 2 ** ((flags & 7) + 1) if flags & 0x80 else 0) + 1  # + LZW minimum code size
    return _gif_skip_sub_blocks(packet, offset) <= size


def _gif_skip_sub_blocks(data: bytes, offset: int) -> int:
    """Offset after a chain of GIF sub-blocks ending in an empty one (past the end if cut)."""
    while offset < len(data) and data[offset] != 0:
        offset += data[offset] + 1
    return offset + 1


def _is_iso_media(path: str) -> bool:
    with open(path, "rb") as fh:
        return fh.read(8)[4:8] in ISO_BOX_TYPES


def _ends_with(path: str, suffix: bytes) -> bool:
    with open(path, "rb") as fh:
        fh.seek(-len(suffix), os.SEEK_END)
        return fh.read() == suffix


def ffmpeg_reason(exc: Exception) -> str:
    reason = getattr(exc, "strerror", None) or str(exc)
    return " ".join(str(reason).split())
