"""``describe_frames`` and ``ask_frames`` by a vision-language model behind an OpenAI-compatible
server (vLLM serving Qwen2.5-VL or InternVL), so a text-only planner can see too.

The server is ``[tools.visual]`` (``ToolsConfig.visual``, ``ctx.visual``). When it is unset and
the planner itself sees images, the agent fills it with the planner's server: one model plans
and looks. Without any, these backends are left out of the toolset. Tools never import the
planners package: the request is built and sent here, with httpx.

Results are not cached: the cache key names the backend, not the model behind the URL, and a
different model must not answer from another's cache.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import httpx

from tools.capabilities import ASK_FRAMES, DESCRIBE_FRAMES, AskFramesArgs, DescribeFramesArgs
from tools.context import ToolContext
from tools.errors import ConfigError, ToolRetry, VidagentError
from tools.frame_images import EncodedImage, encode_jpeg
from tools.openai_http import auth_headers, error_text
from tools.registry import backend
from tools.toolset import VisualModelConfig
from tools.types import Evidence, Frame, ToolOutput

BACKEND = "vlm"

DESCRIBE_PROMPT = (
    "Describe what this frame shows in two or three sentences: the main people and objects, where they are "
    "(left, centre, right; near or far), what they are doing, and any text you can read."
)
ASK_PROMPT = "Answer from what the frames show, briefly; say so when they do not show it.\nQuestion: {question}"


class VisionServerError(VidagentError):
    """The vision-language server refused the request or could not be reached."""


@dataclass(frozen=True)
class VisionReply:
    """One answer. ``cut_off``: it hit ``max_tokens``. Token counts as the server reported."""

    text: str
    cut_off: bool
    prompt_tokens: int
    completion_tokens: int


class VisionChat:
    """A chat-completions client for one ``VisualModelConfig``: frames in, text out."""

    def __init__(self, config: VisualModelConfig):
        self.config = config
        self.url = config.base_url.rstrip("/") + "/chat/completions"
        self.headers = auth_headers(config.api_key_env, "[tools.visual]")

    @property
    def model_label(self) -> str:
        """How the trace names this model: ``vlm:<served name>``."""
        return f"{BACKEND}:{self.config.model or 'served-model'}"

    def image(self, frame: Frame) -> EncodedImage:
        return encode_jpeg(frame.image, self.config.max_image_side, self.config.max_image_pixels)

    def ask(self, prompt: str, frames: list[Frame], timeout_s: float) -> VisionReply:
        """Send ``frames`` (each labelled with its time) then ``prompt``; one request."""
        content: list[dict] = []
        for frame in frames:
            content.append({"type": "text", "text": f"Frame {frame.index} at {frame.time_s:.2f} s:"})
            content.append({"type": "image_url", "image_url": {"url": self.image(frame).data_url}})
        content.append({"type": "text", "text": prompt})
        body: dict = {
            "messages": [{"role": "user", "content": content}],
            "max_tokens": self.config.max_tokens,
            "temperature": self.config.temperature,
        }
        if self.config.model:
            body["model"] = self.config.model
        where = f"vision-language server {self.url}"
        try:
            response = httpx.post(self.url, json=body, headers=self.headers, timeout=timeout_s)
        except httpx.TimeoutException:
            raise VisionServerError(f"{where} gave no answer within {timeout_s:.0f} s") from None
        except httpx.TransportError as exc:
            raise VisionServerError(f"{where} could not be reached ({type(exc).__name__}: {exc})") from None
        if response.status_code >= 400:
            raise VisionServerError(
                f"{where} refused {len(frames)} frame(s) with HTTP {response.status_code}: {error_text(response)}"
            )
        try:
            data = response.json()
            choice = data["choices"][0]
            text = (choice["message"].get("content") or "").strip()
        except (ValueError, KeyError, IndexError, TypeError, AttributeError):
            raise VisionServerError(f"{where} answered with something that is not a chat completion") from None
        usage = data.get("usage") or {}
        return VisionReply(
            text=" ".join(text.split()),
            cut_off=choice.get("finish_reason") == "length",
            prompt_tokens=usage.get("prompt_tokens") or 0,
            completion_tokens=usage.get("completion_tokens") or 0,
        )


def _client(ctx: ToolContext) -> VisionChat:
    if ctx.visual is None:
        raise ConfigError("no vision-language server is configured: set [tools.visual] base_url")
    return VisionChat(ctx.visual)


def _timeout(ctx: ToolContext, config: VisualModelConfig) -> float:
    return max(1.0, min(config.timeout_s, ctx.deadline - time.monotonic()))


def _said(reply: VisionReply) -> str:
    text = reply.text or "(no answer)"
    return text + (" ... (cut off)" if reply.cut_off else "")


@backend(DESCRIBE_FRAMES, name=BACKEND, profiles=("full",), needs=("visual",), cacheable=False, timeout_s=300,
         limits="Descriptions come from a vision-language model looking at each frame.")
def describe_frames(args: DescribeFramesArgs, ctx: ToolContext) -> ToolOutput:
    chat = _client(ctx)
    indices = sorted({ctx.frame_index_at(t) for t in args.times})
    lines, evidence = [], []
    for frame in ctx.frames_by_index(indices):
        ctx.check()
        reply = chat.ask(DESCRIBE_PROMPT, [frame], _timeout(ctx, chat.config))
        ctx.count_model_frames(chat.model_label, 1)
        lines.append(f"{frame.time_s:.2f} s (frame {frame.index}): {_said(reply)}")
        evidence.append(Evidence(time_s=frame.time_s, frame_index=frame.index, note="described"))
    return ToolOutput(observation="\n".join(lines), evidence=evidence)


@backend(ASK_FRAMES, name=BACKEND, profiles=("full",), needs=("visual",), cacheable=False, timeout_s=300)
def ask_frames(args: AskFramesArgs, ctx: ToolContext) -> ToolOutput:
    chat = _client(ctx)
    indices = sorted({ctx.frame_index_at(t) for t in args.times})
    if len(indices) > chat.config.max_images:
        raise ToolRetry(
            f"this vision-language server takes at most {chat.config.max_images} frame(s) per question; "
            f"ask about fewer times (got {len(indices)} distinct frames)"
        )
    frames = ctx.frames_by_index(indices)
    reply = chat.ask(ASK_PROMPT.format(question=args.question), frames, _timeout(ctx, chat.config))
    ctx.count_model_frames(chat.model_label, len(frames))
    times = ", ".join(f"{f.time_s:.2f} s" for f in frames)
    evidence = [Evidence(time_s=f.time_s, frame_index=f.index, note="looked at") for f in frames]
    return ToolOutput(observation=f"looking at {times}: {_said(reply)}", evidence=evidence)
