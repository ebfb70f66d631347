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

import struct
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
    rotation: int = 0,
) -> Path:
    """Write a synthetic video and return its path.

    ``size``: (width, height) in pixels, even. ``fps``: frames per second (GIF stores delays in
    1/100 s, so use an fps that divides 100 there). ``cuts``: frame indices where a new scene
    starts (a hard cut between ``i - 1`` and ``i``). ``gop``: keyframe interval in frames (the
    encoder may add keyframes at cuts). ``faststart``: MP4/MOV index (moov) before the data,
    as web players want (a truncated copy then keeps its index). ``rotation``: degrees
    counter-clockwise stored in the display matrix (phones film sideways and store this), the
    frames themselves are encoded as rendered. The container follows the suffix of ``path``.
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
        if rotation:
            stream.set_display_rotation(rotation)
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


# ---------------------------------------------------------------- formats found in the wild


def write_timed_video(
    path: str | Path,
    times_s: Sequence[float],
    *,
    codec: str | None = None,
    size: tuple[int, int] = (160, 96),
    time_base: Fraction = Fraction(1, 1000),
    cuts: Sequence[int] = (),
) -> Path:
    """A variable-frame-rate clip: frame ``i`` (``render_frame(i, n_frames=len(times_s))``)
    is presented at ``times_s[i]`` seconds, stored in ``time_base`` units. GIF stores delays in
    1/100 s, so pass ``time_base=Fraction(1, 100)`` there."""
    path = Path(path)
    codec = codec or DEFAULT_CODECS[path.suffix.lower()]
    n = len(times_s)
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=25, options=_ENCODER_OPTIONS.get(codec, {}))
        stream.width, stream.height = size
        stream.pix_fmt = _PIX_FMT.get(codec, "yuv420p")
        stream.codec_context.time_base = time_base
        for index, t in enumerate(times_s):
            image = render_frame(index, n_frames=n, size=size, cuts=cuts)
            frame = _to_video_frame(image, stream.pix_fmt)
            frame.pts, frame.time_base = int(round(t / time_base)), time_base
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def write_multistream_mkv(path: str | Path, *, n_frames: int = 24, size: tuple[int, int] = (160, 96)) -> Path:
    """A Matroska file with an audio stream first, then two video streams: stream 0 shows the
    panning render with a cut at frame 8, stream 1 the static render with a cut at frame 16."""
    path = Path(path)
    rate = 16000
    with av.open(str(path), "w") as container:
        audio = container.add_stream("aac", rate=rate, layout="mono")
        videos = []
        for _ in range(2):
            stream = container.add_stream("libx264", rate=24, options=_ENCODER_OPTIONS["libx264"])
            stream.width, stream.height, stream.pix_fmt = *size, "yuv420p"
            videos.append(stream)
        looks = [{"cuts": (8,), "motion": "pan"}, {"cuts": (16,), "motion": "static"}]
        for index in range(n_frames):
            for stream, look in zip(videos, looks):
                image = render_frame(index, n_frames=n_frames, size=size, **look)
                frame = av.VideoFrame.from_ndarray(image, format="rgb24")
                frame.pts, frame.time_base = index, Fraction(1, 24)
                container.mux(stream.encode(frame))
        for stream in videos:
            container.mux(stream.encode(None))
        samples = int(rate * n_frames / 24)
        tone = (0.2 * np.sin(2 * np.pi * 440.0 * np.arange(samples) / rate)).astype(np.float32)
        for start in range(0, samples, 1024):
            chunk = av.AudioFrame.from_ndarray(tone[None, start : start + 1024], format="fltp", layout="mono")
            chunk.rate, chunk.pts = rate, start
            container.mux(audio.encode(chunk))
        container.mux(audio.encode(None))
    return path


def write_image_folder(
    root: str | Path,
    *,
    n_frames: int = 24,
    size: tuple[int, int] = (160, 96),
    suffix: str = ".jpg",
    first_number: int = 1,
    missing: Sequence[int] = (),
    frame_rate: float | None = 30.0,
    cuts: Sequence[int] = (),
) -> Path:
    """A MOTChallenge-style sequence: ``root/img1/000001.jpg ...`` holding
    ``render_frame(k)`` for the ``k``-th number (numbers in ``missing`` are left out), and
    ``root/seqinfo.ini`` with ``frameRate`` (omitted when ``frame_rate`` is None). Returns
    the image folder ``root/img1``."""
    from PIL import Image

    root = Path(root)
    folder = root / "img1"
    folder.mkdir(parents=True, exist_ok=True)
    for k in range(n_frames):
        number = first_number + k
        if number in missing:
            continue
        image = render_frame(k, n_frames=n_frames, size=size, cuts=cuts)
        Image.fromarray(image).save(folder / f"{number:06d}{suffix}", quality=95)
    lines = ["[Sequence]", f"name={root.name}", "imDir=img1", f"seqLength={n_frames - len(missing)}",
             f"imWidth={size[0]}", f"imHeight={size[1]}", f"imExt={suffix}"]
    if frame_rate is not None:
        lines.insert(3, f"frameRate={frame_rate:g}")
    (root / "seqinfo.ini").write_text("\n".join(lines) + "\n")
    return folder


def set_avi_frame_count(path: str | Path, n_frames: int) -> Path:
    """Rewrite the frame count in an AVI's video stream header (``strh`` dwLength) in place,
    as a muxer that miscounts does; the packets are left as they are."""
    path = Path(path)
    data = bytearray(path.read_bytes())
    strh = data.find(b"strh")
    assert strh >= 0 and data[strh + 8 : strh + 12] == b"vids", "no video strh chunk"
    struct.pack_into("<I", data, strh + 8 + 32, n_frames)
    path.write_bytes(bytes(data))
    return path


def set_mkv_duration(path: str | Path, seconds: float) -> Path:
    """Rewrite the Segment duration of a Matroska file (an 8-byte float, milliseconds) in
    place: the header then claims another length than the blocks cover."""
    path = Path(path)
    data = bytearray(path.read_bytes())
    element = data.find(b"\x44\x89\x88")  # Duration, 8-byte float
    assert element >= 0, "no 8-byte Duration element"
    struct.pack_into(">d", data, element + 3, seconds * 1000.0)
    path.write_bytes(bytes(data))
    return path


def drop_first_frame_by_edit_list(path: str | Path, fps: int) -> Path:
    """Move the start of an MP4's edit list (``elst``, version 0, one entry) one frame later,
    in place, as encoders that hide a priming frame do: the header still counts every
    sample, but the first frame is not presented (its packet is marked discard)."""
    path = Path(path)
    data = bytearray(path.read_bytes())
    elst = data.find(b"elst")
    assert elst >= 0 and data[elst + 4] == 0 and struct.unpack_from(">I", data, elst + 8)[0] == 1
    mdhd = data.find(b"mdhd")
    movie_scale = struct.unpack_from(">I", data, data.find(b"mvhd") + 16)[0]
    media_scale = struct.unpack_from(">I", data, mdhd + 16)[0]
    segment, media_time = struct.unpack_from(">Ii", data, elst + 12)
    struct.pack_into(">Ii", data, elst + 12, segment - movie_scale // fps, media_time + media_scale // fps)
    path.write_bytes(bytes(data))
    return path


_VOP_START = b"\x00\x00\x01\xb6"
_USER_DATA_START = b"\x00\x00\x01\xb2"


def write_packed_bframes_avi(
    path: str | Path,
    *,
    n_frames: int = 30,
    fps: int = 25,
    size: tuple[int, int] = (160, 96),
    cuts: Sequence[int] = (12,),
) -> Path:
    """An MPEG-4 Part 2 AVI as DivX 5 / Xvid write it with *packed B-frames*: each B-frame is
    stored in the chunk of the reference frame decoded before it, followed by a 6-byte
    placeholder chunk (a not-coded VOP), and the user data says ``DivX503b1393p``. One chunk
    per frame; frame ``i`` shows ``render_frame(i, n_frames=n_frames, cuts=cuts)``."""
    path = Path(path)
    encoder = av.CodecContext.create("mpeg4", "w")
    encoder.width, encoder.height, encoder.pix_fmt = *size, "yuv420p"
    encoder.time_base, encoder.framerate = Fraction(1, fps), Fraction(fps)
    encoder.gop_size, encoder.max_b_frames = 12, 1
    packets: list[bytes] = []
    for index in range(n_frames):
        frame = av.VideoFrame.from_ndarray(render_frame(index, n_frames=n_frames, size=size, cuts=cuts), format="rgb24")
        frame = frame.reformat(format="yuv420p")
        frame.pts, frame.time_base = index, Fraction(1, fps)
        packets += [bytes(p) for p in encoder.encode(frame)]
    packets += [bytes(p) for p in encoder.encode(None)]
    chunks = _pack_bframes(packets, time_increment_bits=max(1, (fps - 1).bit_length()))
    assert len(chunks) == n_frames
    data, key = chunks[0]
    vop = data.find(_VOP_START)
    chunks[0] = (data[:vop] + _USER_DATA_START + b"DivX503b1393p" + data[vop:], key)
    with av.open(str(path), "w", format="avi") as container:
        stream = container.add_stream("mpeg4", rate=fps)
        stream.width, stream.height, stream.pix_fmt = *size, "yuv420p"
        stream.codec_context.codec_tag = "XVID"
        stream.time_base = Fraction(1, fps)
        for index, (data, key) in enumerate(chunks):
            packet = av.Packet(data)
            packet.stream, packet.time_base = stream, Fraction(1, fps)
            packet.pts = packet.dts = index
            packet.is_keyframe = key
            container.mux(packet)
    return path


def _vop_type(data: bytes) -> str:
    """I, P, B or S: the coding type of the first VOP in an MPEG-4 Part 2 packet."""
    start = data.find(_VOP_START)
    return "IPBS"[data[start + 4] >> 6]


def _pack_bframes(packets: list[bytes], time_increment_bits: int) -> list[tuple[bytes, bool]]:
    """(chunk, is_keyframe) in DivX packed order from packets in decode order."""
    chunks: list[tuple[bytes, bool]] = []
    i = 0
    while i < len(packets):
        packet, key = packets[i], _vop_type(packets[i]) == "I"
        if i + 1 < len(packets) and _vop_type(packets[i + 1]) == "B":
            chunks += [(packet + packets[i + 1], key), (_not_coded_vop(time_increment_bits), False)]
            i += 2
        else:
            chunks.append((packet, key))
            i += 1
    return chunks


def _not_coded_vop(time_increment_bits: int) -> bytes:
    """A P-VOP header with vop_coded = 0 (DivX's placeholder), stuffed to a byte boundary."""
    bits = "01" + "0" + "1" + "0" * time_increment_bits + "1" + "0"  # type, time base, markers, not coded
    bits += "0" + "1" * ((8 - (len(bits) + 1) % 8) % 8)
    return _VOP_START + int(bits, 2).to_bytes(len(bits) // 8, "big")
