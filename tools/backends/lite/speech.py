"""Lite backends of ``transcribe_speech``: Whisper base (multilingual, the default) and tiny.en
(English only, faster; choose it with ``[tools] backends = {transcribe_speech = "whisper-tiny-en"}``)."""

from __future__ import annotations

from tools.audio import read_audio
from tools.backends.lite.models.speech import RATE, WHISPER_BASE_SPEC, WHISPER_TINY_EN_SPEC
from tools.capabilities import TRANSCRIBE_SPEECH, SpeechResult, Transcript, TranscribeSpeechArgs
from tools.context import ToolContext
from tools.model_loading import ModelSpec
from tools.registry import backend
from tools.types import Evidence, ToolOutput

MAX_OBSERVATION_CHARS = 1500
SILENT_PEAK = 1e-4
"""Audio whose loudest sample is below this (about -80 dBFS) is digital silence: not transcribed."""


def transcribe(args: TranscribeSpeechArgs, ctx: ToolContext, spec: ModelSpec) -> ToolOutput[SpeechResult]:
    span = ctx.span_or_all(args.span)
    where = f"{span.start_s:.2f}-{span.end_s:.2f} s"
    clip = read_audio(ctx.meta.path, span, rate=RATE, origin_s=ctx.video.origin_s)
    if clip is None:
        return ToolOutput(observation="The video has no audio track: there is no speech to transcribe.",
                          data=SpeechResult(has_audio=False, span=span))
    if clip.peak() < SILENT_PEAK:
        empty = Transcript(language="", language_probability=0.0, segments=[])
        return ToolOutput(observation=f"The audio is silent in {where}: no speech.",
                          data=SpeechResult(has_audio=True, span=span, transcript=empty))
    ctx.check()
    transcript = ctx.load(spec).transcribe(clip.samples, offset_s=clip.start_s)
    result = SpeechResult(has_audio=True, span=span, transcript=transcript)
    if not transcript.segments:
        return ToolOutput(observation=f"No speech heard in {where} (there is sound, but no words were recognised).",
                          data=result)
    lines, used = [], 0
    for s in transcript.segments:
        line = f'[{s.start_s:.2f}-{s.end_s:.2f} s] "{s.text}"'
        if used + len(line) > MAX_OBSERVATION_CHARS:
            lines.append(f"... and {len(transcript.segments) - len(lines)} more segments")
            break
        lines.append(line)
        used += len(line)
    header = (f"Speech in {where} (language {transcript.language}, p={transcript.language_probability:.2f}), "
              f"{len(transcript.segments)} segments: ")
    evidence = [Evidence(time_s=s.start_s, note=f'said "{s.text[:80]}"') for s in transcript.segments[:20]]
    return ToolOutput(observation=header + " ".join(lines), data=result, evidence=evidence)


@backend(TRANSCRIBE_SPEECH, name="whisper-base", profiles=("lite",), timeout_s=600, priority=1,
         limits="Whisper base on the CPU: about 0.4 s of compute per second of audio; speech in noise or music "
                "may be missed or misheard.")
def transcribe_base(args: TranscribeSpeechArgs, ctx: ToolContext) -> ToolOutput[SpeechResult]:
    return transcribe(args, ctx, WHISPER_BASE_SPEC)


@backend(TRANSCRIBE_SPEECH, name="whisper-tiny-en", profiles=("lite",), timeout_s=600,
         limits="Whisper tiny.en on the CPU: English only, fast, more word errors than larger models.")
def transcribe_tiny_en(args: TranscribeSpeechArgs, ctx: ToolContext) -> ToolOutput[SpeechResult]:
    return transcribe(args, ctx, WHISPER_TINY_EN_SPEC)
