"""The agent end to end with scripted planners, on real footage and generated videos."""

import json
import os
from pathlib import Path

import pytest

from agent import Budgets, VideoAgent
from planners.base import PlannerInput
from planners.scripted import FunctionPlanner, ScriptedPlanner
from tests.videos import make_video
from tools.cache import ResultCache

SNAPSHOTS = Path(__file__).parent / "snapshots"


def shots_then_answer(answer="There are 6 shots.", **extra):
    return [
        {"action": "call_tools", "thought": "find the cuts", "calls": [{"name": "detect_shots", "args": {}}]},
        {"action": "answer", "answer": answer, **extra},
    ]


@pytest.fixture
def cache(tmp_path):
    return ResultCache(tmp_path / "results.sqlite")


def test_scripted_run_on_real_footage(bikes_mp4, cache):
    agent = VideoAgent(planner=ScriptedPlanner(shots_then_answer()), tools="core", cache=cache)
    answer = agent.ask(bikes_mp4, "How many shots does the clip have?")
    assert answer.status == "answered" and answer.text == "There are 6 shots."
    trace = answer.trace
    assert [s.action for s in trace.steps] == ["call_tools", "answer"]
    (call,) = trace.steps[0].tool_calls
    assert call.name == "detect_shots" and call.status == "ok" and call.frames_decoded > 0
    # the planner cited nothing, so the answer carries the tool's evidence: the cuts
    cut_times = [e.time_s for e in answer.evidence]
    assert len(cut_times) == 5 and all("detect_shots" in e.note for e in answer.evidence)
    assert trace.totals.steps == 2 and trace.totals.tool_calls == 1 and trace.totals.frames_decoded > 0


def test_second_question_reuses_the_cache(bikes_mp4, cache):
    first = VideoAgent(planner=ScriptedPlanner(shots_then_answer()), cache=cache).ask(bikes_mp4, "q1")
    second = VideoAgent(planner=ScriptedPlanner(shots_then_answer()), cache=cache).ask(bikes_mp4, "q2")
    assert first.trace.totals.cache_hits == 0 and second.trace.totals.cache_hits == 1
    assert second.trace.totals.frames_decoded == 0
    assert second.trace.steps[0].tool_calls[0].observation == first.trace.steps[0].tool_calls[0].observation


def test_multiple_choice_names_the_option(bikes_mp4, cache):
    script = shots_then_answer("six", choice=2, evidence=[{"time_s": 3.0, "note": "second cut"}])
    answer = VideoAgent(planner=ScriptedPlanner(script), cache=cache).ask(
        bikes_mp4, "How many shots?", options=["four", "five", "six"]
    )
    assert answer.status == "answered" and answer.choice == 2
    assert answer.evidence[0].frame_index == 75 and answer.evidence[0].note == "second cut"


def test_an_answer_whose_text_contradicts_its_choice_goes_back_once(bikes_mp4, cache):
    script = shots_then_answer("six", choice=0) + [{"action": "answer", "answer": "six"}]
    planner = ScriptedPlanner(script)
    answer = VideoAgent(planner=planner, cache=cache).ask(bikes_mp4, "How many shots?", options=["four", "five", "six"])
    assert answer.status == "answered" and answer.choice == 2 and answer.text == "six"
    assert "'answer' is option 2 ('six') but 'choice' is 0" in planner.requests[2].feedback


def test_when_nothing_tells_the_options_apart_the_answer_says_so(bikes_mp4, cache):
    unclear = [{"option": o, "fits": "unclear"} for o in ("four", "five", "six")]
    script = shots_then_answer("five", option_checks=unclear, confidence=0.9)
    answer = VideoAgent(planner=ScriptedPlanner(script), cache=cache).ask(
        bikes_mp4, "How many shots?", options=["four", "five", "six"]
    )
    assert answer.status == "answered" and answer.choice == 1
    assert answer.confidence == pytest.approx(1 / 3)  # a guess among three, whatever the planner claimed


