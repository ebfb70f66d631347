"""SSD-MobileNet-v2 COCO object detector (TF detection zoo graph) run by OpenCV's dnn module.

The graph ends in OpenCV's ``DetectionOutput`` layer, which already applies per-class
non-maximum suppression (IoU 0.6, keep top 100 per image), but on boxes that may reach past
the image. Clipping them to the image can push two boxes of one class above 0.6 again (seen
on the astronaut photo), so the same per-class NMS is repeated on the clipped boxes.

>>> det = SsdDetector()                                             # doctest: +SKIP
>>> [found] = det.detect([image_rgb], min_confidence=0.5)            # doctest: +SKIP
>>> found.labels, found.xyxy                                         # doctest: +SKIP
(array(['person'], dtype='<U6'), array([[10., 10., 370., 510.]], dtype=float32))
"""

from __future__ import annotations

import os
import threading
from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from tools.errors import require
from tools.backends.lite.models import check_rgb_images, asset_copy, lite_model
from tools.backends.lite.models.assets import LITE_EXTRA, load_failed, model_file
from tools.backends.lite.models.coco_labels import COCO_LABELS

if TYPE_CHECKING:
    from tools.detections import Detections

MODEL = "ssd_mobilenet_v2_coco"
INPUT_SIZE = 300
"""The graph's input is 300x300; every image is resized to it (aspect ratio not kept)."""
NMS_IOU = 0.6
"""Same-class boxes overlapping more than this are duplicates (the graph's own setting)."""


class ImageDetections(NamedTuple):
    """Objects found in one image (n = number of boxes), best score first.

    xyxy: (n, 4) float32, x1 y1 x2 y2 in pixels of the source image, clipped to it.
    scores: (n,) float32 in [0, 1].
    labels: (n,) str, COCO class names (see ``coco_labels``).
    """

    xyxy: np.ndarray
    scores: np.ndarray
    labels: np.ndarray

    def to_detections(self, frame_index: int, time_s: float) -> Detections:
        """These boxes as ``tools.detections.Detections`` of one video frame."""
        from tools.detections import Detections

        n = len(self.xyxy)
        return Detections(self.xyxy, self.scores, self.labels, np.full(n, frame_index), np.full(n, time_s))


class SsdDetector:
    """Closed-set detector for the 80 COCO classes; loads on first use; thread-safe.

    ``graph_path`` / ``config_path`` replace the packaged .pb / .pbtxt (copies of the
    same files; they are checked against the same size and hash). ``batch_size`` images go
    through the network in one forward pass; 1 is the default because batching made it
    slower per image on 2 CPU cores (89 ms at 1, 101 ms at 2, 130 ms at 4).
    """

    def __init__(
        self,
        graph_path: str | os.PathLike | None = None,
        config_path: str | os.PathLike | None = None,
        batch_size: int = 1,
    ):
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        self.graph_path = graph_path
        self.config_path = config_path
        self.batch_size = batch_size
        self._net = None
        # cv2.dnn.Net keeps its input and output blobs inside the object: one caller at a time.
        self._lock = threading.Lock()

    def load(self) -> None:
        """Verify the model files and build the network (done once; later calls return at once)."""
        with self._lock:
            self._load_locked()

    def _load_locked(self) -> None:
        if self._net is not None:
            return
        cv2 = require("cv2", LITE_EXTRA, "opencv-python-headless")
        graph = model_file(MODEL, "graph", self.graph_path)
        config = model_file(MODEL, "config", self.config_path)
        try:
            net = cv2.dnn.readNetFromTensorflow(str(graph), str(config))
        except cv2.error as exc:
            raise load_failed(MODEL, graph, exc) from exc
        if net.empty():
            raise load_failed(MODEL, graph, RuntimeError("OpenCV returned an empty network"))
        self._net = net

    def detect(
        self,
        images: Sequence[np.ndarray],
        min_confidence: float = 0.3,
        classes: Collection[str] | None = None,
    ) -> list[ImageDetections]:
        """Detect objects in each image.

        images: (H, W, 3) uint8 RGB arrays; sizes may differ.
        min_confidence: drop boxes scoring below this (the graph itself keeps >= 0.01).
        classes: keep only these COCO names (None keeps all).
        Returns one ``ImageDetections`` per image, in order.
        """
        check_rgb_images(images)
        if not 0.0 <= min_confidence <= 1.0:
            raise ValueError(f"min_confidence must lie in [0, 1], got {min_confidence}")
        cv2 = require("cv2", LITE_EXTRA, "opencv-python-headless")
        wanted = None if classes is None else set(classes)
        out: list[ImageDetections] = []
        with self._lock:
            self._load_locked()
            for start in range(0, len(images), self.batch_size):
                batch = list(images[start : start + self.batch_size])
                # Images are already RGB, the order the TF graph was trained on: no swapRB.
                blob = cv2.dnn.blobFromImages(batch, size=(INPUT_SIZE, INPUT_SIZE), swapRB=False, crop=False)
                self._net.setInput(blob)
                raw = self._net.forward()  # (1, 1, N, 7): image_id, class_id, score, x1, y1, x2, y2 (0..1)
                rows = raw.reshape(-1, 7)
                for k, image in enumerate(batch):
                    out.append(_decode(rows[rows[:, 0] == k], image.shape, min_confidence, wanted))
        return out


