"""The Suite contract, the suite registry, and the shared pieces suites are built from.

A suite reads one benchmark's official annotation files into ``Sample`` objects and scores
the agent's ``Answer`` to one sample. Third-party packages add suites through the
``vidagent.suites`` entry-point group; an entry point names either a ``Suite`` subclass or a
module whose import registers suites with ``@register_suite``::

    [project.entry-points."vidagent.suites"]
    my_bench = "my_package.bench:MyBenchSuite"
"""

from __future__ import annotations

import csv
import re
import warnings
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import ClassVar, Literal, TypeVar

from agent.types import Answer
from evals import metrics
from evals.data_dirs import VIDEOS_SUBDIR, MissingDataError, data_root
from evals.samples import Grounding, Sample, SampleCost, SampleScore

ENTRY_POINT_GROUP = "vidagent.suites"
VIDEO_EXTENSIONS: tuple[str, ...] = (".mp4", ".webm", ".mkv", ".avi", ".mov", ".m4v", ".mpg", ".mpeg", ".gif")


class VideoIndex:
    """Finds a benchmark's local video files by file stem.

    Looks at ``<videos_dir>/<stem>.<ext>`` and one folder level down,
    ``<videos_dir>/<folder>/<stem>.<ext>`` (NExT-QA ships its videos as
    ``NExTVideo/<folder>/<video_id>.mp4``), for the extensions in ``VIDEO_EXTENSIONS``.
    The directory is listed once; with no directory nothing is found.
    """

    def __init__(self, videos_dir: Path | str | None):
        self.videos_dir = Path(videos_dir) if videos_dir is not None else None
        self._by_stem: dict[str, Path] = {}
        if self.videos_dir is None or not self.videos_dir.is_dir():
            return
        top = sorted(self.videos_dir.iterdir())
        nested = [p for d in top if d.is_dir() for p in sorted(d.iterdir())]
        for path in top + nested:  # a top-level file wins over one in a sub-folder
            if path.is_file() and path.suffix.lower() in VIDEO_EXTENSIONS:
                self._by_stem.setdefault(path.stem, path)

    def find(self, stems: Iterable[str]) -> str | None:
        """Path of the first stem that has a video file, else None."""
        for stem in stems:
            path = self._by_stem.get(stem)
            if path is not None:
                return str(path)
        return None

    def __len__(self) -> int:
        return len(self._by_stem)


@dataclass(frozen=True)
class Verdict:
    """A suite's judgement of an answered question (before status and cost are added)."""

    correct: bool
    prediction: str | None
    squared_error: float | None = None


SuiteKind = Literal["qa", "tracking"]


class SuiteBase(ABC):
    """What every suite has: a registry name, a description and a data folder.

    ``name`` is the registry key (``[a-z][a-z0-9_]*``); ``annotations_subdir`` is the suite's
    folder under the data root (``evals.data_dirs``). ``kind`` says how it runs: ``qa``
    (a ``Suite``: questions answered by the agent) or ``tracking`` (sequences tracked by a
    pipeline's ``track_objects`` backend, ``evals.suites.mot``).
    """

    name: ClassVar[str]
    description: ClassVar[str]
    annotations_subdir: ClassVar[str]
    kind: ClassVar[SuiteKind] = "qa"
    qtype_names: ClassVar[Mapping[str, str]] = {}
    qtype_groups: ClassVar[Mapping[str, str]] = {}

    def __init__(self, annotations_dir: Path | str | None = None):
        """``annotations_dir``: the suite's data folder; None: ``default_data_dir(data_root())``."""
        self.annotations_dir = (
            Path(annotations_dir) if annotations_dir is not None else self.default_data_dir(data_root())
        )

    @classmethod
    def default_data_dir(cls, root: Path) -> Path:
        """The suite's data folder under the data root ``root`` (``evals.data_dirs``)."""
        return root / cls.annotations_subdir

    def _path(self, filename: str) -> Path:
        """``annotations_dir / filename``; MissingDataError (one line: where, and how to point
        at the data) when it is not a file."""
        path = self.annotations_dir / filename
        if not path.is_file():
            raise MissingDataError(self.name, self.annotations_subdir, path)
        return path


