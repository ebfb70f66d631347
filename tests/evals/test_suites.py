"""Benchmark suites on rows of the real annotation files kept in ``tests/data/benchmarks``
(NExT-QA, NExT-GQA, ActivityNet-QA: every question type, in the official formats) and on small
fixtures in the official layouts (EgoSchema, TGIF-QA); where data is looked for; video lookup;
scoring; registry."""

from __future__ import annotations

import csv
import json
import random
import shutil
from collections import Counter
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

from agent.types import Answer, Trace, TraceTotals
from evals import metrics
from evals.samples import Sample, SampleScore
from evals.suites import base as suites_base
from evals.suites import MissingDataError, available_suites, data_root, get_suite, register_suite
from evals.suites.base import Suite, Verdict, VideoIndex
from evals.suites.nextgqa import best_tiou, official_tiou, predicted_span
from tools.types import Evidence, TimeSpan

#: Rows copied from the benchmarks' released files (see the README there).
DATA = Path(__file__).resolve().parents[1] / "data" / "benchmarks"


def real_file(*parts: str) -> Path:
    path = DATA.joinpath(*parts)
    assert path.is_file(), f"fixture {path} missing from the repository"
    return path


def suite_on_fixtures(name: str, **kwargs) -> Suite:
    return get_suite(name, annotations_dir=DATA / name, **kwargs)


def make_answer(
    text: str = "",
    choice: int | None = None,
    status: str = "answered",
    evidence: list[Evidence] | None = None,
    totals: TraceTotals | None = None,
) -> Answer:
    trace = Trace(run_id="run-1", video_path="v.mp4", question="q", totals=totals or TraceTotals())
    return Answer(text=text, choice=choice, status=status, evidence=evidence or [], trace=trace)


@pytest.fixture(scope="module")
def nextqa() -> list[Sample]:
    return suite_on_fixtures("nextqa").load()


@pytest.fixture(scope="module")
def nextgqa() -> list[Sample]:
    return suite_on_fixtures("nextgqa").load()


@pytest.fixture(scope="module")
def activitynet() -> list[Sample]:
    return suite_on_fixtures("activitynet_qa").load()


# ---------------------------------------------------------------------------------------
# NExT-QA


def test_nextqa_val_rows_options_and_answers(nextqa):
    rows = list(csv.DictReader(real_file("nextqa", "val.csv").open(newline="")))
    assert len(nextqa) == len(rows) >= 8
    assert len({s.sample_id for s in nextqa}) == len(rows)
    for sample, row in zip(nextqa, rows):
        assert sample.sample_id == f"{row['video']}_{row['qid']}"
        assert sample.options == tuple(row[f"a{i}"] for i in range(5))
        assert sample.answer == int(row["answer"])
        assert sample.answer_text == row[f"a{row['answer']}"]
        assert sample.extra["type"] == row["type"]
    first = nextqa[0]
    assert (first.sample_id, first.answer, first.qtype) == ("4010069381_6", 0, "CH")
    assert first.answer_text == "roll the handle"


def test_nextqa_qtypes_follow_official_eval(nextqa):
    """eval_mc.py folds TP into TN; the raw code stays in extra."""
    raw = Counter(s.extra["type"] for s in nextqa)
    merged = Counter(s.qtype for s in nextqa)
    assert set(raw) == {"CW", "CH", "TN", "TP", "TC", "DC", "DL", "DO"}
    assert set(merged) == {"CW", "CH", "TN", "TC", "DC", "DL", "DO"}
    assert merged["TN"] == raw["TN"] + raw["TP"]
    tp = next(s for s in nextqa if s.extra["type"] == "TP")
    assert tp.qtype == "TN"
    suite = get_suite("nextqa")
    assert {suite.qtype_groups[q] for q in merged} == {"C", "T", "D"}


def test_nextqa_limit_keeps_file_order(nextqa):
    assert suite_on_fixtures("nextqa").load(limit=3) == nextqa[:3]
    assert suite_on_fixtures("nextqa").load(limit=0) == []
    assert suite_on_fixtures("nextqa").load(limit=100) == nextqa


# ---------------------------------------------------------------------------------------
# NExT-GQA


