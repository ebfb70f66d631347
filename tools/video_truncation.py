"""What a container's own size fields say about truncation, read from its chunk headers only.

A download cut short keeps the sizes its header promised: an MP4/MOV top-level box, an AVI RIFF
chunk or a Matroska/WebM segment then reaches past the end of the file. Nothing is decoded.
"""

from __future__ import annotations

import os
from pathlib import Path

ISO_BOX_TYPES = (b"ftyp", b"moov", b"mdat", b"free", b"wide", b"skip")


def container_truncation(path: str | Path) -> str | None:
    """Why the container's own size fields say ``path`` was cut short, else None.

    Reads only the top-level chunk headers of MP4/MOV (ISO boxes), AVI (RIFF) and
    Matroska/WebM (EBML) files; other formats return None."""
    size = os.path.getsize(path)
    with open(path, "rb") as fh:
        head = fh.read(12)
        if head[:4] == b"RIFF":
            return _riff_truncation(fh, size)
        if head[4:8] in ISO_BOX_TYPES:
            return _iso_truncation(fh, size)
        if head[:4] == _EBML_MAGIC:
            return _ebml_truncation(fh, size)
    return None


def _iso_truncation(fh, size: int) -> str | None:
    boxes: list[str] = []
    offset = 0
    while offset + 8 <= size:
        fh.seek(offset)
        head = fh.read(16)
        box_size, box_type = int.from_bytes(head[:4], "big"), head[4:8].decode("latin-1")
        if box_size == 1 and len(head) == 16:
            box_size = int.from_bytes(head[8:16], "big")
        boxes.append(box_type)
        if box_size == 0:
            break  # the last box runs to the end of the file
        if box_size < 8:
            return f"MP4/MOV box '{box_type}' at byte {offset} has an impossible size"
        if offset + box_size > size:
            missing = "" if "moov" in boxes else ", so its 'moov' index is missing"
            return f"the file ends at byte {size}, inside its '{box_type}' box that needs {offset + box_size}{missing}: it was cut short"
        offset += box_size
    if boxes and "moov" not in boxes:
        return "the MP4/MOV file has no 'moov' index: it was probably cut short"
    return None


def _riff_truncation(fh, size: int) -> str | None:
    offset = 0  # AVI files over 1 GB chain several RIFF chunks (AVI, then AVIX)
    while offset + 8 <= size:
        fh.seek(offset)
        head = fh.read(8)
        if head[:4] != b"RIFF":
            break
        end = offset + 8 + int.from_bytes(head[4:8], "little")
        if end > size:
            return f"the file ends at byte {size}, inside a RIFF chunk that needs {end}: it was cut short"
        offset = end + (end & 1)
    return None


def _ebml_truncation(fh, size: int) -> str | None:
    """Matroska: the EBML header is followed by one Segment whose size field covers the rest
    (live recordings write "unknown size", which cannot be checked)."""
    fh.seek(0)
    data = fh.read(64)
    offset = 0
    for expected_id in (_EBML_MAGIC, _MATROSKA_SEGMENT):
        element_id, offset = _read_vint(data, offset, keep_marker=True)
        if element_id is None or element_id.to_bytes(4, "big") != expected_id:
            return None
        body_size, offset = _read_vint(data, offset)
        if body_size is None:
            return "the Matroska header is cut short" if len(data) < 64 else None
        if expected_id == _EBML_MAGIC:
            offset += body_size
            if offset > len(data):
                return None
    if body_size == _UNKNOWN_SIZE:
        return None
    end = offset + body_size
    if end > size:
        return f"the file ends at byte {size}, inside its Matroska segment that needs {end}: it was cut short"
    return None


_EBML_MAGIC = b"\x1a\x45\xdf\xa3"
_MATROSKA_SEGMENT = b"\x18\x53\x80\x67"
_UNKNOWN_SIZE = -1


def _read_vint(data: bytes, offset: int, keep_marker: bool = False) -> tuple[int | None, int]:
    """An EBML variable-length integer at ``offset``: (value, offset after it); value None if
    ``data`` ends first, _UNKNOWN_SIZE for an all-ones size."""
    if offset >= len(data) or data[offset] == 0:
        return None, offset
    length = 8 - data[offset].bit_length() + 1
    if offset + length > len(data):
        return None, offset
    value = int.from_bytes(data[offset : offset + length], "big")
    if keep_marker:
        return value, offset + length
    value &= (1 << (7 * length)) - 1
    return (_UNKNOWN_SIZE if value == (1 << (7 * length)) - 1 else value), offset + length
