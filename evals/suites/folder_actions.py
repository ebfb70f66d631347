"""Action recognition on a folder dataset in the UCF101 / HMDB51 layout.

The suite's data folder (``--data DIR``) holds one folder per class, every video file in it one
clip of that class (``DIR/<label>/<clip>.avi``), as ``vidagent train recognizer`` reads it
(``tools.recognition.data.load_clips``). A split list (``split_list``, ``--split-list FILE``)
keeps only the clips it names: one ``<label>/<clip file>`` per line, as UCF101's
``testlist01.txt`` writes them (further columns, such as trainlist's class number, are ignored).

Every clip is one multiple-choice sample: "Which action does this clip show?" with the sorted
labels as options, the clip's folder as the answer and as the question type (so the report's
per-type table is per-class accuracy). ``vidagent eval run --suite folder-actions`` answers
them either with a pipeline (the agent, like any QA suite) or, with ``--checkpoint CKPT``, with
a trained recogniser directly (``evals.recognition_runner``). Both write the same results rows
and reports as the QA suites; a clip that does not decode is an error row.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

from agent.types import Answer
from evals.samples import Sample
from evals.suites.base import Suite, Verdict, judge_multiple_choice, register_suite

QUESTION = "Which action does this clip show?"


@register_suite
class FolderActionsSuite(Suite):
    """Clips in class folders, each asked for its class (see the module docstring)."""

    name: ClassVar[str] = "folder_actions"
    description: ClassVar[str] = "action recognition over class folders of clips (UCF101/HMDB51 layout)"
    annotations_subdir: ClassVar[str] = "folder_actions"

    def __init__(self, annotations_dir: Path | str | None = None, split_list: Path | str | None = None):
        super().__init__(annotations_dir)
        self.split_list = Path(split_list) if split_list is not None else None

    def labels(self) -> list[str]:
        """The sorted class folders' names (the options of every sample)."""
        from tools.recognition.data import load_clips

        return load_clips(self.annotations_dir).labels

    def read_samples(self) -> Iterator[Sample]:
        """One sample per clip, in label then file order. DatasetError (one line) for a missing
        folder, an empty class folder, or a split list naming a clip that is not there."""
        from tools.recognition.data import DatasetError, load_clips

        dataset = load_clips(self.annotations_dir)
        clips = dataset.clips
        if self.split_list is not None:
            wanted = read_split_list(self.split_list)
            by_name = {f"{c.label}/{c.video.name}": c for c in clips}
            missing = [name for name in wanted if name not in by_name]
            if missing:
                raise DatasetError(f"{self.split_list}: {len(missing)} listed clips are not in {self.annotations_dir} "
                                   f"(first: {missing[0]})")
            clips = [by_name[name] for name in sorted(set(wanted))]
        options = tuple(dataset.labels)
        for clip in clips:
            yield Sample(suite=self.name, sample_id=f"{clip.label}/{clip.video.name}", video_id=clip.video.stem,
                         video_path=str(clip.video.resolve()), question=QUESTION, options=options,
                         answer=options.index(clip.label), qtype=clip.label)

    def load(self, videos_dir: Path | str | None = None, limit: int | None = None) -> list[Sample]:
        """The first ``limit`` samples (all if None). The clips are the files in the class
        folders themselves, so ``videos_dir`` is not used (clips of different classes may share
        a file stem)."""
        if limit is not None and limit < 0:
            raise ValueError("limit must be >= 0")
        samples = list(self.read_samples())
        return samples if limit is None else samples[:limit]

    def judge(self, sample: Sample, answer: Answer) -> Verdict:
        """Correct when the chosen option (or the one label the answer text names) is the clip's class."""
        return judge_multiple_choice(sample, answer)


def read_split_list(path: Path) -> list[str]:
    """The ``<label>/<clip file>`` names a split list holds, in file order (blank lines skipped,
    columns after the first ignored, backslashes read as slashes)."""
    from tools.recognition.data import DatasetError

    if not path.is_file():
        raise DatasetError(f"{path}: no such split list (one <label>/<clip file> per line, as UCF101's testlist01.txt)")
    names = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            names.append(line.split()[0].replace("\\", "/"))
    return names
