"""The agent loop as a LangGraph state graph: ``plan -> act -> plan -> ... -> answer``.

With ``planning = "program"`` the first planner turn writes the plan as a short program
(``plan -> run_program -> plan -> ...``): ``planners.program`` runs it in a restricted
interpreter whose only way out is the tools, and the planner then answers from the reports (or
calls more tools in the loop). A program that cannot run sends the planner to the JSON loop.

Graph state carries only what steers the loop (small, planner-facing objects). Run-constant
dependencies (planner, tool runner, budgets) and bookkeeping (the trace, full tool results
with their arrays) live in ``RunContext``, passed as LangGraph's run context.
"""

from __future__ import annotations

import json
import operator
import time
from dataclasses import dataclass, field
from typing import Annotated, Any, Callable, Literal, TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime
from pydantic import BaseModel, ConfigDict, Field

from agent.option_scores import OptionScorer
from agent.types import ToolCallRecord, Trace, TraceStep
from planners.base import (
    CallTools, FinalAnswer, HistoryStep, ImagePart, Planner, PlannerError, PlannerInput, PlanningStyle, WriteProgram,
)
from planners.program import ProgramInterpreter, ProgramRefused, ProgramStopped
from tools.runner import ToolRunner
from tools.types import Observation, ToolCall, ToolResult, ToolSpec, VideoMeta

RAW_LIMIT = 4000


class Budgets(BaseModel):
    """Limits of one question. ``max_steps`` counts planner turns (validation retries and the
    forced answer turn are extra); ``max_seconds`` is wall time for the whole question."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_steps: int = Field(default=8, ge=1)
    max_tool_calls: int = Field(default=16, ge=0)
    max_seconds: float = Field(default=600.0, gt=0)
    min_tool_steps: int = Field(
        default=0, ge=0, description="tool steps required before an answer is accepted (small planners answer too early)"
    )


class AgentState(TypedDict, total=False):
    history: Annotated[list[HistoryStep], operator.add]
    pending: CallTools | None
    program: WriteProgram | None
    program_tried: bool
    feedback: str | None
    rejected: bool
    forced: bool
    turns: int
    tool_calls_used: int
    final: FinalAnswer | None
    status: str | None
    error: str | None


ProgressFn = Callable[[str], None]
#: Called with a trace step when the planner has replied (``"planned"``) and when its tool
#: calls have run (``"acted"``); the step is the live trace object, so read, don't keep.
StepFn = Callable[[TraceStep, Literal["planned", "acted"]], None]


@dataclass
class RunContext:
    """Everything constant for one question, plus the run's bookkeeping."""

    planner: Planner
    runner: ToolRunner
    meta: VideoMeta
    question: str
    options: tuple[str, ...] | None
    tool_specs: tuple[ToolSpec, ...]
    budgets: Budgets
    deadline: float
    trace: Trace
    images: Callable[[int, tuple[HistoryStep, ...]], tuple[ImagePart, ...]] = lambda turn, history: ()
    progress: ProgressFn = lambda message: None
    on_step: StepFn = lambda step, phase: None
    option_scorer: OptionScorer | None = None
    planning: PlanningStyle = "loop"
    results: dict[str, ToolResult] = field(default_factory=dict)


def _exhausted_budget(state: AgentState, ctx: RunContext) -> str | None:
    if time.monotonic() >= ctx.deadline:
        return "seconds"
    if state.get("turns", 0) >= ctx.budgets.max_steps:
        return "steps"
    if state.get("tool_calls_used", 0) >= ctx.budgets.max_tool_calls and state.get("history"):
        return "tool_calls"
    return None


