"""open_clip image-text models: unit-length image and text embeddings whose dot product scores
how well a frame matches a text.

Weights (``[tools] weights = { "open-clip" = ... }``):
- a folder in open_clip's hub layout, local or a hub id (``laion/CLIP-ViT-B-32-laion2B-s34B-b79K``):
  ``open_clip_config.json`` (``model_cfg``, ``preprocess_cfg``) beside ``open_clip_model.safetensors``
  (or ``open_clip_pytorch_model.bin``), which is also how a fine-tuned model is saved;
- ``ARCH:TAG``, an architecture registered in open_clip with one of its pretrained tags
  (``ViT-B-32:laion2b_s34b_b79k``), downloaded by open_clip into its own cache.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from tools.model_loading import ModelNotFoundError, ModelSpec, Weights, config_hint, local_checkpoint, module_bytes

MODEL_NAME = "open-clip"
#: Weight files open_clip looks for in a checkpoint folder, in its order of preference.
WEIGHT_FILES = ("open_clip_model.safetensors", "open_clip_pytorch_model.safetensors", "open_clip_pytorch_model.bin",
                "open_clip_pytorch_model.pth")


class ClipModel:
    """A loaded open_clip model with its image transform and tokenizer."""

    def __init__(self, model: Any, preprocess: Any, tokenizer: Any, device: str, dtype: str):
        self.model, self.preprocess, self.tokenizer = model, preprocess, tokenizer
        self.device, self.dtype = device, dtype

    @property
    def nbytes(self) -> int:
        return module_bytes(self.model)

    def embed_images(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """(n, d) float32 unit vectors of (H, W, 3) uint8 RGB images."""
        import torch
        from PIL import Image

        batch = torch.stack([self.preprocess(Image.fromarray(np.ascontiguousarray(im))) for im in images])
        with torch.inference_mode():
            out = self.model.encode_image(batch.to(self.device, getattr(torch, self.dtype)))
        return _unit(out.float().cpu().numpy())

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        """(n, d) float32 unit vectors of texts."""
        import torch

        tokens = self.tokenizer(list(texts)).to(self.device)
        with torch.inference_mode():
            out = self.model.encode_text(tokens)
        return _unit(out.float().cpu().numpy())


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)).astype(np.float32)


def model_id(weights: Weights) -> tuple[str, str | None]:
    """(open_clip model name, pretrained tag) for ``weights``: ``local-dir:FOLDER`` for a folder
    (a local path or a hub snapshot), or (ARCH, TAG) for ``ARCH:TAG``."""
    if weights.source == "hub" and "/" not in weights.ref and ":" in weights.ref:
        arch, _, tag = weights.ref.partition(":")
        return arch, tag
    folder = local_checkpoint(MODEL_NAME, weights)
    if not (folder / "open_clip_config.json").is_file():
        raise ModelNotFoundError(f"model {MODEL_NAME}: {folder} has no open_clip_config.json; {config_hint(MODEL_NAME)}")
    if not any((folder / name).is_file() for name in WEIGHT_FILES):
        raise ModelNotFoundError(
            f"model {MODEL_NAME}: {folder} has no weights file ({', '.join(WEIGHT_FILES[:2])}, ...); {config_hint(MODEL_NAME)}")
    return f"local-dir:{Path(folder).resolve()}", None


def load_clip(weights: Weights, device: str, dtype: str) -> ClipModel:
    import open_clip
    import torch

    name, tag = model_id(weights)
    try:
        model, _, preprocess = open_clip.create_model_and_transforms(name, pretrained=tag, device=device)
        tokenizer = open_clip.get_tokenizer(name)
    except RuntimeError as exc:
        if tag is None:
            raise
        raise ModelNotFoundError(f"model {MODEL_NAME}: could not fetch {name} weights {tag!r} ({exc}); "
                                 f"{config_hint(MODEL_NAME)}") from exc
    model = model.to(device=device, dtype=getattr(torch, dtype)).eval()
    return ClipModel(model, preprocess, tokenizer, device, dtype)


OPEN_CLIP: ModelSpec[ClipModel] = ModelSpec(
    name=MODEL_NAME,
    build=load_clip,
    extra="full",
    weights=Weights.hub("laion/CLIP-ViT-B-32-laion2B-s34B-b79K"),
    devices=("cpu", "cuda"),
    precisions=("float32", "float16", "bfloat16"),
    batch_size=32,
    memory_bytes=600 * 2**20,
)