def test_nextgqa_answers_become_indices_and_spans_attach(nextgqa):
    rows = list(csv.DictReader(real_file("nextgqa", "val.csv").open(newline="")))
    spans = json.loads(real_file("nextgqa", "gsub_val.json").read_text())
    assert len(nextgqa) == len(rows) >= 5
    for sample, row in zip(nextgqa, rows):
        assert sample.answer_text == row["answer"]
        expected = spans[row["video_id"]]["location"][row["qid"]]
        assert [(t.start_s, t.end_s) for t in sample.gt_spans] == [tuple(map(float, s)) for s in expected]
        assert sample.extra["duration_s"] == spans[row["video_id"]]["duration"]
    assert all(s.gt_spans for s in nextgqa)
    assert {s.extra["type"] for s in nextgqa} == {"CW", "CH", "TN", "TP", "TC"}
    assert {s.qtype for s in nextgqa} == {"CW", "CH", "TN", "TC"}


def test_nextgqa_multi_span_question(nextgqa):
    by_id = {s.sample_id: s for s in nextgqa}
    spans = json.loads(real_file("nextgqa", "gsub_val.json").read_text())
    multi = [(v, q, locs) for v, d in spans.items() for q, locs in d["location"].items()
             if len(locs) >= 3 and f"{v}_{q}" in by_id]
    video, qid, locs = multi[0]
    sample = by_id[f"{video}_{qid}"]
    assert len(sample.gt_spans) == len(locs) >= 3


def test_nextgqa_question_without_spans_and_ambiguous_answer(tmp_path):
    header = "video_id,frame_count,width,height,question,answer,qid,type,a0,a1,a2,a3,a4\n"
    (tmp_path / "val.csv").write_text(header + "v1,10,64,48,what next,b,0,TN,a,b,c,d,e\n")
    (tmp_path / "gsub_val.json").write_text(json.dumps({"v2": {"duration": 3, "fps": 30, "location": {}}}))
    [sample] = get_suite("nextgqa", annotations_dir=tmp_path).load()
    assert (sample.answer, sample.gt_spans, sample.extra["duration_s"]) == (1, (), None)
    assert get_suite("nextgqa").grounding(sample, make_answer(choice=1)) is None
    (tmp_path / "val.csv").write_text(header + "v1,10,64,48,what next,b,0,TN,a,b,b,d,e\n")
    with pytest.raises(ValueError, match="not exactly one of its options"):
        get_suite("nextgqa", annotations_dir=tmp_path).load()


# ---------------------------------------------------------------------------------------
# ActivityNet-QA


def test_activitynet_joins_questions_and_answers_by_id(activitynet):
    questions = json.loads(real_file("activitynet_qa", "val_q.json").read_text())
    answers = {a["question_id"]: a for a in json.loads(real_file("activitynet_qa", "val_a.json").read_text())}
    assert len(activitynet) == len(questions) >= 18
    for sample, q in zip(activitynet, questions):
        a = answers[q["question_id"]]
        assert (sample.sample_id, sample.video_id) == (q["question_id"], q["video_name"])
        assert sample.question == q["question"]
        assert (sample.answer, sample.qtype) == (a["answer"], str(a["type"]))
    assert Counter(s.qtype for s in activitynet) == Counter(str(a["type"]) for a in answers.values())
    assert set(Counter(s.qtype for s in activitynet)) == {str(t) for t in range(9)}


def test_activitynet_join_does_not_depend_on_file_order(tmp_path, activitynet):
    answers = json.loads(real_file("activitynet_qa", "val_a.json").read_text())
    random.Random(3).shuffle(answers)
    n = len(answers) * 2 // 3
    (tmp_path / "val_a.json").write_text(json.dumps(answers[:n]))
    questions = json.loads(real_file("activitynet_qa", "val_q.json").read_text())
    kept = {a["question_id"] for a in answers[:n]}
    (tmp_path / "val_q.json").write_text(json.dumps([q for q in questions if q["question_id"] in kept]))
    loaded = {s.sample_id: s for s in get_suite("activitynet_qa", annotations_dir=tmp_path).load()}
    reference = {s.sample_id: s for s in activitynet}
    assert len(loaded) == n
    assert all(loaded[k] == reference[k] for k in loaded)


def test_activitynet_question_without_answer_is_an_error(tmp_path):
    (tmp_path / "val_q.json").write_text(json.dumps([{"video_name": "x", "question": "q?", "question_id": "v_x_0"}]))
    (tmp_path / "val_a.json").write_text("[]")
    with pytest.raises(ValueError, match="no answer"):
        get_suite("activitynet_qa", annotations_dir=tmp_path).load()


