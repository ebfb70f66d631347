"""The tool registry: backends registered against capabilities.

A *capability* (``tools.capabilities.Capability``) is what the planner sees: a name, an
argument schema, a result model and a description. A *backend* implements one capability
(a weight-free one, a lite CPU one, a full GPU one, a user's own); a *profile* picks one
backend per capability (``tools.toolset``), so every tier shows the planner the same names
and schemas.

Register a backend with the ``@backend`` decorator in a module that the ``vidagent.tools``
entry-point group names. vidagent's own backends are registered exactly that way
(``tools.backends.core``, ``.lite``, ``.full`` in its ``pyproject.toml``): they are the first
example of a plugin. An entry point may also name a ``ToolBackend`` object or a list of them.
"""

from __future__ import annotations

import inspect
import json
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

from pydantic import BaseModel

from tools.capabilities import Capability
from tools.errors import ConfigError
from tools.types import ToolOutput, ToolSpec

if TYPE_CHECKING:
    from tools.context import ToolContext

ToolFn = Callable[[BaseModel, "ToolContext"], ToolOutput]

#: Profiles known to vidagent. ``core``: weight-free tools only; ``lite``: CPU models that ship
#: in PyPI packages; ``full``: GPU models.
PROFILES = ("core", "lite", "full")
ENTRY_POINT_GROUP = "vidagent.tools"


@dataclass(frozen=True)
class ToolBackend:
    """One implementation of a capability.

    ``fn(args, ctx) -> ToolOutput`` with ``args`` an instance of ``capability.args`` and
    ``ToolOutput.data`` an instance of ``capability.result`` (or None when that is None).
    ``backend``: this implementation's name (``"ssd-mobilenet-coco"``). ``version`` is part of
    the cache key: bump it when the backend's output changes. ``requires``: capabilities this
    backend calls (through ``ctx.call``); a profile without them drops this backend.
    ``limits``: one line about this backend's own limits that the planner sees after the
    capability's description. ``timeout_s`` is the default per-call time limit. ``needs``:
    ``ToolsConfig`` settings it cannot run without (``("visual",)``: a vision-language
    server); a toolset whose configuration leaves one unset leaves this backend out. ``models``: names
    of the models it loads (``ModelSpec.name``); a run's ``[tools] weights`` override of one of
    them is part of the cache key, so results of other weights are never reused.
    """

    capability: Capability
    fn: ToolFn
    backend: str = "default"
    version: str = "1"
    profiles: frozenset[str] = frozenset(PROFILES)
    requires: tuple[str, ...] = ()
    limits: str = ""
    cacheable: bool = True
    timeout_s: float = 120.0
    priority: int = 0
    needs: tuple[str, ...] = ()
    models: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        """The capability's (tool's) name."""
        return self.capability.name

    @property
    def args_model(self) -> type[BaseModel]:
        return self.capability.args

    @property
    def result_model(self) -> type[BaseModel] | None:
        return self.capability.result

    @property
    def description(self) -> str:
        limits = self.limits.strip()
        return self.capability.description + (f" {limits}" if limits else "")

    def spec(self) -> ToolSpec:
        return ToolSpec(name=self.name, description=self.description, parameters=args_schema(self.args_model),
                        use_for=self.capability.use_for)


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
    _capabilities: dict[str, Capability] = field(default_factory=dict)
    _entry_points_loaded: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def register(self, backend: ToolBackend) -> ToolBackend:
        """Add ``backend``; re-registering the same function (a module imported twice) is a no-op.

        Raises ValueError when the backend's profiles are unknown, when its name is taken by
        another function, or when another capability object already uses its capability's
        name with a different argument or result model.
        """
        cap = backend.capability
        unknown = set(backend.profiles) - set(PROFILES)
        if unknown:
            raise ValueError(f"tool {cap.name}: unknown profiles {sorted(unknown)}; known: {PROFILES}")
        with self._lock:
            known = self._capabilities.setdefault(cap.name, cap)
            if known is not cap:
                _check_same_capability(known, cap, backend.backend)
            existing = self._backends.setdefault(cap.name, [])
            for other in existing:
                if other.backend == backend.backend:
                    if other.fn is backend.fn or _same_source(other.fn, backend.fn):
                        return other  # re-import of the same module
                    raise ValueError(f"tool {cap.name}: backend {backend.backend!r} registered twice")
            existing.append(backend)
        return backend

    def names(self) -> list[str]:
        self.load_entry_points()
        return sorted(self._backends)

    def backends(self, name: str) -> list[ToolBackend]:
        self.load_entry_points()
        return list(self._backends.get(name, []))

    def all_backends(self) -> list[ToolBackend]:
        """Every registered backend, by tool name then backend name."""
        self.load_entry_points()
        return [b for name in sorted(self._backends) for b in sorted(self._backends[name], key=lambda b: b.backend)]

    def toolset(
        self, profile: str, overrides: dict[str, str] | None = None, settings: frozenset[str] = frozenset()
    ) -> "ToolSet":
        """One backend per capability for ``profile`` (see ``tools.toolset.select_backends``)."""
        from tools.toolset import select_backends

        self.load_entry_points()
        return select_backends(self._backends, profile, overrides or {}, settings)

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


