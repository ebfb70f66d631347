"""The contract every registered tool keeps, run over all of them (built-ins and plugins).

- its spec is a valid JSON schema with a description, shown identically by every backend;
- arguments that break the schema come back as ``retry``, never as an exception;
- arguments generated from the schema give ``ok`` (or an ``error`` observation), never a crash;
- an ``ok`` result survives the cache round trip unchanged.

Backends only the ``full`` profile offers run (marked ``full``) in the full-tier environment,
on the tiny random-initialised checkpoints of ``tests/tools/backends/full/tiny_models.py``.
"""

import dataclasses

import pytest
from jsonschema import Draft202012Validator

from tests.videos import make_video
from tools.cache import ResultCache
from tools.registry import default_registry
from tools.runner import ToolRunner
from tools.types import ToolCall
from tools.video import VideoReader

REGISTRY = default_registry()
BACKENDS = REGISTRY.all_backends()
IDS = [f"{b.name}[{b.backend}]" for b in BACKENDS]
#: The backends that run on the video alone, those of the full tier alone marked ``full`` (they need
#: its environment to run). Backends that need a server (``needs``: the ``vlm`` backends) run against
#: a real one in ``tests/planners/test_vllm_vision.py``.
RUNNABLE = [pytest.param(b, id=i, marks=[pytest.mark.full] if set(b.profiles) == {"full"} else [])
            for b, i in zip(BACKENDS, IDS) if not b.needs]


def example_value(schema: dict, name: str = ""):
    """A small valid value for a JSON schema (enough for the schemas tools declare)."""
    if "default" in schema:
        return schema["default"]
    if "anyOf" in schema:
        options = [s for s in schema["anyOf"] if s.get("type") != "null"]
        return example_value(options[0], name)
    kind = schema.get("type")
    if kind == "object":
        props = schema.get("properties", {})
        return {k: example_value(props[k], k) for k in schema.get("required", [])}
    if kind == "array":
        n = max(1, schema.get("minItems", 1))
        items = schema.get("prefixItems") or [schema.get("items", {"type": "string"})] * n
        return [example_value(s, name) for s in items]
    if kind in ("number", "integer"):
        lo = schema.get("minimum", schema.get("exclusiveMinimum", 0))
        hi = schema.get("maximum", schema.get("exclusiveMaximum", lo + 2))
        value = (lo + hi) / 2 if "time" in name or kind == "number" else lo + 1
        return int(value) if kind == "integer" else float(value)
    if kind == "boolean":
        return False
    return {"phrases": "person", "query": "a person"}.get(name, "person")


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    path = make_video(tmp_path_factory.mktemp("contract") / "v.mp4", n_frames=48, fps=24, cuts=(24,))
    with VideoReader.open(path) as reader:
        yield reader


@pytest.mark.parametrize("backend", BACKENDS, ids=IDS)
def test_spec_is_a_valid_schema(backend):
    spec = backend.spec()
    Draft202012Validator.check_schema(spec.parameters)
    assert spec.description.strip() and spec.parameters["type"] == "object"
    for other in REGISTRY.backends(backend.name):
        assert other.spec().parameters == spec.parameters


def toolset_with(backend, tiny_models: bool = False):
    """The toolset of the first profile that offers this backend with everything it requires
    (this backend chosen for its name, so tools that call other tools find them; the settings it
    needs counted as set); with ``tiny_models``, the full profile loads the tiny test checkpoints."""
    for profile in sorted(backend.profiles, key=("core", "lite", "full").index):
        toolset = REGISTRY.toolset(profile, {backend.name: backend.backend}, frozenset(backend.needs))
        if backend.name in toolset.backends:
            if profile == "full" and tiny_models:
                from tests.tools.backends.full.tiny_models import tiny_weights
                from tools.model_loading import ModelOptions

                toolset = dataclasses.replace(toolset, models=ModelOptions(weights=tiny_weights()))
            return toolset
    pytest.fail(f"no profile offers {backend.name}[{backend.backend}] with its requirements {backend.requires}: "
                "a registered backend nobody can use")


@pytest.mark.parametrize("backend", BACKENDS, ids=IDS)
def test_schema_breaking_arguments_come_back_as_retry(backend, video, tmp_path):
    runner = ToolRunner(toolset_with(backend), video, cache=None, timeout_s=60)
    (result,) = runner.run([ToolCall(name=backend.name, args={"no_such_argument": 1})])
    assert result.status == "retry" and "no_such_argument" in result.observation


@pytest.mark.parametrize("backend", RUNNABLE)
def test_schema_example_runs_and_round_trips_through_the_cache(backend, video, tmp_path):
    args = example_value(backend.spec().parameters)
    Draft202012Validator(backend.spec().parameters).validate(args)
    cache = ResultCache(tmp_path / "c.sqlite")
    runner = ToolRunner(toolset_with(backend, tiny_models=True), video, cache=cache, timeout_s=120)
    (result,) = runner.run([ToolCall(name=backend.name, args=args)])
    assert result.status in ("ok", "error"), result.observation
    if result.status == "error":
        pytest.fail(f"{backend.name} failed on schema-valid arguments {args}: {result.observation}")
    assert result.observation.strip()
    if backend.result_model is not None:
        assert isinstance(result.data, backend.result_model)
    else:
        assert result.data is None
    if backend.cacheable:
        key = runner.cache_key(backend, backend.args_model.model_validate(args))
        cached = cache.get(key, backend.result_model)
        assert cached is not None and cached.observation == result.observation
        assert cached.evidence == result.evidence
