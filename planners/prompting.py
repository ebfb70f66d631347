"""Render a PlannerInput into chat messages, from the templates in ``planners/prompts``.

Rendering is deterministic and append-only: the system turn, the question and every earlier
step render the same way at every later step, so a server's prompt cache reuses all of it.
What belongs to this turn only goes at the end, in the newest user turn (or a new user turn
after tool results): this turn's frames (``PlannerInput.images``: the agent picks new ones each
turn, so earlier frames are not repeated), then the option-score hint of a multiple-choice
question, a rejected reply's feedback and the forced-answer instruction. Merging them into the last user turn keeps roles alternating, which
some chat templates require.
"""

from __future__ import annotations

import base64
import functools
import io
import json
import re
from importlib import resources
from pathlib import Path
from string import Template
from typing import Literal

from planners.program import SAFE_BUILTINS
from planners.base import CallTools, FinalAnswer, HistoryStep, ImagePart, PlannerInput, WriteProgram, option_values
from planners.config import VisionLimits
from tools.errors import ConfigError
from tools.frame_images import fit_size
from tools.types import Evidence, Observation

#: Evidence lines shown per observation; the rest are counted, not listed.
MAX_EVIDENCE_LINES = 10

SECTIONS = (
    "system_json",
    "system_tools",
    "program_style",
    "program_turn",
    "tool",
    "tool_choice",
    "tool_use",
    "question",
    "options",
    "open_question",
    "frames",
    "frame",
    "observations",
    "observation",
    "option_scores",
    "feedback",
    "forced_answer",
    "final_answer_tool",
)
_SECTION_LINE = re.compile(r"^<!-- section: ([a-z_]+) -->$", re.MULTILINE)
_PROMPT_NAME = re.compile(r"^[a-z0-9_-]+$")


class PromptSet:
    """Named templates (sections) from one prompt file, with the default set filling gaps."""

    def __init__(self, sections: dict[str, Template], source: str):
        self.sections = sections
        self.source = source

    def render(self, section: str, **values: object) -> str:
        try:
            return self.sections[section].substitute(values)
        except KeyError as exc:
            raise ConfigError(f"prompt {self.source}, section {section!r}: unknown variable ${exc.args[0]}") from None


@functools.lru_cache(maxsize=16)
def load_prompts(name_or_path: str) -> PromptSet:
    """A prompt set by name (``planners/prompts/<name>.md``) or by path to a ``.md`` file."""
    if _PROMPT_NAME.match(name_or_path):
        resource = resources.files("planners").joinpath("prompts", f"{name_or_path}.md")
        if not resource.is_file():
            known = sorted(p.name[:-3] for p in resources.files("planners").joinpath("prompts").iterdir() if p.name.endswith(".md"))
            raise ConfigError(f"no prompt set {name_or_path!r}; known: {', '.join(known)} (or give a path to a .md file)")
        text, source = resource.read_text(encoding="utf-8"), f"{name_or_path}.md"
    else:
        path = Path(name_or_path).expanduser()
        if not path.is_file():
            raise ConfigError(f"prompt file {path} does not exist")
        text, source = path.read_text(encoding="utf-8"), str(path)
    sections = parse_sections(text, source)
    if name_or_path != "default":
        sections = {**load_prompts("default").sections, **sections}
    missing = set(SECTIONS) - set(sections)
    if missing:
        raise ConfigError(f"prompt {source} lacks sections: {', '.join(sorted(missing))}")
    return PromptSet(sections, source)


def parse_sections(text: str, source: str) -> dict[str, Template]:
    """Split a prompt file at its ``<!-- section: NAME -->`` lines (the text before the first is
    a header for readers). Each section is stripped of surrounding blank lines."""
    parts = _SECTION_LINE.split(text)
    sections: dict[str, Template] = {}
    for name, body in zip(parts[1::2], parts[2::2]):
        if name not in SECTIONS:
            raise ConfigError(f"prompt {source}: unknown section {name!r}; known: {', '.join(SECTIONS)}")
        if name in sections:
            raise ConfigError(f"prompt {source}: section {name!r} appears twice")
        sections[name] = Template(body.strip("\n"))
    return sections


# --- messages ----------------------------------------------------------------------------------


def render_messages(
    request: PlannerInput,
    *,
    mode: Literal["json", "tools"],
    prompts: PromptSet,
    vision: VisionLimits = VisionLimits(),
) -> list[dict]:
    """The chat messages for one planner step (OpenAI chat-completions format)."""
    messages = [
        {"role": "system", "content": system_prompt(request, mode, prompts)},
        {"role": "user", "content": question_text(request, prompts)},
    ]
    for step in request.history:
        messages.extend(step_messages(step, mode, prompts))
    parts = frame_parts(request, prompts, vision)
    tail = _tail_text(request, prompts)
    if tail:
        parts.append({"type": "text", "text": tail})
    if parts:
        _append_to_user_turn(messages, parts)
    return messages


