"""Record a run, replay it without models: identical answers, or an honest divergence."""

from __future__ import annotations

import hashlib
import json
import shutil

import pytest

from agent.cli import main
from evals.pipeline import Pipeline
from evals.record import SampleRecording
from evals.run_dir import RunDir
from evals.runner import RunOptions, run_suite
from tests.evals.pipelines.tiny import PIPELINES, QUESTION_KEYED, make_clips, write_suite
from tools.capabilities import ShotsResult
from tools.registry import default_registry

OPTIONS = ("red", "green", "blue")
SAMPLES = [
    dict(sample_id="p0", video_id="two_cuts", question="Which colour? [pick 0]", options=OPTIONS, answer=0, qtype="A"),
    dict(sample_id="count3", video_id="two_cuts", question="How many shots are there?", answer="3 shots", qtype="B"),
    dict(sample_id="count3_again", video_id="two_cuts", question="How many shots does it have?", answer="3 shots",
         qtype="B"),
    dict(sample_id="count_wrong", video_id="one_cut", question="How many shots are there?", answer="3 shots",
         qtype="B"),
    dict(sample_id="garbage", video_id="one_cut", question="Which colour? [garbage]", options=OPTIONS, answer=1,
         qtype="A"),
    dict(sample_id="missing", video_id="absent", question="Which colour? [pick 1]", options=OPTIONS, answer=1,
         qtype="A"),
]


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    """The function planner's run over SAMPLES with --record (one worker: count3_again then
    finds count3's detect_shots result in the cache)."""
    root = tmp_path_factory.mktemp("replay")
    make_clips(root / "videos")
    suite = write_suite(root / "annotations", SAMPLES)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("VIDAGENT_CACHE_DIR", str(root / "cache"))
        run_suite(suite, Pipeline.load(PIPELINES / "function.toml", planner_factory=QUESTION_KEYED),
                  RunOptions(out_dir=root / "recorded", videos_dir=root / "videos", record=True, progress=False))
    return root


def _answers(run_dir: RunDir) -> dict[str, dict]:
    return {t["sample_id"]: t for t in run_dir.traces()}


def _conversation(trace: dict) -> list:
    return [(s["kind"], s["action"], s["raw"], s["thought"], s["error"],
             [(c["call_id"], c["name"], c["args"], c["status"], c["observation"]) for c in s["tool_calls"]])
            for s in trace["steps"]]


def test_recording_holds_replies_and_tool_outputs_with_their_data(recorded):
    run = RunDir(recorded / "recorded")
    recordings = {line["sample_id"]: SampleRecording.model_validate(line) for line in run.recording_lines()}
    assert sorted(recordings) == ["count3", "count3_again", "count_wrong", "garbage", "p0"]
    assert [t.raw for t in recordings["garbage"].turns] == ["I think the answer is B"] * 2
    assert recordings["garbage"].turns[1].feedback and recordings["garbage"].turns[0].action is None
    traces = _answers(run)
    assert traces["count3_again"]["trace"]["totals"]["cache_hits"] == 1  # its output came from the cache
    backend = default_registry().toolset("core").get("detect_shots")
    for sample_id in ("count3", "count3_again"):
        (result,) = recordings[sample_id].tool_results
        assert (result.name, result.status, result.data_note) == ("detect_shots", "ok", None)
        output = result.output(backend)
        assert isinstance(output.data, ShotsResult) and len(output.data.shots) == 3
        assert output.observation == traces[sample_id]["trace"]["steps"][0]["tool_calls"][0]["observation"]
        assert [e.time_s for e in output.evidence] == output.data.cut_times_s


def test_replay_reproduces_every_answer_without_decoding(recorded, capsys):
    code = main(["eval", "run", "--replay", str(recorded / "recorded"), "--out", str(recorded / "replayed"),
                 "--no-progress"])
    out = capsys.readouterr()
    assert code == 0, out.err
    original, replayed = RunDir(recorded / "recorded"), RunDir(recorded / "replayed")
    fields = ("status", "correct", "prediction", "answer", "choice", "error", "error_kind", "steps", "tool_calls")
    rows_a = {r.sample_id: r for r in original.rows()}
    rows_b = {r.sample_id: r for r in replayed.rows()}
    assert sorted(rows_a) == sorted(rows_b) == sorted(s["sample_id"] for s in SAMPLES)
    for sample_id, row in rows_a.items():
        assert [getattr(row, f) for f in fields] == [getattr(rows_b[sample_id], f) for f in fields], sample_id
    answers_a, answers_b = _answers(original), _answers(replayed)
    assert sorted(answers_a) == sorted(answers_b)
    for sample_id, line in answers_a.items():
        assert answers_b[sample_id]["answer"] == line["answer"]
        assert _conversation(answers_b[sample_id]["trace"]) == _conversation(line["trace"])
    assert rows_a["count3"].frames_decoded > 0 and rows_b["count3"].frames_decoded == 0
    manifest = replayed.read_manifest()
    assert manifest["mode"] == "replay" and manifest["replay_of"] == str((recorded / "recorded").resolve())
    recording_sha = hashlib.sha256(original.recording_path.read_bytes()).hexdigest()
    assert manifest["models"][0]["sha256"] == recording_sha
    assert "| all | 6 | 50.0% | 75.0% | 3 | 4 | 1 | 0 | 1 |" in out.out  # 3 right of 4 answered; 1 unparsed


def test_replay_reports_divergence_instead_of_answering_a_different_conversation(recorded):
    tampered = recorded / "tampered"
    shutil.copytree(recorded / "recorded", tampered)
    lines = [json.loads(line) for line in RunDir(tampered).recording_path.read_text().splitlines()]
    kept = []
    for line in lines:
        if line["sample_id"] == "count3":  # the tool now "says" something else than what the planner saw
            result = line["tool_results"][0]
            result["output_json"] = result["output_json"].replace("3 shots", "4 shots")
        if line["sample_id"] != "count_wrong":  # and one sample was never recorded
            kept.append(line)
    RunDir(tampered).recording_path.write_text("".join(json.dumps(line) + "\n" for line in kept))

    outcome = run_suite(write_suite(recorded / "annotations", SAMPLES), Pipeline.load(PIPELINES / "function.toml"),
                        RunOptions(out_dir=recorded / "tampered_replay", videos_dir=recorded / "videos",
                                   replay=tampered, progress=False))
    rows = {r.sample_id: r for r in outcome.run_dir.rows()}
    assert (rows["count3"].status, rows["count3"].error_kind) == ("error", "agent_error")
    assert rows["count3"].error.startswith("replay diverged at planner turn 2: observation of detect_shots")
    assert (rows["count_wrong"].status, rows["count_wrong"].error_kind) == ("error", "not_recorded")
    assert (rows["p0"].status, rows["p0"].correct, rows["count3_again"].correct) == ("answered", True, True)
