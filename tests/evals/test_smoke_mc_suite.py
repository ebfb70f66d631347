"""The ``smoke_mc`` suite: five-option questions whose correct option sits at every position
equally often, checked against the clips they describe."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from evals import metrics
from evals.suites import available_suites, get_suite
from evals.suites.smoke import DIFFICULTIES, SMOKE_DATA_DIR, SMOKE_FILE, SMOKE_MC_FILE, SMOKE_QTYPES, SmokeMultipleChoiceSuite
from tests.evals.test_smoke_suite import CUT_DIFF, make_answer, read_footage

RAW = json.loads((SMOKE_DATA_DIR / SMOKE_MC_FILE).read_text(encoding="utf-8"))
CLIPS: dict = RAW["clips"]
QUESTIONS: list = RAW["questions"]
N_OPTIONS = 5


@pytest.fixture(scope="module")
def samples():
    return SmokeMultipleChoiceSuite().load()


@pytest.fixture(scope="module")
def footage(samples):
    paths = {s.video_id: s.video_path for s in samples}
    return {key: read_footage(paths[key]) for key in CLIPS}


def test_smoke_mc_is_registered_and_reads_every_question(samples):
    assert available_suites()["smoke_mc"] is SmokeMultipleChoiceSuite
    assert isinstance(get_suite("smoke_mc"), SmokeMultipleChoiceSuite)
    assert [s.sample_id for s in samples] == [q["id"] for q in QUESTIONS]
    assert all(s.suite == "smoke_mc" and s.video_path for s in samples)


def test_twenty_or_more_five_option_questions_of_every_kind():
    assert len(QUESTIONS) >= 20
    assert all(len(q["options"]) == N_OPTIONS for q in QUESTIONS)
    kinds = Counter(q["qtype"] for q in QUESTIONS)
    assert set(kinds) <= set(SMOKE_QTYPES)
    assert {"presence", "count", "motion", "temporal", "text"} <= set(kinds)
    assert kinds["scene"] + kinds["color"] >= 3, "description questions"
    assert {q["difficulty"] for q in QUESTIONS} <= set(DIFFICULTIES)


def test_correct_options_sit_at_every_position_equally_often():
    positions = Counter(q["answer"] for q in QUESTIONS)
    assert sorted(positions) == list(range(N_OPTIONS))
    assert max(positions.values()) - min(positions.values()) <= 1, positions


def test_ids_are_new():
    ids = [q["id"] for q in QUESTIONS]
    smoke_ids = {q["id"] for q in json.loads((SMOKE_DATA_DIR / SMOKE_FILE).read_text())["questions"]}
    assert len(set(ids)) == len(ids) and not set(ids) & smoke_ids


@pytest.mark.parametrize("q", QUESTIONS, ids=lambda q: q["id"])
def test_question_is_well_formed(q, footage):
    assert q["clip"] in CLIPS and q["question"].strip().endswith("?")
    assert len({metrics.normalize_answer(o) for o in q["options"]}) == N_OPTIONS, "options must differ"
    assert type(q["answer"]) is int and 0 <= q["answer"] < N_OPTIONS
    assert q["evidence"], "every answer needs the evidence seen in the frames"
    for ev in q["evidence"]:
        assert ev["seen"].strip()
        assert 0 <= ev["start_s"] <= ev["end_s"] <= footage[q["clip"]].duration_s + 1e-6


SHOT_QUESTIONS = [q for q in QUESTIONS if q["qtype"] == "count" and "shots" in q["question"]]


@pytest.mark.parametrize("q", SHOT_QUESTIONS, ids=lambda q: q["id"])
def test_shot_counts_match_the_cuts_in_the_footage(q, footage):
    f = footage[q["clip"]]
    shots = int(q["options"][q["answer"]])
    cuts = [ev for ev in q["evidence"] if ev["seen"].startswith("cut:")]
    assert len(cuts) == shots - 1
    for ev in cuts:
        before, after = f.index_at(ev["start_s"]), f.index_at(ev["end_s"])
        assert after == before + 1 and f.diffs[before] > CUT_DIFF, ev
    assert int((f.diffs > CUT_DIFF).sum()) == shots - 1


def test_shot_questions_exist():
    assert SHOT_QUESTIONS


def test_judging_reads_the_option_chosen(samples):
    suite = SmokeMultipleChoiceSuite()
    for s in samples:
        other = (s.answer + 1) % N_OPTIONS
        assert suite.score(s, make_answer(s.options[s.answer], choice=s.answer)).correct is True
        assert suite.score(s, make_answer(s.options[other], choice=other)).correct is False