def test_activitynet_open_ended_scoring_normalises(activitynet):
    suite = get_suite("activitynet_qa")
    sample = next(s for s in activitynet if s.qtype == "7" and s.answer == "2")
    assert suite.score(sample, make_answer("Two.")).correct is True
    assert suite.score(sample, make_answer("three")).correct is False
    yes = next(s for s in activitynet if s.answer == "yes")
    assert suite.score(yes, make_answer("Yes")).correct is True
    assert suite.score(yes, make_answer("yes, it is")).correct is False


# ---------------------------------------------------------------------------------------
# EgoSchema and TGIF-QA fixtures in the official layouts


EGOSCHEMA_QUESTIONS = [
    {
        "q_uid": "0074f737-11cb-497d-8d07-77c3a8127391",
        "google_drive_id": "1ZdZ8aUcBNzndj135bqFrxb9L816EMGp1",
        "question": "Taking into account all the actions performed by c, what is the primary objective?",
        "option 0": "C is cooking.",
        "option 1": "C is doing laundry.",
        "option 2": "C is cleaning the kitchen.",
        "option 3": "C is cleaning dishes.",
        "option 4": "C is cleaning the bathroom.",
    },
    {
        "q_uid": "00b9a0de-c59e-49cb-a127-6081e2fb8c8e",
        "google_drive_id": "x",
        "question": "What is the overall goal of c's actions?",
        **{f"option {i}": f"option text {i}" for i in range(5)},
    },
    {
        "q_uid": "ffffffff-0000-0000-0000-000000000000",
        "google_drive_id": "y",
        "question": "A question whose answer is hidden on the benchmark server.",
        **{f"option {i}": f"hidden {i}" for i in range(5)},
    },
]
EGOSCHEMA_ANSWERS = {"0074f737-11cb-497d-8d07-77c3a8127391": 3, "00b9a0de-c59e-49cb-a127-6081e2fb8c8e": 1}


def test_egoschema_loads_answered_subset_and_finds_videos(tmp_path):
    ann = tmp_path / "egoschema"
    ann.mkdir()
    (ann / "questions.json").write_text(json.dumps(EGOSCHEMA_QUESTIONS))
    (ann / "subset_answers.json").write_text(json.dumps(EGOSCHEMA_ANSWERS))
    videos = tmp_path / "videos"
    videos.mkdir()
    (videos / "0074f737-11cb-497d-8d07-77c3a8127391.mp4").write_bytes(b"")
    samples = get_suite("egoschema", annotations_dir=ann).load(videos_dir=videos)
    assert [s.sample_id for s in samples] == list(EGOSCHEMA_ANSWERS)
    first, second = samples
    assert first.answer == 3 and first.answer_text == "C is cleaning dishes."
    assert first.options[0] == "C is cooking." and len(first.options) == 5
    assert first.video_path == str(videos / "0074f737-11cb-497d-8d07-77c3a8127391.mp4")
    assert second.video_path is None
    assert first.extra == {"google_drive_id": "1ZdZ8aUcBNzndj135bqFrxb9L816EMGp1"}


def test_egoschema_data_dir_comes_from_env(tmp_path, monkeypatch):
    monkeypatch.setenv("VIDAGENT_DATA_DIR", str(tmp_path))
    assert get_suite("egoschema").annotations_dir == tmp_path / "egoschema"
    with pytest.raises(MissingDataError) as err:
        get_suite("egoschema").load()
    message = str(err.value)
    assert "\n" not in message
    assert str(tmp_path / "egoschema" / "questions.json") in message
    assert "--data DIR" in message and "$VIDAGENT_DATA_DIR" in message and "[data] dir" in message


def test_default_data_root_is_the_user_data_dir(monkeypatch):
    import platformdirs

    monkeypatch.delenv("VIDAGENT_DATA_DIR", raising=False)
    root = Path(platformdirs.user_data_dir("vidagent", appauthor=False)) / "benchmarks"
    assert data_root() == root
    assert data_root("/srv/benchmarks") == Path("/srv/benchmarks")
    assert get_suite("nextqa").annotations_dir == root / "nextqa"
    assert get_suite("smoke").annotations_dir.joinpath("smoke.json").is_file()  # shipped with vidagent
    monkeypatch.setenv("VIDAGENT_DATA_DIR", "/elsewhere")
    assert data_root("/srv/benchmarks") == Path("/elsewhere")


