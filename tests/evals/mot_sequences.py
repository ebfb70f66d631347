"""MOTChallenge sequences rendered for tests, with known tracks, and a simple real tracker.

``render_sequence`` writes ``<root>/<name>/`` in the MOTChallenge layout: ``seqinfo.ini``,
``gt/gt.txt`` (the exact box of every object in every frame it is visible) and the frames as
one video file ``<name>.mp4`` or as numbered JPEG images in ``img1/``. Each ``Mover`` pastes an image patch (a flat colour, or a real
photo crop) that slides linearly between two positions over a range of frames.

``register_blob_tracker`` registers ``track_objects`` backend ``test-colour-blobs``: it finds
saturated blobs in every frame at the requested rate (connected components of the
saturation mask, scipy) and links them frame to frame by box overlap. It is a real tracker,
simple enough that its output on these sequences is known.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from evals.mot import MotRow, write_mot_file
from tests.videos import make_video
from tools.capabilities import TRACK_OBJECTS, Track, TrackObjectsArgs, TracksResult
from tools.context import ToolContext
from tools.detections import Detections
from tools.registry import backend
from tools.types import ToolOutput

BLOB_BACKEND = "test-colour-blobs"
BACKGROUND_RGB = (118, 118, 118)


@dataclass(frozen=True)
class Mover:
    """One object: ``patch`` ((h, w, 3) uint8) slides from ``start_xy`` to ``end_xy`` (top-left
    corner, pixels) over frames ``first``..``last`` (0-based, inclusive) and is absent otherwise."""

    track_id: int
    patch: np.ndarray
    first: int
    last: int
    start_xy: tuple[float, float]
    end_xy: tuple[float, float]

    def box_at(self, index: int) -> tuple[int, int, int, int] | None:
        """(x, y, w, h) in frame ``index``, or None when the object is not in that frame."""
        if not self.first <= index <= self.last:
            return None
        t = (index - self.first) / max(self.last - self.first, 1)
        x = round(self.start_xy[0] + t * (self.end_xy[0] - self.start_xy[0]))
        y = round(self.start_xy[1] + t * (self.end_xy[1] - self.start_xy[1]))
        h, w = self.patch.shape[:2]
        return int(x), int(y), int(w), int(h)


def flat(rgb: tuple[int, int, int], w: int, h: int) -> np.ndarray:
    return np.broadcast_to(np.array(rgb, dtype=np.uint8), (h, w, 3)).copy()


def person(height: int) -> np.ndarray:
    """A real photo of a person, ``height`` pixels tall: scikit-image's astronaut (Eileen
    Collins, NASA, public domain) from head to waist."""
    from PIL import Image
    from skimage import data

    crop = data.astronaut()[20:512, 60:440]
    width = round(height * crop.shape[1] / crop.shape[0])
    return np.asarray(Image.fromarray(crop).resize((width, height), Image.BILINEAR))


def gt_rows(movers: list[Mover], n_frames: int) -> list[MotRow]:
    rows = []
    for i in range(n_frames):
        for m in movers:
            box = m.box_at(i)
            if box is not None:
                rows.append(MotRow(i + 1, m.track_id, *map(float, box), conf=1.0, cls=1, visibility=1.0))
    return rows


def render_sequence(
    root: Path,
    name: str,
    movers: list[Mover],
    *,
    n_frames: int,
    fps: int = 25,
    size: tuple[int, int] = (320, 192),
    seqinfo: bool = True,
    frames: str | None = "video",
) -> Path:
    """Write the sequence folder ``root/name`` (see the module docstring) and return it.

    ``frames``: ``"video"`` (``<name>.mp4``), ``"images"`` (``img1/000001.jpg`` ..., JPEG
    quality 95) or None (ground truth only)."""
    folder = root / name
    (folder / "gt").mkdir(parents=True, exist_ok=True)
    width, height = size
    for m in movers:
        for i in range(m.first, m.last + 1):
            x, y, w, h = m.box_at(i)
            assert 0 <= x and 0 <= y and x + w <= width and y + h <= height, f"mover {m.track_id} leaves the frame"

    def draw(_image: np.ndarray, index: int) -> np.ndarray:
        image = np.empty((height, width, 3), dtype=np.uint8)
        image[:] = BACKGROUND_RGB
        for m in movers:
            box = m.box_at(index)
            if box is not None:
                x, y, w, h = box
                image[y:y + h, x:x + w] = m.patch
        return image

    if frames == "video":
        make_video(folder / f"{name}.mp4", n_frames=n_frames, fps=fps, size=size, motion="static", box=False,
                   draw=draw)
    elif frames == "images":
        from PIL import Image

        (folder / "img1").mkdir(exist_ok=True)
        for i in range(n_frames):
            Image.fromarray(draw(None, i)).save(folder / "img1" / f"{i + 1:06d}.jpg", quality=95)
    write_mot_file(gt_rows(movers, n_frames), folder / "gt" / "gt.txt")
    if seqinfo:
        (folder / "seqinfo.ini").write_text(
            f"[Sequence]\nname={name}\nimDir=img1\nframeRate={Fraction(fps)}\nseqLength={n_frames}\n"
            f"imWidth={width}\nimHeight={height}\nimExt=.jpg\n")
    return folder


# -- a simple real tracker, as a track_objects plugin backend ---------------------------------


def blob_boxes(image: np.ndarray, min_saturation: int = 60, min_pixels: int = 30) -> np.ndarray:
    """(n, 4) x1, y1, x2, y2 boxes (x2/y2 exclusive) of the saturated blobs of an RGB image."""
    from scipy import ndimage

    rgb = image.astype(np.int16)
    mask = (rgb.max(axis=2) - rgb.min(axis=2)) >= min_saturation
    labels, n = ndimage.label(mask)
    boxes = []
    for i, found in enumerate(ndimage.find_objects(labels), start=1):
        if found is None or (labels[found] == i).sum() < min_pixels:
            continue
        ys, xs = found
        boxes.append((xs.start, ys.start, xs.stop, ys.stop))
    return np.array(boxes, dtype=np.float32).reshape(-1, 4)


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area = lambda z: (z[:, 2] - z[:, 0]) * (z[:, 3] - z[:, 1])  # noqa: E731
    return inter / (area(a)[:, None] + area(b)[None, :] - inter)


def register_blob_tracker(registry) -> None:
    """Register the ``test-colour-blobs`` backend of ``track_objects`` in ``registry`` (no
    profile: a pipeline picks it with ``[tools] backends = {track_objects = "test-colour-blobs"}``)."""
    @backend(TRACK_OBJECTS, name=BLOB_BACKEND, profiles=(), cacheable=False, registry=registry)
    def colour_blobs(args: TrackObjectsArgs, ctx: ToolContext) -> ToolOutput[TracksResult]:
        label = args.phrases[0]
        frames = ctx.frames_at_fps(args.fps, span=args.span)
        parts, previous, next_id = [], (np.zeros((0, 4), np.float32), np.zeros(0, np.int64)), 1
        for frame in frames:
            ctx.check()
            boxes = blob_boxes(frame.image)
            ids = np.zeros(len(boxes), dtype=np.int64)
            overlap = _iou(boxes, previous[0]) if len(boxes) and len(previous[0]) else np.zeros((len(boxes), 0))
            taken: set[int] = set()
            for i in range(len(boxes)):
                order = np.argsort(-overlap[i]) if overlap.shape[1] else []
                j = next((int(j) for j in order if overlap[i, j] >= 0.3 and int(j) not in taken), None)
                if j is None:
                    ids[i], next_id = next_id, next_id + 1
                else:
                    ids[i] = previous[1][j]
                    taken.add(j)
            previous = (boxes, ids)
            n = len(boxes)
            parts.append(Detections(boxes, np.ones(n), [label] * n, np.full(n, frame.index),
                                    np.full(n, frame.time_s), track_id=ids))
        dets = Detections.merge(parts) if parts else Detections.empty()
        tracks = []
        for tid in np.unique(dets.track_id) if len(dets) else []:
            mine = dets[dets.track_id == tid]
            tracks.append(Track(track_id=int(tid), label=label, first_s=float(mine.time_s.min()),
                                last_s=float(mine.time_s.max()), n_boxes=len(mine)))
        result = TracksResult(detections=dets, tracks=tracks, phrase_labels={label: label},
                              sampled_frames=[f.index for f in frames], sampled_times_s=[f.time_s for f in frames])
        return ToolOutput(observation=f"{len(tracks)} tracks over {len(frames)} frames at {args.fps:g} fps",
                          data=result)
