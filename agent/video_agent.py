"""The Python API: ``VideoAgent(planner=..., tools=...).ask(video, question, options=None)``."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Literal, Sequence

from agent.frames import image_source
from agent.graph import Budgets, ProgressFn, RunContext, StepFn, build_graph
from agent.option_scores import OptionScorer, default_option_scorer
from agent.types import Answer, Trace
from planners.base import FinalAnswer, Planner, PlanningStyle
from tools.cache import ResultCache
from tools.errors import InputError
from tools.toolset import ToolSet, ToolsConfig, build_toolset
from tools.runner import ToolRunner
from tools.types import Evidence, ToolResult
from tools.video import VideoReader

MAX_FALLBACK_EVIDENCE = 10


class VideoAgent:
    """Answers questions about videos with a planner and a set of tools.

    ``tools``: a ToolSet, a ToolsConfig, or a profile name (``core``, ``lite``, ``full``),
    optionally limited to ``tool_names``. ``cache``: a ResultCache, ``"default"`` (the user cache directory or
    ``$VIDAGENT_CACHE_DIR``) or None to compute everything afresh. ``progress`` gets short
    status lines; ``on_step`` gets each trace step when the planner has replied and again when
    its tool calls have run (how ``vidagent serve`` streams a run). ``option_scorer``: what
    scores the options of a multiple-choice question against the tool results, as a hint for
    the planner (``agent.option_scores``); ``"auto"`` picks by profile (none for ``core``).
    ``planning``: ``loop`` (a JSON action per turn) or ``program`` (the plan written once as a
    program over the tools first; see ``agent.graph``).

    >>> from planners.scripted import ScriptedPlanner                        # doctest: +SKIP
    >>> agent = VideoAgent(planner=ScriptedPlanner([...]), tools="core")      # doctest: +SKIP
    >>> agent.ask("bikes.mp4", "How many shots are there?").text             # doctest: +SKIP
    """

    def __init__(
        self,
        planner: Planner,
        tools: ToolSet | ToolsConfig | str = "core",
        *,
        tool_names: Sequence[str] | None = None,
        cache: ResultCache | str | None = "default",
        budgets: Budgets | None = None,
        tool_timeout_s: float = 120.0,
        progress: ProgressFn | None = None,
        on_step: StepFn | None = None,
        option_scorer: OptionScorer | Literal["auto"] | None = "auto",
        planning: PlanningStyle = "loop",
    ):
        self.planner = planner
        toolset = tools if isinstance(tools, ToolSet) else build_toolset(tools)
        self.toolset = toolset.only(list(tool_names)) if tool_names is not None else toolset
        self.cache = ResultCache.default() if cache == "default" else cache
        self.budgets = budgets or Budgets()
        self.tool_timeout_s = tool_timeout_s
        self.progress = progress or (lambda message: None)
        self.on_step = on_step or (lambda step, phase: None)
        self.option_scorer = default_option_scorer(toolset.profile) if option_scorer == "auto" else option_scorer
        self.planning = planning
        self._graph = build_graph()

    def ask(self, video: str | Path | VideoReader, question: str, options: Sequence[str] | None = None) -> Answer:
        """Answer ``question`` about ``video``; with ``options`` it is multiple choice.

        Raises InputError (a VideoError subclass for unusable videos) before any tool runs;
        everything that goes wrong afterwards is reported in the returned Answer's status.
        """
        if not question.strip():
            raise InputError("the question is empty")
        if options is not None and len(options) < 2:
            raise InputError("a multiple-choice question needs at least two options")
        own_reader = not isinstance(video, VideoReader)
        reader = VideoReader.open(video) if own_reader else video
        try:
            return self._ask(reader, question.strip(), tuple(options) if options else None)
        finally:
            if own_reader:
                reader.close()

    def _ask(self, reader: VideoReader, question: str, options: tuple[str, ...] | None) -> Answer:
        started = time.monotonic()
        decoded_before = reader.stats.frames_decoded
        trace = Trace(
            run_id=uuid.uuid4().hex[:12],
            video_path=reader.meta.path,
            video_sha256=reader.meta.sha256,
            question=question,
            options=list(options) if options else None,
            planner=getattr(self.planner, "name", type(self.planner).__name__),
            profile=self.toolset.profile,
        )
        runner = ToolRunner(self.toolset, reader, cache=self.cache, timeout_s=self.tool_timeout_s)
        ctx = RunContext(
            planner=self.planner,
            runner=runner,
            meta=reader.meta,
            question=question,
            options=options,
            tool_specs=tuple(self.toolset.specs()),
            budgets=self.budgets,
            deadline=started + self.budgets.max_seconds,
            trace=trace,
            images=image_source(self.planner, reader),
            progress=self.progress,
            on_step=self.on_step,
            option_scorer=self.option_scorer,
            planning=self.planning,
        )
        limit = 4 * (self.budgets.max_steps + 2) + 8
        try:
            state = self._graph.invoke({}, config={"recursion_limit": limit}, context=ctx)
            status, error, final = state.get("status") or "error", state.get("error"), state.get("final")
        except Exception as exc:  # a crash inside the loop still returns an honest Answer
            status, error, final = "error", f"{type(exc).__name__}: {exc}", None
        trace.recompute_totals(time.monotonic() - started, reader.stats.frames_decoded - decoded_before)
        if final is not None and status == "answered":
            evidence = _answer_evidence(final, ctx.results.values(), reader)
            return Answer(text=final.answer, choice=final.choice, confidence=final.confidence,
                          evidence=evidence, status="answered", trace=trace)
        return Answer(text="", status=status if status != "answered" else "error", error=error, trace=trace)

    def draw_mermaid(self) -> str:
        return self._graph.get_graph().draw_mermaid()


def _answer_evidence(final: FinalAnswer, results, reader: VideoReader) -> list[Evidence]:
    """The planner's cited evidence (frame indices filled in); when it cites none, the
    evidence of the tool results it saw, labelled with the tool that produced it."""
    if final.evidence:
        return [
            e if e.frame_index is not None else e.model_copy(update={"frame_index": reader.index_at(e.time_s)})
            for e in final.evidence
        ]
    seen, out = set(), []
    for result in results:
        if not isinstance(result, ToolResult) or result.status != "ok":
            continue
        for e in result.evidence:
            key = (round(e.time_s, 2), e.box)
            if key in seen:
                continue
            seen.add(key)
            note = f"{result.name}: {e.note}" if e.note else result.name
            out.append(e.model_copy(update={"note": note}))
    return out[:MAX_FALLBACK_EVIDENCE]
