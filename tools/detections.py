"""Detections: one numpy array per field, one row per box.

>>> d = Detections(xyxy=[[0, 0, 10, 20]], confidence=[0.9], label=["person"], frame_index=[3], time_s=[0.12])
>>> len(d), d.label[0]
(1, 'person')
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np


def _as(a, dtype, name: str, ndim: int) -> np.ndarray:
    arr = np.asarray(a, dtype=dtype)
    if arr.size == 0 and ndim == 2:
        arr = arr.reshape(0, 4)
    if arr.ndim != ndim:
        raise ValueError(f"Detections.{name} must have {ndim} dimensions, got shape {arr.shape}")
    return arr


@dataclass(frozen=True, eq=False)
class Detections:
    """Boxes found in video frames.

    Attributes (n = number of boxes):
        xyxy: (n, 4) float32, x1 y1 x2 y2 in source pixels.
        confidence: (n,) float32 in [0, 1].
        label: (n,) str, class or phrase.
        frame_index: (n,) int64, index of the frame in the video.
        time_s: (n,) float64, presentation time of that frame in seconds.
        track_id: (n,) int64 or None; -1 where a box has no track.
        mask: (n, H, W) bool or None.
    """

    xyxy: np.ndarray
    confidence: np.ndarray
    label: np.ndarray
    frame_index: np.ndarray
    time_s: np.ndarray
    track_id: np.ndarray | None = None
    mask: np.ndarray | None = None
    data: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        set_ = object.__setattr__
        set_(self, "xyxy", _as(self.xyxy, np.float32, "xyxy", 2))
        n = len(self.xyxy)
        if self.xyxy.shape[1] != 4:
            raise ValueError(f"Detections.xyxy must be (n, 4), got {self.xyxy.shape}")
        set_(self, "confidence", _as(self.confidence, np.float32, "confidence", 1))
        set_(self, "label", _as(self.label, np.str_, "label", 1))
        set_(self, "frame_index", _as(self.frame_index, np.int64, "frame_index", 1))
        set_(self, "time_s", _as(self.time_s, np.float64, "time_s", 1))
        if self.track_id is not None:
            set_(self, "track_id", _as(self.track_id, np.int64, "track_id", 1))
        if self.mask is not None:
            set_(self, "mask", _as(self.mask, bool, "mask", 3))
        for name in ("confidence", "label", "frame_index", "time_s", "track_id", "mask"):
            arr = getattr(self, name)
            if arr is not None and len(arr) != n:
                raise ValueError(f"Detections.{name} has {len(arr)} rows but xyxy has {n}")
        if n and (np.any(self.xyxy[:, 2] < self.xyxy[:, 0]) or np.any(self.xyxy[:, 3] < self.xyxy[:, 1])):
            raise ValueError("Detections.xyxy rows must satisfy x1 <= x2 and y1 <= y2")
        if n and (np.any(self.confidence < 0) or np.any(self.confidence > 1)):
            raise ValueError("Detections.confidence must lie in [0, 1]")
        for key, value in self.data.items():
            if len(value) != n:
                raise ValueError(f"Detections.data[{key!r}] has {len(value)} rows but xyxy has {n}")

    @classmethod
    def empty(cls) -> "Detections":
        return cls(np.zeros((0, 4)), [], [], [], [])

    def __len__(self) -> int:
        return len(self.xyxy)

    def __getitem__(self, index) -> "Detections":
        """Rows selected by a boolean mask, an index array or a slice."""
        if isinstance(index, (int, np.integer)):
            index = [int(index)]
        pick = lambda a: None if a is None else a[index]  # noqa: E731
        return Detections(
            xyxy=self.xyxy[index],
            confidence=self.confidence[index],
            label=self.label[index],
            frame_index=self.frame_index[index],
            time_s=self.time_s[index],
            track_id=pick(self.track_id),
            mask=pick(self.mask),
            data={k: np.asarray(v)[index] for k, v in self.data.items()},
        )

    def __eq__(self, other) -> bool:
        if not isinstance(other, Detections):
            return NotImplemented
        for f in fields(self):
            a, b = getattr(self, f.name), getattr(other, f.name)
            if f.name == "data":
                if a.keys() != b.keys() or not all(np.array_equal(a[k], b[k]) for k in a):
                    return False
            elif (a is None) != (b is None) or (a is not None and not np.array_equal(a, b)):
                return False
        return True

    @classmethod
    def merge(cls, parts: list["Detections"]) -> "Detections":
        parts = [p for p in parts if len(p)]
        if not parts:
            return cls.empty()
        cat = lambda name: (  # noqa: E731
            None if any(getattr(p, name) is None for p in parts) else np.concatenate([getattr(p, name) for p in parts])
        )
        keys = set.intersection(*(set(p.data) for p in parts))
        return cls(
            xyxy=cat("xyxy"),
            confidence=cat("confidence"),
            label=cat("label"),
            frame_index=cat("frame_index"),
            time_s=cat("time_s"),
            track_id=cat("track_id"),
            mask=cat("mask"),
            data={k: np.concatenate([np.asarray(p.data[k]) for p in parts]) for k in keys},
        )

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Plain arrays, for storage (``from_arrays`` reverses it)."""
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "data"}
        out = {k: v for k, v in out.items() if v is not None}
        out.update({f"data.{k}": np.asarray(v) for k, v in self.data.items()})
        return out

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> "Detections":
        data = {k[5:]: v for k, v in arrays.items() if k.startswith("data.")}
        plain = {k: v for k, v in arrays.items() if not k.startswith("data.")}
        return cls(**plain, data=data)

    def to_supervision(self):
        """Convert to ``supervision.Detections`` (labels go to ``data['class_name']``)."""
        from tools.errors import require

        sv = require("supervision", "dev", "supervision")
        names = sorted(set(self.label.tolist()))
        class_id = np.array([names.index(x) for x in self.label], dtype=int)
        data = {"class_name": self.label, "frame_index": self.frame_index, "time_s": self.time_s}
        data.update({k: np.asarray(v) for k, v in self.data.items()})
        return sv.Detections(
            xyxy=self.xyxy.astype(np.float32),
            confidence=self.confidence,
            class_id=class_id,
            tracker_id=self.track_id,
            mask=self.mask,
            data=data,
        )

    @classmethod
    def from_supervision(cls, det, frame_index: int | None = None, time_s: float | None = None) -> "Detections":
        """Build from a ``supervision.Detections`` without importing supervision.

        Labels come from ``data['class_name']`` or else the class id as text; frame index
        and time from ``data`` or else the given scalars.
        """
        n = len(det.xyxy)
        data = dict(getattr(det, "data", {}) or {})
        if "class_name" in data:
            label = np.asarray(data.pop("class_name")).astype(str)
        elif det.class_id is not None:
            label = np.asarray(det.class_id).astype(str)
        else:
            label = np.full(n, "object")
        fi = data.pop("frame_index", None)
        ts = data.pop("time_s", None)
        if fi is None:
            if frame_index is None:
                raise ValueError("frame_index is needed when det.data has no 'frame_index'")
            fi = np.full(n, frame_index)
        if ts is None:
            if time_s is None:
                raise ValueError("time_s is needed when det.data has no 'time_s'")
            ts = np.full(n, time_s)
        conf = det.confidence if det.confidence is not None else np.ones(n)
        return cls(
            xyxy=det.xyxy,
            confidence=conf,
            label=label,
            frame_index=fi,
            time_s=ts,
            track_id=det.tracker_id,
            mask=det.mask,
            data=data,
        )
