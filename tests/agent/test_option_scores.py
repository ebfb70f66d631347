"""The option-score hint: which observation lines it reads, and that a scorer whose model
cannot load turns itself off instead of failing the question."""

from __future__ import annotations

import logging

from agent.option_scores import EmbeddingOptionScorer, observation_lines
from planners.base import CallTools, HistoryStep
from tools.types import Evidence, Observation, ToolCall


def step(*observations: Observation) -> HistoryStep:
    calls = tuple(ToolCall(name=o.name, args={}, id=o.call_id) for o in observations)
    return HistoryStep(action=CallTools(calls=calls), observations=observations)


def obs(text: str, status: str = "ok", notes: tuple[str, ...] = (), call_id: str = "c1") -> Observation:
    evidence = tuple(Evidence(time_s=1.0, note=n) for n in notes)
    return Observation(call_id=call_id, name="detect_objects", status=status, text=text, evidence=evidence)


def test_observation_lines_split_texts_and_keep_evidence_notes_of_successful_calls():
    history = [
        step(obs("3 tracks: #1 car 0.00-2.00 s; #2 person 1.00-3.00 s\nlooked at 20 frames", notes=("car first seen",))),
        step(obs("bad arguments: fps must be > 0", status="retry", call_id="c2"), obs("car first seen", call_id="c3")),
    ]
    assert observation_lines(history) == [
        "3 tracks: #1 car 0.00-2.00 s", "#2 person 1.00-3.00 s", "looked at 20 frames", "car first seen",
    ]


def test_no_tool_results_no_scores():
    assert EmbeddingOptionScorer()(("a", "b"), [step(obs("x", status="error"))]) is None


def test_a_model_that_cannot_load_turns_the_hint_off(tmp_path, caplog):
    from tools.models.text_embedder import TextEmbedder

    scorer = EmbeddingOptionScorer(TextEmbedder(model_dir=tmp_path / "no_model_here"))
    history = [step(obs("2 cars"))]
    with caplog.at_level(logging.WARNING, logger="agent.option_scores"):
        assert scorer(("one car", "two cars"), history) is None
        assert scorer(("one car", "two cars"), history) is None
    assert len([r for r in caplog.records if "option scores disabled" in r.message]) == 1