def system_prompt(request: PlannerInput, mode: str, prompts: PromptSet) -> str:
    if mode == "tools":
        return prompts.render("system_tools")
    tools = "\n\n".join(
        prompts.render(
            "tool", name=t.name, description=t.description, parameters=_json(t.parameters),
            signature=signature(t.name, t.parameters), summary=first_sentence(t.description),
        )
        for t in request.tools
    )
    text = prompts.render("system_json", tools=tools, tool_choice=tool_choice(request.tools, prompts)).rstrip()
    if request.planning == "program":
        text += "\n\n" + prompts.render("program_style", builtins=", ".join(SAFE_BUILTINS)).strip()
    return text


def tool_choice(tools, prompts: PromptSet) -> str:
    """The "which tool for which question" list of the tools that declare ``use_for``; small
    planners otherwise reach for the first detector whatever the question ("" without any)."""
    lines = "\n".join(prompts.render("tool_use", use_for=t.use_for, name=t.name) for t in tools if t.use_for)
    return prompts.render("tool_choice", lines=lines) if lines else ""


def signature(name: str, parameters: dict) -> str:
    """A tool as one compact line, e.g. ``detect_objects(phrases: [string], span?: {start_s, end_s}, fps?: number=2)``.

    Small local models read this far faster than a JSON schema; the exact schema still
    constrains their reply through the server's grammar."""
    required = set(parameters.get("required", []))
    args = []
    for arg, schema in parameters.get("properties", {}).items():
        optional = "" if arg in required else "?"
        default = f"={json.dumps(schema['default'])}" if schema.get("default") is not None else ""
        args.append(f"{arg}{optional}: {_type_words(schema)}{default}")
    return f"{name}({', '.join(args)})"


def _type_words(schema: dict) -> str:
    if "anyOf" in schema:
        kinds = [_type_words(s) for s in schema["anyOf"] if s.get("type") != "null"]
        return " | ".join(kinds) or "null"
    kind = schema.get("type")
    if kind == "array":
        if "prefixItems" in schema:
            return "[" + ", ".join(_type_words(s) for s in schema["prefixItems"]) + "]"
        return "[" + _type_words(schema.get("items", {})) + "]"
    if kind == "object":
        return "{" + ", ".join(schema.get("properties", {})) + "}"
    return kind or "any"


def first_sentence(text: str) -> str:
    """The description up to its first full stop (whole text if it has none)."""
    flat = " ".join(text.split())
    end = flat.find(". ")
    return flat if end < 0 else flat[: end + 1]


def question_text(request: PlannerInput, prompts: PromptSet) -> str:
    if request.options:
        lines = "\n".join(f"- {value}" for value in option_values(request.options))
        choices = prompts.render("options", options=lines)
    else:
        choices = prompts.render("open_question")
    v = request.video
    return prompts.render(
        "question",
        question=request.question,
        choices=choices,
        duration_s=_num(v.duration_s),
        fps=_num(v.fps),
        n_frames=v.n_frames,
        width=v.width,
        height=v.height,
    )


def frame_parts(request: PlannerInput, prompts: PromptSet, vision: VisionLimits) -> list[dict]:
    """This turn's frames as content parts (a label, then the image as a data URL), or none
    when the model is not vision-capable."""
    images = select_images(request.images, vision.max_images) if vision.enabled else ()
    if not images:
        return []
    parts = [{"type": "text", "text": prompts.render("frames")}]
    for image in images:
        parts.append({"type": "text", "text": prompts.render("frame", time_s=_num(image.time_s), frame_index=image.frame_index)})
        jpeg = fit_image(image, vision.max_image_side, vision.max_image_pixels)
        parts.append({"type": "image_url", "image_url": {"url": "data:image/jpeg;base64," + jpeg}})
    return parts


def step_messages(step: HistoryStep, mode: str, prompts: PromptSet) -> list[dict]:
    """An earlier step: the assistant's action, then its tool results."""
    action = step.action
    results = [observation_text(i, obs, prompts) for i, obs in enumerate(step.observations, start=1)]
    if mode == "tools" and isinstance(action, CallTools):
        calls = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": _json(c.args)}}
            for c in action.calls
        ]
        messages = [{"role": "assistant", "content": action.thought, "tool_calls": calls}]
        messages += [
            {"role": "tool", "tool_call_id": obs.call_id, "content": text}
            for obs, text in zip(step.observations, results)
        ]
        return messages
    messages = [{"role": "assistant", "content": action_json(action)}]
    if isinstance(action, (CallTools, WriteProgram)):
        body = "\n\n".join(results) or "(no results)"
        messages.append({"role": "user", "content": prompts.render("observations", results=body)})
    return messages


