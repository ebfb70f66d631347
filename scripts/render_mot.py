"""Render a MOT test sequence: real trajectories, real people, a real background.

The trajectories (boxes per frame and identity) come from a MOTChallenge ground-truth file
(e.g. TUD-Stadtmitte's, shipped in the motmetrics wheel: 179 frames, 640x480, 10 people);
each identity is drawn as a person cut from another annotated video (e.g. PETS09-S2L1's
``vtest.avi`` with its ``gt.txt``: for each of its people, the largest view that no one else
overlaps), scaled to the trajectory's box, mirrored to face its way, nearer people (lower box
bottom) drawn over farther ones; the background is a still frame of a third video. The
trajectories file, with conf set to 1, is the rendered sequence's ground truth.

    python scripts/render_mot.py TRAJECTORIES_GT PEOPLE_VIDEO PEOPLE_GT BACKGROUND_VIDEO OUT_DIR \
        [--fps 25] [--background-frame 150]

writes OUT_DIR/video.mp4 and OUT_DIR/gt/gt.txt. Needs opencv-python (``lite`` extra).
"""

from __future__ import annotations

import argparse
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from evals.mot import MotRow, read_mot_file, write_mot_file

SIZE = (640, 480)


def iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def people(video: Path, gt: Path, n: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """``n`` (RGB crop, alpha) pairs: for each identity the tallest view that is inside the
    frame and overlaps nobody, then the ``n`` tallest identities."""
    rows = [r for r in read_mot_file(gt) if r.conf != 0]
    by_frame: dict[int, list[MotRow]] = {}
    for r in rows:
        by_frame.setdefault(r.frame, []).append(r)
    with av.open(str(video)) as c:
        stream = c.streams.video[0]
        width, height = stream.width, stream.height
    best: dict[int, MotRow] = {}
    for frame, rs in by_frame.items():
        for r in rs:
            box = (r.x - 4, r.y - 4, r.x + r.w + 4, r.y + r.h + 4)
            inside = box[0] >= 0 and box[1] >= 0 and box[2] <= width and box[3] <= height
            alone = all(iou(box, (o.x, o.y, o.x + o.w, o.y + o.h)) == 0 for o in rs if o is not r)
            if inside and alone and r.h > best.get(r.track_id, MotRow(1, 0, 0, 0, 0, 0)).h:
                best[r.track_id] = r
    chosen = sorted(best.values(), key=lambda r: -r.h)[:n]
    wanted = {r.frame - 1: r for r in chosen}
    crops: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    with av.open(str(video)) as c:
        for index, frame in enumerate(c.decode(video=0)):
            if index in wanted:
                r = wanted[index]
                image = frame.to_ndarray(format="rgb24")
                mx, my = 0.08 * r.w, 0.04 * r.h
                x1, y1 = int(max(0, r.x - mx)), int(max(0, r.y - my))
                x2, y2 = int(min(image.shape[1], r.x + r.w + mx)), int(min(image.shape[0], r.y + r.h + my))
                crops[r.track_id] = (image[y1:y2, x1:x2].copy(), soft_ellipse(y2 - y1, x2 - x1))
    return [crops[r.track_id] for r in chosen]


def soft_ellipse(h: int, w: int) -> np.ndarray:
    """(h, w) float32 alpha: 1 inside an ellipse filling the box, fading to 0 at its edge."""
    y, x = np.mgrid[0:h, 0:w]
    d = np.hypot((x + 0.5 - w / 2) / (w / 2), (y + 0.5 - h / 2) / (h / 2))
    return np.clip((1.0 - d) / 0.25, 0.0, 1.0).astype(np.float32)


def background(video: Path, index: int) -> np.ndarray:
    """Frame ``index`` of ``video``, centre-cropped to 4:3 and resized to SIZE."""
    import cv2

    with av.open(str(video)) as c:
        for i, frame in enumerate(c.decode(video=0)):
            if i == index:
                image = frame.to_ndarray(format="rgb24")
                break
    h, w = image.shape[:2]
    cw = min(w, h * SIZE[0] // SIZE[1])
    x0 = (w - cw) // 2
    return cv2.resize(image[:, x0 : x0 + cw], SIZE, interpolation=cv2.INTER_AREA)


def render(trajectories: list[MotRow], sprites, bg: np.ndarray, out: Path, fps: int) -> None:
    import cv2

    ids = sorted({r.track_id for r in trajectories})
    sprite_of = {tid: sprites[k % len(sprites)] for k, tid in enumerate(ids)}
    by_frame: dict[int, list[MotRow]] = {}
    for r in trajectories:
        by_frame.setdefault(r.frame, []).append(r)
    centre = {(r.track_id, r.frame): r.x + r.w / 2 for r in trajectories}
    n_frames = max(by_frame)
    out.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(out), "w") as container:
        stream = container.add_stream("libx264", rate=Fraction(fps), options={"crf": "18", "preset": "veryfast"})
        stream.width, stream.height, stream.pix_fmt = SIZE[0], SIZE[1], "yuv420p"
        for f in range(1, n_frames + 1):
            image = bg.astype(np.float32)
            for r in sorted(by_frame.get(f, []), key=lambda r: r.y + r.h):
                crop, alpha = sprite_of[r.track_id]
                later = centre.get((r.track_id, f + 5), centre.get((r.track_id, f + 1)))
                if later is not None and later < r.x + r.w / 2:
                    crop, alpha = crop[:, ::-1], alpha[:, ::-1]
                w, h = max(2, int(round(r.w))), max(2, int(round(r.h)))
                patch = cv2.resize(crop, (w, h), interpolation=cv2.INTER_LINEAR).astype(np.float32)
                a = cv2.resize(alpha, (w, h), interpolation=cv2.INTER_LINEAR)[..., None]
                x1, y1 = int(round(r.x)), int(round(r.y))
                sx1, sy1 = max(0, -x1), max(0, -y1)
                x2, y2 = min(SIZE[0], x1 + w), min(SIZE[1], y1 + h)
                if x2 <= max(0, x1) or y2 <= max(0, y1):
                    continue
                region = image[max(0, y1) : y2, max(0, x1) : x2]
                p = patch[sy1 : sy1 + region.shape[0], sx1 : sx1 + region.shape[1]]
                aa = a[sy1 : sy1 + region.shape[0], sx1 : sx1 + region.shape[1]]
                region[:] = aa * p + (1 - aa) * region
            frame = av.VideoFrame.from_ndarray(np.clip(image, 0, 255).astype(np.uint8), format="rgb24")
            frame.pts = f - 1
            frame.time_base = Fraction(1, fps)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("trajectories", type=Path)
    parser.add_argument("people_video", type=Path)
    parser.add_argument("people_gt", type=Path)
    parser.add_argument("background_video", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--fps", type=int, default=25)
    parser.add_argument("--background-frame", type=int, default=150)
    args = parser.parse_args()

    trajectories = [MotRow(r.frame, r.track_id, r.x, r.y, r.w, r.h, 1.0) for r in read_mot_file(args.trajectories)]
    n = len({r.track_id for r in trajectories})
    sprites = people(args.people_video, args.people_gt, n)
    render(trajectories, sprites, background(args.background_video, args.background_frame), args.out / "video.mp4",
           args.fps)
    write_mot_file(trajectories, args.out / "gt" / "gt.txt")
    print(f"{args.out / 'video.mp4'}: {max(r.frame for r in trajectories)} frames, {n} people")


if __name__ == "__main__":
    main()
