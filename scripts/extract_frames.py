#!/usr/bin/env python
"""Dump frames of a video as PNG files or labelled contact sheets, for looking at footage.

Used to check the answers of the ``smoke`` suite (``evals/data/smoke.json``) by eye.
Each tile of a contact sheet is stamped with its frame index and presentation time.

    python scripts/extract_frames.py VIDEO --every 0.5 --out /tmp/frames            # one sheet
    python scripts/extract_frames.py VIDEO --start 2.8 --end 3.2 --every 0 --out /tmp/cut  # every frame
    python scripts/extract_frames.py VIDEO --times 1.2,5.5 --frames --out /tmp/f    # single PNGs

Write the PNGs outside the repository (e.g. under /tmp).
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Iterator, Sequence
from pathlib import Path

import av
from PIL import Image, ImageDraw


def iter_frames(
    path: str | Path,
    every: float = 0.5,
    start: float = 0.0,
    end: float | None = None,
    times: Sequence[float] | None = None,
) -> Iterator[tuple[int, float, Image.Image]]:
    """``(index, seconds, image)`` for the frames to show, decoding the whole stream in order.

    Times are seconds from the first frame, as ``tools.video.VideoReader`` counts them (an
    MPEG-PS file's first frame may carry a non-zero presentation time).

    With ``times``, the first frame at or after each time; else every frame in
    ``[start, end]`` spaced at least ``every`` seconds apart (``every=0``: all of them).
    """
    wanted = sorted(times) if times else None
    next_t = start
    first: float | None = None
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        for index, frame in enumerate(container.decode(stream)):
            t = float(frame.time) if frame.time is not None else index / float(stream.average_rate or 25)
            if first is None:
                first = t
            t -= first
            if wanted is not None:
                if wanted and t + 1e-6 >= wanted[0]:
                    while wanted and t + 1e-6 >= wanted[0]:
                        wanted.pop(0)
                    yield index, t, frame.to_image()
                if not wanted:
                    return
                continue
            if t + 1e-6 < start:
                continue
            if end is not None and t > end + 1e-6:
                return
            if t + 1e-6 >= next_t:
                yield index, t, frame.to_image()
                next_t = t + every if every > 0 else t


def contact_sheet(tiles: Sequence[tuple[int, float, Image.Image]], cols: int = 4, width: int = 320) -> Image.Image:
    """A grid of the frames, each scaled to ``width`` pixels and labelled ``#index t=…s``."""
    if not tiles:
        raise ValueError("no frames to put on a sheet")
    first = tiles[0][2]
    height = max(1, round(first.height * width / first.width))
    label_h = 14
    rows = math.ceil(len(tiles) / cols)
    sheet = Image.new("RGB", (cols * width, rows * (height + label_h)), "white")
    draw = ImageDraw.Draw(sheet)
    for k, (index, t, image) in enumerate(tiles):
        x, y = (k % cols) * width, (k // cols) * (height + label_h)
        sheet.paste(image.convert("RGB").resize((width, height)), (x, y + label_h))
        draw.text((x + 3, y + 1), f"#{index}  t={t:.2f}s", fill="black")
    return sheet


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("video")
    parser.add_argument("--out", required=True, help="output folder (outside the repo)")
    parser.add_argument("--every", type=float, default=0.5, help="seconds between frames; 0 = every frame")
    parser.add_argument("--start", type=float, default=0.0)
    parser.add_argument("--end", type=float, default=None)
    parser.add_argument("--times", default=None, help="comma-separated times in seconds instead of --every")
    parser.add_argument("--frames", action="store_true", help="write each frame as its own PNG, full size")
    parser.add_argument("--cols", type=int, default=4)
    parser.add_argument("--width", type=int, default=320, help="tile width in a contact sheet")
    parser.add_argument("--per-sheet", type=int, default=24, help="tiles per contact sheet")
    args = parser.parse_args(argv)

    times = [float(t) for t in args.times.split(",")] if args.times else None
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = Path(args.video).stem
    tiles = list(iter_frames(args.video, args.every, args.start, args.end, times))
    if args.frames:
        for index, t, image in tiles:
            path = out / f"{stem}_{index:05d}_{t:07.3f}s.png"
            image.save(path)
            print(path)
        return 0
    for n, k in enumerate(range(0, len(tiles), args.per_sheet)):
        path = out / f"{stem}_sheet{n:02d}.png"
        contact_sheet(tiles[k : k + args.per_sheet], cols=args.cols, width=args.width).save(path)
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