def _decode(
    rows: np.ndarray, shape: tuple[int, ...], min_confidence: float, wanted: set[str] | None
) -> ImageDetections:
    """Rows (k, 7) of one image from the graph -> boxes in source pixels, best first."""
    h, w = shape[:2]
    keep_rows, labels = [], []
    for row in rows[np.argsort(-rows[:, 2], kind="stable")]:
        label = COCO_LABELS.get(int(row[1]))
        if label is None or row[2] < min_confidence or (wanted is not None and label not in wanted):
            continue
        keep_rows.append(row)
        labels.append(label)
    if not keep_rows:
        return ImageDetections(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.array([], dtype=str))
    kept = np.stack(keep_rows)
    xyxy = kept[:, 3:7] * np.array([w, h, w, h], dtype=np.float32)
    xyxy = np.clip(xyxy, 0, [w, h, w, h]).astype(np.float32)
    labels_arr = np.array(labels)
    keep = (xyxy[:, 2] > xyxy[:, 0]) & (xyxy[:, 3] > xyxy[:, 1])
    keep &= _per_class_nms(xyxy, labels_arr, NMS_IOU)
    return ImageDetections(xyxy[keep], kept[keep, 2].astype(np.float32), labels_arr[keep])


def _per_class_nms(xyxy: np.ndarray, labels: np.ndarray, iou: float) -> np.ndarray:
    """(n,) bool: boxes to keep; rows must be sorted by score, best first."""
    keep = np.ones(len(xyxy), dtype=bool)
    area = (xyxy[:, 2] - xyxy[:, 0]) * (xyxy[:, 3] - xyxy[:, 1])
    for i in range(len(xyxy)):
        if not keep[i]:
            continue
        later = np.arange(i + 1, len(xyxy))
        later = later[keep[later] & (labels[later] == labels[i])]
        if not len(later):
            continue
        iw = np.clip(np.minimum(xyxy[i, 2], xyxy[later, 2]) - np.maximum(xyxy[i, 0], xyxy[later, 0]), 0, None)
        ih = np.clip(np.minimum(xyxy[i, 3], xyxy[later, 3]) - np.maximum(xyxy[i, 1], xyxy[later, 1]), 0, None)
        inter = iw * ih
        overlap = inter / np.maximum(area[i] + area[later] - inter, 1e-9)
        keep[later[overlap > iou]] = False
    return keep


SSD_DETECTOR = lite_model(
    "ssd-mobilenet-v2-coco", "ssd_mobilenet_v2_coco",
    lambda folder: SsdDetector(asset_copy("ssd_mobilenet_v2_coco", "graph", folder),
                               asset_copy("ssd_mobilenet_v2_coco", "config", folder)),
)
