"""`vidagent train recognizer` on frozen EfficientNet-Lite3 features (the lite extra): the
checkpoint card, the feature cache, resuming, and one-line errors that lose no finished epoch."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from tools.recognition.checkpoint import CheckpointError, read_card
from tools.recognition.training import TrainConfig, train_recognizer

pytestmark = pytest.mark.lite

LITE = "lite:efficientnet-lite3"


@pytest.fixture(scope="module")
def lite_run(tiny_dataset, tmp_path_factory):
    """A 2-epoch temporal-head run; returns (config, card, lines said)."""
    root = tmp_path_factory.mktemp("lite-run")
    cfg = TrainConfig(data=tiny_dataset, backbone=LITE, method="temporal-head", out=root / "ckpt", frames=4,
                      epochs=2, cache_dir=root / "features")
    said: list[str] = []
    return cfg, train_recognizer(cfg, say=said.append), said


def test_checkpoint_records_what_was_trained(lite_run):
    cfg, card, said = lite_run
    saved = read_card(cfg.out)
    assert saved == card
    assert saved.backbone == LITE and saved.method == "temporal-head" and not saved.backbone_saved
    assert saved.labels == ["appearing", "left_to_right", "right_to_left"] and saved.frames == 4
    assert saved.input_size == 280 and saved.clip_seconds == pytest.approx(17 / 8)
    assert saved.epochs_done == 2 and len(saved.history) == 2
    assert (saved.n_train, saved.n_val, saved.n_test) == (6, 3, 3)  # 4 clips per class: 2 / 1 / 1
    parts = [set(saved.split[p]) for p in ("train", "val", "test")]
    assert [len(p) for p in parts] == [6, 3, 3] and set.union(*parts) == {
        f"{label}/{i:03d}.mp4" for label in saved.labels for i in range(4)}
    m, v = saved.metrics, saved.val_metrics
    assert m.n_clips == saved.n_test == 3 and np.array(m.confusion).sum() == 3 and np.array(m.confusion).shape == (3, 3)
    assert v.n_clips == saved.n_val == 3 and v.top1 == saved.history[saved.best_epoch - 1].val_top1
    assert m.top5 == 1.0  # three labels: every one is in the top five
    assert saved.trainable_params < saved.total_params or saved.total_params == saved.trainable_params
    assert (cfg.out / "weights.pt").is_file() and (cfg.out / "last.pt").is_file()
    assert said[0] == "features of 12 clips: 12 computed, 0 from the cache"


def test_features_are_cached_and_resume_continues(lite_run, tmp_path):
    cfg, card, _ = lite_run
    out = tmp_path / "ckpt"
    shutil.copytree(cfg.out, out)
    said: list[str] = []
    resumed = train_recognizer(cfg.model_copy(update={"out": out, "epochs": 3, "resume": True}), say=said.append)
    assert said[0] == "features of 12 clips: 0 computed, 12 from the cache"
    assert [h.epoch for h in resumed.history] == [1, 2, 3] and resumed.history[:2] == card.history


def test_an_existing_checkpoint_is_never_overwritten(lite_run):
    cfg, card, _ = lite_run
    before = (cfg.out / "weights.pt").read_bytes()
    with pytest.raises(CheckpointError, match="already holds a recogniser checkpoint; pass --resume"):
        train_recognizer(cfg)
    assert (cfg.out / "weights.pt").read_bytes() == before


def test_resume_with_other_labels_is_one_line(lite_run, tiny_dataset, tmp_path):
    cfg, _, _ = lite_run
    data = tmp_path / "data"
    shutil.copytree(tiny_dataset, data)
    (data / "appearing").rename(data / "waving")
    with pytest.raises(CheckpointError) as err:
        train_recognizer(cfg.model_copy(update={"data": data, "resume": True, "epochs": 3}))
    assert str(err.value) == (f"labels of {data} (left_to_right, right_to_left, waving) do not match checkpoint "
                              f"{cfg.out} (appearing, left_to_right, right_to_left)")
    assert json.loads((cfg.out / "recognizer.json").read_text())["epochs_done"] == 2  # nothing lost


def test_a_broken_clip_is_one_line_and_loses_no_finished_epoch(lite_run, tiny_dataset, tmp_path):
    from tools.recognition.data import DatasetError

    cfg, card, _ = lite_run
    data, out = tmp_path / "data", tmp_path / "ckpt"
    shutil.copytree(tiny_dataset, data)
    shutil.copytree(cfg.out, out)
    (data / "appearing" / "003.mp4").write_bytes(b"\x00" * 4096)  # same clips, one now broken
    with pytest.raises(DatasetError, match=r"^clip .*003\.mp4 does not decode: [^\n]*$"):
        train_recognizer(cfg.model_copy(update={"data": data, "out": out, "resume": True, "epochs": 4}))
    assert read_card(out) == card and (out / "weights.pt").read_bytes() == (cfg.out / "weights.pt").read_bytes()


def test_resume_on_other_clips_is_one_line(lite_run, tiny_dataset, tmp_path):
    """A clip added since the checkpoint would move clips between the parts (a test clip could
    then be trained on), so resuming refuses in one line and the checkpoint stays as it was."""
    cfg, card, _ = lite_run
    data = tmp_path / "data"
    shutil.copytree(tiny_dataset, data)
    shutil.copy(data / "appearing" / "000.mp4", data / "appearing" / "004.mp4")
    with pytest.raises(CheckpointError, match=r"^\S+ splits into other train/validation/test clips than checkpoint "):
        train_recognizer(cfg.model_copy(update={"data": data, "resume": True, "epochs": 3}))
    assert read_card(cfg.out) == card
