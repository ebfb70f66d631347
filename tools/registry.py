"""The tool registry: capabilities (name + argument schema) and the backends that implement them.

A *tool* the planner sees is a capability: a name, a description and one pydantic argument
model. A capability may have several *backends* (a lite CPU one, a full GPU one); a *profile*
picks one backend per capability, so every tier shows the planner the same names and schemas.

Register a backend with the ``@tool`` decorator, or from another package through the
``vidagent.tools`` entry-point group (the entry point names a module, whose import registers
its tools, or a ``ToolBackend`` object).
"""

from __future__ import annotations

import inspect
import json
import re
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

from pydantic import BaseModel

from tools.errors import ConfigError
from tools.types import ToolOutput, ToolSpec

if TYPE_CHECKING:
    from tools.context import ToolContext

ToolFn = Callable[[BaseModel, "ToolContext"], ToolOutput]

#: Profiles known to vidagent. ``core``: weight-free tools only; ``lite``: CPU models that ship
#: in PyPI packages; ``full``: GPU models.
PROFILES = ("core", "lite", "full")
ENTRY_POINT_GROUP = "vidagent.tools"
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class ToolBackend:
    """One implementation of a capability.

    ``fn(args, ctx) -> ToolOutput``. ``version`` is part of the cache key: bump it when the
    backend's output changes. ``timeout_s`` is the default per-call time limit.
    """

    name: str
    description: str
    args_model: type[BaseModel]
    fn: ToolFn
    backend: str = "default"
    version: str = "1"
    profiles: frozenset[str] = frozenset(PROFILES)
    result_model: type[BaseModel] | None = None
    cacheable: bool = True
    timeout_s: float = 120.0
    priority: int = 0

    def spec(self) -> ToolSpec:
        return ToolSpec(name=self.name, description=self.description, parameters=args_schema(self.args_model))


def args_schema(model: type[BaseModel]) -> dict:
    """The JSON schema a planner gets for an argument model (no titles; refs inlined)."""
    schema = model.model_json_schema()
    defs = schema.pop("$defs", {})

    def inline(node):
        if isinstance(node, dict):
            if "$ref" in node:
                target = defs[node["$ref"].split("/")[-1]]
                merged = {**inline(target), **{k: inline(v) for k, v in node.items() if k != "$ref"}}
                return merged
            return {k: inline(v) for k, v in node.items() if k != "title"}
        if isinstance(node, list):
            return [inline(x) for x in node]
        return node

    out = inline(schema)
    out.setdefault("type", "object")
    out.setdefault("properties", {})
    return out


@dataclass
class ToolRegistry:
    """All known backends, by capability name."""

    _backends: dict[str, list[ToolBackend]] = field(default_factory=dict)
    _entry_points_loaded: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def register(self, backend: ToolBackend) -> ToolBackend:
        if not _NAME.match(backend.name):
            raise ValueError(f"tool name {backend.name!r} must be snake_case")
        unknown = set(backend.profiles) - set(PROFILES)
        if unknown:
            raise ValueError(f"tool {backend.name}: unknown profiles {sorted(unknown)}; known: {PROFILES}")
        with self._lock:
            existing = self._backends.setdefault(backend.name, [])
            for other in existing:
                if other.backend == backend.backend:
                    if other.fn is backend.fn or _same_source(other.fn, backend.fn):
                        return other  # re-import of the same module
                    raise ValueError(f"tool {backend.name}: backend {backend.backend!r} registered twice")
                if _schema_key(other.args_model) != _schema_key(backend.args_model):
                    raise ValueError(
                        f"tool {backend.name}: backend {backend.backend!r} declares arguments that differ "
                        f"from backend {other.backend!r}; every backend of a tool takes the same arguments"
                    )
            existing.append(backend)
        return backend

    def names(self) -> list[str]:
        self.load_entry_points()
        return sorted(self._backends)

    def backends(self, name: str) -> list[ToolBackend]:
        self.load_entry_points()
        return list(self._backends.get(name, []))

    def toolset(self, profile: str, overrides: dict[str, str] | None = None) -> "ToolSet":
        """One backend per capability for ``profile``; ``overrides`` maps name -> backend name."""
        if profile not in PROFILES:
            raise ConfigError(f"unknown tool profile {profile!r}; choose one of {', '.join(PROFILES)}")
        self.load_entry_points()
        overrides = overrides or {}
        chosen: dict[str, ToolBackend] = {}
        for name, backends in sorted(self._backends.items()):
            if name in overrides:
                match = [b for b in backends if b.backend == overrides[name]]
                if not match:
                    have = ", ".join(b.backend for b in backends)
                    raise ConfigError(f"tool {name} has no backend {overrides[name]!r} (have: {have})")
                chosen[name] = match[0]
                continue
            fitting = [b for b in backends if profile in b.profiles]
            if fitting:
                chosen[name] = max(fitting, key=lambda b: b.priority)
        unknown = set(overrides) - set(self._backends)
        if unknown:
            raise ConfigError(f"backend overrides name unknown tools: {', '.join(sorted(unknown))}")
        return ToolSet(profile=profile, backends=chosen)

    def load_entry_points(self) -> None:
        """Import every ``vidagent.tools`` entry point once (a broken plugin is reported, not fatal)."""
        if self._entry_points_loaded:
            return
        self._entry_points_loaded = True
        from importlib.metadata import entry_points
        import warnings

        for ep in entry_points(group=ENTRY_POINT_GROUP):
            try:
                obj = ep.load()
            except Exception as exc:  # a user's plugin must not break the whole CLI
                warnings.warn(f"tool plugin {ep.name} ({ep.value}) failed to load: {exc}", stacklevel=2)
                continue
            if isinstance(obj, ToolBackend):
                self.register(obj)
            elif isinstance(obj, (list, tuple)):
                for item in obj:
                    self.register(item)


