"""A vision planner lends its server to the tools that ask a vision-language model."""

import pytest
from pydantic import ValidationError

from agent.config import AgentConfig, LocalLLMConfig
from planners.config import PlannerConfig
from tools.errors import ConfigError
from tools.toolset import ToolsConfig, VisualModelConfig, build_toolset


def test_a_vision_planner_fills_tools_visual_with_its_own_server(tmp_path):
    config = tmp_path / "vision.toml"
    config.write_text(
        '[planner]\nbase_url = "http://gpu:8000/v1"\nmodel = "Qwen/Qwen2.5-VL-7B-Instruct"\nvision = true\n'
        'max_images = 6\nmax_image_pixels = 200704\napi_key_env = "VLLM_KEY"\n\n[tools]\nprofile = "full"\n'
    )
    visual = AgentConfig.load(config).tools.visual
    assert visual == VisualModelConfig(base_url="http://gpu:8000/v1", model="Qwen/Qwen2.5-VL-7B-Instruct",
                                       api_key_env="VLLM_KEY", max_images=6, max_image_pixels=200704)
    toolset = build_toolset(AgentConfig.load(config).tools)
    assert toolset.get("describe_frames").backend == "vlm"


def test_an_explicit_tools_visual_is_kept():
    own = VisualModelConfig(base_url="http://other:9000/v1", model="InternVL3-8B")
    config = AgentConfig(planner=PlannerConfig(vision=True), tools=ToolsConfig(profile="full", visual=own))
    assert config.tools.visual == own


def test_a_text_planner_lends_nothing():
    assert AgentConfig(planner=PlannerConfig(vision=False)).tools.visual is None


def test_the_embedded_planner_cannot_be_made_to_see():
    """The local llama.cpp planner is started without an image projector: vision is refused
    when the configuration is read, not by the server mid-run."""
    with pytest.raises(ValidationError, match=r"the embedded planner \(qwen2.5-coder-1.5b\) reads text only"):
        AgentConfig(planner=PlannerConfig(vision=True), local_llm=LocalLLMConfig())
    with pytest.raises(ConfigError, match=r"^invalid config: \[planner\] vision needs a model that takes images"):
        AgentConfig.load(None, {"planner": {"vision": True}}, base=AgentConfig.lite_default())


def test_a_text_planner_can_be_given_eyes_through_tools_visual(tmp_path):
    config = tmp_path / "eyes.toml"
    config.write_text(
        '[planner]\nbase_url = "http://127.0.0.1:8080/v1"\ndialect = "llamacpp"\n\n'
        '[tools]\nprofile = "lite"\nbackends = { describe_frames = "vlm" }\n\n'
        '[tools.visual]\nbase_url = "http://gpu:8000/v1"\nmax_images = 2\n'
    )
    loaded = AgentConfig.load(config)
    assert loaded.planner.vision is False and loaded.tools.visual.max_images == 2
    assert build_toolset(loaded.tools).get("describe_frames").backend == "vlm"
