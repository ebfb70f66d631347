"""A generated dataset whose classes differ only in the order of their frames.

Six classes in three time-reversed pairs, drawn over real photographs from scikit-image (a
random crop of one photograph as the background; the object is scikit-image's astronaut photograph,
or with ``same_object=False`` a random crop of another photograph):

- ``left_to_right`` / ``right_to_left``: the object crosses the frame horizontally;
- ``appearing`` / ``disappearing``: the object is absent, then present at one place (or the reverse);
- ``approaching`` / ``receding``: the object grows from small to large (or shrinks).

Every clip of a reversed class is a forward clip drawn with the same random parameters and
played backwards, so the set of frames of a clip has exactly the same distribution in both
classes of a pair: a model that pools frames without their order can at best tell which pair
a clip belongs to and guess the order (1/2 within the pair, so at most 1/2 top-1 over the six
classes; chance is 1/6), while a model of time can tell all six apart.

    write_dataset(Path("data/temporal"), clips_per_class=30)   # data/temporal/<label>/<i>.mp4

Clips have 17 frames (2 x 8 + 1), so that sampling 8 frames at the centres of 8 equal parts
(``tools.recognition.data.frame_indices``) picks frames 1, 3, ..., 15 of a clip and of its reverse
alike. With 16 frames it picks the odd frames of a clip, which are the even frames of the clip
played backwards: the two classes of a pair then differ in which frames are sampled, and an
order-blind probe could tell them apart by that.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np

#: class -> (motion, reversed)
CLASSES: dict[str, tuple[str, bool]] = {
    "left_to_right": ("cross", False),
    "right_to_left": ("cross", True),
    "appearing": ("appear", False),
    "disappearing": ("appear", True),
    "approaching": ("grow", False),
    "receding": ("grow", True),
}
#: scikit-image photographs used (backgrounds and objects).
PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry", "hubble_deep_field", "retina",
          "cat", "motorcycle_left")


def _photos() -> list[np.ndarray]:
    try:
        from skimage import data as skdata
    except ModuleNotFoundError as exc:
        from tools.errors import MissingExtraError

        raise MissingExtraError("scikit-image", "dev") from exc
    out = []
    for name in PHOTOS:
        loader = getattr(skdata, name, None)
        if loader is None:
            continue
        image = np.asarray(loader())
        if image.ndim == 3 and image.shape[2] == 3:
            out.append(image.astype(np.uint8))
    return out


def _resize(image: np.ndarray, w: int, h: int) -> np.ndarray:
    """Nearest-neighbour resize of (H, W, 3) uint8 to (h, w, 3) (no extra dependency)."""
    ys = (np.arange(h) + 0.5) * image.shape[0] / h
    xs = (np.arange(w) + 0.5) * image.shape[1] / w
    return image[ys.astype(int)][:, xs.astype(int)]


def _crop(photo: np.ndarray, rng: np.random.Generator, out: int, min_frac: float) -> np.ndarray:
    h, w = photo.shape[:2]
    side = int(rng.uniform(min_frac, 1.0) * min(h, w))
    y, x = rng.integers(0, h - side + 1), rng.integers(0, w - side + 1)
    return _resize(photo[y : y + side, x : x + side], out, out)


def render_clip(motion: str, reverse: bool, rng: np.random.Generator, photos: list[np.ndarray],
                size: int = 96, n_frames: int = 17, same_object: bool = True) -> np.ndarray:
    """(n_frames, size, size, 3) uint8 frames of one clip (see the module docstring).

    ``same_object``: the object is always the same photograph (the first, scikit-image's
    astronaut, whole) over a random crop of another; else a random crop of a random photograph
    (much harder for random-initialised backbones: see BENCHMARKS.md)."""
    if same_object:
        bg_i = int(rng.integers(1, len(photos)))
        sprite = _resize(photos[0], 64, 64)
    else:
        bg_i, obj_i = rng.choice(len(photos), size=2, replace=False)
    background = _crop(photos[bg_i], rng, size, 0.3)
    if not same_object:
        sprite = _crop(photos[obj_i], rng, 64, 0.15)
    sprite[:2], sprite[-2:], sprite[:, :2], sprite[:, -2:] = 255, 255, 255, 255  # a white rim: an object, not texture
    t = np.linspace(0.0, 1.0, n_frames)
    frames = []
    if motion == "cross":
        side = size // 3
        y = int(rng.integers(0, size - side + 1))
        margin = rng.uniform(0, size * 0.08, size=2)
        xs = margin[0] + t * (size - side - margin.sum())
        boxes = [(int(x), y, side, True) for x in xs]
    elif motion == "appear":
        side = size // 3
        x, y = (int(v) for v in rng.integers(0, size - side + 1, size=2))
        onset = int(rng.integers(n_frames // 4, 3 * n_frames // 4 + 1))
        boxes = [(x, y, side, i >= onset) for i in range(n_frames)]
    elif motion == "grow":
        small, large = int(size * 0.12), int(size * 0.7)
        cx, cy = (rng.uniform(large / 2, size - large / 2) for _ in range(2))
        sides = (small + t * (large - small)).astype(int)
        boxes = [(int(cx - s / 2), int(cy - s / 2), int(s), True) for s in sides]
    else:
        raise ValueError(f"unknown motion {motion!r}")
    for x, y, side, visible in boxes:
        frame = background.copy()
        if visible:
            frame[y : y + side, x : x + side] = _resize(sprite, side, side)
        frames.append(frame)
    clip = np.stack(frames)
    return clip[::-1].copy() if reverse else clip


def write_video(path: Path, frames: np.ndarray, fps: int = 8, lossless: bool = False) -> Path:
    """Write (T, H, W, 3) uint8 RGB frames as an H.264 .mp4, every frame a keyframe: near-lossless
    (CRF 12), or with ``lossless`` exactly lossless (QP 0, 4:4:4), so that decoding gives back the
    very frames whatever their order. (CRF's rate control sets each frame's quantiser from the
    frames before it, so a clip and its reverse came back with different compression noise, which
    an order-blind probe on EfficientNet-Lite3 features could read: BENCHMARKS.md.)"""
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=Fraction(fps))
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = "yuv444p"
        quality = {"qp": "0"} if lossless else {"crf": "12"}
        stream.options = {**quality, "preset": "veryfast", "g": "1", "threads": "1"}
        for image in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def write_dataset(root: str | Path, clips_per_class: int = 30, *, size: int = 96, n_frames: int = 17,
                  seed: int = 0, classes: tuple[str, ...] | None = None, same_object: bool = True) -> Path:
    """Write ``root/<label>/<i>.mp4`` for each class, ``clips_per_class`` clips of ``n_frames``
    frames of ``size`` x ``size`` pixels at 8 fps, losslessly encoded. Deterministic for a
    ``seed``. Returns ``root``."""
    root = Path(root)
    photos = _photos()
    names = classes or tuple(CLASSES)
    unknown = set(names) - set(CLASSES)
    if unknown:
        raise ValueError(f"unknown classes {sorted(unknown)}; known: {', '.join(CLASSES)}")
    for c, label in enumerate(names):
        motion, reverse = CLASSES[label]
        rng = np.random.default_rng([seed, c])
        for i in range(clips_per_class):
            clip = render_clip(motion, reverse, rng, photos, size, n_frames, same_object)
            write_video(root / label / f"{i:03d}.mp4", clip, lossless=True)
    return root