# Header lines and example rows as in the TGIF-QA release (tab separated).
TGIF_FILES = {
    "Test_count_question.csv": [
        "gif_name\tquestion\tanswer\tvid_id\tkey",
        "tumblr_nezfs4uELd1u1a7cmo1_250\tHow many times does the man adjust waistband ?\t3\tCOUNT12\t52",
        "tumblr_nd53vw6Crc1r7na6zo1_400\tHow many times does the man wave his head ?\t5\tCOUNT2\t16",
    ],
    "Test_action_question.csv": [
        "gif_name\tquestion\ta1\ta2\ta3\ta4\ta5\tanswer\tvid_id\tkey",
        "tumblr_nqc2mbmU2J1uxhtnwo1_400\tWhat does the woman do 4 times ?\tflick\tdo gymnastic\tchew food\t"
        "shake hips left and right\tpat the back of the other man\t2\tACTION1\t5",
    ],
    "Test_transition_question.csv": [
        "gif_name\tquestion\ta1\ta2\ta3\ta4\ta5\tanswer\tvid_id\tkey",
        "tumblr_n9y2jhq01L1rts5xfo1_250\tWhat does the man do before point to the camera ?\t"
        "vacuum with unnattached tube\ttilt head\ttip hat\tremoves glasses\tsing passionately\t4\tTRANS23\t23",
    ],
    "Test_frameqa_question.csv": [
        "gif_name\tquestion\tanswer\ttype\tvid_id\tkey\tdescription",
        "tumblr_nq5474KbMK1slwrsuo1_400\thow many dogs is playing tug of war knock over a baby ?\ttwo\t1\t"
        "FRAMEQA3\t25889\ttwo dogs playing tug of war knock over a baby .",
        "tumblr_nh7j4ud4Mb1u5xywco1_500\twhat is the color of the shirt ?\tblack\t2\tFRAMEQA4460\t87751\t"
        "a man in a black shirt was singing and dancing .",
    ],
}


@pytest.fixture
def tgif_dir(tmp_path) -> Path:
    for name, lines in TGIF_FILES.items():
        (tmp_path / name).write_text("\n".join(lines) + "\n")
    return tmp_path


def test_tgif_qa_reads_all_four_task_layouts(tgif_dir, tmp_path):
    videos = tmp_path / "gifs"
    videos.mkdir()
    (videos / "tumblr_nqc2mbmU2J1uxhtnwo1_400.gif").write_bytes(b"")
    samples = {s.sample_id: s for s in get_suite("tgif_qa", annotations_dir=tgif_dir).load(videos_dir=videos)}
    assert list(samples) == ["COUNT12", "COUNT2", "ACTION1", "TRANS23", "FRAMEQA3", "FRAMEQA4460"]
    count = samples["COUNT12"]
    assert (count.answer, count.qtype, count.options) == (3, "count", None)
    assert count.video_id == "tumblr_nezfs4uELd1u1a7cmo1_250"
    action = samples["ACTION1"]
    assert action.options[2] == "chew food" and action.answer == 2 and action.qtype == "action"
    assert action.video_path == str(videos / "tumblr_nqc2mbmU2J1uxhtnwo1_400.gif")
    assert samples["TRANS23"].answer_text == "sing passionately"
    assert (samples["FRAMEQA3"].answer, samples["FRAMEQA3"].qtype) == ("two", "frameqa_number")
    assert samples["FRAMEQA4460"].qtype == "frameqa_color"
    assert count.video_path is None


def test_tgif_qa_task_subset_and_scoring(tgif_dir):
    suite = get_suite("tgif_qa", annotations_dir=tgif_dir, tasks=["count", "frameqa"])
    samples = {s.sample_id: s for s in suite.load()}
    assert set(samples) == {"COUNT12", "COUNT2", "FRAMEQA3", "FRAMEQA4460"}
    count = samples["COUNT12"]  # reference 3
    right = suite.score(count, make_answer("He adjusts it three times."))
    assert (right.correct, right.prediction, right.squared_error) == (True, "3", 0.0)
    wrong = suite.score(count, make_answer("5"))
    assert (wrong.correct, wrong.squared_error) == (False, 4.0)
    clipped = suite.score(samples["COUNT2"], make_answer("0"))  # clipped to 1, reference 5
    assert (clipped.prediction, clipped.squared_error) == ("1", 16.0)
    no_number = suite.score(count, make_answer("several"))
    assert (no_number.correct, no_number.squared_error) == (False, None)
    assert suite.score(samples["FRAMEQA3"], make_answer("Two")).correct is True
    with pytest.raises(ValueError, match="unknown TGIF-QA tasks"):
        get_suite("tgif_qa", annotations_dir=tgif_dir, tasks=["counting"])


