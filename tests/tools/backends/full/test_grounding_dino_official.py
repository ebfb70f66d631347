"""Official Grounding DINO checkpoints (.pth), converted into transformers' model at load time.

A tiny model is built with the official implementation (groundingdino-py, in its own folder with
transformers < 5: scripts/full_env.sh), saved in the official format, and run once; the
conversion must reproduce its raw outputs, and the .pth must then work through ``[tools] weights``
like any checkpoint. The official model's weights are refilled at a scale where a wrong mapping
changes the outputs by orders of magnitude more than the tolerance (see official_grounding_dino.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.tools.backends.full.tiny_models import GDINO_LONGEST, GDINO_SHORTEST, bert_vocab
from tools.backends.full.models.grounding_dino_official import (ConversionError, config_from_state_dict,
                                                                load_official, official_state_dict)
from tools.model_loading import ModelLoader
from tools.runner import ToolRunner
from tools.toolset import build_toolset
from tools.types import ToolCall
from tools.video import VideoReader

pytestmark = [pytest.mark.full, pytest.mark.slow]

OFFICIAL_CODE = Path(sys.prefix) / "gd-official"


@pytest.fixture(scope="module")
def official(tmp_path_factory) -> Path:
    """A folder with the official tiny checkpoint, its outputs, and a processor saved beside it."""
    if not (OFFICIAL_CODE / "groundingdino").is_dir():
        pytest.fail(f"the official Grounding DINO code is missing from {OFFICIAL_CODE}: run bash scripts/full_env.sh",
                    pytrace=False)
    folder = tmp_path_factory.mktemp("gdino-official")
    vocab = folder / "vocab.txt"
    vocab.write_text("\n".join(bert_vocab()) + "\n")
    script = Path(__file__).with_name("official_grounding_dino.py")
    env = {**os.environ, "PYTHONPATH": str(OFFICIAL_CODE)}
    done = subprocess.run([sys.executable, str(script), str(folder), str(vocab)], env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    from transformers import BertTokenizer, GroundingDinoImageProcessor, GroundingDinoProcessor

    GroundingDinoProcessor(
        image_processor=GroundingDinoImageProcessor(size={"shortest_edge": GDINO_SHORTEST, "longest_edge": GDINO_LONGEST}),
        tokenizer=BertTokenizer.from_pretrained(folder),
    ).save_pretrained(folder)
    return folder


def test_the_architecture_is_read_off_the_state_dict(official):
    config = config_from_state_dict(official_state_dict(official / "groundingdino_tiny.pth"))
    swin = config.backbone_config
    assert (swin.embed_dim, swin.depths, swin.num_heads, swin.window_size) == (96, [2, 2, 6, 2], [3, 6, 12, 24], 7)
    assert (config.d_model, config.num_queries, config.encoder_layers, config.decoder_layers) == (256, 50, 1, 2)
    assert (config.encoder_ffn_dim, config.decoder_ffn_dim, config.num_feature_levels) == (128, 128, 4)
    text = config.text_config
    assert (text.vocab_size, text.hidden_size, text.num_hidden_layers, text.num_attention_heads) == (1100, 64, 1, 1)


def test_the_converted_model_reproduces_the_official_outputs(official):
    import torch

    model = load_official(official / "groundingdino_tiny.pth")
    ref = np.load(official / "outputs.npz")
    ids = torch.tensor(ref["input_ids"])
    image = torch.tensor(ref["image"])
    with torch.inference_mode():
        out = model(pixel_values=image, input_ids=ids, attention_mask=torch.ones_like(ids),
                    token_type_ids=torch.zeros_like(ids), pixel_mask=torch.ones(1, *image.shape[2:], dtype=torch.long))
    n = ids.shape[1]
    assert ref["pred_logits"][0, :, :n].std() > 1.0, "the reference outputs should vary enough to tell mappings apart"
    np.testing.assert_allclose(out.pred_boxes.numpy(), ref["pred_boxes"], atol=1e-4)
    np.testing.assert_allclose(out.logits.numpy()[..., :n], ref["pred_logits"][..., :n], atol=1e-2)


def test_a_pth_runs_detect_objects_through_the_weights_config(official, full_config, bikes_mp4):
    config = full_config.model_copy(update={"weights": {"grounding-dino": str(official / "groundingdino_tiny.pth")}})
    with VideoReader.open(bikes_mp4) as reader:
        runner = ToolRunner(build_toolset(config), reader, cache=None, models=ModelLoader(), timeout_s=600)
        (result,) = runner.run([ToolCall(name="detect_objects",
                                         args={"phrases": ["car"], "span": {"start_s": 0, "end_s": 1}, "fps": 2})])
    assert result.status == "ok", result.observation
    dets = result.data.detections
    assert len(dets) > 0 and set(dets.label) == {"car"}
    assert np.all(dets.xyxy >= 0) and np.all(dets.xyxy[:, [0, 2]] <= 640) and np.all(dets.xyxy[:, [1, 3]] <= 272)


def test_a_pth_that_is_not_grounding_dino_is_one_clear_error(tmp_path):
    import torch

    torch.save({"model": {"conv.weight": torch.zeros(1)}}, tmp_path / "other.pth")
    with pytest.raises(ConversionError, match="not an official Grounding DINO checkpoint"):
        load_official(tmp_path / "other.pth")
