import pytest
from pydantic import BaseModel, Field

from tools.errors import ConfigError
from tools.registry import ToolRegistry, args_schema, default_registry, tool
from tools.types import ToolOutput


class EchoArgs(BaseModel):
    text: str = Field(description="what to echo")


class OtherArgs(BaseModel):
    n: int


def _register(reg, name="echo", backend="a", profiles=("core",), args=EchoArgs, priority=0):
    def fn(args_, ctx):
        return ToolOutput(observation="x")

    fn.__annotations__ = {"args_": args, "ctx": object}
    tool(name, description="Echo.", backend=backend, profiles=profiles, registry=reg, priority=priority)(fn)


def test_profiles_pick_one_backend_per_tool():
    reg = ToolRegistry()
    reg._entry_points_loaded = True
    _register(reg, backend="cpu", profiles=("core", "lite"))
    _register(reg, backend="gpu", profiles=("full",))
    assert reg.toolset("lite").backends["echo"].backend == "cpu"
    assert reg.toolset("full").backends["echo"].backend == "gpu"
    assert reg.toolset("full", {"echo": "cpu"}).backends["echo"].backend == "cpu"
    with pytest.raises(ConfigError, match="no backend 'tpu'"):
        reg.toolset("full", {"echo": "tpu"})
    with pytest.raises(ConfigError, match="unknown tool profile"):
        reg.toolset("huge")


def test_backends_of_one_tool_must_share_arguments():
    reg = ToolRegistry()
    _register(reg, backend="cpu")
    with pytest.raises(ValueError, match="differ"):
        _register(reg, backend="gpu", args=OtherArgs)


def test_bad_names_and_untyped_functions_are_refused():
    reg = ToolRegistry()
    with pytest.raises(ValueError, match="snake_case"):
        _register(reg, name="Echo")

    with pytest.raises(TypeError, match="pydantic model"):
        @tool("untyped", description="x", registry=reg)
        def untyped(args, ctx):
            return ToolOutput(observation="")


def test_schema_has_no_titles_and_inlines_refs():
    from tools.capabilities import DetectShotsArgs

    schema = args_schema(DetectShotsArgs)
    text = str(schema)
    assert "$ref" not in text and "title" not in text
    assert schema["type"] == "object" and "span" in schema["properties"]


def test_builtin_tools_are_registered():
    names = default_registry().toolset("core").names()
    assert {"video_info", "detect_shots"} <= set(names)
