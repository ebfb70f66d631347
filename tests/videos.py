"""Synthetic test videos written with PyAV: deterministic, tiny, with known cuts and motion.

Every frame is a smooth colour gradient chosen by its *scene* (scene ``k`` starts at the
``k``-th cut index) plus, by default, a coloured box. With ``motion="pan"`` the gradient
scrolls a few pixels per frame and the box crosses the frame left to right (see
:func:`box_at`), so trackers and motion tools have something real to follow; with
``motion="static"`` nothing moves inside a scene.

    from tests.videos import make_video
    path = make_video(tmp_path / "clip.mp4", cuts=(12, 30))
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Callable, Literal, Sequence

import av
import numpy as np

Motion = Literal["pan", "static"]
#: ``draw(image, index)`` may change ``image`` ((H, W, 3) uint8 RGB) in place or return a new one.
DrawFn = Callable[[np.ndarray, int], "np.ndarray | None"]

#: Default encoder per container suffix (pass ``codec=`` for another, e.g. "mpeg4" in .mp4).
DEFAULT_CODECS: dict[str, str] = {
    ".mp4": "libx264",
    ".mov": "libx264",
    ".mkv": "libx264",
    ".avi": "mpeg4",
    ".webm": "libvpx",
    ".mpg": "mpeg1video",
    ".mpeg": "mpeg2video",
    ".gif": "gif",
}
_PIX_FMT = {"gif": "pal8"}
_ENCODER_OPTIONS = {
    # veryfast keeps B-frames (so pts != dts order is exercised); fixed threads for determinism.
    "libx264": {"preset": "veryfast", "threads": "1"},
    "libvpx": {"deadline": "realtime", "cpu-used": "8", "threads": "1", "lag-in-frames": "0"},
    "libvpx-vp9": {"deadline": "realtime", "cpu-used": "8", "threads": "1", "lag-in-frames": "0"},
}
# Scene base colours (RGB), far apart in hue so every cut is an unmistakable content change.
_PALETTE = np.array(
    [(40, 90, 200), (210, 120, 40), (50, 170, 80), (170, 50, 160), (200, 200, 60), (60, 190, 200)],
    dtype=np.float32,
)
_BOX_RGB = (250, 250, 250)
PAN_PX_PER_FRAME = 2


def make_video(
    path: str | Path,
    *,
    n_frames: int = 48,
    fps: int | Fraction = 24,
    size: tuple[int, int] = (160, 96),
    codec: str | None = None,
    cuts: Sequence[int] = (),
    motion: Motion = "pan",
    box: bool = True,
    draw: DrawFn | None = None,
    gop: int = 12,
    faststart: bool = False,
) -> Path:
    """Write a synthetic video and return its path.

    ``size``: (width, height) in pixels, even. ``fps``: frames per second (GIF stores delays in
    1/100 s, so use an fps that divides 100 there). ``cuts``: frame indices where a new scene
    starts (a hard cut between ``i - 1`` and ``i``). ``gop``: keyframe interval in frames (the
    encoder may add keyframes at cuts). ``faststart``: MP4/MOV index (moov) before the data,
    as web players want (a truncated copy then keeps its index). The container follows the
    suffix of ``path``.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    codec = codec or DEFAULT_CODECS[suffix]
    width, height = size
    cut_list = sorted(int(c) for c in cuts)
    if any(not 0 < c < n_frames for c in cut_list):
        raise ValueError(f"cuts {cut_list} must lie in 1..{n_frames - 1}")
    path.parent.mkdir(parents=True, exist_ok=True)
    options = {"movflags": "faststart"} if faststart else {}
    with av.open(str(path), "w", options=options) as container:
        stream = container.add_stream(codec, rate=Fraction(fps), options=_ENCODER_OPTIONS.get(codec, {}))
        stream.width, stream.height = width, height
        stream.pix_fmt = _PIX_FMT.get(codec, "yuv420p")
        stream.codec_context.gop_size = gop
        for index in range(n_frames):
            image = render_frame(index, n_frames=n_frames, size=size, cuts=cut_list, motion=motion, box=box)
            if draw is not None:
                drawn = draw(image, index)
                image = image if drawn is None else drawn
            frame = _to_video_frame(np.ascontiguousarray(image), stream.pix_fmt)
            frame.pts = index
            frame.time_base = Fraction(1) / Fraction(fps)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def _to_video_frame(image: np.ndarray, pix_fmt: str) -> av.VideoFrame:
    if pix_fmt != "pal8":
        return av.VideoFrame.from_ndarray(image, format="rgb24")
    # GIF: map to a fixed 3-3-2 bit palette by rounding, not dithering, so equal images stay
    # equal from frame to frame (FFmpeg's dithering to rgb8 differs between frames).
    levels = np.array([7, 7, 3], dtype=np.float32)
    q = np.rint(image.astype(np.float32) * levels / 255.0).astype(np.uint8)
    indices = (q[..., 0] << 5) | (q[..., 1] << 2) | q[..., 2]
    codes = np.arange(256, dtype=np.uint32)
    channels = [np.rint(((codes >> shift) & mask) * 255.0 / mask) for shift, mask in ((5, 7), (2, 7), (0, 3))]
    r, g, b = (c.astype(np.uint32) for c in channels)
    argb = (0xFF << 24) | (r << 16) | (g << 8) | b
    palette = argb.astype(">u4").view(np.uint8).reshape(256, 4)
    return av.VideoFrame.from_ndarray((indices.astype(np.uint8), palette), format="pal8")


