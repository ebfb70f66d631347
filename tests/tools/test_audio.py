"""Audio decoding on the video's clock: a tone muxed at a known time is found there."""

from fractions import Fraction

import av
import numpy as np
import pytest

from tests.videos import make_video
from tools.audio import has_audio, read_audio
from tools.types import TimeSpan

RATE = 44_100


def with_tone(video, out, at_s: float, length_s: float, rate: int = RATE, video_delay_s: float = 0.0):
    """Copy ``video`` into ``out`` with a stereo AAC track silent except a 440 Hz tone at ``at_s``
    seconds of the audio; ``video_delay_s``: the video's first frame comes this much after the
    audio starts (its packets are shifted on the container clock)."""
    with av.open(str(video)) as src:
        vin = src.streams.video[0]
        shift = int(round(video_delay_s / vin.time_base))
        duration = float(vin.duration * vin.time_base) + video_delay_s
        n = int(duration * rate)
        t = np.arange(n) / rate
        tone = np.where((t >= at_s) & (t < at_s + length_s), 0.5 * np.sin(2 * np.pi * 440 * t), 0.0).astype(np.float32)
        with av.open(str(out), "w") as dst:
            vout = dst.add_stream_from_template(vin)
            aout = dst.add_stream("aac", rate=rate, layout="stereo")
            for packet in src.demux(vin):
                if packet.dts is not None:
                    packet.pts, packet.dts = packet.pts + shift, packet.dts + shift
                    packet.stream = vout
                    dst.mux(packet)
            for i in range(0, n, 1024):
                piece = np.repeat(tone[None, i : i + 1024], 2, axis=0)
                frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(piece), format="fltp", layout="stereo")
                frame.sample_rate, frame.pts, frame.time_base = rate, i, Fraction(1, rate)
                dst.mux(aout.encode(frame))
            dst.mux(aout.encode(None))
    return out


def onset_s(samples, rate, threshold=0.1):
    loud = np.nonzero(np.abs(samples) > threshold)[0]
    return loud[0] / rate if len(loud) else None


@pytest.fixture(scope="module")
def toned(tmp_path_factory):
    d = tmp_path_factory.mktemp("audio")
    video = make_video(d / "v.mp4", n_frames=144, fps=24)  # 6 s
    return with_tone(video, d / "toned.mp4", at_s=4.0, length_s=0.5)


def test_whole_track_is_mono_16k_with_the_tone_in_place(toned):
    clip = read_audio(toned)
    assert clip.rate == 16_000 and clip.samples.dtype == np.float32 and clip.samples.ndim == 1
    assert clip.start_s == 0.0 and clip.duration_s == pytest.approx(6.0, abs=0.1)
    assert onset_s(clip.samples, clip.rate) == pytest.approx(4.0, abs=0.03)
    # FFmpeg's stereo-to-mono mix adds the channels at -3 dB: 0.5 + 0.5 -> 0.71
    assert clip.peak() == pytest.approx(0.71, abs=0.05)


@pytest.mark.parametrize("start, end", [(0.5, 4.8), (3.6, 5.5)])  # 3.6: the reader seeks first
def test_span_keeps_video_time(toned, start, end):
    clip = read_audio(toned, TimeSpan(start_s=start, end_s=end))
    assert clip.start_s == start and clip.duration_s == pytest.approx(end - start, abs=1e-3)
    assert clip.start_s + onset_s(clip.samples, clip.rate) == pytest.approx(4.0, abs=0.03)


@pytest.mark.parametrize("suffix", [".mp4", ".mkv"])
def test_a_video_that_starts_after_its_audio_is_heard_on_the_video_clock(tmp_path, suffix):
    """The first frame is 1 s into the audio: a tone 5 s into the audio is 4 s into the video."""
    from tools.video import VideoReader

    video = make_video(tmp_path / "v.mp4", n_frames=144, fps=24)
    late = with_tone(video, tmp_path / f"late{suffix}", at_s=5.0, length_s=0.5, video_delay_s=1.0)
    with VideoReader.open(late) as reader:
        assert reader.origin_s == pytest.approx(1.0) and reader.timestamps[0] == 0.0
        clip = read_audio(late, TimeSpan(start_s=3.0, end_s=5.0), origin_s=reader.origin_s)
    assert clip.start_s + onset_s(clip.samples, clip.rate) == pytest.approx(4.0, abs=0.03)


def test_span_without_the_tone_is_quiet(toned):
    clip = read_audio(toned, TimeSpan(start_s=1.0, end_s=3.5))
    assert clip.peak() < 0.01


def test_video_without_audio(tmp_path):
    video = make_video(tmp_path / "mute.mp4", n_frames=12, fps=12)
    assert not has_audio(video)
    assert read_audio(video) is None


def test_not_a_media_file(tmp_path):
    bad = tmp_path / "x.mp4"
    bad.write_bytes(b"not a video at all" * 10)
    from tools.errors import VideoError

    with pytest.raises(VideoError, match="cannot open"):
        read_audio(bad)
