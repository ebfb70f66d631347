"""Transfer methods: how an image backbone becomes a video recogniser.

Frozen image features (the backbone is never changed; per-clip features are computed once and
cached, so training costs seconds on a CPU):

- ``linear``: a linear probe on the mean of the frames' features (order-blind by construction);
- ``temporal-head``: post-network tuning, a temporal convolution network over the changes
  between consecutive frames' features (BatchNorm, D->64 projection, two kernel-3 convolutions
  over time, mean, linear);
- ``side``: a light side network fed by the frozen class token after every block of an open_clip
  ViT (per-layer projections mixed by learnt gates), then the temporal head.

Adapted features (the backbone's own weights stay frozen; parameters are added to it):

- ``adapter``: ST-Adapter (Pan et al. 2022): before every block's attention, a bottleneck
  D->r, a depth-wise convolution over time (kernel 3) per token, r->D (zero-initialised), added
  to the tokens; then the temporal head. (With the paper's mean-pool and linear classifier instead,
  the adapters did not learn the generated dataset from a random tiny ViT: 30.6% held-out,
  BENCHMARKS.md);
- ``lora``: LoRA (rank 4) on the attention's qkv and output projections, then the temporal head
  (vidagent's own: peft's LoRA for ``nn.MultiheadAttention``, the attention open_clip uses,
  merges into the frozen weights and unmerges around each forward, which changes them by rounding);
- ``prompt``: visual prompt tuning (VPT-shallow): learnable tokens inserted after the class
  token before the first block, then the temporal head;
- ``finetune-last-N``: the last N blocks, the final norm and projection trained, then the
  temporal head.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict

from tools.errors import ConfigError

METHODS = ("linear", "temporal-head", "side", "adapter", "lora", "prompt", "finetune-last-N")
FROZEN_FEATURE_METHODS = ("linear", "temporal-head", "side")
HIDDEN = 64
ADAPTER_RANK = 16
LORA_RANK = 4
N_PROMPTS = 4
#: Dropout before the temporal head's classifier, and on its input (the frame-to-frame changes).
HEAD_DROPOUT = 0.3


class MethodSpec(BaseModel):
    """A parsed ``--method``: ``name`` as given, ``kind`` (``finetune`` for finetune-last-N), ``last_n``."""

    model_config = ConfigDict(frozen=True)

    name: str
    kind: str
    last_n: int = 0

    @property
    def frozen_features(self) -> bool:
        """True when the backbone's outputs never change, so they can be cached."""
        return self.kind in FROZEN_FEATURE_METHODS


def parse_method(text: str) -> MethodSpec:
    """The method ``text`` names; ConfigError (one line listing the methods) otherwise."""
    match = re.fullmatch(r"finetune-last-(\d+)", text)
    if match and int(match.group(1)) >= 1:
        return MethodSpec(name=text, kind="finetune", last_n=int(match.group(1)))
    if text in METHODS and text != "finetune-last-N":
        return MethodSpec(name=text, kind=text)
    raise ConfigError(f"unknown method {text!r}; choose one of {', '.join(METHODS)} (N >= 1)")


def check_fits(method: MethodSpec, backbone) -> None:
    """ConfigError when ``method`` cannot run on ``backbone`` (e.g. adapters in a .tflite graph)."""
    if method.frozen_features:
        if method.kind == "side" and backbone.kind != "open_clip":
            raise ConfigError(f"method side needs an open_clip ViT backbone, not {backbone.ref}")
        return
    if not backbone.tunable:
        raise ConfigError(f"method {method.name} changes the backbone's forward pass; backbone {backbone.ref} "
                          f"gives frozen features only (use {', '.join(FROZEN_FEATURE_METHODS)})")
    if method.kind == "finetune" and method.last_n > backbone.n_layers:
        raise ConfigError(f"method {method.name}: the backbone has only {backbone.n_layers} blocks")


def _nn():
    import torch

    return torch, torch.nn


def mean_linear_head(dim: int, n_classes: int):
    """(B, T, D) -> (B, C): mean over time, then LayerNorm and a linear layer."""
    torch, nn = _nn()

    class MeanLinear(nn.Module):
        def __init__(self):
            super().__init__()
            self.norm = nn.LayerNorm(dim)
            self.fc = nn.Linear(dim, n_classes)

        def forward(self, x):
            return self.fc(self.norm(x.mean(dim=1)))

    return MeanLinear()


