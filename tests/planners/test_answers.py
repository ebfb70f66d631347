"""Multiple-choice answers: which option a reply names, the choice derived from it, and the
confidence the planner's own option checks allow."""

from __future__ import annotations

import pytest

from planners.base import FinalAnswer, OptionCheck, open_options, option_named, option_values, parse_action
from tests.planners.chat_server import sample_request

OPTIONS = ("right to left", "left to right", "towards the camera", "2", "it does not move")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("left to right", 1),
        ("Left to right.", 1),
        ("  LEFT  TO RIGHT!", 1),
        ("1. left to right", 1),
        ("1) left to right", 1),
        ("(2) towards the camera", 2),
        ("2", 3),  # a bare number is an option's text, never an index
        ("3. 2", 3),
        ("0. left to right", None),  # number and text disagree
        ("left", None),
        ("right to left or left to right", None),
        ("choice", None),
        ("null", None),
        ("", None),
    ],
)
def test_option_named(text, expected):
    assert option_named(text, OPTIONS) == expected


def test_options_that_read_the_same_need_their_number():
    options = ("a red car", "A red car!", "a bus")
    assert option_named("a red car", options) is None
    assert option_named("1. A red car!", options) == 1
    assert option_values(options) == ["0. a red car", "1. A red car!", "2. a bus"]
    assert option_values(OPTIONS) == list(OPTIONS)


def request(options=("one", "two", "three")):
    return sample_request(options=options)


def checks(*fits: str, options=("one", "two", "three")) -> list[dict]:
    return [{"option": o, "fits": f} for o, f in zip(options, fits)]


def test_choice_is_derived_from_the_answer_text():
    action, error = parse_action({"action": "answer", "answer": "three"}, request())
    assert error is None and action.choice == 2 and action.answer == "three"
    action, error = parse_action({"action": "answer", "answer": "Three", "choice": 2}, request())
    assert error is None and action.choice == 2


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        ({"answer": "three", "choice": 0}, "'answer' is option 2 ('three') but 'choice' is 0 ('one')"),
        ({"answer": "None of the given options match", "choice": 0}, "must be one of the options, copied exactly"),
        ({"answer": "choice", "choice": 0}, "must be one of the options"),
        ({"answer": "three", "choice": 3}, "out of range 0-2"),
        ({"answer": "two", "option_checks": checks("no", "yes")}, "must list every option once, in order"),
        (
            {"answer": "one", "option_checks": checks("no", "yes", "unclear")},
            "you checked the chosen option 'one' as 'no' against the tool results, but 'two' as more likely",
        ),
        (
            {"answer": "three", "option_checks": checks("no", "yes", "unclear")},
            "you checked the chosen option 'three' as 'unclear'",
        ),
    ],
)
def test_an_answer_that_contradicts_itself_is_rejected(reply, error):
    action, message = parse_action({"action": "answer", **reply}, request())
    assert action is None and error in message


@pytest.mark.parametrize(
    ("fits", "answer", "confidence", "expected"),
    [
        (("no", "yes", "no"), "two", 0.9, 0.9),  # one option fits: the planner's confidence stands
        (("yes", "yes", "no"), "two", 0.9, 0.5),  # two fit: at best a coin toss between them
        (("unclear", "unclear", "no"), "one", None, 0.5),
        (("no", "no", "no"), "three", 0.8, 1 / 3),  # nothing told the options apart
        (("unclear", "unclear", "unclear"), "one", 0.95, 1 / 3),
    ],
)
def test_confidence_is_capped_by_the_options_the_checks_leave_open(fits, answer, confidence, expected):
    reply = {"action": "answer", "option_checks": checks(*fits), "answer": answer, "confidence": confidence}
    action, error = parse_action(reply, request())
    assert error is None
    assert action.confidence == pytest.approx(expected)


def test_without_checks_the_planners_confidence_is_kept():
    action, _ = parse_action({"action": "answer", "answer": "two", "confidence": 0.7}, request())
    assert action.confidence == 0.7 and action.choice == 1


def test_open_options():
    def c(*fits):
        return [OptionCheck(option=str(i), fits=f) for i, f in enumerate(fits)]

    assert open_options(c("no", "yes", "yes")) == [1, 2]
    assert open_options(c("no", "unclear", "no")) == [1]
    assert open_options(c("no", "no")) == [0, 1]


def test_an_open_question_takes_no_choice_and_no_checks():
    open_request = request(options=None)
    assert parse_action({"action": "answer", "answer": "two bikes"}, open_request)[0].choice is None
    assert "leave 'choice' out" in parse_action({"action": "answer", "answer": "x", "choice": 0}, open_request)[1]
    bad = {"action": "answer", "answer": "x", "option_checks": [{"option": "x", "fits": "yes"}]}
    assert "leave 'option_checks' out" in parse_action(bad, open_request)[1]


def test_a_final_answer_object_is_settled_like_a_parsed_reply():
    from planners.base import settle_action

    action, error = settle_action(FinalAnswer(answer="2. three"), request())
    assert error is None and action.choice == 2


def test_an_evidence_box_written_out_of_order_is_dropped_and_the_answer_stands():
    reply = {"action": "answer", "answer": "red", "evidence": [
        {"time_s": 0, "box": [250, 640, 192, 384], "note": "the car"}, {"time_s": 1, "box": [1, 2, 3, 4]}]}
    action, error = parse_action(reply, request(options=None))
    assert error is None
    assert [(e.time_s, e.box, e.note) for e in action.evidence] == [(0, None, "the car"), (1, (1, 2, 3, 4), "")]
    malformed = {"action": "answer", "answer": "red", "evidence": [{"time_s": 0, "box": [1, 2, "x", 4]}]}
    assert "evidence" in parse_action(malformed, request(options=None))[1]


def test_a_raw_newline_inside_a_string_is_read_as_a_newline():
    raw = '{"action": "answer", "thought": "two\nlines", "answer": "six\tshots"}'
    action, error = parse_action(raw, request(options=None))
    assert error is None and action.thought == "two\nlines" and action.answer == "six\tshots"
