"""The ``vlm`` backends of describe_frames and ask_frames: when a toolset offers them, what they
send, and how a refusing or missing server ends a call. Against the fixture chat server (a real
HTTP server replying from a script); the real vLLM is in tests/planners/test_vllm_vision.py."""

import base64
import io
import socket

import pytest
from PIL import Image

from tests.planners.chat_server import Completion, HTTPError, chat_server, openai_error  # noqa: F401 (fixture)
from tools.errors import ConfigError
from tools.runner import ToolRunner
from tools.toolset import ToolsConfig, VisualModelConfig, build_toolset
from tools.types import ToolCall
from tools.video import VideoReader


def visual(url: str, **overrides) -> VisualModelConfig:
    return VisualModelConfig(base_url=url, model="vl-test", max_image_side=320, max_tokens=40, timeout_s=10, **overrides)


def run(toolset, video, *calls: ToolCall):
    with VideoReader.open(video) as reader:
        return ToolRunner(toolset, reader, cache=None, timeout_s=30).run(list(calls))


def test_without_a_visual_server_the_full_profile_leaves_them_out_and_says_why():
    toolset = build_toolset("full")
    assert "describe_frames" not in toolset.names() and "ask_frames" not in toolset.names()
    assert toolset.dropped["describe_frames"] == "needs [tools] visual, which this configuration does not set"


def test_with_a_visual_server_the_full_profile_offers_them():
    toolset = build_toolset(ToolsConfig(profile="full", visual=visual("http://127.0.0.1:1/v1")))
    assert toolset.get("describe_frames").backend == "vlm" and toolset.get("ask_frames").backend == "vlm"
    assert toolset.visual.model == "vl-test"


def test_naming_the_vlm_backend_without_a_server_is_a_config_error():
    with pytest.raises(ConfigError, match="backend 'vlm' of tool describe_frames needs \\[tools\\] visual"):
        build_toolset(ToolsConfig(profile="lite", backends={"describe_frames": "vlm"}))


def test_describe_frames_sends_each_frame_as_a_sized_jpeg(chat_server, bikes_mp4):
    chat_server.push(Completion(content="A  taxi\nat a crossing.", usage={"prompt_tokens": 90, "completion_tokens": 6}),
                     Completion(content="Bikes.", finish_reason="length"))
    toolset = build_toolset(ToolsConfig(profile="full", visual=visual(chat_server.url)))
    (result,) = run(toolset, bikes_mp4, ToolCall(name="describe_frames", args={"times": [7.0, 2.6]}))
    assert result.status == "ok", result.observation
    assert result.observation.splitlines() == [
        "2.60 s (frame 65): A taxi at a crossing.",
        "7.00 s (frame 175): Bikes. ... (cut off)",
    ]
    assert result.model_frames == {"vlm:vl-test": 2} and [e.frame_index for e in result.evidence] == [65, 175]
    first = chat_server.requests[0].body
    assert first["model"] == "vl-test" and first["max_tokens"] == 40 and first["temperature"] == 0
    (message,) = first["messages"]
    kinds = [part["type"] for part in message["content"]]
    assert kinds == ["text", "image_url", "text"] and message["content"][0]["text"] == "Frame 65 at 2.60 s:"
    url = message["content"][1]["image_url"]["url"]
    assert url.startswith("data:image/jpeg;base64,")
    with Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))) as img:
        assert img.size == (320, 136)


def test_ask_frames_sends_all_frames_in_one_question(chat_server, bikes_mp4):
    chat_server.push(Completion(content="yellow"))
    toolset = build_toolset(ToolsConfig(profile="full", visual=visual(chat_server.url, max_images=2)))
    (asked,) = run(toolset, bikes_mp4, ToolCall(name="ask_frames", args={"question": "What colour?", "times": [2.6, 3.0]}))
    assert asked.status == "ok" and asked.observation == "looking at 2.60 s, 3.00 s: yellow"
    (message,) = chat_server.requests[0].body["messages"]
    assert sum(p["type"] == "image_url" for p in message["content"]) == 2
    assert "Question: What colour?" in message["content"][-1]["text"]


def test_more_frames_than_the_server_takes_is_a_retry_before_any_request(chat_server, bikes_mp4):
    toolset = build_toolset(ToolsConfig(profile="full", visual=visual(chat_server.url, max_images=1)))
    (asked,) = run(toolset, bikes_mp4, ToolCall(name="ask_frames", args={"question": "Who?", "times": [1.0, 2.0]}))
    assert asked.status == "retry" and "at most 1 frame(s) per question" in asked.observation
    assert chat_server.requests == []


def test_a_refusal_is_an_error_observation_with_the_servers_message(chat_server, bikes_mp4):
    chat_server.push(HTTPError(400, openai_error("At most 0 image(s) may be provided in one prompt.")))
    toolset = build_toolset(ToolsConfig(profile="full", visual=visual(chat_server.url)))
    (result,) = run(toolset, bikes_mp4, ToolCall(name="describe_frames", args={"times": [1.0]}))
    assert result.status == "error"
    assert result.observation == (
        f"describe_frames failed: vision-language server {chat_server.url}/chat/completions refused 1 frame(s) "
        "with HTTP 400: At most 0 image(s) may be provided in one prompt."
    )


def test_an_unreachable_server_is_an_error_observation(bikes_mp4):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again before the call: nothing listens there
    toolset = build_toolset(ToolsConfig(profile="full", visual=visual(f"http://127.0.0.1:{port}/v1")))
    (result,) = run(toolset, bikes_mp4, ToolCall(name="describe_frames", args={"times": [1.0]}))
    assert result.status == "error" and "could not be reached (ConnectError" in result.observation
