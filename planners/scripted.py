"""Planners without a model: replay a script, or call a function. For tests, demos and evals
of the tool side. Their replies are validated exactly like a real planner's, so a script can
hold malformed outputs (raw strings) to exercise the agent's error handling.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from typing import Any, Callable, Iterable, Union

from planners.base import (
    CallTools, FinalAnswer, PlannerError, PlannerInput, PlannerReply, WriteProgram, parse_action, settle_action,
)
from planners.config import VisionLimits

#: What a script step may be: an action object, its dict form, or raw reply text (JSON or not).
ScriptStep = Union[CallTools, FinalAnswer, WriteProgram, dict, str]


def reply_for(step: ScriptStep, request: PlannerInput, *, model: str = "", seconds: float = 0.0) -> PlannerReply:
    """Validate one scripted step against ``request`` as if a model had replied it."""
    if isinstance(step, (CallTools, FinalAnswer, WriteProgram)):
        raw = step.model_dump_json()
        action, error = settle_action(step, request)
    elif isinstance(step, (dict, str)):
        raw = step if isinstance(step, str) else json.dumps(step, ensure_ascii=False, default=str)
        action, error = parse_action(step, request)
    else:
        raise TypeError(f"a planner script step must be an action, a dict or a str, not {type(step).__name__}")
    return PlannerReply(action=action, error=error, raw=raw, seconds=seconds, model=model)


class ScriptedPlanner:
    """Replays ``actions`` in order, one per ``plan`` call.

    ``requests`` records every PlannerInput it was given, so tests can check what the agent
    showed the planner (history, feedback, must_answer). Running out of script raises
    PlannerError.

    >>> planner = ScriptedPlanner([{"action": "answer", "answer": "two bikes"}])
    """

    def __init__(self, actions: Iterable[ScriptStep], *, name: str = "scripted", vision_limits: VisionLimits = VisionLimits()):
        self.name = name
        self.vision_limits = vision_limits
        self.requests: list[PlannerInput] = []
        self._script: deque[ScriptStep] = deque(actions)
        self._total = len(self._script)
        self._lock = threading.Lock()

    @property
    def remaining(self) -> int:
        return len(self._script)

    def plan(self, request: PlannerInput) -> PlannerReply:
        started = time.perf_counter()
        with self._lock:
            self.requests.append(request)
            if not self._script:
                raise PlannerError(f"planner {self.name!r} ran out of script after {self._total} replies")
            step = self._script.popleft()
        return reply_for(step, request, model=self.name, seconds=time.perf_counter() - started)


class FunctionPlanner:
    """Calls ``fn(request)`` each step; it returns an action, its dict form or raw text.

    Exceptions from ``fn`` propagate (a PlannerError means "no reply could be had").
    """

    def __init__(
        self,
        fn: Callable[[PlannerInput], Any],
        *,
        name: str | None = None,
        vision_limits: VisionLimits = VisionLimits(),
    ):
        self.fn = fn
        self.name = name or getattr(fn, "__name__", "function")
        self.vision_limits = vision_limits
        self.requests: list[PlannerInput] = []

    def plan(self, request: PlannerInput) -> PlannerReply:
        started = time.perf_counter()
        self.requests.append(request)
        step = self.fn(request)
        return reply_for(step, request, model=self.name, seconds=time.perf_counter() - started)
