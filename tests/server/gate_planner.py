"""A planner for server tests that holds its run open until the test lets it go: it waits for
the file ``$VIDAGENT_TEST_GATE`` to exist (at most 60 s), then answers."""

from __future__ import annotations

import os
import time
from pathlib import Path

from planners.base import PlannerError
from planners.scripted import FunctionPlanner

WAIT_S = 60.0


def gated() -> FunctionPlanner:
    gate = Path(os.environ["VIDAGENT_TEST_GATE"])

    def reply(request):
        deadline = time.monotonic() + WAIT_S
        while not gate.exists():
            if time.monotonic() > deadline:
                raise PlannerError(f"{gate} did not appear within {WAIT_S:.0f} s")
            time.sleep(0.05)
        return {"action": "answer", "thought": "let go", "answer": "released"}

    return FunctionPlanner(reply, name="gated")