def test_option_scores_are_shown_to_the_planner_as_a_hint(bikes_mp4, cache):
    """With the lite tier's MiniLM: after dominant_color reports the colour of a frame, the
    option naming that colour scores highest; the planner still chooses (here, another option)."""
    from agent.option_scores import EmbeddingOptionScorer

    def planner_fn(request: PlannerInput):
        if not request.history:
            return {"action": "call_tools", "calls": [{"name": "dominant_color", "args": {"time_s": 8.5}}]}
        return {"action": "answer", "answer": request.options[2]}

    first = VideoAgent(planner=FunctionPlanner(planner_fn), cache=cache, option_scorer=None).ask(
        bikes_mp4, "Which colour?", options=["a", "b", "c"]
    )
    colour = first.trace.steps[0].tool_calls[0].observation.split(": ")[1].split(" (")[0]
    options = ["a dog barking", f"mostly {colour}", "the number seven"]
    planner = FunctionPlanner(planner_fn)
    answer = VideoAgent(planner=planner, cache=cache, option_scorer=EmbeddingOptionScorer()).ask(
        bikes_mp4, "What colour dominates the frame at 8.5 s?", options=options
    )
    request_1, request_2 = planner.requests
    assert request_1.option_scores is None  # no tool results yet
    scores = request_2.option_scores
    assert len(scores) == 3 and all(0 <= x <= 1 for x in scores)
    assert max(range(3), key=scores.__getitem__) == 1
    assert answer.choice == 2  # the hint never chooses
    assert answer.trace.steps[1].option_scores == list(scores)
    assert first.trace.steps[1].option_scores is None  # no scorer, no hint


def test_option_scores_are_off_for_the_weight_free_profile():
    from agent.option_scores import EmbeddingOptionScorer, default_option_scorer

    assert VideoAgent(planner=ScriptedPlanner([]), tools="core").option_scorer is None
    assert isinstance(default_option_scorer("lite"), EmbeddingOptionScorer)


def test_one_rejected_reply_goes_back_with_the_error(bikes_mp4, cache):
    seen: list[PlannerInput] = []
    replies = iter(['{"action": "answer"', '{"action": "answer", "answer": "fine"}'])

    def planner(request: PlannerInput):
        seen.append(request)
        return next(replies)

    answer = VideoAgent(planner=FunctionPlanner(planner), cache=cache).ask(bikes_mp4, "q")
    assert answer.status == "answered" and answer.text == "fine"
    assert seen[0].feedback is None and "not valid JSON" in seen[1].feedback
    assert [s.kind for s in answer.trace.steps] == ["plan", "retry"]


def test_two_rejected_replies_end_unparsed_without_a_guess(bikes_mp4, cache):
    answer = VideoAgent(planner=ScriptedPlanner(["not json", '{"action": "dance"}']), cache=cache).ask(
        bikes_mp4, "q", options=["a", "b"]
    )
    assert answer.status == "unparsed" and answer.choice is None and answer.text == ""
    assert "action schema" in answer.error


def test_choice_out_of_range_is_rejected(bikes_mp4, cache):
    script = ['{"action": "answer", "answer": "x", "choice": 5}', '{"action": "answer", "answer": "b", "choice": 1}']
    answer = VideoAgent(planner=ScriptedPlanner(script), cache=cache).ask(bikes_mp4, "q", options=["a", "b"])
    assert answer.status == "answered" and answer.choice == 1
    assert "out of range" in answer.trace.steps[0].error


def _a_new_call_each_step(request: PlannerInput) -> dict:
    start = float(len(request.history))
    return {"action": "call_tools", "calls": [{"name": "detect_shots", "args": {"span": {"start_s": start, "end_s": 10}}}]}


def _always_call_tools(request: PlannerInput):
    if request.must_answer:
        return {"action": "answer", "answer": "best effort"}
    return _a_new_call_each_step(request)


