"""Benchmark of the embedded lite default on real clips: cold vs warm cache, per question.

Run: ``make bench`` or ``python -m evals.bench_lite [--limit N] [--model smollm2-135m]``.

Part ``same``: each question runs twice through one planner server: *cold* with an empty result
cache, then *warm* with the cache the cold run filled. Printed per question: wall seconds (cold,
warm, warm/cold), planner steps and tokens, frames decoded, frames through each model, cache hits.

Part ``second``: what two ``vidagent ask`` commands on one video cost. A first question in a new
planner server with no stored prompt state and an empty result cache, then a *different*
question in another new server, which loads the prompt state the first left on disk and shares
its result cache. Printed per pair: wall seconds of each, second/first, and the first planner
step's seconds (the one that pays the system prompt when nothing is stored).

Ratios measured within one run are the trustworthy figures; absolute seconds depend on the load
of the machine.
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from agent.config import AgentConfig
from agent.demo import sample_clip
from agent.planner_source import open_planner
from agent.types import Answer
from agent.video_agent import VideoAgent
from tools.cache import ResultCache

QUESTIONS: list[tuple[str, str, list[str] | None]] = [
    ("bikes.mp4", "What does the sign on the vehicle say, and at what time is it visible?", None),
    ("bikes.mp4", "How many shots does this video have?", None),
    ("bikes.mp4", "Is there a motorcycle in the video?", ["yes", "no"]),
    ("bikes.mp4", "Which way does the pedestrian walk between 7.5 and 9.6 seconds?",
     ["left to right", "right to left", "towards the camera", "away from the camera"]),
    ("carphone_pristine.mp4", "How many people are in the video?", None),
]
# (first, second) indices into QUESTIONS: two questions about one video, asked by two commands.
SECOND_QUESTION_PAIRS = [(0, 1), (2, 3)]


@dataclass
class Run:
    answer: Answer

    @property
    def totals(self):
        return self.answer.trace.totals


def ask(config: AgentConfig, planner, cache: ResultCache, clip: str, question: str, options) -> Run:
    agent = VideoAgent(planner=planner, tools=config.tools.profile, cache=cache, budgets=config.budgets,
                       planning=config.planning.style)
    return Run(agent.ask(sample_clip(clip), question, options=options))


def row(i: int, clip: str, cold: Run, warm: Run) -> str:
    c, w = cold.totals, warm.totals
    models = ", ".join(f"{k} {v}" for k, v in sorted(c.model_frames.items())) or "none"
    ratio = w.wall_seconds / c.wall_seconds if c.wall_seconds else float("nan")
    return (
        f"| {i} | {clip} | {c.wall_seconds:.1f} | {w.wall_seconds:.1f} | {ratio:.2f} | {c.steps}/{w.steps} | "
        f"{c.prompt_tokens + c.completion_tokens}/{w.prompt_tokens + w.completion_tokens} | "
        f"{c.frames_decoded}/{w.frames_decoded} | {models} / {w.frames_through_models} | "
        f"{c.cache_hits}/{w.cache_hits} | {cold.answer.status}: {cold.answer.text[:60]!r} |"
    )


def machine() -> str:
    import os

    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=len(QUESTIONS))
    parser.add_argument("--model", default=None, help="local_llm model (default: the lite default's)")
    parser.add_argument("--part", choices=("same", "second", "both"), default="both")
    args = parser.parse_args(argv)
    config = AgentConfig.lite_default()
    if args.model:
        config = config.model_copy(update={"local_llm": config.local_llm.model_copy(update={"model": args.model})})
    print(f"machine: {machine()}; planner: {config.local_llm.model} (llama.cpp); tools: {config.tools.profile}")
    if args.part in ("same", "both"):
        same_question_twice(config, args.limit)
    if args.part in ("second", "both"):
        second_question_in_a_new_server(config)
    return 0


def second_question_in_a_new_server(config: AgentConfig) -> None:
    print("\n| clip | first question | first s | second question (new server) | second s | second/first "
          "| step-1 planner s first/second | answers |")
    print("|---|---|---|---|---|---|---|---|")
    for first_i, second_i in SECOND_QUESTION_PAIRS:
        (clip, q1, o1), (clip2, q2, o2) = QUESTIONS[first_i], QUESTIONS[second_i]
        assert clip == clip2, "a pair asks about one video"
        with tempfile.TemporaryDirectory() as tmp:
            local = config.local_llm.model_copy(update={"prompt_state_dir": str(Path(tmp) / "llm-state")})
            fresh = config.model_copy(update={"local_llm": local})
            cache = ResultCache(Path(tmp) / "results.sqlite")
            runs = []
            for question, options in ((q1, o1), (q2, o2)):
                with open_planner(fresh) as planner:  # a new llama.cpp server each time, as per command
                    runs.append(ask(fresh, planner, cache, clip, question, options))
        a, b = runs
        sa, sb = a.totals.wall_seconds, b.totals.wall_seconds
        step1 = [r.answer.trace.steps[0].planner_seconds if r.answer.trace.steps else float("nan") for r in runs]
        print(f"| {clip} | {q1} | {sa:.1f} | {q2} | {sb:.1f} | {sb / sa:.2f} | {step1[0]:.1f}/{step1[1]:.1f} "
              f"| {a.answer.text[:40]!r} / {b.answer.text[:40]!r} |", flush=True)


def same_question_twice(config: AgentConfig, limit: int) -> None:
    print("| # | clip | cold s | warm s | warm/cold | steps c/w | tokens c/w | frames decoded c/w "
          "| frames through models (cold) / warm total | cache hits c/w | cold answer |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    colds, warms = [], []
    with tempfile.TemporaryDirectory() as tmp, open_planner(config) as planner:
        cache = ResultCache(Path(tmp) / "results.sqlite")
        for i, (clip, question, options) in enumerate(QUESTIONS[:limit], start=1):
            cache.clear()
            cold = ask(config, planner, cache, clip, question, options)
            warm = ask(config, planner, cache, clip, question, options)
            colds.append(cold.totals.wall_seconds)
            warms.append(warm.totals.wall_seconds)
            print(row(i, clip, cold, warm), flush=True)
    print(f"total: cold {sum(colds):.1f} s, warm {sum(warms):.1f} s, warm/cold {sum(warms) / sum(colds):.2f}")


if __name__ == "__main__":
    sys.exit(main())