def test_tgif_qa_malformed_row_names_file_and_line(tmp_path):
    # The README's transition example lists only four options, which shifts the answer column.
    header = TGIF_FILES["Test_transition_question.csv"][0]
    short = ("tumblr_nqc2mbmU2J1uxhtnwo1_400\tWhat does the woman do after leaning down ?\tstick tonque outlaying\t"
             "pushes top towards herself\traise a trumpet\tthrow a baseball\t2\tTRANS4\t5")
    (tmp_path / "Test_transition_question.csv").write_text(f"{header}\n{short}\n")
    with pytest.raises(ValueError, match="Test_transition_question.csv:2: .*TRANS4"):
        get_suite("tgif_qa", annotations_dir=tmp_path, tasks=["transition"]).load()


def test_tgif_qa_missing_column_is_reported(tmp_path):
    (tmp_path / "Test_count_question.csv").write_text("gif_name\tquestion\tvid_id\nx\ty\tCOUNT1\n")
    with pytest.raises(ValueError, match="missing columns \\['answer'\\]"):
        get_suite("tgif_qa", annotations_dir=tmp_path, tasks=["count"]).load()


# ---------------------------------------------------------------------------------------
# Video lookup and missing videos


def test_nextqa_videos_found_in_official_subfolder_layout(tmp_path, nextqa):
    nextvideo = tmp_path / "NExTVideo"
    (nextvideo / "0101").mkdir(parents=True)
    (nextvideo / "0101" / "4010069381.mp4").write_bytes(b"")
    (nextvideo / "0101" / "notes.txt").write_text("not a video")
    samples = suite_on_fixtures("nextqa").load(videos_dir=nextvideo, limit=2)
    assert samples[0].video_path == str(nextvideo / "0101" / "4010069381.mp4")
    assert samples[1].video_path is None
    assert [s.model_copy(update={"video_path": None}) for s in samples] == nextqa[:2]


