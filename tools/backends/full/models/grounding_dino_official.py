"""Official Grounding DINO checkpoints (``.pth`` from IDEA-Research's repository and the
fine-tuning repositories built on it), converted into transformers' ``GroundingDinoForObjectDetection``
at load time.

Why convert rather than run the official code: ``groundingdino-py`` 0.4.0 works only with
transformers < 5, which the ``full`` extra's transformers 5 excludes; converting keeps one
environment and one inference path (the same pre/post-processing, batching and precision) for
both formats. The architecture is read off the state dict (Swin trunk, layer counts, widths,
queries), so fine-tuned checkpoints of other sizes convert too. The text encoder's head count
is not stored in the weights; BERT's head size of 64 gives it (``hidden // 64``).

The key renaming below was written against the official implementation itself: the tests build a
tiny model with ``groundingdino-py``, save it as ``.pth`` and require this conversion to reproduce
its outputs (``tests/tools/backends/full/test_grounding_dino_official.py``).
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

from tools.errors import VidagentError

_SWIN = "model.backbone.conv_encoder.model.swin."
_QKV, _QUERY_KEY_VALUE = ("q_proj", "k_proj", "v_proj"), ("query", "key", "value")

#: (regex on an official key, replacement, parts): the key's matched start becomes the replacement
#: (its rest is kept); with ``parts``, the tensor is a fused projection split in three along its
#: first axis, part i going to the replacement with "{}" filled by parts[i]. First match wins.
_RULES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    # Swin trunk
    (r"backbone\.0\.patch_embed\.proj\.", _SWIN + "embeddings.patch_embeddings.projection.", ()),
    (r"backbone\.0\.patch_embed\.norm\.", _SWIN + "embeddings.norm.", ()),
    (r"backbone\.0\.norm(\d)\.", "", ()),  # handled by _trunk_norm (stage index shifts by one)
    (r"backbone\.0\.layers\.(\d+)\.blocks\.(\d+)\.norm1\.", _SWIN + r"encoder.layers.\1.blocks.\2.layernorm_before.", ()),
    (r"backbone\.0\.layers\.(\d+)\.blocks\.(\d+)\.norm2\.", _SWIN + r"encoder.layers.\1.blocks.\2.layernorm_after.", ()),
    (r"backbone\.0\.layers\.(\d+)\.blocks\.(\d+)\.attn\.qkv\.", _SWIN + r"encoder.layers.\1.blocks.\2.attention.{}.", _QKV),
    (r"backbone\.0\.layers\.(\d+)\.blocks\.(\d+)\.attn\.proj\.", _SWIN + r"encoder.layers.\1.blocks.\2.attention.o_proj.", ()),
    (r"backbone\.0\.layers\.(\d+)\.blocks\.(\d+)\.attn\.relative_position_bias_table",
     _SWIN + r"encoder.layers.\1.blocks.\2.attention.relative_position_bias.relative_position_bias_table", ()),
    (r"backbone\.0\.layers\.(\d+)\.blocks\.(\d+)\.mlp\.", _SWIN + r"encoder.layers.\1.blocks.\2.mlp.", ()),
    (r"backbone\.0\.layers\.(\d+)\.downsample\.", _SWIN + r"encoder.layers.\1.downsample.", ()),
    # text encoder and projections
    (r"bert\.", "model.text_backbone.", ()),
    (r"feat_map\.", "model.text_projection.", ()),
    (r"input_proj\.", "model.input_proj_vision.", ()),
    # encoder: deformable image layers, text enhancer layers, fusion layers
    (r"transformer\.encoder\.layers\.(\d+)\.self_attn\.", r"model.encoder.layers.\1.deformable_layer.self_attn.", ()),
    (r"transformer\.encoder\.layers\.(\d+)\.norm1\.", r"model.encoder.layers.\1.deformable_layer.self_attn_layer_norm.", ()),
    (r"transformer\.encoder\.layers\.(\d+)\.norm2\.", r"model.encoder.layers.\1.deformable_layer.final_layer_norm.", ()),
    (r"transformer\.encoder\.layers\.(\d+)\.linear(\d)\.", r"model.encoder.layers.\1.deformable_layer.fc\2.", ()),
    (r"transformer\.encoder\.text_layers\.(\d+)\.self_attn\.in_proj_", r"model.encoder.layers.\1.text_enhancer_layer.self_attn.{}.", _QUERY_KEY_VALUE),
    (r"transformer\.encoder\.text_layers\.(\d+)\.self_attn\.out_proj\.", r"model.encoder.layers.\1.text_enhancer_layer.self_attn.out_proj.", ()),
    (r"transformer\.encoder\.text_layers\.(\d+)\.norm1\.", r"model.encoder.layers.\1.text_enhancer_layer.layer_norm_before.", ()),
    (r"transformer\.encoder\.text_layers\.(\d+)\.norm2\.", r"model.encoder.layers.\1.text_enhancer_layer.layer_norm_after.", ()),
    (r"transformer\.encoder\.text_layers\.(\d+)\.linear(\d)\.", r"model.encoder.layers.\1.text_enhancer_layer.fc\2.", ()),
    (r"transformer\.encoder\.fusion_layers\.(\d+)\.gamma_v", r"model.encoder.layers.\1.fusion_layer.vision_param", ()),
    (r"transformer\.encoder\.fusion_layers\.(\d+)\.gamma_l", r"model.encoder.layers.\1.fusion_layer.text_param", ()),
    (r"transformer\.encoder\.fusion_layers\.(\d+)\.layer_norm_v\.", r"model.encoder.layers.\1.fusion_layer.layer_norm_vision.", ()),
    (r"transformer\.encoder\.fusion_layers\.(\d+)\.layer_norm_l\.", r"model.encoder.layers.\1.fusion_layer.layer_norm_text.", ()),
    (r"transformer\.encoder\.fusion_layers\.(\d+)\.attn\.(values_|out_)?v_proj\.", r"model.encoder.layers.\1.fusion_layer.attn.\2vision_proj.", ()),
    (r"transformer\.encoder\.fusion_layers\.(\d+)\.attn\.(values_|out_)?l_proj\.", r"model.encoder.layers.\1.fusion_layer.attn.\2text_proj.", ()),
    # decoder
    (r"transformer\.decoder\.layers\.(\d+)\.cross_attn\.", r"model.decoder.layers.\1.encoder_attn.", ()),
    (r"transformer\.decoder\.layers\.(\d+)\.norm1\.", r"model.decoder.layers.\1.encoder_attn_layer_norm.", ()),
    (r"transformer\.decoder\.layers\.(\d+)\.ca_text\.in_proj_", r"model.decoder.layers.\1.encoder_attn_text.{}.", _QUERY_KEY_VALUE),
    (r"transformer\.decoder\.layers\.(\d+)\.ca_text\.out_proj\.", r"model.decoder.layers.\1.encoder_attn_text.out_proj.", ()),
    (r"transformer\.decoder\.layers\.(\d+)\.catext_norm\.", r"model.decoder.layers.\1.encoder_attn_text_layer_norm.", ()),
    (r"transformer\.decoder\.layers\.(\d+)\.self_attn\.in_proj_", r"model.decoder.layers.\1.self_attn.{}.", _QUERY_KEY_VALUE),
    (r"transformer\.decoder\.layers\.(\d+)\.self_attn\.out_proj\.", r"model.decoder.layers.\1.self_attn.out_proj.", ()),
    (r"transformer\.decoder\.layers\.(\d+)\.norm2\.", r"model.decoder.layers.\1.self_attn_layer_norm.", ()),
    (r"transformer\.decoder\.layers\.(\d+)\.linear(\d)\.", r"model.decoder.layers.\1.fc\2.", ()),
    (r"transformer\.decoder\.layers\.(\d+)\.norm3\.", r"model.decoder.layers.\1.final_layer_norm.", ()),
    (r"transformer\.decoder\.norm\.", "model.decoder.layer_norm.", ()),
    (r"transformer\.decoder\.ref_point_head\.", "model.decoder.reference_points_head.", ()),
    (r"transformer\.decoder\.bbox_embed\.", "model.decoder.bbox_embed.", ()),
    # two-stage proposals, queries, heads
    (r"transformer\.enc_out_bbox_embed\.", "model.encoder_output_bbox_embed.", ()),
    (r"transformer\.enc_output", "model.enc_output", ()),
    (r"transformer\.level_embed", "model.level_embed", ()),
    (r"transformer\.tgt_embed\.", "model.query_position_embeddings.", ()),
    (r"bbox_embed\.", "bbox_embed.", ()),
)
_RULES_RE = tuple((re.compile(p), r, parts) for p, r, parts in _RULES)


class ConversionError(VidagentError):
    """An official state dict that this conversion does not understand."""


def official_state_dict(path: Path) -> dict[str, Any]:
    """The state dict inside an official checkpoint file (``{"model": ...}`` or bare), with any
    ``module.`` prefix of a distributed training run removed."""
    import torch

    raw = torch.load(path, map_location="cpu", weights_only=True)
    state = raw.get("model", raw) if isinstance(raw, dict) else raw
    if not isinstance(state, dict) or "transformer.tgt_embed.weight" not in {k.removeprefix("module.") for k in state}:
        raise ConversionError(f"{path} is not an official Grounding DINO checkpoint (no transformer.tgt_embed)")
    return {k.removeprefix("module."): v for k, v in state.items()}


def convert_state_dict(state: dict[str, Any]) -> dict[str, Any]:
    """Official keys and tensors -> transformers keys and tensors (fused q/k/v projections split;
    the text encoder's unused pooler and Swin's cached index buffers dropped)."""
    out: dict[str, Any] = {}
    for key, value in state.items():
        if key.startswith("bert.pooler.") or key.endswith(("relative_position_index", "attn_mask")):
            continue
        trunk_norm = re.fullmatch(r"backbone\.0\.norm(\d)\.(weight|bias)", key)
        if trunk_norm:  # the official trunk's norm i follows stage i + 1 in transformers' numbering
            out[f"model.backbone.conv_encoder.model.hidden_states_norms.stage{int(trunk_norm[1]) + 1}.{trunk_norm[2]}"] = value
            continue
        for pattern, replacement, parts in _RULES_RE:
            m = pattern.match(key)
            if m:
                new = m.expand(replacement) + key[m.end():]
                break
        else:
            raise ConversionError(f"unknown key in official checkpoint: {key}")
        if parts:
            for name, chunk in zip(parts, value.chunk(3, dim=0)):
                out[new.replace("{}", name)] = chunk.clone()
        else:
            out[new] = value
    return out


def config_from_state_dict(state: dict[str, Any]) -> Any:
    """The ``GroundingDinoConfig`` of an official state dict, read off its keys and shapes."""
    from transformers import BertConfig, GroundingDinoConfig, SwinConfig

    def count(pattern: str) -> int:
        return len({m[1] for k in state if (m := re.match(pattern, k))})

    stages = count(r"backbone\.0\.layers\.(\d+)\.")
    depths = [count(rf"backbone\.0\.layers\.{s}\.blocks\.(\d+)\.") for s in range(stages)]
    heads = [state[f"backbone.0.layers.{s}.blocks.0.attn.relative_position_bias_table"].shape[1] for s in range(stages)]
    table_rows = state["backbone.0.layers.0.blocks.0.attn.relative_position_bias_table"].shape[0]
    patch = state["backbone.0.patch_embed.proj.weight"]
    words = state["bert.embeddings.word_embeddings.weight"]
    levels = count(r"input_proj\.(\d+)\.")
    d_model = state["transformer.tgt_embed.weight"].shape[1]
    n_heads, n_points = 8, 4
    if state["transformer.encoder.layers.0.self_attn.attention_weights.weight"].shape[0] != n_heads * levels * n_points:
        raise ConversionError("official checkpoint with a deformable attention other than 8 heads x 4 points")
    return GroundingDinoConfig(
        backbone_config=SwinConfig(embed_dim=patch.shape[0], patch_size=patch.shape[-1], depths=depths,
                                   num_heads=heads, window_size=(math.isqrt(table_rows) + 1) // 2,
                                   out_indices=list(range(stages - 2, stages + 1))),
        text_config=BertConfig(
            vocab_size=words.shape[0], hidden_size=words.shape[1], num_attention_heads=max(1, words.shape[1] // 64),
            num_hidden_layers=count(r"bert\.encoder\.layer\.(\d+)\."),
            intermediate_size=state["bert.encoder.layer.0.intermediate.dense.weight"].shape[0],
            max_position_embeddings=state["bert.embeddings.position_embeddings.weight"].shape[0],
            type_vocab_size=state["bert.embeddings.token_type_embeddings.weight"].shape[0],
        ),
        d_model=d_model, num_queries=state["transformer.tgt_embed.weight"].shape[0], num_feature_levels=levels,
        encoder_layers=count(r"transformer\.encoder\.layers\.(\d+)\."),
        decoder_layers=count(r"transformer\.decoder\.layers\.(\d+)\."),
        encoder_ffn_dim=state["transformer.encoder.layers.0.linear1.weight"].shape[0],
        decoder_ffn_dim=state["transformer.decoder.layers.0.linear1.weight"].shape[0],
        encoder_attention_heads=n_heads, decoder_attention_heads=n_heads, encoder_n_points=n_points,
        decoder_n_points=n_points,
    )


def load_official(path: Path) -> Any:
    """A ``GroundingDinoForObjectDetection`` holding the weights of the official checkpoint at ``path``."""
    from transformers import GroundingDinoForObjectDetection

    state = official_state_dict(path)
    model = GroundingDinoForObjectDetection(config_from_state_dict(state))
    converted = convert_state_dict(state)
    missing, unexpected = model.load_state_dict(converted, strict=False)
    # The trunk's final norm has no official counterpart: the backbone path never uses it.
    missing = [k for k in missing if not k.endswith(("swin.layernorm.weight", "swin.layernorm.bias"))]
    if missing or unexpected:
        raise ConversionError(f"official checkpoint {path.name}: {len(missing)} weights missing (first: "
                              f"{missing[:1]}), {len(unexpected)} unexpected (first: {unexpected[:1]})")
    return model.eval()
