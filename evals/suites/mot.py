"""MOTChallenge multi-object tracking: sequences in the MOTChallenge folder layout.

The suite's data folder (``--data DIR``, e.g. a copy of ``MOT17/train``) holds one folder per
sequence::

    <seq>/seqinfo.ini       [Sequence] name, imDir, frameRate, seqLength, imWidth, imHeight, imExt
    <seq>/img1/000001.jpg   the frames (imDir), or one video file in <seq>/ (preferred when present)
    <seq>/gt/gt.txt         ground truth: frame, id, x, y, w, h, conf, class, visibility

A folder is a sequence when it has ``gt/gt.txt``; sequences run in name order. A sequence
without ``seqinfo.ini`` is read with the frames' own rate and count. ``vidagent eval run
--suite mot`` tracks each sequence with the pipeline's ``track_objects`` backend over every
frame (``evals.tracking``), or scores results files already made (``--tracks``), and reports
MOTA, IDF1, HOTA, ID switches, FP and FN per sequence and combined (``evals.mot``).

What is tracked: ``phrases`` (default ``("person",)``, MOTChallenge's pedestrians), the
phrases given to ``track_objects``.
"""

from __future__ import annotations

import configparser
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from evals.data_dirs import MissingDataError
from evals.suites.base import VIDEO_EXTENSIONS, SuiteBase, SuiteKind, register_suite
from tools.errors import InputError

SEQINFO = "seqinfo.ini"
GT_FILE = Path("gt") / "gt.txt"
DEFAULT_IMAGE_DIR = "img1"


class SequenceLayoutError(InputError):
    """A sequence folder does not follow the MOTChallenge layout (one line: which file, what)."""


@dataclass(frozen=True)
class SeqInfo:
    """The ``[Sequence]`` section of ``seqinfo.ini``: ``frame_rate`` in frames per second,
    ``length`` in frames, ``width``/``height`` in pixels; None where a key is absent."""

    name: str | None = None
    image_dir: str = DEFAULT_IMAGE_DIR
    image_ext: str | None = None
    frame_rate: float | None = None
    length: int | None = None
    width: int | None = None
    height: int | None = None


def read_seqinfo(path: Path) -> SeqInfo:
    """Parse a ``seqinfo.ini``; SequenceLayoutError naming the file and key for a malformed one."""
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # keys are camelCase (frameRate, seqLength)
    try:
        parser.read_string(path.read_text(encoding="utf-8"), source=str(path))
    except configparser.Error as exc:
        raise SequenceLayoutError(f"{path}: not an ini file ({' '.join(str(exc).split())})") from None
    if not parser.has_section("Sequence"):
        raise SequenceLayoutError(f"{path}: no [Sequence] section")
    section = parser["Sequence"]

    def number(key: str, kind):
        if key not in section:
            return None
        try:
            value = kind(section[key])
        except ValueError:
            raise SequenceLayoutError(f"{path}: {key}={section[key]!r} is not a number") from None
        if value <= 0:
            raise SequenceLayoutError(f"{path}: {key} must be positive, got {section[key]!r}")
        return value

    return SeqInfo(
        name=section.get("name"),
        image_dir=section.get("imDir", DEFAULT_IMAGE_DIR),
        image_ext=section.get("imExt"),
        frame_rate=number("frameRate", float),
        length=number("seqLength", int),
        width=number("imWidth", int),
        height=number("imHeight", int),
    )


@dataclass(frozen=True)
class MotSequence:
    """One sequence folder. ``frames``: the video file or image folder to track (None when
    the folder has neither, so it can only be scored from a results file)."""

    name: str
    folder: Path
    gt_path: Path
    info: SeqInfo
    frames: Path | None


def find_frames(folder: Path, info: SeqInfo) -> Path | None:
    """The sequence's frames: a video file in ``folder`` (the one named like the folder when
    there are several), else the image folder ``imDir`` if it exists, else None."""
    videos = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in VIDEO_EXTENSIONS)
    if len(videos) > 1:
        named = [p for p in videos if p.stem == folder.name]
        if len(named) != 1:
            raise SequenceLayoutError(f"{folder}: several video files ({', '.join(p.name for p in videos)}); "
                             f"keep one, or name it {folder.name}.<ext>")
        videos = named
    if videos:
        return videos[0]
    images = folder / info.image_dir
    return images if images.is_dir() else None


@register_suite
class MotSuite(SuiteBase):
    name: ClassVar[str] = "mot"
    description: ClassVar[str] = (
        "MOTChallenge tracking: a pipeline's track_objects over every frame of each sequence; MOTA, IDF1, HOTA"
    )
    annotations_subdir: ClassVar[str] = "mot"
    kind: ClassVar[SuiteKind] = "tracking"

    def __init__(self, annotations_dir: Path | str | None = None, phrases: Sequence[str] = ("person",)):
        super().__init__(annotations_dir)
        if not phrases:
            raise ValueError("give at least one phrase to track")
        self.phrases = tuple(phrases)

    def sequences(self, limit: int | None = None) -> list[MotSequence]:
        """The first ``limit`` sequences (all if None), in name order.

        MissingDataError when the data folder is missing or holds no sequence;
        SequenceLayoutError for a malformed ``seqinfo.ini`` or an ambiguous video file.
        """
        root = self.annotations_dir
        if not root.is_dir():
            raise MissingDataError(self.name, self.annotations_subdir, root, what="sequence folder")
        folders = sorted(p for p in root.iterdir() if p.is_dir() and (p / GT_FILE).is_file())
        if not folders:
            raise MissingDataError(self.name, self.annotations_subdir, root / "<seq>" / GT_FILE,
                                   what="ground truth")
        if limit is not None:
            folders = folders[:limit]
        sequences = []
        for folder in folders:
            info = read_seqinfo(folder / SEQINFO) if (folder / SEQINFO).is_file() else SeqInfo()
            sequences.append(MotSequence(name=folder.name, folder=folder, gt_path=folder / GT_FILE, info=info,
                                         frames=find_frames(folder, info)))
        return sequences
