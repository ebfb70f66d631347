"""The restricted interpreter for plans written as programs: what it runs, what it refuses
before running anything, and the limits that stop a running program."""

import pytest

from planners.program import (
    MAX_LOOP_ITERATIONS,
    MAX_STATEMENTS,
    ProgramInterpreter,
    ProgramRefused,
    check_program,
)

PARAMETERS = {"detect_shots": ["span"], "dominant_color": ["time_s", "box"], "video_info": []}
SHOTS = {"cut_times_s": [1.2, 3.0], "shots": [{"start_s": 0.0, "end_s": 1.2}, {"start_s": 1.2, "end_s": 3.0},
                                                {"start_s": 3.0, "end_s": 4.0}]}


class Tools:
    """Records every call; detect_shots returns three shots, the others a small dict."""

    def __init__(self):
        self.calls = []

    def __call__(self, name, args):
        self.calls.append((name, args))
        if name == "detect_shots":
            return SHOTS
        return {"name": "red", "time_s": args.get("time_s")}


def run(source):
    tools = Tools()
    result = ProgramInterpreter(tools, PARAMETERS).run(source)
    return result, tools.calls


def test_straight_line_calls_run_in_order_with_positional_arguments_bound_by_name():
    result, calls = run('shots = detect_shots()\ncolor = dominant_color(2.5)\ninfo = video_info()')
    assert result.error is None
    assert calls == [("detect_shots", {}), ("dominant_color", {"time_s": 2.5}), ("video_info", {})]
    assert result.calls == calls


def test_a_program_composes_tool_results_with_loops_branches_and_indexing():
    source = (
        "shots = detect_shots()\n"
        "for shot in shots['shots'][1:]:\n"
        "    middle = (shot['start_s'] + shot['end_s']) / 2\n"
        "    if middle > 2:\n"
        "        dominant_color(time_s=round(middle, 1))\n"
        "    else:\n"
        "        pass\n"
        "n = len(shots['cut_times_s'])\n"
        "print(f'{n} cuts, last at {max(shots[\"cut_times_s\"]):.1f} s')\n"
    )
    result, calls = run(source)
    assert result.error is None
    assert calls == [("detect_shots", {}), ("dominant_color", {"time_s": 2.1}), ("dominant_color", {"time_s": 3.5})]
    assert result.printed == ["2 cuts, last at 3.0 s"]


def test_a_bare_unbound_name_as_a_dict_key_is_its_own_text():
    # the tool signatures write objects as {start_s, end_s}; a 1.5B model then wrote {start_s: 0, end_s: 10}
    result, calls = run("detect_shots(span={start_s: 0, end_s: 10})\nk = 'end_s'\ndetect_shots(span={k: 4})")
    assert result.error is None
    assert calls == [("detect_shots", {"span": {"start_s": 0, "end_s": 10}}), ("detect_shots", {"span": {"end_s": 4}})]


def test_print_goes_to_the_run_not_to_stdout(capsys):
    result, _ = run("print('hello', 3)")
    assert result.printed == ["hello 3"] and capsys.readouterr().out == ""


@pytest.mark.parametrize(
    "source, reason",
    [
        ("import os\nvideo_info()", "import is not allowed"),
        ("from socket import socket", "import is not allowed"),
        ("video_info()\nopen('/etc/passwd')", "open() is not a tool"),
        ("__import__('socket')", "__import__() is not a tool"),
        ("x = __builtins__", "the name __builtins__ is not allowed"),
        ("x = ().__class__.__bases__", "attribute access"),
        ("shots = detect_shots()\nshots.clear()", "attribute access"),
        ("exec('import os')", "exec() is not a tool"),
        ("eval('1')", "eval() is not a tool"),
        ("getattr(video_info, 'x')", "getattr() is not a tool"),
        ("while True:\n    video_info()", "while loops are not allowed"),
        ("def f():\n    return 1", "defining functions is not allowed"),
        ("f = lambda: 1", "lambda is not allowed"),
        ("class A:\n    pass", "defining classes is not allowed"),
        ("with x:\n    pass", "with is not allowed"),
        ("try:\n    video_info()\nexcept Exception:\n    pass", "try is not allowed"),
        ("x = 2 ** 100", "** is not allowed"),
        ("x = [c for c in 'ab']", "ListComp is not allowed"),
        ("x = {}\nx['a'] = 1", "assign only to plain names"),
        ("video_info(*[1])", "*args and **kwargs are not allowed"),
        ("detect_shots(**{'span': None})", "*args and **kwargs are not allowed"),
        ("x = (", "not valid Python"),
    ],
)
def test_refused_programs_run_nothing(source, reason):
    tools = Tools()
    with pytest.raises(ProgramRefused, match=reason.replace("(", r"\(").replace(")", r"\)").replace("*", r"\*")):
        ProgramInterpreter(tools, PARAMETERS).run(source)
    assert tools.calls == []


def test_a_refusal_names_the_line():
    with pytest.raises(ProgramRefused, match="^line 3: import is not allowed$"):
        check_program("video_info()\nx = 1\nimport os", {"video_info"})


def test_a_failure_while_running_keeps_the_calls_made_before_it():
    result, calls = run("video_info()\nx = y + 1\ndetect_shots()")
    assert calls == [("video_info", {})]
    assert result.error == "line 2: the name y is not defined"


@pytest.mark.parametrize(
    "source, message",
    [
        ("x = 'a' * 1000000000", "a value longer than 10000 would be built"),
        ("x = [0] * 100\nfor i in x:\n    x = x + x", "a value longer than 10000 would be built"),
        ("x = 10\nfor i in [1] * 90:\n    x = x * x", "a number larger than"),
        ("for i in [1] * 1000:\n    video_info()", f"a loop ran more than {MAX_LOOP_ITERATIONS} times"),
        ("x = f'{1:>100000}'", "format widths above 100 are not allowed"),
        ("detect_shots(1, 2)", "detect_shots() takes at most 1 arguments"),
        ("detect_shots(None, span=None)", "detect_shots() got span twice"),
        ("x = detect_shots()['nope']", "KeyError"),
        ("x = 1 / 0", "ZeroDivisionError"),
        ("a, b = [1, 2, 3]", "cannot unpack 3 values into 2 names"),
    ],
)
def test_limits_and_errors_stop_a_running_program_in_one_line(source, message):
    result, _ = run(source)
    assert result.error is not None and message in result.error and "\n" not in result.error


def test_the_statement_limit_stops_long_programs():
    source = "\n".join(["for i in [1] * 99:", "    x = 1", "    y = 2", "    z = 3"])
    result, _ = run(source)
    assert result.error.endswith(f": more than {MAX_STATEMENTS} statements ran")
