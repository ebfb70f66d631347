"""The ``recognize_action`` tool over trained recognisers named in config.

``[recognizers] my_actions = "path/to/ckpt"`` (or ``[tools] recognizers = {...}``) makes
:func:`recognizer_backend` build one backend, ``checkpoints``, over every named checkpoint. Its
description lists each recogniser's labels (read from the checkpoints' cards when the toolset is
built; no model loads then), so the planner knows what it can ask. A call scores sliding
windows (the recogniser's training clip length, half-overlapping) over the span; results are
cached like every tool's, under a version that changes with the checkpoints' weights.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from tools.capabilities import RECOGNIZE_ACTION, RecognitionResult, RecognizeActionArgs, WindowScores
from tools.context import ToolContext
from tools.errors import ConfigError, ToolRetry
from tools.model_loading import ModelSpec, Weights
from tools.recognition.checkpoint import WEIGHTS, CheckpointError, RecognizerCard, read_card
from tools.types import Evidence, ToolOutput

#: Most windows one call scores (longer spans get a longer stride).
MAX_WINDOWS = 60


def _spec(name: str, path: Path, card: RecognizerCard) -> ModelSpec:
    from tools.recognition.recognizer import Recognizer

    extra = "lite" if card.backbone.startswith("lite:") else "full"
    return ModelSpec(name=f"recognizer:{name}", build=lambda weights, device: Recognizer.load(weights.ref, device),
                     extra=extra, weights=Weights.path(path), devices=("cpu", "cuda"))


def recognizer_backend(checkpoints: dict[str, str]):
    """The ``recognize_action`` ToolBackend over ``checkpoints`` (name -> checkpoint folder).

    Raises ConfigError (one line) for a missing or unreadable checkpoint."""
    from tools.registry import ToolBackend

    cards: dict[str, tuple[Path, RecognizerCard]] = {}
    digest = hashlib.sha256()
    for name, ref in checkpoints.items():
        path = Path(ref).expanduser()
        try:
            card = read_card(path)
        except CheckpointError as exc:
            raise ConfigError(f"[recognizers] {name}: {exc}") from None
        if not (path / WEIGHTS).is_file():
            raise ConfigError(f"[recognizers] {name}: {path} has no {WEIGHTS} yet")
        cards[name] = (path, card)
        stat = (path / WEIGHTS).stat()
        digest.update(f"{name}|{card.model_dump_json()}|{stat.st_size}|{stat.st_mtime_ns}".encode())
    specs = {name: _spec(name, path, card) for name, (path, card) in cards.items()}

    def recognize_action(args: RecognizeActionArgs, ctx: ToolContext) -> ToolOutput[RecognitionResult]:
        name = _choose(args, cards)
        path, card = cards[name]
        asked = args.labels or card.labels
        recognizer = ctx.load(specs[name])
        span = ctx.span_or_all(args.span)
        from tools.recognition.data import frame_indices
        from tools.recognition.recognizer import sliding_windows

        window = min(card.clip_seconds, span.duration_s) or span.duration_s
        stride = max(window / 2, span.duration_s / MAX_WINDOWS)
        windows = sliding_windows(span, window, stride)
        size = (card.input_size, card.input_size)
        scored = []
        for w in windows:
            ctx.check()
            candidates = ctx.video.indices_in(w)
            picks = [candidates[int(i)] for i in frame_indices(len(candidates), card.frames)]
            clip = np.stack([f.image for f in ctx.frames_by_index(picks, size=size)])
            with ctx.on_device():
                probs = recognizer.probabilities(clip[None])[0]
            ctx.count_model_frames(specs[name].name, len(picks))
            scored.append(WindowScores(start_s=round(w.start_s, 3), end_s=round(w.end_s, 3),
                                       scores={label: round(float(probs[card.labels.index(label)]), 4) for label in asked}))
        lines, evidence = [], []
        for w in scored:
            best = max(w.scores, key=w.scores.get)
            lines.append(f"{w.start_s:.2f}-{w.end_s:.2f} s: {best} {w.scores[best]:.2f}")
            mid = (w.start_s + w.end_s) / 2
            evidence.append(Evidence(time_s=mid, frame_index=ctx.frame_index_at(mid), note=f"{best} {w.scores[best]:.2f}"))
        totals = {label: float(np.mean([w.scores[label] for w in scored])) for label in asked}
        overall = max(totals, key=totals.get)
        header = (f"recogniser {name} scored {len(asked)} labels in {len(scored)} windows of {window:.2f} s over "
                  f"{span.start_s:.2f}-{span.end_s:.2f} s; highest mean: {overall} {totals[overall]:.2f}. Per window: ")
        return ToolOutput(observation=header + "; ".join(lines), evidence=evidence,
                          data=RecognitionResult(recognizer=name, labels=list(asked), windows=scored))

    listing = "; ".join(f"{name}: {', '.join(card.labels)}" for name, (_, card) in cards.items())
    return ToolBackend(capability=RECOGNIZE_ACTION, fn=recognize_action, backend="checkpoints",
                       version=f"1+{digest.hexdigest()[:16]}", limits=f"Recognisers and their labels: {listing}.",
                       timeout_s=600)


def _choose(args: RecognizeActionArgs, cards: dict[str, tuple[Path, RecognizerCard]]) -> str:
    """The recogniser a call asks for; ToolRetry (with the choices) when it names an unknown one or
    labels no recogniser knows."""
    if args.recognizer is not None:
        if args.recognizer not in cards:
            raise ToolRetry(f"no recogniser {args.recognizer!r}; have: {', '.join(cards)}")
        name = args.recognizer
        unknown = [l for l in args.labels or [] if l not in cards[name][1].labels]
        if unknown:
            raise ToolRetry(f"recogniser {name} has no label {', '.join(unknown)}; its labels: "
                            f"{', '.join(cards[name][1].labels)}")
        return name
    for name, (_, card) in cards.items():
        if all(l in card.labels for l in args.labels or []):
            return name
    known = "; ".join(f"{n}: {', '.join(c.labels)}" for n, (_, c) in cards.items())
    raise ToolRetry(f"no recogniser knows all of {', '.join(args.labels or [])}; labels it can score: {known}")