def test_step_budget_gives_one_forced_answer_turn(bikes_mp4, cache):
    agent = VideoAgent(planner=FunctionPlanner(_always_call_tools), cache=cache, budgets=Budgets(max_steps=3))
    answer = agent.ask(bikes_mp4, "q")
    assert answer.status == "answered" and answer.text == "best effort"
    assert answer.trace.budget_hit == "steps"
    assert [s.kind for s in answer.trace.steps] == ["plan"] * 3 + ["forced_answer"]


def test_budget_exhausted_when_the_forced_turn_does_not_answer(bikes_mp4, cache):
    def stubborn(request):
        return _a_new_call_each_step(request)

    agent = VideoAgent(planner=FunctionPlanner(stubborn), cache=cache, budgets=Budgets(max_steps=2))
    answer = agent.ask(bikes_mp4, "q")
    assert answer.status == "budget_exhausted" and answer.text == ""
    kinds = [s.kind for s in answer.trace.steps]
    assert kinds == ["plan", "plan", "forced_answer", "forced_answer"]  # forced turn + its one retry


def test_a_step_that_only_repeats_earlier_calls_runs_nothing_and_the_next_turn_must_answer(bikes_mp4, cache):
    seen = []

    def repeats_itself(request):
        seen.append(request)
        if request.must_answer:
            return {"action": "answer", "answer": "from what I have"}
        box = [250, 640, 300, 700] if not request.history else [250.0, 640.0, 300.0, 700.0]  # 250 == 250.0
        return {"action": "call_tools", "calls": [{"name": "dominant_color", "args": {"time_s": 3, "box": box}}]}

    answer = VideoAgent(planner=FunctionPlanner(repeats_itself), cache=cache).ask(bikes_mp4, "q")
    assert answer.status == "answered" and answer.text == "from what I have"
    assert [s.kind for s in answer.trace.steps] == ["plan", "plan", "forced_answer"]
    assert answer.trace.budget_hit == "repeated_calls"
    first, again = answer.trace.steps[0].tool_calls[0], answer.trace.steps[1].tool_calls[0]
    assert first.status == "retry" and "outside" in first.observation
    assert again.status == "error" and again.seconds == 0 and not again.cache_hit
    assert again.observation.startswith("not run again: you made this same call in tool step 1, and it said: ")
    assert first.observation in again.observation
    assert seen[2].history[1].observations[0].text == again.observation  # the planner is told


def test_a_span_of_no_length_is_sent_back_without_running(bikes_mp4, cache):
    script = [{"action": "call_tools", "calls": [{"name": "detect_shots", "args": {"span": {"start_s": 10, "end_s": 10}}}]},
              {"action": "call_tools", "calls": [{"name": "detect_shots", "args": {}}]},
              {"action": "answer", "answer": "6 shots"}]
    answer = VideoAgent(planner=ScriptedPlanner(script), cache=cache).ask(bikes_mp4, "q")
    empty, whole = answer.trace.steps[0].tool_calls[0], answer.trace.steps[1].tool_calls[0]
    assert empty.status == "retry" and empty.frames_decoded == 0
    assert empty.observation.startswith("not run: span 10-10 s has no length. Leave span out")
    assert whole.status == "ok" and answer.text == "6 shots"


def test_a_step_with_one_new_call_runs_it_and_goes_on(bikes_mp4, cache):
    shots = {"name": "detect_shots", "args": {}}
    info = {"name": "video_info", "args": {}}
    script = [{"action": "call_tools", "calls": [shots]}, {"action": "call_tools", "calls": [shots, info]},
              {"action": "answer", "answer": "done"}]
    answer = VideoAgent(planner=ScriptedPlanner(script), cache=cache).ask(bikes_mp4, "q")
    assert [s.kind for s in answer.trace.steps] == ["plan", "plan", "plan"] and answer.trace.budget_hit is None
    repeated, new = answer.trace.steps[1].tool_calls
    assert repeated.observation.startswith("not run again") and new.status == "ok"


