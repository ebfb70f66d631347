"""``vidagent eval report`` / ``compare`` / ``suites`` on two runs whose differences are known by hand.

Run A (``choice0.toml``) always answers option 0 and fails the open-ended question (its
one-step script runs out when the agent asks again). Run B (the function planner) follows the
``[pick N]`` / ``[garbage]`` instructions and counts shots with ``detect_shots``.

    sample  type  reference  A               B
    s1      A     0          0  right        0  right
    s2      A     1          0  wrong        1  right   (gained)
    s3      A     2          0  wrong        2  right   (gained)
    s4      B     0          0  right        1  wrong   (lost)
    s5      B     1          0  wrong        unparsed
    s6      B     2          0  wrong        0  wrong
    s7      B     "3 shots"  error           "3 shots" right (gained)
"""

from __future__ import annotations

import base64
import json
import re

import pytest

from agent.cli import main
from evals.pipeline import Pipeline
from evals.runner import RunOptions, run_suite
from tests.evals.pipelines.tiny import PIPELINES, QUESTION_KEYED, make_clips, write_suite

OPTIONS = ("red", "green", "blue")
SAMPLES = [
    dict(sample_id="s1", video_id="two_cuts", question="Colour? [pick 0]", options=OPTIONS, answer=0, qtype="A"),
    dict(sample_id="s2", video_id="two_cuts", question="Colour? [pick 1]", options=OPTIONS, answer=1, qtype="A"),
    dict(sample_id="s3", video_id="one_cut", question="Colour? [pick 2]", options=OPTIONS, answer=2, qtype="A"),
    dict(sample_id="s4", video_id="one_cut", question="Colour? [pick 1]", options=OPTIONS, answer=0, qtype="B"),
    dict(sample_id="s5", video_id="two_cuts", question="Colour? [garbage]", options=OPTIONS, answer=1, qtype="B"),
    dict(sample_id="s6", video_id="one_cut", question="Colour? [pick 0]", options=OPTIONS, answer=2, qtype="B"),
    dict(sample_id="s7", video_id="two_cuts", question="How many shots are there?", answer="3 shots", qtype="B"),
]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    make_clips(root / "videos")
    suite = write_suite(root / "annotations", SAMPLES)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("VIDAGENT_CACHE_DIR", str(root / "cache"))
        for name, pipeline, workers in (
            ("A", Pipeline.load(PIPELINES / "choice0.toml"), 1),
            ("B", Pipeline.load(PIPELINES / "function.toml", planner_factory=QUESTION_KEYED), 2),
        ):
            run_suite(suite, pipeline, RunOptions(out_dir=root / name, videos_dir=root / "videos", workers=workers,
                                                  progress=False))
    return root


def test_report_writes_markdown_and_self_contained_html_with_the_tables(runs, capsys):
    assert main(["eval", "report", str(runs / "B")]) == 0
    printed = capsys.readouterr().out
    md = (runs / "B" / "report.md").read_text()
    expected_rows = [
        "| all | 7 | 57.1% | 66.7% | 4 | 6 | 1 | 0 | 0 |",
        "| A (alpha) | 3 | 100.0% | 100.0% | 3 | 3 | 0 | 0 | 0 |",
        "| B (beta) | 4 | 25.0% | 33.3% | 1 | 3 | 1 | 0 | 0 |",
    ]
    for row in expected_rows:
        assert row in printed and row in md
    assert re.search(r"\| detect_shots \| 1 \| 1 \| 0 \| 0 \| 0 \| [0-9.]+ \|", md)
    assert "| unparsed | 1 |" in md  # the cause table names parse failures
    assert "| steps | 1.29 | 1 | 9 |" in md  # 5 one-step answers, s5 and s7 two steps each
    html = (runs / "B" / "report.html").read_text()
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
    assert len(images) == 5  # accuracy per type, chosen vs gold positions, latency, steps, tool usage
    assert all(base64.b64decode(img).startswith(b"\x89PNG\r\n\x1a\n") for img in images)
    assert not re.search(r'(src|href)="(?!data:)', html), "report.html must not reference other files"
    assert "<td>B (beta)</td><td>4</td><td>25.0%</td>" in html


