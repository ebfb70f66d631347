"""Prompt rendering: snapshots of whole requests, the append-only prefix property, frames,
and prompt files.

Snapshots live in tests/planners/snapshots/. After an intended prompt change, rewrite them with
``VIDAGENT_UPDATE_SNAPSHOTS=1 pytest tests/planners`` and review the diff.
"""

from __future__ import annotations

import base64
import io
import json
import os
from pathlib import Path

import pytest

from planners.config import PlannerConfig, VisionLimits
from planners.openai_compat import build_request
from planners.prompting import load_prompts, render_messages, select_images
from tests.planners.chat_server import sample_request
from tools.errors import ConfigError

SNAPSHOTS = Path(__file__).parent / "snapshots"

CASES = {
    "vllm_json_step1": (PlannerConfig(dialect="vllm", model="Qwen/Qwen2.5-VL-7B-Instruct"), dict(steps=1)),
    "llamacpp_json_feedback_forced": (
        PlannerConfig(dialect="llamacpp", seed=7),
        dict(steps=2, options=None, feedback="choice 5 is out of range 0-2", must_answer=True),
    ),
    "openai_json_step0": (PlannerConfig(dialect="openai", model="gpt-4o-mini", max_tokens=300), dict(steps=0)),
    "vllm_tools_vision_step1": (
        PlannerConfig(dialect="vllm", mode="tools", vision=True, max_images=2),
        dict(steps=1, images=3),
    ),
    "openai_tools_forced": (PlannerConfig(dialect="openai", mode="tools", model="gpt-4o-mini"), dict(steps=1, must_answer=True)),
    "llamacpp_compact_option_scores": (
        PlannerConfig(dialect="llamacpp", prompt="compact", max_tokens=512),
        dict(steps=2, option_scores=(0.12, 0.61, 0.4)),
    ),
}


def snapshot_text(body: dict) -> str:
    """A request body as a reviewable text: each message's text in full, then the other fields."""
    lines = []
    for message in body["messages"]:
        extra = {k: v for k, v in message.items() if k not in ("role", "content")}
        lines.append(f"=== {message['role']}" + (f" {json.dumps(extra)}" if extra else "") + " ===")
        content = message["content"]
        if isinstance(content, str):
            lines.append(content)
        else:
            for part in content:
                lines.append(part["text"] if part["type"] == "text" else f"[image_url {part['image_url']['url']}]")
    rest = {k: v for k, v in body.items() if k != "messages"}
    lines.append("=== request fields ===")
    lines.append(json.dumps(rest, indent=2))
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("case", sorted(CASES))
def test_request_snapshot(case):
    config, request_args = CASES[case]
    text = snapshot_text(build_request(config, sample_request(**request_args)))
    path = SNAPSHOTS / f"{case}.txt"
    if os.environ.get("VIDAGENT_UPDATE_SNAPSHOTS") == "1":
        path.parent.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"no snapshot {path}; create it with VIDAGENT_UPDATE_SNAPSHOTS=1"
    assert text == path.read_text(encoding="utf-8"), f"{case}: the request changed; if intended, rerun with VIDAGENT_UPDATE_SNAPSHOTS=1"


@pytest.mark.parametrize("mode", ["json", "tools"])
def test_history_rendering_is_append_only(mode):
    prompts = load_prompts("default")
    rendered = [render_messages(sample_request(steps=n), mode=mode, prompts=prompts) for n in range(4)]
    for shorter, longer in zip(rendered, rendered[1:]):
        assert len(longer) > len(shorter)
        assert longer[: len(shorter)] == shorter
    again = render_messages(sample_request(steps=3), mode=mode, prompts=prompts)
    assert json.dumps(again) == json.dumps(rendered[3])  # deterministic, key order included


def _text(content) -> str:
    return content if isinstance(content, str) else "".join(p["text"] for p in content if p["type"] == "text")


@pytest.mark.parametrize("mode", ["json", "tools"])
def test_frames_go_in_the_newest_turn_and_leave_the_prefix_alone(mode):
    prompts = load_prompts("default")
    vision = VisionLimits(enabled=True, max_images=2, max_image_side=512)
    rendered = [render_messages(sample_request(steps=n, images=2), mode=mode, prompts=prompts, vision=vision) for n in range(4)]
    for shorter, longer in zip(rendered, rendered[1:]):
        assert longer[: len(shorter) - 1] == shorter[:-1]
        assert not any(isinstance(m["content"], list) for m in longer[:-1])  # earlier frames not repeated
        images = [p for p in longer[-1]["content"] if p["type"] == "image_url"]
        assert len(images) == 2 and longer[-1]["role"] == "user"
        if mode == "json":  # this turn's frames ride on the observations turn
            assert _text(longer[len(shorter) - 1]["content"]) in _text(shorter[-1]["content"])
    blind = render_messages(sample_request(steps=3), mode=mode, prompts=prompts)
    assert rendered[3][: len(blind) - 1] == blind[:-1]


@pytest.mark.parametrize(("mode", "steps"), [("json", 0), ("json", 2), ("tools", 0), ("tools", 2)])
def test_feedback_and_forced_answer_only_extend_the_end(mode, steps):
    prompts = load_prompts("default")
    base = render_messages(sample_request(steps=steps), mode=mode, prompts=prompts)
    tail = render_messages(
        sample_request(steps=steps, feedback="the reply is not valid JSON", must_answer=True), mode=mode, prompts=prompts
    )
    roles = [m["role"] for m in tail]
    assert all(not (a == b == "user") for a, b in zip(roles, roles[1:])), roles
    if base[-1]["role"] == "user":  # merged into the last user turn
        assert tail[:-1] == base[:-1] and len(tail) == len(base)
        assert tail[-1]["content"].startswith(base[-1]["content"])
    else:  # after tool messages: a new user turn
        assert tail[:-1] == base
    assert "the reply is not valid JSON" in tail[-1]["content"]
    assert "No more tool calls" in tail[-1]["content"]