@dataclass(frozen=True)
class ToolSet:
    """The backends a run uses, one per capability."""

    profile: str
    backends: dict[str, ToolBackend]

    def specs(self) -> list[ToolSpec]:
        return [b.spec() for _, b in sorted(self.backends.items())]

    def get(self, name: str) -> ToolBackend | None:
        return self.backends.get(name)

    def names(self) -> list[str]:
        return sorted(self.backends)


def _schema_key(model: type[BaseModel]) -> str:
    return json.dumps(args_schema(model), sort_keys=True)


def _same_source(a, b) -> bool:
    try:
        return inspect.getsourcefile(a) == inspect.getsourcefile(b) and a.__qualname__ == b.__qualname__
    except TypeError:
        return False


#: The process-wide registry that ``@tool`` writes to.
REGISTRY = ToolRegistry()


def tool(
    name: str,
    *,
    description: str | None = None,
    backend: str = "default",
    version: str = "1",
    profiles: tuple[str, ...] | frozenset[str] = PROFILES,
    result_model: type[BaseModel] | None = None,
    cacheable: bool = True,
    timeout_s: float = 120.0,
    priority: int = 0,
    registry: ToolRegistry | None = None,
) -> Callable[[ToolFn], ToolFn]:
    """Register ``fn(args: ArgsModel, ctx: ToolContext) -> ToolOutput`` as a tool backend.

    The argument model is read from the type hint of the first parameter; the description
    defaults to the function's docstring.

    Example::

        class CountArgs(BaseModel):
            label: str = Field(description="what to count")

        @tool("count_things", profiles=("core",))
        def count_things(args: CountArgs, ctx: ToolContext) -> ToolOutput:
            "Count things."
            return ToolOutput(observation="3")
    """

    def decorate(fn: ToolFn) -> ToolFn:
        hints = inspect.get_annotations(fn, eval_str=True)
        params = list(inspect.signature(fn).parameters)
        args_model = hints.get(params[0]) if params else None
        if not (isinstance(args_model, type) and issubclass(args_model, BaseModel)):
            raise TypeError(f"tool {name}: the first parameter of {fn.__qualname__} must be typed with a pydantic model")
        desc = description or inspect.getdoc(fn) or ""
        if not desc.strip():
            raise ValueError(f"tool {name}: give a description or a docstring")
        (registry or REGISTRY).register(
            ToolBackend(
                name=name,
                description=desc.strip(),
                args_model=args_model,
                fn=fn,
                backend=backend,
                version=version,
                profiles=frozenset(profiles),
                result_model=result_model,
                cacheable=cacheable,
                timeout_s=timeout_s,
                priority=priority,
            )
        )
        return fn

    return decorate


def default_registry() -> ToolRegistry:
    """The registry with vidagent's built-in tools and installed plugins loaded."""
    import tools.builtin  # noqa: F401  (registers the built-in tools)
    import tools.lite  # noqa: F401  (registers the lite backends; their models load lazily)

    REGISTRY.load_entry_points()
    return REGISTRY