@pytest.mark.parametrize(
    ("run", "rows"),
    [
        # A always picks option 0: position 0 is chosen three times as often as it is the answer
        ("A", ["| 0 | 2 | 6 | 3.00 | 2 | 100.0% |", "| 1 | 2 | 0 | 0.00 | 0 | 0.0% |", "| 2 | 2 | 0 | 0.00 | 0 | 0.0% |",
               "| no choice |  | 0 |  |  |  |"]),
        ("B", ["| 0 | 2 | 2 | 1.00 | 1 | 50.0% |", "| 1 | 2 | 2 | 1.00 | 1 | 50.0% |", "| 2 | 2 | 1 | 0.50 | 1 | 50.0% |",
               "| no choice |  | 1 |  |  |  |"]),
    ],
)
def test_report_shows_chosen_against_gold_option_positions(runs, capsys, run, rows):
    assert main(["eval", "report", str(runs / run)]) == 0
    printed = capsys.readouterr().out
    md = (runs / run / "report.md").read_text()
    assert "### Multiple choice by option position (6 questions; 0 choices at confidence <= 0.5)" in md
    for row in rows:
        assert row in printed and row in md
    assert (runs / run / "plots" / "choice_positions.png").read_bytes().startswith(b"\x89PNG")


def test_report_names_why_samples_have_no_answer(runs, capsys):
    assert main(["eval", "report", str(runs / "A")]) == 0
    md = (runs / "A" / "report.md").read_text()
    assert "| agent_error | 1 |" in md
    assert "| all | 7 | 28.6% | 33.3% | 2 | 6 | 0 | 0 | 1 |" in capsys.readouterr().out


def test_compare_pairs_questions_and_lists_flips(runs, capsys):
    assert main(["eval", "compare", str(runs / "A"), str(runs / "B")]) == 0
    out = capsys.readouterr().out
    assert "| accuracy | 28.6% | 57.1% | +28.6 pts |" in out
    assert "| McNemar exact p | 0.625 |" in out  # 3 gained, 1 lost: 2 * (1 + 4) / 2**4
    assert "| gained (wrong in A, correct in B) | 3 |" in out and "| lost (correct in A, wrong in B) | 1 |" in out
    for row in ("| s2 | A | green | 0 | 1 | gained |", "| s3 | A | blue | 0 | 2 | gained |",
                "| s7 | B | 3 shots | error | 3 shots | gained |", "| s4 | B | red | 0 | 1 | lost |"):
        assert row in out
    ci = re.search(r"\| \+28\.6 pts \[([-+0-9.]+), ([-+0-9.]+)\] \|", out)
    assert ci and float(ci.group(1)) <= 28.6 <= float(ci.group(2))
    assert "| steps | 0.143 |" in out and "| tool_calls | 0.143 |" in out  # B: s5 and s7 take 2 steps, s7 1 call

    assert main(["eval", "compare", str(runs / "A"), str(runs / "B"), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["gained"] == ["tiny/s2", "tiny/s3", "tiny/s7"] and data["lost"] == ["tiny/s4"]
    assert data["n_paired"] == 7 and data["mcnemar_p"] == pytest.approx(0.625)


def test_compare_of_runs_without_common_samples_is_a_usage_error(runs, tmp_path, capsys):
    other = write_suite(tmp_path / "annotations", [dict(SAMPLES[0], sample_id="elsewhere")])
    run_suite(other, Pipeline.load(PIPELINES / "choice0.toml"), RunOptions(out_dir=tmp_path / "C", progress=False))
    assert main(["eval", "compare", str(runs / "A"), str(tmp_path / "C")]) == 2
    assert "share no samples" in capsys.readouterr().err


def test_suites_lists_registered_suites(capsys):
    assert main(["eval", "suites"]) == 0
    lines = capsys.readouterr().out.splitlines()
    names = [line.split()[0] for line in lines]
    assert {"nextqa", "nextgqa", "egoschema", "tiny"} <= set(names)
    assert any(line.startswith("nextqa ") and "NExT-QA" in line for line in lines)
