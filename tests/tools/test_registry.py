"""Capabilities as objects, backends registered against them, toolsets built from profiles."""

import pytest
from pydantic import BaseModel, Field

from tools.capabilities import BUILTIN_CAPABILITIES, Capability, ShotsResult, TracksResult
from tools.errors import ConfigError
from tools.registry import ToolRegistry, args_schema, backend, default_registry
from tools.toolset import ToolsConfig, build_toolset
from tools.types import ToolOutput


class EchoArgs(BaseModel):
    text: str = Field(description="what to echo")


class OtherArgs(BaseModel):
    n: int


class EchoResult(BaseModel):
    text: str


ECHO = Capability(name="echo", args=EchoArgs, result=EchoResult, description="Echo the text.")
SHOUT = Capability(name="shout", args=EchoArgs, result=None, description="Shout the echo.")


def registry() -> ToolRegistry:
    reg = ToolRegistry()
    reg._entry_points_loaded = True  # only what the test registers
    return reg


def register(reg, capability=ECHO, name="a", profiles=("core",), requires=(), priority=0, limits=""):
    def fn(args: EchoArgs, ctx) -> ToolOutput:
        return ToolOutput(observation=args.text)

    backend(capability, name=name, profiles=profiles, requires=requires, priority=priority, limits=limits,
            registry=reg)(fn)


def test_profiles_pick_one_backend_per_capability():
    reg = registry()
    register(reg, name="cpu", profiles=("core", "lite"))
    register(reg, name="gpu", profiles=("full",))
    register(reg, name="better-cpu", profiles=("lite",), priority=1)
    assert reg.toolset("core").backends["echo"].backend == "cpu"
    assert reg.toolset("lite").backends["echo"].backend == "better-cpu"
    assert reg.toolset("full").backends["echo"].backend == "gpu"
    assert reg.toolset("full", {"echo": "cpu"}).backends["echo"].backend == "cpu"
    with pytest.raises(ConfigError, match="no backend 'tpu'"):
        reg.toolset("full", {"echo": "tpu"})
    with pytest.raises(ConfigError, match="unknown tool profile"):
        reg.toolset("huge")
    with pytest.raises(ConfigError, match="unknown tools: nope"):
        reg.toolset("core", {"nope": "x"})


def test_the_planner_sees_the_capability_description_plus_the_backend_limits():
    reg = registry()
    register(reg, name="cpu", limits="Knows 3 words.")
    spec = reg.toolset("core").get("echo").spec()
    assert spec.description == "Echo the text. Knows 3 words."
    assert spec.parameters == args_schema(EchoArgs)


def test_a_backend_whose_requirement_is_missing_is_dropped_with_a_reason():
    reg = registry()
    register(reg, name="cpu", profiles=("lite",))
    register(reg, capability=SHOUT, name="loud", profiles=("core", "lite"), requires=("echo",))
    lite = reg.toolset("lite")
    assert lite.names() == ["echo", "shout"] and lite.dropped == {}
    core = reg.toolset("core")
    assert core.names() == [] and "needs echo" in core.dropped["shout"]


def test_requirements_drop_transitively():
    reg = registry()
    third = Capability(name="third", args=EchoArgs, result=None, description="Third.")
    register(reg, capability=SHOUT, name="loud", requires=("echo",))
    register(reg, capability=third, name="t", requires=("shout",))
    toolset = reg.toolset("core")
    assert toolset.names() == [] and set(toolset.dropped) == {"shout", "third"}


def test_narrowing_to_names_says_why_a_tool_is_missing():
    reg = registry()
    register(reg, capability=SHOUT, name="loud", requires=("echo",))
    with pytest.raises(ConfigError, match=r"tools not in profile 'core': shout \(shout: needs echo"):
        build_toolset(ToolsConfig(profile="core", names=["shout"]), reg)


def test_a_result_model_other_than_the_capabilitys_is_refused_at_registration():
    reg = registry()
    with pytest.raises(ValueError, match="returns TracksResult, but the capability's result model is EchoResult"):
        @backend(ECHO, name="wrong", registry=reg)
        def wrong(args: EchoArgs, ctx) -> ToolOutput[TracksResult]:
            return ToolOutput(observation="")

    @backend(ECHO, name="right", registry=reg)
    def right(args: EchoArgs, ctx) -> ToolOutput[EchoResult]:
        return ToolOutput(observation="", data=EchoResult(text=""))

    assert reg.backends("echo")[0].result_model is EchoResult


def test_a_second_capability_object_with_the_same_name_must_agree():
    reg = registry()
    register(reg, name="a")
    other_args = Capability(name="echo", args=OtherArgs, result=EchoResult, description="Echo.")
    other_result = Capability(name="echo", args=EchoArgs, result=ShotsResult, description="Echo.")

    def other(args: OtherArgs, ctx) -> ToolOutput:
        return ToolOutput(observation="")

    with pytest.raises(ValueError, match="arguments that differ"):
        backend(other_args, name="b", registry=reg)(other)
    with pytest.raises(ValueError, match="result model ShotsResult, but the capability's is EchoResult"):
        register(reg, capability=other_result, name="c")


def test_arguments_must_be_typed_with_the_capabilitys_model():
    reg = registry()
    with pytest.raises(TypeError, match="must be typed EchoArgs"):
        @backend(ECHO, name="untyped", registry=reg)
        def untyped(args, ctx):
            return ToolOutput(observation="")

    with pytest.raises(TypeError, match="must be typed EchoArgs"):
        @backend(ECHO, name="other", registry=reg)
        def other(args: OtherArgs, ctx):
            return ToolOutput(observation="")


def test_bad_names_and_profiles_are_refused():
    with pytest.raises(ValueError, match="snake_case"):
        Capability(name="Echo", args=EchoArgs, result=None, description="x")
    with pytest.raises(ValueError, match="unknown profiles"):
        register(registry(), name="a", profiles=("gpu",))
    reg = registry()
    register(reg, name="a")

    def another(args: EchoArgs, ctx) -> ToolOutput:
        return ToolOutput(observation="")

    with pytest.raises(ValueError, match="registered twice"):
        backend(ECHO, name="a", registry=reg)(another)


def test_schema_has_no_titles_and_inlines_refs():
    from tools.capabilities import DetectShotsArgs

    schema = args_schema(DetectShotsArgs)
    text = str(schema)
    assert "$ref" not in text and "title" not in text
    assert schema["type"] == "object" and "span" in schema["properties"]


def test_builtin_backends_come_from_the_entry_point_table():
    from importlib.metadata import entry_points

    names = {ep.name: ep.value for ep in entry_points(group="vidagent.tools")}
    assert names["core"] == "tools.backends.core" and names["lite"] == "tools.backends.lite"
    reg = default_registry()
    for b in reg.all_backends():
        if b.name in BUILTIN_CAPABILITIES:
            assert b.capability is BUILTIN_CAPABILITIES[b.name]
            assert b.fn.__module__.startswith("tools.backends.")


def test_profiles_offer_what_their_tier_has():
    core = build_toolset("core")
    assert {"video_info", "detect_shots", "dominant_color"} <= set(core.names())
    assert "track_objects" in core.dropped and "count_objects" in core.dropped
    lite = build_toolset("lite")
    assert {"detect_objects", "track_objects", "count_objects", "object_timeline", "motion_direction"} <= set(lite.names())
    assert lite.get("track_objects").backend == "bytetrack"  # generic, over the lite detector
    assert lite.dropped == {}