def action_json(action: CallTools | FinalAnswer | WriteProgram) -> str:
    """An action as the planner is asked to write it in json mode (call ids, and the calls a
    program made, left out)."""
    if isinstance(action, WriteProgram):
        obj = {"action": action.action, "thought": action.thought, "program": action.program}
    elif isinstance(action, CallTools):
        obj = {
            "action": action.action,
            "thought": action.thought,
            "calls": [{"name": c.name, "args": c.args} for c in action.calls],
        }
    else:
        obj = action.model_dump(mode="json")
    return _json(obj)


def observation_text(index: int, obs: Observation, prompts: PromptSet) -> str:
    return prompts.render(
        "observation", index=index, name=obs.name, status=obs.status, text=obs.text, evidence=evidence_lines(obs.evidence)
    )


def evidence_lines(evidence: tuple[Evidence, ...]) -> str:
    """Evidence as indented lines (empty string when there is none)."""
    lines = []
    for ev in evidence[:MAX_EVIDENCE_LINES]:
        parts = [f"{_num(ev.time_s)} s"]
        if ev.frame_index is not None:
            parts.append(f"frame {ev.frame_index}")
        if ev.box is not None:
            parts.append("box [" + ", ".join(_num(x) for x in ev.box) + "]")
        if ev.note:
            parts.append(ev.note)
        lines.append("\n  evidence: " + ", ".join(parts))
    if len(evidence) > MAX_EVIDENCE_LINES:
        lines.append(f"\n  ... and {len(evidence) - MAX_EVIDENCE_LINES} more evidence items")
    return "".join(lines)


def _tail_text(request: PlannerInput, prompts: PromptSet) -> str:
    notes = []
    if request.options and request.option_scores and request.history:
        lines = "\n".join(
            f"- {value}: {score:.2f}" for value, score in zip(option_values(request.options), request.option_scores)
        )
        notes.append(prompts.render("option_scores", scores=lines))
    if request.feedback:
        notes.append(prompts.render("feedback", feedback=request.feedback))
    if request.write_program:
        notes.append(prompts.render("program_turn", tools=", ".join(t.name for t in request.tools)))
    if request.must_answer:
        notes.append(prompts.render("forced_answer"))
    return "\n\n".join(notes)


def _append_to_user_turn(messages: list[dict], parts: list[dict]) -> None:
    """Add content parts to the last message if it is a user turn, else as a new user turn.
    Adjacent text is joined with a blank line; content stays a plain string without images."""
    last = messages[-1]
    if last["role"] == "user":
        content = last["content"]
        merged = [{"type": "text", "text": content}] if isinstance(content, str) else list(content)
        messages.pop()
    else:
        merged = []
    for part in parts:
        if part["type"] == "text" and merged and merged[-1]["type"] == "text":
            merged[-1] = {"type": "text", "text": merged[-1]["text"] + "\n\n" + part["text"]}
        else:
            merged.append(part)
    content = merged[0]["text"] if len(merged) == 1 and merged[0]["type"] == "text" else merged
    messages.append({"role": "user", "content": content})


# --- frames ------------------------------------------------------------------------------------


def select_images(images: tuple[ImagePart, ...], limit: int) -> tuple[ImagePart, ...]:
    """At most ``limit`` frames, spread evenly over ``images`` (first and last kept)."""
    n = len(images)
    if limit <= 0:
        return ()
    if n <= limit:
        return images
    if limit == 1:
        return (images[n // 2],)
    return tuple(images[round(i * (n - 1) / (limit - 1))] for i in range(limit))


def fit_image(image: ImagePart, max_side: int, max_pixels: int = 0) -> str:
    """The frame's base64 JPEG, re-encoded smaller when its longer side exceeds ``max_side``
    or its area ``max_pixels`` (0: no pixel limit)."""
    size = fit_size(image.width, image.height, max_side, max_pixels or None)
    if size == (image.width, image.height):
        return image.jpeg_b64
    from PIL import Image

    with Image.open(io.BytesIO(base64.b64decode(image.jpeg_b64))) as img:
        img = img.convert("RGB").resize(size, Image.Resampling.LANCZOS)
        out = io.BytesIO()
        img.save(out, format="JPEG", quality=90)
    return base64.b64encode(out.getvalue()).decode("ascii")


def _json(obj: object) -> str:
    return json.dumps(obj, ensure_ascii=False)


def _num(x: float) -> str:
    """A number in at most 3 decimals without trailing zeros: 10, 12.5, 0.333."""
    text = f"{x:.3f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text