def temporal_head(dim: int, n_classes: int, hidden: int = HIDDEN, dropout: float | None = None):
    """(B, T, D) -> (B, C): the changes between consecutive frames' features (x[t+1] - x[t], so
    what stays still, such as the background, cancels), batch-normalised per feature, projected
    D->hidden, two kernel-3 convolutions over time, mean over time, linear.

    It reads change only: what a clip shows throughout adds nothing (on the generated dataset a
    branch reading the clip's mean features only overfitted; see BENCHMARKS.md)."""
    torch, nn = _nn()

    class TemporalConv(nn.Module):
        def __init__(self):
            super().__init__()
            self.norm = nn.BatchNorm1d(dim)
            self.proj = nn.Linear(dim, hidden)
            self.conv1 = nn.Conv1d(hidden, hidden, 3, padding=1)
            self.conv2 = nn.Conv1d(hidden, hidden, 3, padding=1)
            self.drop = nn.Dropout(HEAD_DROPOUT if dropout is None else dropout)
            self.fc = nn.Linear(hidden, n_classes)

        def forward(self, x):
            change = x[:, 1:] - x[:, :-1] if x.shape[1] > 1 else x
            b, t, d = change.shape
            z = self.norm(change.reshape(b * t, d)).reshape(b, t, d)
            h = nn.functional.gelu(self.proj(z)).transpose(1, 2)  # (B, hidden, T - 1)
            h = nn.functional.gelu(self.conv1(h))
            h = nn.functional.gelu(self.conv2(h))
            return self.fc(self.drop(h.mean(dim=2)))

    return TemporalConv()


def side_head(n_layers: int, width: int, n_classes: int, hidden: int = HIDDEN):
    """(B, T, L, W) -> (B, C): each layer's class token projected to ``hidden`` and mixed by
    softmax gates (the side network), then the temporal head."""
    torch, nn = _nn()

    class Side(nn.Module):
        def __init__(self):
            super().__init__()
            self.norms = nn.ModuleList(nn.LayerNorm(width) for _ in range(n_layers))
            self.projs = nn.ModuleList(nn.Linear(width, hidden) for _ in range(n_layers))
            self.gates = nn.Parameter(torch.zeros(n_layers))
            self.temporal = temporal_head(hidden, n_classes, hidden)

        def forward(self, x):
            w = torch.softmax(self.gates, 0)
            mixed = sum(w[i] * proj(norm(x[:, :, i])) for i, (norm, proj) in enumerate(zip(self.norms, self.projs)))
            return self.temporal(mixed)

    return Side()


class _Time:
    """Frames per clip of the batch going through the backbone (set by the model before each forward)."""

    n_frames = 1