def test_frames_attached_only_for_vision_and_capped():
    prompts = load_prompts("default")
    request = sample_request(steps=0, images=5)
    blind = render_messages(request, mode="json", prompts=prompts)
    assert isinstance(blind[1]["content"], str)
    seeing = render_messages(request, mode="json", prompts=prompts, vision=VisionLimits(True, 3, 512))
    urls = [p["image_url"]["url"] for p in seeing[1]["content"] if p["type"] == "image_url"]
    assert urls == [f"data:image/jpeg;base64,FRAME{i}" for i in (0, 2, 4)]  # spread over the clip
    texts = [p["text"] for p in seeing[1]["content"] if p["type"] == "text"]
    assert "Frame 125 at 5 s:" in texts


@pytest.mark.parametrize(("n", "limit", "expected"), [(5, 3, [0, 2, 4]), (5, 1, [2]), (2, 4, [0, 1]), (4, 0, []), (10, 4, [0, 3, 6, 9])])
def test_select_images(n, limit, expected):
    images = sample_request(images=n).images
    assert [images.index(i) for i in select_images(images, limit)] == expected


def test_large_frames_are_shrunk_to_max_image_side():
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (400, 200), (200, 30, 30)).save(buf, format="JPEG")
    request = sample_request(steps=0, images=1)
    frame = request.images[0].model_copy(update={"jpeg_b64": base64.b64encode(buf.getvalue()).decode(), "width": 400, "height": 200})
    request = request.model_copy(update={"images": (frame,)})
    messages = render_messages(request, mode="json", prompts=load_prompts("default"), vision=VisionLimits(True, 4, 100))
    url = next(p["image_url"]["url"] for p in messages[1]["content"] if p["type"] == "image_url")
    with Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))) as img:
        assert img.size == (100, 50)


def test_a_prompt_file_may_override_some_sections(tmp_path):
    custom = tmp_path / "terse.md"
    custom.write_text("Header for readers.\n<!-- section: forced_answer -->\nANSWER NOW.\n", encoding="utf-8")
    prompts = load_prompts(str(custom))
    messages = render_messages(sample_request(steps=0, must_answer=True), mode="json", prompts=prompts)
    assert messages[-1]["content"].endswith("ANSWER NOW.")
    assert messages[0]["content"] == render_messages(sample_request(steps=0), mode="json", prompts=load_prompts("default"))[0]["content"]


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("<!-- section: sytem_json -->\nx\n", "unknown section 'sytem_json'"),
        ("<!-- section: feedback -->\na\n<!-- section: feedback -->\nb\n", "appears twice"),
        ("<!-- section: feedback -->\n$reason\n", "unknown variable \\$reason"),
    ],
)
def test_broken_prompt_files_are_reported(tmp_path, text, error):
    path = tmp_path / "broken.md"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=error):
        render_messages(sample_request(steps=0, feedback="bad"), mode="json", prompts=load_prompts(str(path)))


def test_unknown_prompt_set_names_the_known_ones():
    with pytest.raises(ConfigError, match="known: compact, default"):
        load_prompts("nonexistent")


def test_compact_prompt_lists_tools_as_signatures():
    from planners.prompting import signature

    request = sample_request()
    compact = render_messages(request, mode="json", prompts=load_prompts("compact"))[0]["content"]
    default = render_messages(request, mode="json", prompts=load_prompts("default"))[0]["content"]
    assert len(compact) < len(default)
    for tool in request.tools:
        assert signature(tool.name, tool.parameters) in compact
    assert '"properties"' not in compact


@pytest.mark.parametrize("prompt_set", ["default"])
def test_the_tool_choice_list_pairs_question_kinds_with_the_profiles_own_tools(prompt_set):
    from tools.registry import default_registry

    lite = default_registry().toolset("lite").specs()
    request = sample_request().model_copy(update={"tools": tuple(lite)})
    system = render_messages(request, mode="json", prompts=load_prompts(prompt_set))[0]["content"]
    choice = system.split("Which tool answers which kind of question:\n", 1)[1]
    assert "- written words, letters, signs, numbers, captions: read_text" in choice
    assert "- how many of something: count_objects" in choice
    listed = {line.rsplit(": ", 1)[1] for line in choice.splitlines() if line.startswith("- ")}
    assert listed <= {t.name for t in lite} and "read_text" in listed
    assert "ground_phrase" not in system, "a full-tier tool is not named to a lite planner"
    assert "not absent" in choice

    bare = sample_request()  # tools that declare no use: no list, no dangling header
    assert "Which tool answers" not in render_messages(bare, mode="json", prompts=load_prompts(prompt_set))[0]["content"]
    compact = render_messages(request, mode="json", prompts=load_prompts("compact"))[0]["content"]
    assert "Which tool answers" not in compact, "the lite default's prompt leaves the list out (it broke make demo)"


def test_signature_shows_required_optional_and_defaults():
    from planners.prompting import signature
    from tools.capabilities import DetectObjectsArgs
    from tools.registry import args_schema

    assert signature("detect_objects", args_schema(DetectObjectsArgs)) == (
        "detect_objects(phrases: [string], span?: {start_s, end_s}, fps?: number=2.0)"
    )
