"""The option-score hint: which evidence it reads, and that a scorer whose model cannot load
turns itself off instead of failing the question."""

from __future__ import annotations

import logging

from agent.option_scores import EmbeddingOptionScorer, evidence_notes
from planners.base import CallTools, HistoryStep
from tools.types import Evidence, Observation, ToolCall


def step(*observations: Observation) -> HistoryStep:
    calls = tuple(ToolCall(name=o.name, args={}, id=o.call_id) for o in observations)
    return HistoryStep(action=CallTools(calls=calls), observations=observations)


def obs(text: str, status: str = "ok", notes: tuple[str, ...] = (), call_id: str = "c1") -> Observation:
    evidence = tuple(Evidence(time_s=1.0, note=n) for n in notes)
    return Observation(call_id=call_id, name="detect_objects", status=status, text=text, evidence=evidence)


def test_the_hint_reads_the_evidence_notes_of_successful_calls_only():
    history = [
        step(obs("'car' -> car: 3 boxes; 'airplane' -> airplane: not seen", notes=("car first seen", "car clearest"))),
        step(obs("bad arguments", status="retry", notes=("ignored",), call_id="c2"),
             obs("at 1.00 s: blue", notes=("mostly blue", "car first seen", " "), call_id="c3")),
    ]
    assert evidence_notes(history) == ["car first seen", "car clearest", "mostly blue"]


def test_no_tool_results_no_scores():
    assert EmbeddingOptionScorer()(("a", "b"), [step(obs("x", status="error", notes=("a",)))]) is None
    assert EmbeddingOptionScorer()(("a", "b"), [step(obs("x"))]) is None  # nothing found, nothing to score


def test_a_model_that_cannot_load_turns_the_hint_off(tmp_path, caplog):
    from tools.backends.lite.models.text_embedder import TextEmbedder

    scorer = EmbeddingOptionScorer(TextEmbedder(model_dir=tmp_path / "no_model_here"))
    history = [step(obs("2 cars", notes=("car first seen",)))]
    with caplog.at_level(logging.WARNING, logger="agent.option_scores"):
        assert scorer(("one car", "two cars"), history) is None
        assert scorer(("one car", "two cars"), history) is None
    assert len([r for r in caplog.records if "option scores disabled" in r.message]) == 1
