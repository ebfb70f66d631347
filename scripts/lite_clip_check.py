"""Ask the embedded lite default smoke-suite questions on chosen clips, and print a Markdown
table: question, expected answer (verified by eye), the agent's answer, its evidence times,
and whether the suite scores it correct.

    .venv/bin/python scripts/lite_clip_check.py bbb_animal carphone_distorted_people city_shot_count

With no ids, one question per clip of the smoke suite (the first of each clip).
"""

from __future__ import annotations

import sys

from agent.config import AgentConfig
from agent.planner_source import open_planner
from agent.video_agent import VideoAgent
from evals.suites import get_suite


def main(ids: list[str]) -> int:
    suite = get_suite("smoke")
    samples = suite.load()
    if ids:
        chosen = [s for s in samples if s.sample_id in ids]
    else:
        seen, chosen = set(), []
        for s in samples:
            if s.video_id not in seen:
                seen.add(s.video_id)
                chosen.append(s)
    config = AgentConfig.lite_default()
    print("| id | clip | question | expected | agent's answer | evidence times (s) | status | correct | wall s |")
    print("|---|---|---|---|---|---|---|---|---|")
    with open_planner(config) as planner:
        agent = VideoAgent(planner=planner, tools=config.tools.profile, budgets=config.budgets)
        for s in chosen:
            answer = agent.ask(s.video_path, s.question, options=s.options)
            score = suite.score(s, answer)
            said = answer.text if s.options is None or answer.choice is None else f"({answer.choice}) {answer.text}"
            times = ", ".join(f"{e.time_s:.2f}" for e in answer.evidence[:6]) or "-"
            print(f"| {s.sample_id} | {s.video_id} | {s.question} | {s.answer_text} | {said[:90]} | {times} | "
                  f"{answer.status} | {score.correct} | {answer.trace.totals.wall_seconds:.0f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