def scene_of(index: int, cuts: Sequence[int]) -> int:
    """Number of the scene that frame ``index`` belongs to (0 before the first cut)."""
    return int(np.searchsorted(np.asarray(sorted(cuts), dtype=np.int64), index, side="right"))


def box_at(index: int, *, n_frames: int = 48, size: tuple[int, int] = (160, 96), motion: Motion = "pan") -> tuple[int, int, int, int]:
    """Box drawn in frame ``index``: (x1, y1, x2, y2) pixels, x2/y2 exclusive.

    The box is ``width // 5`` by ``height // 3``, vertically centred; with ``motion="pan"`` it
    moves linearly from the left edge (first frame) to the right edge (last frame).
    """
    width, height = size
    bw, bh = width // 5, height // 3
    progress = index / max(n_frames - 1, 1) if motion == "pan" else 0.0
    x1 = int(round(progress * (width - bw)))
    y1 = (height - bh) // 2
    return x1, y1, x1 + bw, y1 + bh


def render_frame(
    index: int,
    *,
    n_frames: int = 48,
    size: tuple[int, int] = (160, 96),
    cuts: Sequence[int] = (),
    motion: Motion = "pan",
    box: bool = True,
) -> np.ndarray:
    """The RGB image ((H, W, 3) uint8) that :func:`make_video` encodes for frame ``index``."""
    width, height = size
    scene = scene_of(index, cuts)
    shift = index * PAN_PX_PER_FRAME if motion == "pan" else 0
    xs = np.arange(width, dtype=np.float32) + shift
    ys = np.arange(height, dtype=np.float32)
    # A low-frequency wave whose orientation and period depend on the scene: panning it gives
    # small frame-to-frame changes, switching scenes gives a large one.
    period = 48.0 + 16.0 * (scene % 3)
    wave = 0.5 + 0.5 * np.sin(2 * np.pi * (xs[None, :] + (scene % 2) * ys[:, None]) / period)
    shade = 0.55 + 0.45 * wave  # (H, W) in [0.55, 1]
    image = _PALETTE[scene % len(_PALETTE)][None, None, :] * shade[:, :, None]
    if box:
        x1, y1, x2, y2 = box_at(index, n_frames=n_frames, size=size, motion=motion)
        image[y1:y2, x1:x2] = _BOX_RGB
    return np.clip(image, 0, 255).astype(np.uint8)


def truncate(src: str | Path, dst: str | Path, fraction: float = 0.5) -> Path:
    """Copy the first ``fraction`` of ``src``'s bytes to ``dst`` (a download cut short)."""
    data = Path(src).read_bytes()
    dst = Path(dst)
    dst.write_bytes(data[: int(len(data) * fraction)])
    return dst


def write_text_file(path: str | Path, text: str = "this is not a video\n" * 20) -> Path:
    """Write a text file (typically under a video suffix such as ``.mp4``)."""
    path = Path(path)
    path.write_text(text)
    return path


def write_audio_only(path: str | Path, seconds: float = 0.5, rate: int = 16000) -> Path:
    """Write a container holding one AAC audio stream and no video stream (e.g. ``.mp4``)."""
    path = Path(path)
    samples = int(seconds * rate)
    t = np.arange(samples, dtype=np.float32) / rate
    tone = (0.2 * np.sin(2 * np.pi * 440.0 * t)).astype(np.float32)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=rate, layout="mono")
        for start in range(0, samples, 1024):
            chunk = tone[start : start + 1024]
            frame = av.AudioFrame.from_ndarray(chunk[None, :], format="fltp", layout="mono")
            frame.rate = rate
            frame.pts = start
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def write_empty_video(path: str | Path, size: tuple[int, int] = (64, 48)) -> Path:
    """Write a container (``.avi`` keeps it) whose video stream has no frames at all."""
    path = Path(path)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=24)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        container.start_encoding()
    return path


def write_image(path: str | Path, size: tuple[int, int] = (64, 48)) -> Path:
    """Write a still image (format from the suffix: .png, .jpg, ...) of a synthetic frame."""
    from PIL import Image

    path = Path(path)
    suffix_format = {".mp4": "PNG", ".avi": "PNG"}.get(path.suffix.lower())
    Image.fromarray(render_frame(0, size=size)).save(path, format=suffix_format)
    return path
