"""The agent: the LangGraph loop that runs planner and tools, traces, budgets, CLI, Python API."""

from agent.graph import Budgets
from agent.types import Answer, Trace


def __getattr__(name):
    # VideoAgent pulls in video I/O and the tool registry; import it only when asked for.
    if name == "VideoAgent":
        from agent.video_agent import VideoAgent

        return VideoAgent
    raise AttributeError(name)


__all__ = ["Answer", "Budgets", "Trace", "VideoAgent"]