def test_tool_call_budget_refuses_extra_calls(bikes_mp4, cache):
    calls = [{"name": "video_info", "args": {}}] * 3
    script = [{"action": "call_tools", "calls": calls}, {"action": "answer", "answer": "done"}]
    answer = VideoAgent(planner=ScriptedPlanner(script), cache=cache, budgets=Budgets(max_tool_calls=2)).ask(bikes_mp4, "q")
    statuses = [c.status for c in answer.trace.steps[0].tool_calls]
    assert statuses == ["ok", "ok", "error"]
    assert "budget" in answer.trace.steps[0].tool_calls[2].observation


def test_bad_arguments_come_back_as_retry_observations(bikes_mp4, cache):
    seen = []

    def planner(request):
        seen.append(request)
        if not request.history:
            return {"action": "call_tools", "calls": [{"name": "detect_shots", "args": {"span": {"start_s": 5, "end_s": 1}}}]}
        return {"action": "answer", "answer": "gave up"}

    answer = VideoAgent(planner=FunctionPlanner(planner), cache=cache).ask(bikes_mp4, "q")
    obs = seen[1].history[0].observations[0]
    assert obs.status == "retry" and "end_s" in obs.text
    assert answer.trace.totals.invalid_tool_calls == 1


def test_planner_that_raises_gives_status_error(bikes_mp4, cache):
    answer = VideoAgent(planner=ScriptedPlanner([]), cache=cache).ask(bikes_mp4, "q")
    assert answer.status == "error" and answer.trace.steps[-1].action == "planner_error"


def test_synthetic_video_cuts_are_found(tmp_path, cache):
    video = make_video(tmp_path / "cuts.mp4", n_frames=72, fps=24, cuts=(24, 48))
    answer = VideoAgent(planner=ScriptedPlanner(shots_then_answer("3 shots")), cache=cache).ask(video, "shots?")
    assert [round(e.time_s, 2) for e in answer.evidence] == [1.0, 2.0]


def test_trace_jsonl(bikes_mp4, cache, tmp_path):
    answer = VideoAgent(planner=ScriptedPlanner(shots_then_answer()), cache=cache).ask(bikes_mp4, "q")
    path = tmp_path / "trace.jsonl"
    answer.trace.write_jsonl(path)
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert [r["type"] for r in rows] == ["step", "step", "totals"]
    assert rows[0]["tool_calls"][0]["name"] == "detect_shots" and rows[2]["tool_calls"] == 1


def test_graph_drawing_matches_snapshot(cache):
    drawing = VideoAgent(planner=ScriptedPlanner([]), cache=cache).draw_mermaid()
    path = SNAPSHOTS / "graph.mmd"
    if os.environ.get("VIDAGENT_UPDATE_SNAPSHOTS") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(drawing)
    assert drawing == path.read_text(), "the agent graph changed: review, then rerun with VIDAGENT_UPDATE_SNAPSHOTS=1"


def test_min_tool_steps_rejects_an_answer_before_any_tool(bikes_mp4, cache):
    seen = []

    def eager(request: PlannerInput):
        seen.append(request)
        if request.history or request.feedback is None:
            if request.history:
                return {"action": "answer", "answer": "ten seconds"}
            return {"action": "answer", "answer": "a guess"}
        return {"action": "call_tools", "calls": [{"name": "video_info", "args": {}}]}

    agent = VideoAgent(planner=FunctionPlanner(eager), cache=cache, budgets=Budgets(min_tool_steps=1))
    answer = agent.ask(bikes_mp4, "How long is it?")
    assert answer.status == "answered" and answer.text == "ten seconds"
    assert seen[0].must_call_tools and "call at least one tool" in seen[1].feedback
    assert not seen[2].must_call_tools