def _check_same_capability(known: Capability, new: Capability, backend: str) -> None:
    if _schema_key(known.args) != _schema_key(new.args):
        raise ValueError(
            f"tool {new.name}: backend {backend!r} declares arguments that differ from the capability's; "
            "every backend of a tool takes the same arguments"
        )
    if known.result is not new.result:
        raise ValueError(
            f"tool {new.name}: backend {backend!r} declares result model {_model_name(new.result)}, but the "
            f"capability's is {_model_name(known.result)}"
        )


def _model_name(model: type | None) -> str:
    return "None" if model is None else model.__qualname__


def _schema_key(model: type[BaseModel]) -> str:
    return json.dumps(args_schema(model), sort_keys=True)


def _same_source(a, b) -> bool:
    try:
        return inspect.getsourcefile(a) == inspect.getsourcefile(b) and a.__qualname__ == b.__qualname__
    except TypeError:
        return False


#: The process-wide registry that ``@backend`` writes to.
REGISTRY = ToolRegistry()


def backend(
    capability: Capability,
    *,
    name: str,
    version: str = "1",
    profiles: tuple[str, ...] | frozenset[str] = PROFILES,
    requires: tuple[str, ...] = (),
    limits: str = "",
    cacheable: bool = True,
    timeout_s: float = 120.0,
    priority: int = 0,
    needs: tuple[str, ...] = (),
    models: tuple[str, ...] = (),
    registry: ToolRegistry | None = None,
) -> Callable[[ToolFn], ToolFn]:
    """Register ``fn(args, ctx: ToolContext) -> ToolOutput`` as backend ``name`` of ``capability``.

    The function's first parameter must be typed with the capability's argument model. Its
    return annotation, when it names a result model (``-> ToolOutput[TracksResult]``), must
    be the capability's; a mismatch is an error here, at registration, not at the first call.

    Example::

        COUNT_THINGS = Capability(name="count_things", args=CountArgs, result=None,
                                  description="Count things.")

        @backend(COUNT_THINGS, name="by-hand", profiles=("core",))
        def count_things(args: CountArgs, ctx: ToolContext) -> ToolOutput:
            return ToolOutput(observation="3")
    """

    def decorate(fn: ToolFn) -> ToolFn:
        params = list(inspect.signature(fn).parameters)
        args_model = _hint(fn, params[0]) if params else None
        if args_model is not capability.args:
            raise TypeError(
                f"tool {capability.name}: the first parameter of {fn.__qualname__} must be typed "
                f"{capability.args.__qualname__}, the capability's argument model (got {args_model!r})"
            )
        generic = getattr(_hint(fn, "return"), "__pydantic_generic_metadata__", None) or {}
        declared = generic["args"][0] if generic.get("args") else None
        if declared is not None and declared is not capability.result:
            raise ValueError(
                f"tool {capability.name}: backend {name!r} returns {_model_name(declared)}, but the capability's "
                f"result model is {_model_name(capability.result)}"
            )
        (registry or REGISTRY).register(
            ToolBackend(
                capability=capability,
                fn=fn,
                backend=name,
                version=version,
                profiles=frozenset(profiles),
                requires=tuple(requires),
                limits=limits,
                cacheable=cacheable,
                timeout_s=timeout_s,
                priority=priority,
                needs=tuple(needs),
                models=tuple(models),
            )
        )
        return fn

    return decorate


def _hint(fn: Callable, key: str):
    """The evaluated annotation ``key`` of ``fn`` (None when absent or not resolvable)."""
    annotation = inspect.get_annotations(fn).get(key)
    if isinstance(annotation, str):
        try:
            annotation = eval(annotation, getattr(fn, "__globals__", {}))  # noqa: S307 - the module's own annotation
        except Exception:
            return None
    return annotation


def default_registry() -> ToolRegistry:
    """The registry with every installed ``vidagent.tools`` entry point loaded (vidagent's own
    backends included). Raises ConfigError when vidagent's own entry points are missing, which
    happens when the package metadata is stale (``pip install -e .`` refreshes it)."""
    REGISTRY.load_entry_points()
    if "video_info" not in REGISTRY._backends:
        raise ConfigError(
            "vidagent's built-in tools are not registered: its 'vidagent.tools' entry points are missing; "
            "reinstall with: pip install -e ."
        )
    return REGISTRY


from tools.toolset import ToolSet  # noqa: E402  (re-exported: ToolSet lives beside its builder)