class Suite(SuiteBase):
    """A question-answering benchmark: loads its samples and scores answers to them.

    Subclasses set ``name``, ``description`` and ``annotations_subdir`` (``SuiteBase``), and
    implement ``read_samples`` and ``judge``. ``qtype_groups`` maps question-type codes to the
    coarser groups the official evaluation reports (pass it to ``evals.metrics.summarize``);
    ``qtype_names`` gives readable names for type and group codes, for reports.
    """

    # -- to implement ------------------------------------------------------------------

    @abstractmethod
    def read_samples(self) -> Iterator[Sample]:
        """Samples in annotation-file order, with ``video_path`` None."""

    @abstractmethod
    def judge(self, sample: Sample, answer: Answer) -> Verdict:
        """Correctness of an answer whose status is ``answered``."""

    def video_stems(self, sample: Sample) -> tuple[str, ...]:
        """File stems under which the sample's video may be stored."""
        return (sample.video_id,)

    def grounding(self, sample: Sample, answer: Answer) -> Grounding | None:
        """Temporal grounding of the answer; None for suites without ground-truth spans."""
        return None

    # -- shared ------------------------------------------------------------------------

    def load(self, videos_dir: Path | str | None = None, limit: int | None = None) -> list[Sample]:
        """The first ``limit`` samples (all if None), with ``video_path`` set where found.

        Videos are looked up under ``videos_dir``, else under ``<annotations_dir>/videos``.
        A sample whose video is not found keeps ``video_path=None``; the runner turns it into
        an error row (``SampleScore.missing_video``).
        """
        if limit is not None and limit < 0:
            raise ValueError("limit must be >= 0")
        samples: list[Sample] = []
        seen: set[str] = set()
        for sample in self.read_samples():
            if limit is not None and len(samples) >= limit:
                break
            if sample.sample_id in seen:
                raise ValueError(f"{self.name}: sample id {sample.sample_id!r} occurs twice in {self.annotations_dir}")
            seen.add(sample.sample_id)
            samples.append(sample)
        index = VideoIndex(videos_dir if videos_dir is not None else self.annotations_dir / VIDEOS_SUBDIR)
        return [s.model_copy(update={"video_path": index.find(self.video_stems(s))}) for s in samples]

    def score(self, sample: Sample, answer: Answer) -> SampleScore:
        """Score one answer. Unanswered statuses are recorded, never judged."""
        if sample.suite != self.name:
            raise ValueError(f"sample {sample.sample_id!r} belongs to suite {sample.suite!r}, not {self.name!r}")
        verdict = self.judge(sample, answer) if answer.status == "answered" else None
        return SampleScore(
            suite=sample.suite,
            sample_id=sample.sample_id,
            qtype=sample.qtype,
            status=answer.status,
            correct=verdict.correct if verdict else None,
            prediction=verdict.prediction if verdict else None,
            reference=sample.answer_text,
            error=answer.error,
            grounding=self.grounding(sample, answer),
            squared_error=verdict.squared_error if verdict else None,
            cost=SampleCost.from_trace(answer.trace),
        )


# -- judging helpers shared by suites ----------------------------------------------------


def judge_multiple_choice(sample: Sample, answer: Answer) -> Verdict:
    """Correct when the chosen option index equals the reference index.

    If the answer has no ``choice`` but its text equals exactly one option after
    normalisation, that option counts as the choice; otherwise the answer is wrong.
    """
    assert sample.options is not None
    choice = answer.choice
    if choice is None:
        choice = metrics.choice_from_text(answer.text, sample.options)
    correct = metrics.multiple_choice_correct(choice, int(sample.answer))
    return Verdict(correct=correct, prediction=None if choice is None else str(choice))


def judge_open_ended(sample: Sample, answer: Answer) -> Verdict:
    """Exact match after ``metrics.normalize_answer``."""
    prediction = metrics.normalize_answer(answer.text)
    return Verdict(correct=prediction == metrics.normalize_answer(str(sample.answer)), prediction=prediction)


def judge_count(sample: Sample, answer: Answer, clip: tuple[int, int] | None = None) -> Verdict:
    """Numeric equality of the first number in the answer with the reference count.

    ``clip`` bounds the predicted count first (TGIF-QA clips to 1..10). An answer with no
    number is wrong and has no squared error.
    """
    count = metrics.parse_count(answer.text)
    if count is None:
        return Verdict(correct=False, prediction=None)
    if clip is not None:
        count = min(max(count, clip[0]), clip[1])
    reference = int(sample.answer)
    return Verdict(
        correct=metrics.count_correct(count, reference),
        prediction=str(count),
        squared_error=float((count - reference) ** 2),
    )


def read_csv_rows(path: Path, required: Sequence[str], delimiter: str = ",") -> Iterator[dict[str, str]]:
    """Rows of a CSV/TSV file as dicts, after checking that the header has ``required``."""
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh, delimiter=delimiter)
        missing = [c for c in required if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{path}: missing columns {missing} (header: {reader.fieldnames})")
        yield from reader


# -- registry ----------------------------------------------------------------------------

_REGISTRY: dict[str, type[SuiteBase]] = {}
_entry_points_loaded = False
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")

S = TypeVar("S", bound=type[SuiteBase])


def register_suite(cls: S) -> S:
    """Class decorator: make a suite (a ``Suite`` or another ``SuiteBase``) available under its ``name``."""
    if not (isinstance(cls, type) and issubclass(cls, SuiteBase)):
        raise TypeError(f"{cls!r} is not a Suite subclass")
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(f"{cls.__qualname__}.name must match {_NAME.pattern}, got {name!r}")
    existing = _REGISTRY.get(name)
    if existing is not None and existing is not cls:
        raise ValueError(f"suite name {name!r} is taken by {existing.__module__}.{existing.__qualname__}")
    _REGISTRY[name] = cls
    return cls


def load_entry_point_suites() -> None:
    """Import the suites that installed packages declare under ``vidagent.suites`` (once).

    A plugin that fails to load is skipped with a warning, so it cannot hide the others.
    """
    global _entry_points_loaded
    if _entry_points_loaded:
        return
    _entry_points_loaded = True
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            obj = ep.load()
            if isinstance(obj, type):
                register_suite(obj)
        except Exception as exc:  # noqa: BLE001 - a broken plugin must not break the registry
            warnings.warn(f"suite entry point {ep.name!r} ({ep.value}) failed to load: {exc}", stacklevel=2)


def available_suites() -> dict[str, type[SuiteBase]]:
    """All registered suites by name: built-in ones and those from entry points."""
    load_entry_point_suites()
    return dict(sorted(_REGISTRY.items()))


def get_suite(name: str, **kwargs) -> SuiteBase:
    """An instance of the suite called ``name``; ``kwargs`` go to its constructor."""
    suites = available_suites()
    if name not in suites:
        raise KeyError(f"unknown suite {name!r}; available: {', '.join(suites)}")
    return suites[name](**kwargs)
