"""Real speech for tests: espeak-ng (Debian package ``espeak-ng``) speaks a sentence, and PyAV
muxes it, at a chosen time, into a copy of a real video (the video packets are copied, not
re-encoded).

    from tests.speech_clips import speak, mux_speech
    wav = speak("The red bus stops at the old bridge.", tmp_path / "s.wav")
    clip = mux_speech(bikes_mp4, wav, tmp_path / "talking.mp4", at_s=2.0)
"""

from __future__ import annotations

import shutil
import subprocess
import wave
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from tests.requirements import missing

AUDIO_RATE = 22_050


def speak(text: str, path: Path, words_per_minute: int = 140) -> Path:
    """Write ``text`` spoken by espeak-ng (English voice) to a mono WAV file; skip the test
    when espeak-ng is not installed (``apt-get install espeak-ng``)."""
    exe = shutil.which("espeak-ng")
    if exe is None:
        missing("espeak-ng is not installed (apt-get install -y espeak-ng)")
    subprocess.run([exe, "-v", "en-us", "-s", str(words_per_minute), "-w", str(path), text], check=True,
                   capture_output=True, timeout=60)
    return path


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    """(samples (n,) float32 in [-1, 1], rate) of a 16-bit mono WAV file."""
    with wave.open(str(path)) as w:
        assert w.getsampwidth() == 2 and w.getnchannels() == 1, "expected 16-bit mono"
        data = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
        return data.astype(np.float32) / 32768.0, w.getframerate()


def speech_onset_s(samples: np.ndarray, rate: int, threshold: float = 0.02) -> float:
    """Seconds until the first sample louder than ``threshold`` (espeak-ng pads with silence)."""
    loud = np.nonzero(np.abs(samples) > threshold)[0]
    return float(loud[0]) / rate if len(loud) else 0.0


def mux_speech(video: Path, wav: Path, out: Path, at_s: float) -> Path:
    """Copy ``video``'s video stream into ``out`` (.mp4) with an AAC audio track that is silent
    except for ``wav`` starting at ``at_s`` seconds of the video."""
    samples, rate = read_wav(wav)
    with av.open(str(video)) as src:
        vin = src.streams.video[0]
        duration_s = float(vin.duration * vin.time_base) if vin.duration else float(src.duration / 1e6)
        track = np.zeros(int(round(duration_s * rate)), np.float32)
        start = int(round(at_s * rate))
        end = min(len(track), start + len(samples))
        track[start:end] = samples[: end - start]
        with av.open(str(out), "w") as dst:
            vout = dst.add_stream_from_template(vin)
            aout = dst.add_stream("aac", rate=rate, layout="mono")
            for packet in src.demux(vin):
                if packet.dts is None:
                    continue
                packet.stream = vout
                dst.mux(packet)
            _encode_audio(dst, aout, track, rate)
    return out


def _encode_audio(dst, stream, track: np.ndarray, rate: int, chunk: int = 1024) -> None:
    for i in range(0, len(track), chunk):
        piece = track[i : i + chunk]
        frame = av.AudioFrame.from_ndarray(piece[None, :], format="flt", layout="mono")
        frame.sample_rate = rate
        frame.pts = i
        frame.time_base = Fraction(1, rate)
        dst.mux(stream.encode(frame))
    dst.mux(stream.encode(None))
