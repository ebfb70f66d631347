"""Tiny random-initialised full-tier models, built through their real libraries and saved in the
layout a user's checkpoint has, so tests load them by the same code path a real checkpoint takes.

No weights are downloaded: every model here has random weights, so what it "sees" is arbitrary;
tests assert what is deterministic (shapes, coordinate systems, ordering, caching).

    weights = tiny_weights()        # model name -> Weights.path(folder), built once per process
"""

from __future__ import annotations

import functools
import json
import string
import tempfile
from pathlib import Path

from tools.model_loading import Weights

#: Token ids the Grounding DINO model code hard-codes (BERT's): keep them in the made-up vocabulary.
_BERT_IDS = {"[PAD]": 0, "[UNK]": 100, "[CLS]": 101, "[SEP]": 102, "[MASK]": 103, ".": 1012, "?": 1029}
#: Image side the tiny processors resize to (the real checkpoints use 800-1333): keeps CPU tests fast.
GDINO_SHORTEST, GDINO_LONGEST = 160, 320


def bert_vocab() -> list[str]:
    """A 1100-token vocabulary: BERT's special ids in place, every letter as a word start and as a
    continuation, so any lower-case phrase tokenizes (one token per letter after the first)."""
    vocab = [f"[unused{i}]" for i in range(1100)]
    for token, i in _BERT_IDS.items():
        vocab[i] = token
    free = (i for i in range(200, 1100) if i not in _BERT_IDS.values())
    for letter in string.ascii_lowercase:
        vocab[next(free)] = letter
        vocab[next(free)] = "##" + letter
    for word in ("car", "person", "bike", "bicycle", "red", "coat", "man", "the", "in", "sign", "taxi"):
        vocab[next(free)] = word
    return vocab


def build_grounding_dino(folder: Path, seed: int = 0) -> Path:
    """A tiny GroundingDinoForObjectDetection with its processor, saved with ``save_pretrained``."""
    import torch
    from transformers import (BertConfig, BertTokenizer, GroundingDinoConfig, GroundingDinoForObjectDetection,
                              GroundingDinoImageProcessor, GroundingDinoProcessor, SwinConfig)

    folder.mkdir(parents=True, exist_ok=True)
    vocab_dir = folder / "vocab"
    vocab_dir.mkdir(exist_ok=True)
    (vocab_dir / "vocab.txt").write_text("\n".join(bert_vocab()) + "\n")
    tokenizer = BertTokenizer.from_pretrained(vocab_dir)
    image_processor = GroundingDinoImageProcessor(size={"shortest_edge": GDINO_SHORTEST, "longest_edge": GDINO_LONGEST})
    processor = GroundingDinoProcessor(image_processor=image_processor, tokenizer=tokenizer)
    config = GroundingDinoConfig(
        backbone_config=SwinConfig(embed_dim=16, depths=[1, 1, 1, 1], num_heads=[1, 2, 2, 4], window_size=7,
                                   out_features=["stage2", "stage3", "stage4"]),
        text_config=BertConfig(vocab_size=1100, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                               intermediate_size=64),
        d_model=32, encoder_layers=1, decoder_layers=2, encoder_attention_heads=4, decoder_attention_heads=4,
        encoder_ffn_dim=64, decoder_ffn_dim=64, num_queries=50,
    )
    torch.manual_seed(seed)
    model = GroundingDinoForObjectDetection(config).eval()
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


#: A 3.6M-parameter ViT open_clip model at 64 px (the real ViT-B-32 is 224 px, 151M parameters).
CLIP_CONFIG = {
    "embed_dim": 64,
    "vision_cfg": {"image_size": 64, "layers": 2, "width": 64, "head_width": 32, "patch_size": 16},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2},
}


def build_open_clip(folder: Path, seed: int = 0) -> Path:
    """A tiny open_clip model in the hub layout (``open_clip_config.json`` + safetensors weights),
    which is how a fine-tuned model is saved and what ``local-dir:`` and ``hf-hub:`` load."""
    import open_clip
    import torch
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    preprocess = {"mean": list(open_clip.OPENAI_DATASET_MEAN), "std": list(open_clip.OPENAI_DATASET_STD),
                  "interpolation": "bicubic", "resize_mode": "shortest"}
    (folder / "open_clip_config.json").write_text(json.dumps({"model_cfg": CLIP_CONFIG, "preprocess_cfg": preprocess}))
    torch.manual_seed(seed)
    model = open_clip.create_model(f"local-dir:{folder}")  # no weights file yet: random init
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, folder / "open_clip_model.safetensors")
    return folder


#: SAM2 input side for the tiny model (the released ones use 1024).
SAM2_SIZE = 256


