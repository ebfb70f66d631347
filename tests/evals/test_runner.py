"""The eval runner on real (synthetic) videos: rows, manifest, timeouts, missing videos, resume.

The function planner of ``tests/evals/pipelines/tiny.py`` answers according to instructions in
each question, so every expected row below is known by hand.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agent.types import Answer, Trace
from evals.executors import WorkerStartError
from evals.pipeline import Pipeline
from evals.run_dir import ResultRow, RunDir, RunDirError, scan_jsonl, score_from_row
from evals.runner import RunOptions, run_suite
from evals.samples import Grounding, SampleCost, SampleScore
from tests.evals.pipelines.tiny import PIPELINES, QUESTION_KEYED, make_clips, write_suite
from tests.videos import make_video
from tools.errors import ConfigError
from tools.registry import default_registry
from tools.types import TimeSpan

TIMEOUT_S = 4.0
OPTIONS = ("red", "green", "blue")

#: sample id -> (fields, expected status, expected correct, expected error_kind)
MIXED = {
    "p0": (dict(video_id="two_cuts", question="Which colour? [pick 0]", options=OPTIONS, answer=0, qtype="A"),
           "answered", True, None),
    "hang": (dict(video_id="one_cut", question="Which colour? [hang]", options=OPTIONS, answer=1, qtype="B"),
             "error", None, "timeout"),
    "crash": (dict(video_id="one_cut", question="Which colour? [crash]", options=OPTIONS, answer=1, qtype="B"),
              "error", None, "worker_died"),
    "p2": (dict(video_id="one_cut", question="Which colour? [pick 2]", options=OPTIONS, answer=1, qtype="A"),
           "answered", False, None),
    "count3": (dict(video_id="two_cuts", question="How many shots are there?", answer="three shots", qtype="B"),
               "answered", True, None),
    "count_wrong": (dict(video_id="one_cut", question="How many shots are there?", answer="3 shots", qtype="A"),
                    "answered", False, None),
    "garbage": (dict(video_id="two_cuts", question="Which colour? [garbage]", options=OPTIONS, answer=0, qtype="A"),
                "unparsed", None, None),
    "missing": (dict(video_id="absent", question="Which colour? [pick 0]", options=OPTIONS, answer=0, qtype="A"),
                "error", None, "missing_video"),
    "broken": (dict(video_id="not_a_video", question="Which colour? [pick 0]", options=OPTIONS, answer=0, qtype="B"),
               "error", None, "video_unreadable"),
}


@pytest.fixture(scope="module")
def mixed_run(tmp_path_factory):
    """One run of the function planner over MIXED, one worker, per-sample timeout TIMEOUT_S."""
    root = tmp_path_factory.mktemp("mixed")
    make_clips(root / "videos")
    suite = write_suite(root / "annotations", [{"sample_id": k, **v[0]} for k, v in MIXED.items()])
    pipeline = Pipeline.load(PIPELINES / "function.toml", planner_factory=QUESTION_KEYED)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("VIDAGENT_CACHE_DIR", str(root / "cache"))
        started = time.monotonic()
        outcome = run_suite(suite, pipeline, RunOptions(out_dir=root / "run", videos_dir=root / "videos", workers=1,
                                                        timeout_s=TIMEOUT_S, progress=False))
        seconds = time.monotonic() - started
    return suite, outcome, seconds


def test_every_sample_gets_exactly_one_row_with_its_outcome(mixed_run):
    suite, outcome, _ = mixed_run
    rows = outcome.run_dir.rows()
    assert sorted(r.sample_id for r in rows) == sorted(MIXED)
    for row in rows:
        _, status, correct, error_kind = MIXED[row.sample_id]
        assert (row.status, row.correct, row.error_kind) == (status, correct, error_kind), row
    by_id = {r.sample_id: r for r in rows}
    assert by_id["count3"].answer == "3 shots" and by_id["count_wrong"].answer == "2 shots"
    assert by_id["p2"].choice == 2 and by_id["p2"].prediction == "2"
    assert by_id["count3"].steps == 2 and by_id["count3"].tool_calls == 1 and by_id["count3"].frames_decoded > 0
    assert "not found" in by_id["missing"].error and by_id["missing"].steps is None
    assert str(Path(by_id["broken"].video_path)) in by_id["broken"].error


def test_summary_counts_parse_failures_and_errors_apart_from_wrong_answers(mixed_run):
    overall = mixed_run[1].summary.overall
    assert (overall.n, overall.n_correct, overall.n_answered) == (9, 2, 4)
    assert (overall.n_unparsed, overall.n_error) == (1, 4)
    assert overall.accuracy == pytest.approx(2 / 9) and overall.accuracy_answered == pytest.approx(2 / 4)
    by_qtype = mixed_run[1].summary.by_qtype
    assert (by_qtype["A"].n, by_qtype["A"].n_correct) == (5, 1)
    assert (by_qtype["B"].n, by_qtype["B"].n_correct) == (4, 1)


def test_a_sample_over_time_or_a_dead_worker_is_an_error_row_and_the_worker_is_replaced(mixed_run):
    _, outcome, seconds = mixed_run
    rows = {r.sample_id: r for r in outcome.run_dir.rows()}
    assert rows["hang"].error == f"timed out after {TIMEOUT_S:g} s; the worker was replaced"
    assert TIMEOUT_S <= rows["hang"].sample_seconds < TIMEOUT_S + 2
    assert rows["crash"].error == "the worker process died (exit code 3)"
    first = rows["p0"].worker_pid  # p0, hang, crash, then the rest run in this order on one worker at a time
    last = {rows[k].worker_pid for k in ("p2", "count3", "count_wrong", "garbage", "broken")}
    assert len(last) == 1 and first not in last, "samples after the timeout and the crash ran in a new worker"
    assert seconds < 60, "the hanging planner (120 s) was not cut short"


def test_a_worker_that_cannot_start_stops_the_run_with_its_reason(tmp_path):
    (tmp_path / "bad.toml").write_text('script = "no_such_script.json"\n[planner]\nkind = "scripted"\n')
    suite = write_suite(tmp_path / "annotations", [{"sample_id": "p0", **MIXED["p0"][0]}])
    make_clips(tmp_path / "videos")
    with pytest.raises(WorkerStartError, match="no_such_script.json does not exist"):
        run_suite(suite, Pipeline.load(tmp_path / "bad.toml"),
                  RunOptions(out_dir=tmp_path / "run", videos_dir=tmp_path / "videos", progress=False))


def test_a_pipeline_naming_a_tool_its_profile_lacks_stops_before_any_worker_starts(tmp_path):
    (tmp_path / "bad.toml").write_text('[tools]\nprofile = "core"\nnames = ["no_such_tool"]\n')
    suite = write_suite(tmp_path / "annotations", [{"sample_id": "p0", **MIXED["p0"][0]}])
    make_clips(tmp_path / "videos")
    with pytest.raises(ConfigError, match="tools not in profile 'core': no_such_tool"):
        run_suite(suite, Pipeline.load(tmp_path / "bad.toml", planner_factory=QUESTION_KEYED),
                  RunOptions(out_dir=tmp_path / "run", videos_dir=tmp_path / "videos", progress=False))
    assert not (tmp_path / "run" / "results.jsonl").exists()


def test_manifest_identifies_code_pipeline_models_suite_and_machine(mixed_run):
    _, outcome, _ = mixed_run
    manifest = outcome.run_dir.read_manifest()
    source = PIPELINES / "function.toml"
    assert manifest["pipeline"]["sha256"] == hashlib.sha256(source.read_bytes()).hexdigest()
    assert outcome.run_dir.pipeline_copy_path.read_bytes() == source.read_bytes()
    assert manifest["pipeline"]["planner_factory"] == QUESTION_KEYED
    commit = manifest["git_commit"]  # others may commit meanwhile: the run's commit is HEAD or before it
    assert len(commit) == 40 and subprocess.run(["git", "merge-base", "--is-ancestor", commit, "HEAD"],
                                                cwd=PIPELINES).returncode == 0
    assert manifest["vidagent_version"] == "0.1.0"
    assert manifest["suite"]["name"] == "tiny" and manifest["suite"]["n_samples"] == 9
    assert manifest["suite"]["qtype_groups"] == {"A": "G", "B": "G"}
    core = default_registry().toolset("core")
    assert {(t["name"], t["backend"], t["version"]) for t in manifest["tools"]} == {
        (name, b.backend, b.version) for name, b in core.backends.items()}
    assert manifest["args"]["workers"] == 1 and manifest["args"]["timeout_s"] == TIMEOUT_S
    assert manifest["machine"]["cpu_count"] == os.cpu_count() and manifest["machine"]["memory_bytes"] > 0
    assert manifest["mode"] == "run" and len(manifest["sessions"]) == 1


def test_rows_rescore_identically_from_the_stored_traces(mixed_run):
    suite, outcome, _ = mixed_run
    rows = {r.sample_id: r for r in outcome.run_dir.rows()}
    samples = {s.sample_id: s for s in suite.load(outcome.run_dir.path.parent / "videos")}
    traced = list(outcome.run_dir.traces())
    assert sorted(t["sample_id"] for t in traced) == sorted(["p0", "p2", "count3", "count_wrong", "garbage"])
    for line in traced:
        answer = Answer(**line["answer"], trace=Trace.model_validate(line["trace"]))
        assert suite.score(samples[line["sample_id"]], answer) == score_from_row(rows[line["sample_id"]])


def test_result_rows_hold_exactly_the_fields_of_sample_score_rows():
    score = SampleScore(
        suite="s", sample_id="x", qtype="CW", status="answered", correct=True, prediction="2", reference="b",
        grounding=Grounding(iou=0.25, iop=0.5, pred_span=TimeSpan(start_s=1.0, end_s=3.5)), squared_error=4.0,
        cost=SampleCost(steps=3, tool_calls=2, frames_decoded=40, wall_seconds=1.5, prompt_tokens=900),
    )
    assert set(score.to_row()) <= set(ResultRow.model_fields)
    assert score_from_row(ResultRow(**score.to_row())) == score
    bare = SampleScore(suite="s", sample_id="y", status="error", correct=None, error="video 'y' not found")
    assert score_from_row(json.loads(ResultRow(**bare.to_row()).model_dump_json())) == bare


# -- resume --------------------------------------------------------------------------------


def _row_line(sample_id: str) -> str:
    row = ResultRow(suite="tiny", sample_id=sample_id, status="error", correct=None, error="x")
    return json.dumps(row.model_dump(mode="json")) + "\n"


def test_resume_drops_a_partial_last_line_and_the_traces_of_unfinished_samples(tmp_path):
    run_dir = RunDir(tmp_path)
    run_dir.results_path.write_text(_row_line("a") + _row_line("b") + _row_line("c")[:25])
    run_dir.traces_path.write_text("".join(json.dumps({"sample_id": s, "trace": {}}) + "\n" for s in "abca")
                                   + '{"sample_id": "d", "tr')
    state = run_dir.prepare_resume()
    assert state.done == {"a", "b"}
    assert run_dir.results_path.read_text() == _row_line("a") + _row_line("b")
    assert [t["sample_id"] for t in run_dir.traces()] == ["a", "b"]
    assert len(state.repairs) == 2 and "partial last line" in state.repairs[0]
    assert run_dir.prepare_resume().repairs == ()  # repaired files need no second repair


def test_a_damaged_line_followed_by_rows_is_not_silently_dropped(tmp_path):
    path = tmp_path / "results.jsonl"
    path.write_text(_row_line("a") + '{"sample_id": "b", "st\n' + _row_line("c"))
    with pytest.raises(RunDirError, match="line 2 is damaged"):
        scan_jsonl(path)


def test_an_existing_run_is_only_continued_with_resume_and_the_same_pipeline(tmp_path):
    # no videos folder: every sample is a missing-video row and no worker starts
    suite = write_suite(tmp_path / "annotations", [{"sample_id": k, **v[0]} for k, v in MIXED.items()])
    first = run_suite(suite, Pipeline.load(PIPELINES / "choice0.toml"), RunOptions(out_dir=tmp_path / "run", limit=3,
                                                                                  progress=False))
    assert (first.n_written, first.run_dir.rows()[0].error_kind) == (3, "missing_video")
    with pytest.raises(RunDirError, match="--resume"):
        run_suite(suite, Pipeline.load(PIPELINES / "choice0.toml"),
                  RunOptions(out_dir=tmp_path / "run", progress=False))
    with pytest.raises(RunDirError, match="pipeline"):
        run_suite(suite, Pipeline.load(PIPELINES / "shots_choice1.toml"),
                  RunOptions(out_dir=tmp_path / "run", resume=True, progress=False))
    more = run_suite(suite, Pipeline.load(PIPELINES / "choice0.toml"),
                     RunOptions(out_dir=tmp_path / "run", resume=True, progress=False))
    assert (more.n_skipped, more.n_written) == (3, len(MIXED) - 3)
    assert sorted(r.sample_id for r in more.run_dir.rows()) == sorted(MIXED)


N_KILL_SAMPLES = 20


def _nextqa_subset(root: Path) -> tuple[Path, Path]:
    """A NExT-QA val.csv of N_KILL_SAMPLES questions over four generated videos; the
    shots_nocache pipeline (always option 1) is right on the even-numbered questions."""
    videos, annotations = root / "videos", root / "annotations"
    videos.mkdir()
    annotations.mkdir()
    for v in range(4):
        make_video(videos / f"{1000 + v}.mp4", n_frames=96, cuts=(30 + 10 * v,))
    header = "video,frame_count,width,height,question,answer,qid,type,a0,a1,a2,a3,a4\n"
    lines = [f"{1000 + i % 4},96,160,96,what happens in part {i},{1 if i % 2 == 0 else 0},{i},CW,red,green,blue,white,black\n"
             for i in range(N_KILL_SAMPLES)]
    (annotations / "val.csv").write_text(header + "".join(lines))
    return videos, annotations


def _eval_run(*args: str) -> list[str]:
    return [sys.executable, "-m", "agent.cli", "eval", "run", *args]


def test_resume_after_sigkill_loses_and_duplicates_no_row(tmp_path):
    videos, annotations = _nextqa_subset(tmp_path)
    out = tmp_path / "run"
    cmd = _eval_run("--suite", "nextqa", "--annotations", str(annotations), "--videos", str(videos),
                    "--pipeline", str(PIPELINES / "shots_nocache.toml"), "--out", str(out), "--workers", "1")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    results = out / "results.jsonl"
    deadline = time.monotonic() + 90
    while proc.poll() is None and time.monotonic() < deadline:
        if results.exists() and results.read_bytes().count(b"\n") >= 3:
            break
        time.sleep(0.02)
    assert proc.poll() is None, f"the run ended before it could be killed: {proc.communicate()[1].decode()[-2000:]}"
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)
    before_kill = results.read_bytes()
    kept = before_kill[: before_kill.rindex(b"\n") + 1]
    n_kept = kept.count(b"\n")
    assert 3 <= n_kept < N_KILL_SAMPLES
    # a kill in the middle of a write leaves half a row: add one for a sample not yet done
    torn = json.loads(kept.splitlines()[-1])
    torn["sample_id"] = "1003_19"
    with results.open("ab") as fh:
        fh.write(json.dumps(torn).encode()[:60])

    resumed = subprocess.run(cmd + ["--resume"], capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    assert "dropped a partial last line" in resumed.stderr
    assert f"{N_KILL_SAMPLES - n_kept} samples answered now, {n_kept} already done" in resumed.stderr
    assert "eta" in resumed.stderr  # progress lines (stderr is not a terminal here)
    after = results.read_bytes()
    assert after.startswith(kept), "rows written before the kill were changed"
    rows = [json.loads(line) for line in after.splitlines()]
    ids = [r["sample_id"] for r in rows]
    assert sorted(ids) == sorted(f"{1000 + i % 4}_{i}" for i in range(N_KILL_SAMPLES)) and len(set(ids)) == len(ids)
    assert sum(r["correct"] is True for r in rows) == N_KILL_SAMPLES // 2
    traces = [json.loads(line)["sample_id"] for line in (out / "traces.jsonl").read_text().splitlines()]
    assert sorted(traces) == sorted(ids)
    manifest = json.loads((out / "manifest.json").read_text())
    assert len(manifest["sessions"]) == 2 and manifest["sessions"][1]["repairs"]
    assert "| all | 20 | 50.0% |" in resumed.stdout  # the summary table


def test_several_workers_split_the_planner_threads_unless_the_pipeline_sets_them():
    from evals.runner import with_planner_threads_shared
    from planners.servers.llamacpp import default_n_threads

    lite = Pipeline.load(Path(__file__).resolve().parents[2] / "pipelines" / "lite.toml")
    assert lite.config.local_llm.n_threads is None
    assert with_planner_threads_shared(lite, 1) is lite
    shared = with_planner_threads_shared(lite, 2).config.local_llm
    assert shared.n_threads == default_n_threads(servers=2) >= 1
    pinned = dataclasses.replace(lite, config=lite.config.model_copy(
        update={"local_llm": lite.config.local_llm.model_copy(update={"n_threads": 3})}))
    assert with_planner_threads_shared(pinned, 2).config.local_llm.n_threads == 3
