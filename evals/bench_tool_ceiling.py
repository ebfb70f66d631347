"""How many smoke questions the lite tools can answer at all: the ceiling of any planner.

Runs the hand-written best plan of every smoke question (``evals/data/smoke_tool_plans.json``:
what a planner could call from the question's wording alone) through the lite tools on the
real clips, and counts the questions whose observations contain the phrase that supports the
reference answer. A question the best plan cannot support is right only by a guess, whatever
the planner. Prints one row per question, then the totals by question type.

    python -m evals.bench_tool_ceiling [--cache-dir DIR] [--only ID ...]
    python -m evals.bench_tool_ceiling --rank-tools
    python -m evals.bench_tool_ceiling --planner-run RUN_DIR

``--rank-tools`` runs no tool: it ranks the lite tools for each question by MiniLM similarity
between the question and each tool's ``use_for`` and counts how often the first (and the first
two) are tools of the best plan: how well a question-to-tool ranking ahead of the planner
would choose. ``--planner-run`` counts the same for the tools a planner called in an eval run
(``vidagent eval run --suite smoke --out RUN_DIR``; read from its ``traces.jsonl``).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

from evals.suites.smoke import SMOKE_DATA_DIR, resolve_clip
from tools.cache import ResultCache
from tools.runner import ToolRunner
from tools.toolset import build_toolset
from tools.types import ToolCall
from tools.video import VideoReader


def load_json(name: str) -> dict:
    """An annotation file shipped beside the smoke suite's (``evals/data``)."""
    return json.loads((SMOKE_DATA_DIR / name).read_text(encoding="utf-8"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache-dir", type=Path, default=None, help="tool result cache (default: none, all fresh)")
    parser.add_argument("--only", nargs="*", default=None, help="question ids")
    parser.add_argument("--rank-tools", action="store_true", help="rank tools by use_for similarity; run none")
    parser.add_argument("--planner-run", type=Path, default=None, help="an eval run folder of the smoke suite")
    args = parser.parse_args(argv)

    suite, plans = load_json("smoke.json"), load_json("smoke_tool_plans.json")["plans"]
    if args.rank_tools:
        return rank_tools(suite["questions"], plans)
    if args.planner_run:
        return planner_choices(args.planner_run / "traces.jsonl", plans)
    toolset = build_toolset("lite")
    cache = ResultCache(args.cache_dir / "results.sqlite") if args.cache_dir else None
    supported, total = Counter(), Counter()
    for question in suite["questions"]:
        if args.only and question["id"] not in args.only:
            continue
        plan = plans[question["id"]]
        clip = resolve_clip(suite["clips"][question["clip"]])
        if clip is None:
            print(f"{question['id']}: clip not installed, skipped", file=sys.stderr)
            continue
        with VideoReader.open(clip) as reader:
            runner = ToolRunner(toolset, reader, cache=cache, timeout_s=600)
            said = [runner.run([ToolCall(name=c["name"], args=c["args"])])[0].observation for c in plan["calls"]]
        needle = plan["supported_by"]
        found = needle is not None and any(needle in text for text in said)
        total[question["qtype"]] += 1
        supported[question["qtype"]] += found
        verdict = "supported" if found else ("NOT FOUND: " + needle if needle else "not supported")
        print(f"{question['id']:28} {verdict:14} {' | '.join(' '.join(t.split())[:160] for t in said)}")
    n, k = sum(total.values()), sum(supported.values())
    print(f"\nsupported by the best lite-tool plan: {k}/{n} ({100 * k / max(n, 1):.1f}%)")
    print("by type: " + ", ".join(f"{t} {supported[t]}/{total[t]}" for t in sorted(total)))
    return 0


def rank_tools(questions: list[dict], plans: dict) -> int:
    import numpy as np

    from tools.backends.lite.models.text_embedder import TEXT_EMBEDDER
    from tools.model_loading import MODELS

    specs = [s for s in build_toolset("lite").specs() if s.use_for]
    similarity = np.asarray(MODELS.load(TEXT_EMBEDDER).similarity([q["question"] for q in questions],
                                                                    [s.use_for for s in specs]))
    first = first_two = 0
    for question, row in zip(questions, similarity):
        ranked = [specs[j].name for j in np.argsort(-row)]
        best = {c["name"] for c in plans[question["id"]]["calls"]}
        first += ranked[0] in best
        first_two += bool(best & set(ranked[:2]))
        print(f"{question['id']:28} ranked {', '.join(ranked[:3]):55} best plan {', '.join(sorted(best))}")
    n = len(questions)
    print(f"\nfirst-ranked tool in the best plan: {first}/{n}; one of the first two: {first_two}/{n}")
    return 0


def planner_choices(traces: Path, plans: dict) -> int:
    """Tool choice of a run, and its wrong answers whose own tool reports held the supporting
    phrase: misreadings, the most a verify turn or answer voting over the same reports could fix."""
    results = traces.with_name("results.jsonl")
    correct = {}
    if results.is_file():
        for line in results.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            correct[row["sample_id"]] = bool(row.get("correct"))
    first = called = n = misread = 0
    for line in traces.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        tool_calls = [c for step in row["trace"]["steps"] for c in step["tool_calls"]]
        calls = [c["name"] for c in tool_calls]
        plan = plans[row["sample_id"]]
        best = {c["name"] for c in plan["calls"]}
        n += 1
        first += bool(calls) and calls[0] in best
        called += bool(best & set(calls))
        needle = plan["supported_by"]
        if correct.get(row["sample_id"]) is False and needle and any(needle in c.get("observation", "") for c in tool_calls):
            misread += 1
            print(f"misread: {row['sample_id']} (its reports say {needle!r})")
    print(f"planner's first tool in the best plan: {first}/{n}; any of its tools: {called}/{n}")
    if correct:
        print(f"wrong answers whose reports held the supporting phrase: {misread} of {sum(not c for c in correct.values())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
