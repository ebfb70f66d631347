"""Build a tiny Grounding DINO with the official implementation (``groundingdino-py``) and save it
as the official ``.pth`` format, with the raw outputs of one forward pass for comparison.

Run as a script in an interpreter where ``groundingdino`` and transformers < 5 import (the
official code needs them; ``scripts/full_env.sh`` installs both into the full venv's ``gd-official``,
put first on PYTHONPATH):

    PYTHONPATH=$VENV/gd-official $VENV/bin/python official_grounding_dino.py OUT_DIR VOCAB_TXT

Writes ``OUT_DIR/groundingdino_tiny.pth`` ({"model": state_dict}, as IDEA-Research releases it),
``OUT_DIR/bert/`` (the tiny text encoder it was built with) and ``OUT_DIR/outputs.npz`` (the
input image tensor, the caption's token ids, ``pred_logits`` and ``pred_boxes``). The Swin-T
trunk and hidden size 256 are fixed by the official code; the rest is shrunk.
"""

from __future__ import annotations

import sys
from pathlib import Path

CONFIG = """
batch_size = 1
modelname = "groundingdino"
backbone = "swin_T_224_1k"
position_embedding = "sine"
pe_temperatureH = 20
pe_temperatureW = 20
return_interm_indices = [1, 2, 3]
backbone_freeze_keywords = None
enc_layers = 1
dec_layers = 2
pre_norm = False
dim_feedforward = 128
hidden_dim = 256
dropout = 0.0
nheads = 8
num_queries = 50
query_dim = 4
num_patterns = 0
num_feature_levels = 4
enc_n_points = 4
dec_n_points = 4
two_stage_type = "standard"
two_stage_bbox_embed_share = False
two_stage_class_embed_share = False
transformer_activation = "relu"
dec_pred_bbox_embed_share = True
dn_box_noise_scale = 1.0
dn_label_noise_ratio = 0.5
dn_label_coef = 1.0
dn_bbox_coef = 1.0
embed_init_tgt = True
dn_labelbook_size = 2000
max_text_len = 256
text_encoder_type = "{bert}"
use_text_enhancer = True
use_fusion_layer = True
use_checkpoint = False
use_transformer_ckpt = False
use_text_cross_attention = True
text_dropout = 0.0
fusion_dropout = 0.0
fusion_droppath = 0.0
sub_sentence_present = True
"""
CAPTION = "car. red coat."
IMAGE_SIZE = (160, 224)  # (height, width) of the test input, already normalised


def main(out: Path, vocab_txt: Path) -> None:
    import numpy as np
    import torch
    from groundingdino.models import build_model
    from groundingdino.util.slconfig import SLConfig
    from transformers import BertConfig, BertModel, BertTokenizer

    out.mkdir(parents=True, exist_ok=True)
    bert = out / "bert"
    torch.manual_seed(0)
    BertTokenizer(vocab_file=str(vocab_txt)).save_pretrained(bert)
    BertModel(BertConfig(vocab_size=1100, hidden_size=64, num_hidden_layers=1, num_attention_heads=1,
                         intermediate_size=64)).save_pretrained(bert)
    config_file = out / "GroundingDINO_tiny_test.py"
    config_file.write_text(CONFIG.replace("{bert}", str(bert)))
    model = build_model(SLConfig.fromfile(str(config_file)))
    # Random init leaves some official parameters at zero (the fusion gates, the last bbox layer)
    # and attention nearly uniform: refill every parameter at a scale where each one, and every
    # query/key pairing, visibly changes the outputs (so a wrong key mapping cannot go unseen).
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() >= 2:
                p.copy_(torch.randn_like(p) * 2.0 / p[0].numel() ** 0.5)
            elif "norm" in name and name.endswith("weight"):
                p.copy_(1 + 0.2 * torch.randn_like(p))
            else:
                p.copy_(0.2 * torch.randn_like(p))
        # Box heads stay gentle so reference boxes keep clear of 0 and 1: there the official code
        # clamps inverse sigmoids at 1e-3 and transformers' port at 1e-5 (a difference of the two
        # implementations, not of the weights, and one trained models do not reach).
        for name, p in model.named_parameters():
            if "bbox_embed" in name and ".layers.2." in name:
                p.mul_(0.05)
    model.eval()
    torch.save({"model": model.state_dict()}, out / "groundingdino_tiny.pth")
    image = torch.randn(1, 3, *IMAGE_SIZE, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        result = model(image, captions=[CAPTION])
    ids = model.tokenizer([CAPTION], return_tensors="pt")["input_ids"]
    np.savez(out / "outputs.npz", image=image.numpy(), input_ids=ids.numpy(),
             pred_logits=result["pred_logits"].numpy(), pred_boxes=result["pred_boxes"].numpy())


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
