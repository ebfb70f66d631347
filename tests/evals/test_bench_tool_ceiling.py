"""The tool-ceiling benchmark: its plans cover the smoke suite with tools the lite profile has,
and a run on real clips finds the phrases recorded as supporting the answers."""

from __future__ import annotations

import json

import pytest

from evals import bench_tool_ceiling
from tools.toolset import build_toolset


def test_every_smoke_question_has_a_plan_of_lite_tools_with_valid_arguments():
    questions = bench_tool_ceiling.load_json("smoke.json")["questions"]
    plans = bench_tool_ceiling.load_json("smoke_tool_plans.json")["plans"]
    assert set(plans) == {q["id"] for q in questions}
    toolset = build_toolset("lite")
    for qid, plan in plans.items():
        assert plan["calls"], qid
        for call in plan["calls"]:
            toolset.get(call["name"]).capability.args.model_validate(call["args"])  # raises on a bad argument
        assert plan["supported_by"] or plan["why"], f"{qid}: an unsupported answer says why"


@pytest.mark.lite
def test_a_run_counts_the_supported_questions(capsys, tmp_path):
    assert bench_tool_ceiling.main(["--only", "bikes_shot_count", "bikes_red_car", "--cache-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "bikes_shot_count             supported" in out and "bikes_red_car                not supported" in out
    assert "supported by the best lite-tool plan: 1/2 (50.0%)" in out


def test_planner_choices_are_counted_against_the_best_plans(capsys, tmp_path):
    def row(sample_id, *names, said=""):
        steps = [{"tool_calls": [{"name": n, "observation": said} for n in names]}]
        return json.dumps({"sample_id": sample_id, "trace": {"steps": steps}})

    (tmp_path / "traces.jsonl").write_text("\n".join([
        row("bikes_shot_count", "detect_shots", said="6 shots in 0.00-10.00 s"),  # right tool, misread
        row("bikes_taxi_color", "video_info", "dominant_color"),     # right tool, second
        row("bbb_animal", "dominant_color"),                          # wrong tool
        row("city_person"),                                           # no tool at all
    ]))
    (tmp_path / "results.jsonl").write_text("\n".join(
        json.dumps({"sample_id": sid, "correct": ok})
        for sid, ok in [("bikes_shot_count", False), ("bikes_taxi_color", False), ("bbb_animal", False), ("city_person", True)]
    ))
    assert bench_tool_ceiling.main(["--planner-run", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "planner's first tool in the best plan: 1/4; any of its tools: 2/4" in out
    assert "misread: bikes_shot_count (its reports say '6 shots')" in out
    assert "wrong answers whose reports held the supporting phrase: 1 of 3" in out
