"""A folder of numbered images read as a video: the MOTChallenge layout and the like.

``<seq>/img1/000001.jpg, 000002.jpg, ...`` (any prefix, any image format PyAV reads) is a video
whose frame ``k`` is the ``k``-th image in the order of the number in its name, shown at
``(number - first number) / fps`` seconds: a missing number leaves a gap in time, like a
dropped frame. The frame rate comes from, in order: the caller, the ``frameRate`` of a
``seqinfo.ini`` in the folder or its parent (MOTChallenge), else 25 fps with a warning. Given
the sequence folder itself (``<seq>/``, holding ``seqinfo.ini``), its ``imDir`` is read.
"""

from __future__ import annotations

import configparser
import hashlib
import re
from collections import defaultdict
from pathlib import Path

import av
import numpy as np

from tools.errors import CorruptVideoError, NotAVideoError, VideoError
from tools.types import DecodeStats

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm"})
DEFAULT_FPS = 25.0
_NUMBERED = re.compile(r"^(.*?)(\d+)$")


class ImageFolderSource:
    """Frames of a folder of numbered images; same interface as ``ContainerSource``.

    ``files``: the images in frame order. ``numbers`` (n,) int64: the number in each name.
    ``timestamps`` (n,) float64 seconds from the first image. ``fps``: the frame rate used and
    ``fps_from``: where it came from ("argument", "seqinfo.ini" or "default").
    """

    in_decoder_order = False
    generation = 0
    rotation = 0

    def __init__(self, path: str, fps: float | None, stats: DecodeStats):
        self.path = path
        self.stats = stats
        self.warnings: list[str] = []
        self._fps_argument = fps

    def open(self, validate: bool) -> None:
        folder, info = _sequence_folder(Path(self.path))
        self.files, self.numbers = _numbered_images(folder, self.path)
        self.fps, self.fps_from = self._frame_rate(info)
        self.nominal_fps = self.fps
        self.timestamps = (self.numbers - self.numbers[0]).astype(np.float64) / self.fps
        self.keyframes = np.arange(len(self.files), dtype=np.int64)
        self.last_duration_s = 1.0 / self.fps
        first = self.decode(0, self.stats)
        self.coded_size = (first.width, first.height)
        self.codec = f"{_decoder_name(self.files[0])} image sequence"
        doubts = []
        if self.fps_from == "default":
            doubts.append(f"no frame rate given (fps argument or seqinfo.ini frameRate): assuming {DEFAULT_FPS:g} fps")
        gaps = int(self.numbers[-1] - self.numbers[0] + 1 - len(self.numbers))
        if gaps:
            doubts.append(f"{gaps} numbers are missing between {self.files[0].name} and {self.files[-1].name}: their time is a gap")
        declared = _int_or_none(info.get("seqlength")) if info else None
        if declared is not None and declared != len(self.files):
            doubts.append(f"seqinfo.ini says seqLength={declared} but the folder holds {len(self.files)} images")
        if doubts:
            self.warnings.append("; ".join(doubts))

    def _frame_rate(self, info: dict[str, str] | None) -> tuple[float, str]:
        if self._fps_argument is not None:
            if not self._fps_argument > 0:
                raise VideoError(self.path, f"the frame rate must be positive, got {self._fps_argument}")
            return float(self._fps_argument), "argument"
        rate = _float_or_none(info.get("framerate")) if info else None
        if rate is not None and rate > 0:
            return rate, "seqinfo.ini"
        return DEFAULT_FPS, "default"

    def decode(self, target: int, stats: DecodeStats | None) -> av.VideoFrame:
        """Image ``target``, decoded by PyAV."""
        path = self.files[target]
        try:
            with av.open(str(path)) as container:
                frame = next(container.decode(video=0))
        except (av.FFmpegError, StopIteration, IndexError) as exc:
            last = float(self.timestamps[target - 1]) if target else None
            raise CorruptVideoError(self.path, f"image {path.name} does not decode: {exc}", target, last) from None
        self.stats.add(decoded=1)
        if stats is not None and stats is not self.stats:
            stats.add(decoded=1)
        return frame

    def check_decodable(self, stats: DecodeStats | None) -> int:
        for i in range(len(self.files)):
            self.decode(i, stats)
        return len(self.files)

    def content_sha256(self) -> str:
        """sha256 over the images' names and bytes, in frame order."""
        digest = hashlib.sha256()
        for path in self.files:
            digest.update(path.name.encode() + b"\0")
            digest.update(path.read_bytes())
        return digest.hexdigest()

    def close(self) -> None:
        pass


def _sequence_folder(path: Path) -> tuple[Path, dict[str, str] | None]:
    """The image folder and the ``[Sequence]`` keys (lower-cased) of its seqinfo.ini, if any."""
    for candidate in (path / "seqinfo.ini", path.parent / "seqinfo.ini"):
        if candidate.is_file():
            info = _read_seqinfo(candidate)
            if candidate.parent == path and info.get("imdir") and (path / info["imdir"]).is_dir():
                return path / info["imdir"], info
            return path, info
    return path, None


def _read_seqinfo(path: Path) -> dict[str, str]:
    parser = configparser.ConfigParser()
    try:
        parser.read(path)
    except configparser.Error:
        return {}
    section = next((s for s in parser.sections() if s.lower() == "sequence"), None)
    return {k.lower(): v.strip() for k, v in parser[section].items()} if section else {}


def _numbered_images(folder: Path, shown: str) -> tuple[list[Path], np.ndarray]:
    """The images of the one numbered sequence in ``folder``, in number order."""
    groups: dict[tuple[str, str], list[tuple[int, Path]]] = defaultdict(list)
    for entry in folder.iterdir():
        if entry.suffix.lower() not in IMAGE_SUFFIXES or not entry.is_file():
            continue
        match = _NUMBERED.match(entry.stem)
        if match:
            groups[(match.group(1), entry.suffix.lower())].append((int(match.group(2)), entry))
    if not groups:
        raise NotAVideoError(shown, "a directory with no numbered images")
    if len(groups) > 1:
        names = ", ".join(f"{prefix}*{suffix} ({len(files)})" for (prefix, suffix), files in sorted(groups.items())[:4])
        raise NotAVideoError(shown, f"a directory with several numbered image sequences: {names}; point at one folder per sequence")
    entries = sorted(next(iter(groups.values())))
    numbers = np.asarray([n for n, _ in entries], dtype=np.int64)
    if len(numbers) > 1 and np.any(np.diff(numbers) == 0):
        duplicate = int(numbers[np.flatnonzero(np.diff(numbers) == 0)[0]])
        raise NotAVideoError(shown, f"two images carry the number {duplicate}")
    return [p for _, p in entries], numbers


def _decoder_name(path: Path) -> str:
    with av.open(str(path)) as container:
        return container.streams.video[0].codec_context.name


def _float_or_none(text: str | None) -> float | None:
    try:
        return float(text) if text is not None else None
    except ValueError:
        return None


def _int_or_none(text: str | None) -> int | None:
    value = _float_or_none(text)
    return int(value) if value is not None and value == int(value) else None