def plan(state: AgentState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    ctx = runtime.context
    update = _plan(state, ctx)
    ctx.on_step(ctx.trace.steps[-1], "planned")
    return update


def _plan(state: AgentState, ctx: RunContext) -> dict[str, Any]:
    update: dict[str, Any] = {}
    forced = state.get("forced", False)
    retrying = state.get("feedback") is not None
    if not forced and not retrying:
        hit = _exhausted_budget(state, ctx)
        if hit:
            forced = True
            ctx.trace.budget_hit = hit
            update["forced"] = True
    write_program = (ctx.planning == "program" and not state.get("program_tried") and not forced
                     and bool(ctx.tool_specs))
    kind = "forced_answer" if forced else ("retry" if retrying else ("program" if write_program else "plan"))
    history = tuple(state.get("history", ()))
    scores = ctx.option_scorer(ctx.options, history) if ctx.options and history and ctx.option_scorer else None
    request = PlannerInput(
        question=ctx.question,
        options=ctx.options,
        video=ctx.meta,
        tools=() if forced else ctx.tool_specs,
        history=history,
        feedback=state.get("feedback"),
        must_answer=forced,
        must_call_tools=len(history) < ctx.budgets.min_tool_steps and bool(ctx.tool_specs),
        images=ctx.images(state.get("turns", 0), history),
        option_scores=scores,
        planning=ctx.planning,
        write_program=write_program,
    )
    ctx.progress(f"planning (step {len(ctx.trace.steps) + 1})")
    step = TraceStep(index=len(ctx.trace.steps), kind=kind, action="invalid",
                     option_scores=list(scores) if scores else None, images=len(request.images),
                     image_frames=[i.frame_index for i in request.images],
                     image_pixels=sum(i.width * i.height for i in request.images))
    ctx.trace.steps.append(step)
    try:
        reply = ctx.planner.plan(request)
    except PlannerError as exc:
        step.action, step.error = "planner_error", str(exc)
        return {**update, "status": "error", "error": str(exc), "pending": None}
    step.raw = reply.raw[:RAW_LIMIT]
    step.prompt_tokens = reply.usage.prompt_tokens
    step.completion_tokens = reply.usage.completion_tokens
    step.cached_prompt_tokens = reply.usage.cached_prompt_tokens
    step.planner_seconds = reply.seconds
    update["turns"] = state.get("turns", 0) + (0 if retrying or forced else 1)

    if reply.action is None:
        step.error = reply.error
        if write_program and state.get("rejected"):
            # Two replies that were no program: plan in the JSON loop instead (nothing is lost).
            return {**update, "program_tried": True, "feedback": None, "rejected": False, "pending": None}
        if state.get("rejected"):
            status = "budget_exhausted" if forced else "unparsed"
            return {**update, "status": status, "error": reply.error, "pending": None, "feedback": None}
        return {**update, "feedback": reply.error or "the reply could not be parsed", "rejected": True, "pending": None}

    step.thought = reply.action.thought
    step.action = reply.action.action
    cleared = {"feedback": None, "rejected": False}
    if isinstance(reply.action, WriteProgram):
        return {**update, **cleared, "program": reply.action, "program_tried": True, "pending": None}
    if isinstance(reply.action, FinalAnswer):
        return {**update, **cleared, "final": reply.action, "status": "answered", "pending": None}
    return {**update, **cleared, "pending": reply.action}


def act(state: AgentState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    ctx = runtime.context
    action: CallTools = state["pending"]
    left = max(0, ctx.budgets.max_tool_calls - state.get("tool_calls_used", 0))
    allowed, refused = list(action.calls[:left]), list(action.calls[left:])
    earlier = earlier_calls(state.get("history", ()))
    unrun = {c.id: r for c in allowed if (r := _answer_unrun(c, earlier)) is not None}
    fresh = [call for call in allowed if call.id not in unrun]
    ctx.progress(f"running {', '.join(c.name for c in fresh) or 'no tools'}")
    started = time.monotonic()
    ran = {r.call_id: r for r in ctx.runner.run(fresh, deadline=ctx.deadline)} | unrun
    results = [ran[c.id] for c in allowed] + [_refused(call) for call in refused]  # call order
    step = ctx.trace.steps[-1]
    step.tools_seconds = time.monotonic() - started
    _keep_results(ctx, step, results)
    ctx.on_step(step, "acted")
    observations = tuple(Observation.of(r) for r in results)
    update: dict[str, Any] = {
        "history": [HistoryStep(action=action, observations=observations)],
        "tool_calls_used": state.get("tool_calls_used", 0) + len(allowed),
        "pending": None,
    }
    if not fresh and any(call_key(c) in earlier for c in allowed):
        # Nothing new was asked: a small planner that repeats itself does so until the step
        # budget ends (measured: the same out-of-frame box five times), so answer now.
        ctx.trace.budget_hit = "repeated_calls"
        update["forced"] = True
    return update


def run_program(state: AgentState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    """Run the planner's program; its tool calls and their reports become one history step."""
    ctx = runtime.context
    action: WriteProgram = state["program"]
    step = ctx.trace.steps[-1]
    earlier = earlier_calls(state.get("history", ()))
    left = max(0, ctx.budgets.max_tool_calls - state.get("tool_calls_used", 0))
    calls: list[ToolCall] = []
    results: list[ToolResult] = []

    def call_tool(name: str, args: dict[str, Any]) -> Any:
        call = ToolCall(name=name, args=args)
        key = call_key(call)
        for made, result in zip(calls, results):
            if call_key(made) == key:  # the same call twice in one program: one run
                return program_value(result)
        if len(calls) >= left:
            raise ProgramStopped("the tool-call budget is exhausted")
        if time.monotonic() >= ctx.deadline:
            raise ProgramStopped("the question's time budget ran out")
        ctx.progress(f"running {name}")
        result = _answer_unrun(call, earlier)
        if result is None:
            result = ctx.runner.run([call], deadline=ctx.deadline)[0]
        calls.append(call)
        results.append(result)
        return program_value(result)

    parameters = {t.name: list(t.parameters.get("properties", {})) for t in ctx.tool_specs}
    started = time.monotonic()
    try:
        run = ProgramInterpreter(call_tool, parameters).run(action.program)
    except ProgramRefused as exc:
        step.error = f"program refused: {exc}"
        return {"program": None, "feedback": f"the program was not run ({exc}); call tools with a call_tools reply"}
    step.tools_seconds = time.monotonic() - started
    _keep_results(ctx, step, results)
    if run.error:
        step.error = f"program stopped: {run.error}"
    ctx.on_step(step, "acted")
    if not calls:
        why = f"it stopped before calling a tool: {run.error}" if run.error else "it called no tool"
        return {"program": None, "feedback": f"the program gathered nothing ({why}); call tools with a call_tools reply"}
    observations = [Observation.of(r) for r in results]
    if run.error:
        observations.append(Observation(call_id="program", name="program", status="error",
                                        text=f"the program stopped after these calls: {run.error}"))
    return {
        "history": [HistoryStep(action=action.model_copy(update={"calls": tuple(calls)}), observations=tuple(observations))],
        "tool_calls_used": state.get("tool_calls_used", 0) + len(calls),
        "program": None,
    }


def program_value(result: ToolResult) -> Any:
    """What a tool call returns inside a program: the result's data as plain dicts and lists
    (arrays of more than ``MAX_PROGRAM_ARRAY`` numbers become None), or None without data."""
    if result.status != "ok" or result.data is None:
        return None
    return _plain(result.data)


MAX_PROGRAM_ARRAY = 1000


def _plain(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return {name: _plain(getattr(value, name)) for name in type(value).model_fields}
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "tolist") and hasattr(value, "size"):  # numpy arrays and scalars
        return value.tolist() if value.size <= MAX_PROGRAM_ARRAY else None
    return value


def call_key(call: ToolCall) -> str:
    """A call's identity: its name and arguments, with 250 and 250.0 the same number."""
    def same_numbers(value):
        if isinstance(value, bool) or value is None or isinstance(value, str):
            return value
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, dict):
            return {k: same_numbers(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [same_numbers(v) for v in value]
        return value

    return call.name + json.dumps(same_numbers(call.args), sort_keys=True)


def earlier_calls(history) -> dict[str, tuple[int, Observation]]:
    """Every call already made in this question: its key -> (the tool step it was made in,
    counted from 1; its observation)."""
    seen: dict[str, tuple[int, Observation]] = {}
    for step_number, step in enumerate(history, start=1):
        for call, observation in zip(step.action.calls, step.observations):
            seen.setdefault(call_key(call), (step_number, observation))
    return seen


def has_empty_span(call: ToolCall) -> bool:
    """A ``span`` argument of no length, e.g. {"start_s": 10, "end_s": 10}: what a small planner
    writes for "the video", after which it reads one frame as the whole answer."""
    span = call.args.get("span")
    return (isinstance(span, dict) and isinstance(span.get("start_s"), (int, float))
            and span.get("start_s") == span.get("end_s"))


def _answer_unrun(call: ToolCall, earlier: dict[str, tuple[int, Observation]]) -> ToolResult | None:
    """The reply to a call that is not run: one already made in this question (its earlier
    report is quoted) or one over an empty span; None for a call to run."""
    key = call_key(call)
    if key in earlier:
        return _repeated(call, *earlier[key])
    if has_empty_span(call):
        return _empty_span_result(call)
    return None


def _keep_results(ctx: RunContext, step: TraceStep, results: list[ToolResult]) -> None:
    """Keep full results for the answer's evidence and their records in the trace step."""
    for result in results:
        ctx.results[result.call_id] = result
        step.tool_calls.append(_record(result))


def _empty_span_result(call: ToolCall) -> ToolResult:
    span = call.args["span"]
    return ToolResult(
        call_id=call.id, name=call.name, args=call.args, status="retry",
        observation=(f"not run: span {span['start_s']:g}-{span['end_s']:g} s has no length. Leave span out to look "
                     "at the whole video, or give an end_s after start_s."),
    )


def _repeated(call: ToolCall, step_number: int, earlier: Observation) -> ToolResult:
    return ToolResult(
        call_id=call.id, name=call.name, args=call.args, status="error",
        observation=(f"not run again: you made this same call in tool step {step_number}, and it said: "
                     f"{earlier.text[:300]} Use that result, or change the arguments or the tool."),
    )


def _refused(call: ToolCall) -> ToolResult:
    return ToolResult(
        call_id=call.id, name=call.name, args=call.args, status="error",
        observation="not run: the tool-call budget is exhausted",
    )


def _record(result: ToolResult) -> ToolCallRecord:
    """The trace's copy of a tool result: every field the record shares with it (no payload)."""
    return ToolCallRecord.model_validate(result.model_dump(include=set(ToolCallRecord.model_fields)))


def after_plan(state: AgentState) -> Literal["act", "run_program", "plan", "__end__"]:
    if state.get("status"):
        return END
    if state.get("pending") is not None:
        return "act"
    if state.get("program") is not None:
        return "run_program"
    return "plan"  # a rejected reply goes back once with its validation error


def build_graph():
    """Compile the loop. ``draw_mermaid()`` on ``.get_graph()`` gives its picture."""
    graph = StateGraph(AgentState, context_schema=RunContext)
    graph.add_node("plan", plan)
    graph.add_node("act", act)
    graph.add_node("run_program", run_program)
    graph.add_edge(START, "plan")
    graph.add_conditional_edges("plan", after_plan, {"act": "act", "run_program": "run_program", "plan": "plan", END: END})
    graph.add_edge("act", "plan")
    graph.add_edge("run_program", "plan")
    return graph.compile()