def test_video_index_prefers_top_level_and_tries_stems_in_order(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.mp4").write_bytes(b"")
    (tmp_path / "a.webm").write_bytes(b"")
    (tmp_path / "v_b.MKV").write_bytes(b"")
    index = VideoIndex(tmp_path)
    assert len(index) == 2
    assert index.find(["a"]) == str(tmp_path / "a.webm")
    assert index.find(["v_b", "b"]) == str(tmp_path / "v_b.MKV")
    assert index.find(["c"]) is None
    assert VideoIndex(None).find(["a"]) is None
    assert VideoIndex(tmp_path / "does-not-exist").find(["a"]) is None


def test_activitynet_finds_v_prefixed_files(tmp_path, activitynet):
    (tmp_path / f"v_{activitynet[0].video_id}.mp4").write_bytes(b"")
    samples = suite_on_fixtures("activitynet_qa").load(videos_dir=tmp_path, limit=1)
    assert samples[0].video_path == str(tmp_path / f"v_{activitynet[0].video_id}.mp4")


def test_videos_default_to_the_data_folder(tmp_path):
    shutil.copy(real_file("nextqa", "val.csv"), tmp_path / "val.csv")
    (tmp_path / "videos").mkdir()
    (tmp_path / "videos" / "4010069381.mp4").write_bytes(b"")
    samples = get_suite("nextqa", annotations_dir=tmp_path).load(limit=2)
    assert samples[0].video_path == str(tmp_path / "videos" / "4010069381.mp4")
    assert samples[1].video_path is None


def test_missing_video_gives_an_error_row_not_a_crash(nextqa, nextgqa):
    sample = nextqa[0]
    assert sample.video_path is None
    row = SampleScore.missing_video(sample)
    assert (row.status, row.correct, row.cost, row.grounding) == ("error", None, None, None)
    assert "not found" in row.error
    grounded = SampleScore.missing_video(nextgqa[0])
    assert (grounded.grounding.iou, grounded.grounding.iop) == (0.0, 0.0)
    summary = metrics.summarize([row, get_suite("nextqa").score(nextqa[1], make_answer(choice=nextqa[1].answer))])
    assert (summary.overall.n_error, summary.overall.accuracy, summary.overall.accuracy_answered) == (1, 0.5, 1.0)
    assert summary.cost.n == 1


# ---------------------------------------------------------------------------------------
# Scoring


def test_multiple_choice_scoring_and_cost_copy(nextqa):
    suite = get_suite("nextqa")
    sample = nextqa[1]  # answer 2: "unwrap it"
    totals = TraceTotals(steps=4, tool_calls=6, invalid_tool_calls=1, prompt_tokens=900, completion_tokens=80,
                         frames_decoded=32, model_frames={"clip": 16, "yolo": 8}, wall_seconds=12.5, cache_hits=2)
    score = suite.score(sample, make_answer("unwrap it", choice=2, totals=totals))
    assert (score.correct, score.prediction, score.reference, score.qtype) == (True, "2", "unwrap it", "CW")
    assert score.cost.model_dump() == {
        "steps": 4, "tool_calls": 6, "invalid_tool_calls": 1, "frames_decoded": 32, "frames_through_models": 24,
        "prompt_tokens": 900, "completion_tokens": 80, "wall_seconds": 12.5, "cache_hits": 2,
    }
    assert suite.score(sample, make_answer("x", choice=1)).correct is False
    assert suite.score(sample, make_answer("Unwrap it.")).correct is True  # no choice, text names one option
    assert suite.score(sample, make_answer("it unwraps")).correct is False
    assert score.grounding is None


@pytest.mark.parametrize("status", ["unparsed", "budget_exhausted", "error"])
def test_unanswered_is_never_judged(nextqa, status):
    sample = nextqa[1]
    score = get_suite("nextqa").score(sample, make_answer("unwrap it", choice=sample.answer, status=status))
    assert (score.status, score.correct, score.prediction) == (status, None, None)
    assert score.counts_as_correct is False


def test_sample_checks_the_answer_index():
    with pytest.raises(ValueError, match="not an index into 2 options"):
        Sample(suite="s", sample_id="1", video_id="v", question="q", options=("a", "b"), answer=2)
    with pytest.raises(ValueError, match="not an index"):
        Sample(suite="s", sample_id="1", video_id="v", question="q", options=("a", "b"), answer="a")
    assert Sample(suite="s", sample_id="1", video_id="v", question="q", answer="a").answer_text == "a"


def test_score_rejects_a_sample_of_another_suite(nextqa):
    with pytest.raises(ValueError, match="belongs to suite"):
        get_suite("nextgqa").score(nextqa[0], make_answer(choice=0))


# ---------------------------------------------------------------------------------------
# NExT-GQA grounding: official get_tIoU definitions


def span(a: float, b: float) -> TimeSpan:
    return TimeSpan(start_s=a, end_s=b)


@pytest.mark.parametrize(
    "gt, pred, iou, iop",
    [
        (span(10, 20), span(15, 25), 5 / 15, 5 / 10),  # partial overlap
        (span(10, 20), span(12, 14), 2 / 10, 1.0),  # prediction inside ground truth
        (span(10, 20), span(0, 40), 10 / 40, 10 / 40),  # prediction covers ground truth
        (span(10, 20), span(30, 40), -10 / 30, -10 / 10),  # disjoint: negative, as get_tIoU returns
        (span(10, 20), span(12, 12), 0.0, 1.0),  # an instant inside: IoU 0, IoP 1
        (span(10, 20), span(20, 20), 0.0, 1.0),  # ends are included
        (span(10, 20), span(25, 25), 0.0, 0.0),  # an instant outside
    ],
)
def test_official_tiou(gt, pred, iou, iop):
    assert official_tiou(gt, pred) == pytest.approx((iou, iop))


def test_best_tiou_takes_each_maximum_separately_and_clips_at_zero():
    # IoU is best against [4, 5] (1/3), IoP against [0, 10] (1.0).
    assert best_tiou([span(0, 10), span(4, 5)], span(3, 6)) == pytest.approx((1 / 3, 1.0))
    assert best_tiou([span(10, 20)], span(30, 40)) == (0.0, 0.0)


def test_predicted_span_from_evidence():
    ev = lambda t, note="": Evidence(time_s=t, note=note)  # noqa: E731
    assert predicted_span(make_answer(evidence=[ev(7.5), ev(3.0), ev(5.0)])) == span(3.0, 7.5)
    assert predicted_span(make_answer(evidence=[ev(4.0)])) == span(4.0, 4.0)
    assert predicted_span(make_answer(evidence=[ev(1.0), ev(2.0, "answer span: 12.5-20 s")])) == span(12.5, 20.0)
    assert predicted_span(make_answer(evidence=[ev(1.0, "span [9, 3]")])) == span(3.0, 9.0)
    assert predicted_span(make_answer()) is None


def test_nextgqa_scores_grounding_of_answers(nextgqa):
    suite = get_suite("nextgqa")
    sample = next(s for s in nextgqa if len(s.gt_spans) == 1)
    g = sample.gt_spans[0]
    inside = make_answer(choice=sample.answer, evidence=[Evidence(time_s=g.start_s), Evidence(time_s=g.end_s)])
    score = suite.score(sample, inside)
    assert score.correct is True
    assert (score.grounding.iou, score.grounding.iop, score.grounding.pred_span) == (1.0, 1.0, g)
    no_evidence = suite.score(sample, make_answer(choice=sample.answer))
    assert (no_evidence.grounding.iou, no_evidence.grounding.iop, no_evidence.grounding.pred_span) == (0.0, 0.0, None)
    unparsed = suite.score(sample, make_answer(status="unparsed", evidence=inside.evidence))
    assert (unparsed.grounding.iou, unparsed.grounding.iop) == (0.0, 0.0)
    row = score.to_row()
    assert (row["iou"], row["pred_start_s"], row["pred_end_s"], row["steps"]) == (1.0, g.start_s, g.end_s, 0)
    missing = SampleScore.missing_video(sample).to_row()
    assert (missing["status"], missing["iou"], missing["pred_start_s"], missing["steps"]) == ("error", 0.0, None, None)


# ---------------------------------------------------------------------------------------
# Registry and entry points


class PluginSuite(Suite):
    """Loaded only through the fake entry point below."""

    name = "plugin_bench"
    description = "a suite from another package"
    annotations_subdir = "plugin_bench"

    def read_samples(self):
        yield Sample(suite=self.name, sample_id="1", video_id="v1", question="how many?", answer=2)

    def judge(self, sample, answer):
        return Verdict(correct=answer.text == "2", prediction=answer.text)


def test_builtin_suites_are_registered():
    assert {"nextqa", "nextgqa", "activitynet_qa", "egoschema", "tgif_qa"} <= set(available_suites())
    with pytest.raises(KeyError, match="unknown suite 'nope'"):
        get_suite("nope")


def test_entry_point_suites_are_loaded(monkeypatch):
    good = EntryPoint(name="plugin_bench", value=f"{__name__}:PluginSuite", group=suites_base.ENTRY_POINT_GROUP)
    broken = EntryPoint(name="broken", value="no_such_module_xyz:Suite", group=suites_base.ENTRY_POINT_GROUP)
    monkeypatch.setattr(suites_base, "entry_points", lambda group: [good, broken] if group == good.group else [])
    monkeypatch.setattr(suites_base, "_entry_points_loaded", False)
    monkeypatch.setattr(suites_base, "_REGISTRY", dict(suites_base._REGISTRY))
    with pytest.warns(UserWarning, match="'broken'.*failed to load"):
        suites = available_suites()
    assert suites["plugin_bench"] is PluginSuite
    suite = get_suite("plugin_bench")
    [sample] = suite.load()
    assert suite.score(sample, make_answer("2")).correct is True


def test_register_suite_validates_names_and_conflicts(monkeypatch):
    monkeypatch.setattr(suites_base, "_REGISTRY", dict(suites_base._REGISTRY))

    @register_suite
    class Mine(PluginSuite):
        name = "mine"

    assert get_suite("mine").name == "mine"
    assert register_suite(Mine) is Mine  # registering the same class again is harmless

    class Clash(PluginSuite):
        name = "nextqa"

    with pytest.raises(ValueError, match="'nextqa' is taken"):
        register_suite(Clash)

    class BadName(PluginSuite):
        name = "Bad-Name"

    with pytest.raises(ValueError, match="must match"):
        register_suite(BadName)
