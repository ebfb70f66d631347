"""Every transfer method on a tiny random-initialised open_clip ViT (the full venv): only the
method's parameters train, the backbone's weights are unchanged after training, and a saved
checkpoint loads back to the same predictions."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.full

TINY = "open_clip:vidagent-vit-tiny"
#: method -> what the names of its trainable parameters contain (besides the head's).
OWN = {
    "linear": (), "temporal-head": (), "side": (),
    "adapter": (".adapter.",), "lora": ("lora_",), "prompt": ("ln_pre.prompts",),
    "finetune-last-1": ("resblocks.1.", "ln_post", "visual.proj"),
}


def _build(method: str, seed: int = 0):
    import torch

    from tools.recognition.backbones import load_backbone
    from tools.recognition.methods import build_model, parse_method

    torch.manual_seed(seed)
    return build_model(load_backbone(TINY), parse_method(method), 3)


@pytest.mark.parametrize("method", list(OWN))
def test_only_the_methods_parameters_train(method):
    from tools.recognition.methods import trainable_parameters

    names = [n for n, _ in trainable_parameters(_build(method))]
    assert any(n.startswith("head.") for n in names)
    own = [n for n in names if not n.startswith("head.")]
    assert all(any(tag in n for tag in OWN[method]) for n in own), own
    assert bool(own) == bool(OWN[method])


@pytest.mark.parametrize("method", list(OWN))
def test_training_leaves_the_frozen_backbone_unchanged(method, tiny_dataset, tmp_path):
    import torch

    from tools.recognition.checkpoint import read_card
    from tools.recognition.recognizer import Recognizer
    from tools.recognition.training import TrainConfig, train_recognizer

    cfg = TrainConfig(data=tiny_dataset, backbone=TINY, method=method, out=tmp_path / "ckpt", frames=4, epochs=2,
                      lr=0.05, cache_dir=tmp_path / "features")
    card = train_recognizer(cfg)
    assert card.backbone_saved and card.epochs_done == 2 and read_card(cfg.out).method == method
    fresh = _build(method).state_dict()
    trained = Recognizer.load(cfg.out)
    trainable = {n for n, p in trained.model.named_parameters() if p.requires_grad}
    changed = [k for k, v in trained.model.state_dict().items() if not torch.equal(v, fresh[k])]
    # in the backbone only the method's own parameters moved; outside it, the head (its
    # parameters and its batch-norm statistics)
    assert changed and {k for k in changed if k.startswith("backbone.")} <= trainable
    assert all(k in trainable or k.startswith("head.") for k in changed), changed
    assert card.trainable_params == sum(p.numel() for n, p in trained.model.named_parameters() if n in trainable)
    # the loaded checkpoint predicts like the model that was saved, and sums to one
    from tools.recognition.data import load_clips, read_clip

    clips = np.stack([read_clip(c, 4, (64, 64)) for c in load_clips(tiny_dataset).clips[:2]])
    probs = trained.probabilities(clips)
    assert probs.shape == (2, 3) and np.allclose(probs.sum(1), 1, atol=1e-5)
    assert np.allclose(Recognizer.load(cfg.out).probabilities(clips), probs, atol=1e-5)


def test_a_method_the_backbone_cannot_take_is_one_line():
    from tools.errors import ConfigError
    from tools.recognition.backbones import load_backbone
    from tools.recognition.methods import build_model, parse_method

    with pytest.raises(ConfigError, match="^unknown method 'dora'; choose one of linear, temporal-head"):
        parse_method("dora")
    with pytest.raises(ConfigError, match="the backbone has only 2 blocks"):
        build_model(load_backbone(TINY), parse_method("finetune-last-3"), 3)


def test_a_timm_backbone_gives_frozen_features(tiny_dataset, tmp_path):
    """timm's tiny test_efficientnet, random-initialised: frozen-feature methods train on it, its
    weights are saved with the checkpoint, and adapters are refused in one line."""
    from tools.errors import ConfigError
    from tools.recognition.backbones import load_backbone
    from tools.recognition.data import load_clips, read_clip
    from tools.recognition.methods import build_model, parse_method
    from tools.recognition.recognizer import Recognizer
    from tools.recognition.training import TrainConfig, train_recognizer

    cfg = TrainConfig(data=tiny_dataset, backbone="timm:test_efficientnet", method="temporal-head",
                      out=tmp_path / "ckpt", frames=3, epochs=1, cache_dir=tmp_path / "features")
    card = train_recognizer(cfg)
    assert card.backbone_saved and card.feature_cache and card.trainable_params < card.total_params
    rec = Recognizer.load(cfg.out)
    clip = read_clip(load_clips(tiny_dataset).clips[0], 3, (card.input_size, card.input_size))
    assert rec.probabilities(clip[None]).shape == (1, 3)
    with pytest.raises(ConfigError, match="^method lora changes the backbone's forward pass; backbone timm:"):
        build_model(load_backbone("timm:test_efficientnet"), parse_method("lora"), 3)
