"""Frames as JPEG with evidence boxes drawn on them (Pillow), from a small pool of open readers."""

from __future__ import annotations

import io
import threading
from collections import OrderedDict
from dataclasses import dataclass

from tools.video import VideoReader

BOX_RGB = (255, 0, 255)  # magenta: rare in footage, so a drawn box is easy to see and to find
LABEL_RGB = (255, 255, 255)


@dataclass(frozen=True)
class Box:
    """A box to draw: ``xyxy`` in source pixels, ``label`` a short caption ("" for none)."""

    xyxy: tuple[float, float, float, float]
    label: str = ""


def draw_jpeg(image, boxes: list[Box], *, max_side: int | None = None, quality: int = 85) -> bytes:
    """``image`` ((height, width, 3) uint8 RGB) with ``boxes`` outlined, as JPEG bytes.

    The line is about 0.6% of the longer side (at least 2 px) thick; a label (text about 2.5%
    of the longer side high) sits on a filled strip above its box (below it at the top edge). ``max_side`` shrinks the result (pixels).
    """
    from PIL import Image, ImageDraw, ImageFont

    picture = Image.fromarray(image).copy()
    draw = ImageDraw.Draw(picture)
    width = max(2, round(0.006 * max(picture.size)))
    font = ImageFont.load_default(size=max(10, round(0.025 * max(picture.size))))
    for box in boxes:
        x1, y1, x2, y2 = (round(v) for v in box.xyxy)
        draw.rectangle((x1 - width, y1 - width, x2 + width, y2 + width), outline=BOX_RGB, width=width)
        if box.label:
            text = box.label[:40]
            left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
            h = bottom - top + 4
            ty = y1 - width - h if y1 - width - h >= 0 else y2 + width
            draw.rectangle((x1 - width, ty, x1 - width + right - left + 6, ty + h), fill=BOX_RGB)
            draw.text((x1 - width + 3, ty + 2 - top), text, fill=LABEL_RGB, font=font)
    if max_side and max(picture.size) > max_side:
        picture.thumbnail((max_side, max_side))
    buf = io.BytesIO()
    picture.save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


class ReaderPool:
    """Up to ``size`` open VideoReaders by path, least recently used dropped first.

    VideoReader serialises its own decoding, so one reader serves concurrent requests; a
    dropped reader is left to the garbage collector, since a request may still be using it.
    """

    def __init__(self, size: int = 4):
        self.size = size
        self._readers: OrderedDict[str, VideoReader] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, path: str) -> VideoReader:
        with self._lock:
            reader = self._readers.pop(path, None)
            if reader is None:
                reader = VideoReader.open(path, validate=False)
            self._readers[path] = reader
            while len(self._readers) > self.size:
                self._readers.popitem(last=False)
            return reader

    def close(self) -> None:
        with self._lock:
            for reader in self._readers.values():
                reader.close()
            self._readers.clear()
