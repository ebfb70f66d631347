"""The sound of a video: its first audio stream decoded to mono samples at a fixed rate (PyAV).

Times are on the video's clock: 0.0 is the first video frame, as everywhere in vidagent, so a
word heard at 2.5 s is seen in the frame at 2.5 s.

>>> clip = read_audio("clip.mp4", TimeSpan(start_s=2.0, end_s=6.0))   # doctest: +SKIP
>>> clip.samples.shape, clip.rate, clip.start_s                     # doctest: +SKIP
((64000,), 16000, 2.0)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from tools.errors import VideoError
from tools.types import TimeSpan

SPEECH_RATE = 16_000
"""Samples per second that speech models take (Whisper's rate)."""


@dataclass(frozen=True)
class AudioClip:
    """Mono audio of one span of a video.

    ``samples``: (n,) float32 in [-1, 1] at ``rate`` samples per second; ``start_s``: video
    time of the first sample, seconds.
    """

    samples: np.ndarray
    rate: int
    start_s: float

    @property
    def duration_s(self) -> float:
        return len(self.samples) / self.rate

    @property
    def end_s(self) -> float:
        return self.start_s + self.duration_s

    def peak(self) -> float:
        """Largest absolute sample (0.0 for silence or no samples)."""
        return float(np.abs(self.samples).max()) if len(self.samples) else 0.0


def has_audio(path: str | Path) -> bool:
    """Whether the file has an audio stream (raises VideoError when it cannot be opened)."""
    try:
        with av.open(str(path)) as container:
            return bool(container.streams.audio)
    except (av.FFmpegError, OSError) as exc:
        raise VideoError(str(path), f"cannot open ({exc})") from None


def read_audio(path: str | Path, span: TimeSpan | None = None, rate: int = SPEECH_RATE,
               origin_s: float | None = None) -> AudioClip | None:
    """The first audio stream of ``path`` in ``span`` (video seconds; None: all of it), mixed
    down to mono float32 at ``rate`` samples per second. None when the file has no audio stream.

    ``origin_s``: container-clock seconds of video time 0.0 (``VideoReader.origin_s``, the
    first frame's timestamp); None: the first video stream's declared start time.

    Samples before the first audio packet (an audio stream that starts late) are silence, so
    ``samples[i]`` is always heard at ``start_s + i / rate``.
    """
    try:
        container = av.open(str(path))
    except (av.FFmpegError, OSError) as exc:
        raise VideoError(str(path), f"cannot open ({exc})") from None
    with container:
        if not container.streams.audio:
            return None
        stream = container.streams.audio[0]
        origin = _video_origin_s(container) if origin_s is None else origin_s
        start = 0.0 if span is None else span.start_s
        end = float("inf") if span is None else span.end_s
        if start > 1.0:
            # Seek a little early (to a packet boundary at or before) and drop what precedes.
            container.seek(int(max(0.0, start + origin - 1.0) / stream.time_base), stream=stream, backward=True)
        resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
        first = int(round(start * rate))
        last = None if end == float("inf") else int(round(end * rate))
        pieces: list[tuple[int, np.ndarray]] = []  # (sample index on the video clock, samples)
        at = None
        try:
            for frame in container.decode(stream):
                if at is None:
                    if frame.time is None:
                        continue
                    # Later samples follow on from the first: the resampler buffers across frames.
                    at = int(round((frame.time - origin) * rate))
                if last is not None and at >= last:
                    break
                for resampled in resampler.resample(frame):
                    data = _samples(resampled)
                    pieces.append((at, data))
                    at += len(data)
            if at is not None:
                pieces += [(at, _samples(r)) for r in resampler.resample(None)]
        except av.FFmpegError as exc:
            raise VideoError(str(path), f"audio cannot be decoded ({exc})") from None
    return AudioClip(samples=_assemble(pieces, first, last), rate=rate, start_s=start)


def _assemble(pieces: list[tuple[int, np.ndarray]], first: int, last: int | None) -> np.ndarray:
    """The samples of ``pieces`` in [first, last) (up to the last piece when None or earlier),
    gaps filled with silence."""
    heard_until = max((at + len(d) for at, d in pieces), default=first)
    stop = heard_until if last is None else min(last, heard_until)
    out = np.zeros(max(0, stop - first), dtype=np.float32)
    for at, data in pieces:
        lo, hi = max(at, first), min(at + len(data), stop)
        if hi > lo:
            out[lo - first : hi - first] = data[lo - at : hi - at]
    return np.clip(out, -1.0, 1.0)


def _video_origin_s(container) -> float:
    """Seconds on the container clock of the first video frame (0.0 for an audio-only file)."""
    if not container.streams.video:
        return 0.0
    video = container.streams.video[0]
    if video.start_time is None:
        return 0.0
    return float(video.start_time * video.time_base)


def _samples(frame: av.AudioFrame) -> np.ndarray:
    return frame.to_ndarray().reshape(-1).astype(np.float32, copy=False)
