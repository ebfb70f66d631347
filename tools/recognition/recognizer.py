"""A trained recogniser loaded from its checkpoint folder, scoring clips and spans of a video."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tools.recognition.checkpoint import WEIGHTS, CheckpointError, RecognizerCard, load_state, read_card
from tools.types import TimeSpan


class Recognizer:
    """A checkpoint's backbone, method and labels, ready to score clips (CPU or GPU).

    >>> rec = Recognizer.load("runs/pans")                       # doctest: +SKIP
    >>> rec.probabilities(clips)    # (B, T, S, S, 3) uint8 -> (B, n_labels) float32
    """

    def __init__(self, path: Path, card: RecognizerCard, backbone, model, method, device: str = "cpu"):
        self.path, self.card, self.backbone, self.model, self.method, self.device = path, card, backbone, model, method, device

    @property
    def labels(self) -> list[str]:
        return list(self.card.labels)

    @classmethod
    def load(cls, path: str | Path, device: str = "cpu") -> "Recognizer":
        """Rebuild the recogniser saved in ``path``. Raises CheckpointError (one line) when the
        folder is not a checkpoint or its weights do not fit its card."""
        import torch

        from tools.recognition.backbones import load_backbone
        from tools.recognition.methods import build_model, parse_method

        path = Path(path).expanduser()
        card = read_card(path)
        if not (path / WEIGHTS).is_file():
            raise CheckpointError(f"{path}: no {WEIGHTS} (training stopped before its first epoch finished)")
        backbone = load_backbone(card.backbone)
        method = parse_method(card.method)
        model = build_model(backbone, method, len(card.labels))
        load_state(model, torch.load(path / WEIGHTS, map_location="cpu", weights_only=True), str(path / WEIGHTS))
        model.to(device).eval()
        return cls(path, card, backbone, model, method, device)

    def probabilities(self, clips: np.ndarray) -> np.ndarray:
        """(B, n_labels) float32 probabilities of (B, T, S, S, 3) uint8 clips (T = ``card.frames``,
        S = ``card.input_size``)."""
        import torch

        b, t = clips.shape[:2]
        frames = clips.reshape(b * t, *clips.shape[2:])
        with torch.inference_mode():
            if self.method.frozen_features:
                feats = (self.backbone.layer_features(frames) if self.method.kind == "side"
                         else self.backbone.features(frames))
                x = torch.from_numpy(feats).reshape(b, t, *feats.shape[1:]).to(self.device)
                logits = self.model.head(x)
            else:
                x = self.backbone.to_tensor(frames).reshape(b, t, 3, *frames.shape[1:3]).to(self.device)
                logits = self.model(x)
        return torch.softmax(logits.float(), dim=1).cpu().numpy()


def sliding_windows(span: TimeSpan, window_s: float, stride_s: float | None = None) -> list[TimeSpan]:
    """Windows of ``window_s`` seconds every ``stride_s`` (default half a window) covering
    ``span``, the last one ending at the span's end; one window when the span is shorter."""
    if window_s <= 0:
        raise ValueError("window_s must be positive")
    stride = stride_s or window_s / 2
    if span.duration_s <= window_s:
        return [span]
    starts = list(np.arange(span.start_s, span.end_s - window_s + 1e-9, stride))
    if starts[-1] + window_s < span.end_s - 1e-6:
        starts.append(span.end_s - window_s)
    return [TimeSpan(start_s=float(s), end_s=float(s + window_s)) for s in starts]