def build_sam2(folder: Path, seed: int = 0) -> Path:
    """A tiny transformers Sam2Model (0.35M parameters; Hiera with a global-attention block that
    is not the first of its stage) and its processor, saved with ``save_pretrained``."""
    import torch
    from transformers import Sam2Config, Sam2HieraDetConfig, Sam2Model, Sam2Processor, Sam2VisionConfig
    from transformers.models.sam2.image_processing_sam2 import Sam2ImageProcessor

    s = SAM2_SIZE
    backbone = Sam2HieraDetConfig(
        hidden_size=16, num_attention_heads=1, image_size=[s, s], blocks_per_stage=[1, 1, 2, 1],
        embed_dim_per_stage=[16, 32, 64, 128], num_attention_heads_per_stage=[1, 1, 2, 4],
        window_size_per_stage=[8, 4, 14, 7], global_attention_blocks=[3], window_positional_embedding_background_size=[7, 7],
    )
    vision = Sam2VisionConfig(backbone_config=backbone, backbone_channel_list=[128, 64, 32, 16],
                              backbone_feature_sizes=[[s // 4, s // 4], [s // 8, s // 8], [s // 16, s // 16]],
                              fpn_hidden_size=32)
    config = Sam2Config(vision_config=vision,
                        prompt_encoder_config={"hidden_size": 32, "image_size": s, "patch_size": 16, "mask_input_channels": 4},
                        mask_decoder_config={"hidden_size": 32, "mlp_dim": 64, "num_attention_heads": 2,
                                             "iou_head_hidden_dim": 32})
    torch.manual_seed(seed)
    Sam2Model(config).eval().save_pretrained(folder)
    image_processor = Sam2ImageProcessor(size={"height": s, "width": s}, mask_size={"height": s // 4, "width": s // 4})
    Sam2Processor(image_processor=image_processor).save_pretrained(folder)
    return folder


def build_sam2_video(folder: Path, seed: int = 0) -> Path:
    """A tiny transformers Sam2VideoModel (2.1M parameters: the image model's Hiera trunk, one
    memory-attention layer, 3 memory frames) and its processor, saved as the released checkpoints
    are (which ``Sam2Model`` loads too). SAM2's video code needs the mask decoder's width above the
    memory's 64 channels (object pointers are split into 64-wide tokens) and the FPN as wide as
    the decoder.

    The object-score head's last bias is set to +10 ("the object is in the frame"): with random
    weights its logits sit near 0 and SAM2 blanks a mask whose logit is negative, so without it
    propagated masks would be empty for no reason a test could assert."""
    import torch
    from transformers import Sam2HieraDetConfig, Sam2VideoConfig, Sam2VideoModel, Sam2VideoProcessor, Sam2VisionConfig
    from transformers.models.sam2.image_processing_sam2 import Sam2ImageProcessor
    from transformers.models.sam2_video.video_processing_sam2_video import Sam2VideoVideoProcessor

    s, width = SAM2_SIZE, 128
    backbone = Sam2HieraDetConfig(
        hidden_size=16, num_attention_heads=1, image_size=[s, s], blocks_per_stage=[1, 1, 2, 1],
        embed_dim_per_stage=[16, 32, 64, 128], num_attention_heads_per_stage=[1, 1, 2, 4],
        window_size_per_stage=[8, 4, 14, 7], global_attention_blocks=[3], window_positional_embedding_background_size=[7, 7],
    )
    vision = Sam2VisionConfig(backbone_config=backbone, backbone_channel_list=[128, 64, 32, 16],
                              backbone_feature_sizes=[[s // 4, s // 4], [s // 8, s // 8], [s // 16, s // 16]],
                              fpn_hidden_size=width)
    config = Sam2VideoConfig(
        vision_config=vision, image_size=s,
        prompt_encoder_config={"hidden_size": width, "image_size": s, "patch_size": 16, "mask_input_channels": 4},
        mask_decoder_config={"hidden_size": width, "mlp_dim": 64, "num_attention_heads": 2, "iou_head_hidden_dim": 32},
        num_maskmem=3, memory_attention_hidden_size=width, memory_attention_num_layers=1,
        memory_attention_feed_forward_hidden_size=64, memory_attention_rope_feat_sizes=[s // 16, s // 16],
        memory_encoder_hidden_size=width, memory_encoder_output_channels=64, mask_downsampler_embed_dim=width,
        memory_fuser_embed_dim=width, memory_fuser_intermediate_dim=64, memory_fuser_num_layers=1,
    )
    torch.manual_seed(seed)
    model = Sam2VideoModel(config).eval()
    with torch.no_grad():
        model.mask_decoder.pred_obj_score_head.proj_out.bias.fill_(10.0)
    model.save_pretrained(folder)
    sizes = dict(size={"height": s, "width": s}, mask_size={"height": s // 4, "width": s // 4})
    Sam2VideoProcessor(image_processor=Sam2ImageProcessor(**sizes), video_processor=Sam2VideoVideoProcessor(**sizes)
                       ).save_pretrained(folder)
    return folder


def require_full_env() -> None:
    """Fail with the command to run when this interpreter lacks the full tier's libraries."""
    import importlib.util

    missing = [m for m in ("torch", "torchvision", "transformers", "open_clip") if importlib.util.find_spec(m) is None]
    if missing:
        raise RuntimeError(
            f"the full-tier environment is missing ({', '.join(missing)} not importable): run "
            "make full-env, then ~/.cache/vidagent/full-venv/bin/python -m pytest -m full tests/tools/backends/full"
        )


@functools.cache
def tiny_weights() -> dict[str, Weights]:
    """Model name -> weights of every tiny full-tier model, built once per process in a temporary folder."""
    require_full_env()
    root = Path(tempfile.mkdtemp(prefix="vidagent-tiny-"))
    return {
        "grounding-dino": Weights.path(build_grounding_dino(root / "grounding-dino")),
        "open-clip": Weights.path(build_open_clip(root / "open-clip")),
        "sam2": Weights.path(build_sam2(root / "sam2")),
        "sam2-video": Weights.path(build_sam2_video(root / "sam2-video")),
    }
