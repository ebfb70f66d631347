"""ImageNet-1k classifier: EfficientNet-Lite3, int8-quantised .tflite, run by ai-edge-litert.

Model facts (read from the file and its embedded metadata): input (1, 280, 280, 3) uint8
raw RGB pixels 0-255 (the input quantisation folds the network's normalisation in, so the
pixels go in unchanged); output (1, 1000) uint8 softmax with scale 1/256, zero point 0.
The 1000 outputs follow the packaged ``efficientnet_labels.txt`` one to one: no
background class, no offset.

>>> ImageClassifier().classify([image_rgb], top_k=2)   # doctest: +SKIP
[[Prediction(label='Egyptian cat', score=0.86), Prediction(label='tiger cat', score=0.04)]]
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from tools.errors import require
from tools.backends.lite.models import check_rgb_images, asset_copy, lite_model
from tools.backends.lite.models.assets import LITE_EXTRA, load_failed, model_file

MODEL = "efficientnet_lite3"


class Prediction(NamedTuple):
    """One ImageNet class: ``label`` is the first name of the class, ``score`` its softmax probability."""

    label: str
    score: float


class ImageClassifier:
    """Whole-image ImageNet classifier; loads on first use; thread-safe.

    ``model_path`` / ``labels_path`` replace the packaged files (copies of them, held to
    the same size and hash). ``num_threads``: CPU threads of the interpreter.
    """

    def __init__(
        self,
        model_path: str | os.PathLike | None = None,
        labels_path: str | os.PathLike | None = None,
        num_threads: int | None = None,
    ):
        self.model_path = model_path
        self.labels_path = labels_path
        self.num_threads = num_threads or min(4, os.cpu_count() or 1)
        self._interpreter = None
        self._labels: list[str] = []
        self._synonyms: list[str] = []
        # A tflite Interpreter holds its tensors in the object: one caller at a time.
        self._lock = threading.Lock()

    @property
    def labels(self) -> list[str]:
        """The 1000 class names (first name of each class), in output order."""
        self.load()
        return list(self._labels)

    @property
    def label_synonyms(self) -> list[str]:
        """The 1000 full label lines ("tabby, tabby cat"), in output order."""
        self.load()
        return list(self._synonyms)

    def load(self) -> None:
        """Verify the files and build the interpreter (done once)."""
        with self._lock:
            self._load_locked()

    def _load_locked(self) -> None:
        if self._interpreter is not None:
            return
        interpreter_mod = require("ai_edge_litert.interpreter", LITE_EXTRA, "ai-edge-litert")
        model = model_file(MODEL, "model", self.model_path)
        labels_file = model_file(MODEL, "labels", self.labels_path)
        lines = labels_file.read_text(encoding="utf-8").splitlines()
        try:
            interpreter = interpreter_mod.Interpreter(model_path=str(model), num_threads=self.num_threads)
            interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            raise load_failed(MODEL, model, exc) from exc
        inp = interpreter.get_input_details()[0]
        out = interpreter.get_output_details()[0]
        if inp["dtype"] != np.uint8 or out["dtype"] != np.uint8 or out["shape"][-1] != len(lines):
            raise load_failed(
                MODEL, model, ValueError(f"unexpected tensors {inp['shape']} {inp['dtype']} -> {out['shape']}")
            )
        self._input_index = inp["index"]
        self._input_hw = (int(inp["shape"][1]), int(inp["shape"][2]))
        self._output_index = out["index"]
        self._output_scale, self._output_zero = out["quantization"]
        self._synonyms = lines
        self._labels = [line.split(",")[0].strip() for line in lines]
        self._interpreter = interpreter

    def probabilities(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """(n, 1000) float32 class probabilities (steps of 1/256) of n (H, W, 3) uint8 RGB images.

        Each whole image is resized to 280x280 without keeping its aspect ratio, so nothing
        near the edges of a frame or box crop is cut off.
        """
        check_rgb_images(images)
        cv2 = require("cv2", LITE_EXTRA, "opencv-python-headless")
        with self._lock:
            self._load_locked()
            h, w = self._input_hw
            out = np.empty((len(images), len(self._labels)), np.float32)
            for i, image in enumerate(images):
                x = cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA)
                self._interpreter.set_tensor(self._input_index, x[None])
                self._interpreter.invoke()
                q = self._interpreter.get_tensor(self._output_index)[0]
                out[i] = (q.astype(np.float32) - self._output_zero) * self._output_scale
        return out

    def classify(self, images: Sequence[np.ndarray], top_k: int = 5) -> list[list[Prediction]]:
        """The ``top_k`` most probable ImageNet classes of each image, best first."""
        if top_k < 1:
            raise ValueError("top_k must be >= 1")
        probs = self.probabilities(images)
        labels = self._labels
        result = []
        for p in probs:
            top = np.argsort(-p, kind="stable")[:top_k]
            result.append([Prediction(labels[j], float(p[j])) for j in top])
        return result


IMAGE_CLASSIFIER = lite_model(
    "efficientnet-lite3", "efficientnet_lite3",
    lambda folder: ImageClassifier(asset_copy("efficientnet_lite3", "model", folder),
                                   asset_copy("efficientnet_lite3", "labels", folder)),
)