def st_adapter(width: int, clock: _Time, rank: int = ADAPTER_RANK):
    """ST-Adapter: tokens (B*T, N, W) -> tokens + up(dwconv_t(down(tokens))), up zero-initialised."""
    torch, nn = _nn()

    class STAdapter(nn.Module):
        def __init__(self):
            super().__init__()
            self.down = nn.Linear(width, rank)
            self.conv = nn.Conv1d(rank, rank, 3, padding=1, groups=rank)
            self.up = nn.Linear(rank, width)
            nn.init.zeros_(self.up.weight)
            nn.init.zeros_(self.up.bias)

        def forward(self, x):
            bt, n, _ = x.shape
            t = clock.n_frames
            h = self.down(x).view(bt // t, t, n, rank).permute(0, 2, 3, 1).reshape(-1, rank, t)  # (B*N, r, T)
            h = self.conv(h).view(bt // t, n, rank, t).permute(0, 3, 1, 2).reshape(bt, n, rank)
            return x + self.up(h)

    return STAdapter()


def _adapted_block(block, adapter):
    torch, nn = _nn()

    class AdaptedBlock(nn.Module):
        def __init__(self):
            super().__init__()
            self.block = block
            self.adapter = adapter

        def forward(self, q_x, k_x=None, v_x=None, attn_mask=None):
            return self.block(self.adapter(q_x), k_x, v_x, attn_mask=attn_mask)

    return AdaptedBlock()


def lora_attention(mha, rank: int = LORA_RANK, alpha: float = 2 * LORA_RANK):
    """LoRA on an ``nn.MultiheadAttention``'s qkv (in) and output projections: the attention runs
    with ``W + (alpha / rank) * B @ A`` computed afresh each call (B zero-initialised), so the frozen
    ``W`` is never written. (peft's MultiheadAttention LoRA merges the update into ``W`` and
    unmerges it around every forward, which leaves rounding drift in the frozen weights.)"""
    torch, nn = _nn()

    class LoRAMultiheadAttention(nn.Module):
        def __init__(self):
            super().__init__()
            d = mha.embed_dim
            self.base = mha
            self.scale = alpha / rank
            self.lora_qkv_a = nn.Parameter(torch.randn(rank, d) / d**0.5)
            self.lora_qkv_b = nn.Parameter(torch.zeros(3 * d, rank))
            self.lora_out_a = nn.Parameter(torch.randn(rank, d) / d**0.5)
            self.lora_out_b = nn.Parameter(torch.zeros(d, rank))

        def forward(self, query, key, value, need_weights=False, attn_mask=None, **_):
            m = self.base
            if m.batch_first:
                query, key, value = (x.transpose(0, 1) for x in (query, key, value))
            out, _ = nn.functional.multi_head_attention_forward(
                query, key, value, m.embed_dim, m.num_heads,
                m.in_proj_weight + self.scale * self.lora_qkv_b @ self.lora_qkv_a, m.in_proj_bias,
                m.bias_k, m.bias_v, m.add_zero_attn, m.dropout,
                m.out_proj.weight + self.scale * self.lora_out_b @ self.lora_out_a, m.out_proj.bias,
                training=self.training, need_weights=False, attn_mask=attn_mask)
            return (out.transpose(0, 1) if m.batch_first else out), None

    return LoRAMultiheadAttention()


def _prompted_norm(ln_pre, width: int, n_prompts: int = N_PROMPTS):
    torch, nn = _nn()

    class PromptedNorm(nn.Module):
        """The ViT's pre-norm, then learnable prompt tokens inserted after the class token."""

        def __init__(self):
            super().__init__()
            self.norm = ln_pre
            self.prompts = nn.Parameter(torch.randn(n_prompts, width) * 0.02)

        def forward(self, x):
            y = self.norm(x)
            prompts = self.prompts.unsqueeze(0).expand(y.shape[0], -1, -1).to(y.dtype)
            return torch.cat([y[:, :1], prompts, y[:, 1:]], dim=1)

    return PromptedNorm()


def build_model(backbone, method: MethodSpec, n_classes: int):
    """The recogniser: ``backbone`` (frozen, adapted in place by ``method``) plus its head.

    The returned module's ``forward(clips)`` takes (B, T, 3, S, S) normalised frames; its
    ``head`` takes cached features (B, T, D) (or (B, T, L, W) for ``side``). Only the
    method's parameters require gradients."""
    torch, nn = _nn()
    check_fits(method, backbone)
    backbone.freeze()
    clock = _Time()
    visual = backbone.visual if backbone.kind == "open_clip" else None
    if method.kind == "adapter":
        width = visual.transformer.width
        blocks = visual.transformer.resblocks
        for i in range(len(blocks)):
            blocks[i] = _adapted_block(blocks[i], st_adapter(width, clock))
    elif method.kind == "lora":
        for block in visual.transformer.resblocks:
            block.attn = lora_attention(block.attn)
    elif method.kind == "prompt":
        visual.ln_pre = _prompted_norm(visual.ln_pre, visual.transformer.width)
    elif method.kind == "finetune":
        for block in list(visual.transformer.resblocks)[-method.last_n :]:
            block.requires_grad_(True)
        for part in (visual.ln_post,):
            part.requires_grad_(True)
        if isinstance(getattr(visual, "proj", None), nn.Parameter):
            visual.proj.requires_grad_(True)

    if method.kind == "linear":
        head = mean_linear_head(backbone.feature_dim, n_classes)
    elif method.kind == "side":
        head = side_head(backbone.n_layers, visual.transformer.width, n_classes)
    else:
        head = temporal_head(backbone.feature_dim, n_classes)

    class Recogniser(nn.Module):
        def __init__(self):
            super().__init__()
            if backbone.module is not None:
                self.backbone = backbone.module
            self.head = head
            self.clock = clock

        def forward(self, clips):
            b, t = clips.shape[:2]
            self.clock.n_frames = t
            feats = self.backbone(clips.reshape(b * t, *clips.shape[2:]))
            return self.head(feats.reshape(b, t, -1))

    model = Recogniser()
    if backbone.module is not None:
        backbone.module.eval()
    return model


def trainable_parameters(model) -> list[tuple[str, Any]]:
    """(name, parameter) of every parameter that receives gradients."""
    return [(n, p) for n, p in model.named_parameters() if p.requires_grad]
