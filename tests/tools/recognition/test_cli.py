"""`vidagent train recognizer` through the real CLI entry function: bad input is one line, exit 2."""

from __future__ import annotations

import shutil
import tomllib
from pathlib import Path

import pytest

from agent.cli import cli, main
from tools.recognition.cli import train_group

ROOT = Path(__file__).parents[3]


@pytest.fixture(autouse=True)
def _train_command():
    """The command as its ``vidagent.commands`` entry point adds it (this checkout may not be the
    installed one, so add it by hand)."""
    cli.add_command(train_group, "train")


def test_the_entry_point_is_declared():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["project"]["entry-points"]["vidagent.commands"]["train"] == "tools.recognition.cli:train_group"


def _run(capsys, *args) -> tuple[int, str, str]:
    code = main(["train", "recognizer", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_an_empty_class_folder(capsys, tiny_dataset, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(tiny_dataset, data)
    (data / "waving").mkdir()
    code, out, err = _run(capsys, "--data", str(data), "--backbone", "lite:efficientnet-lite3", "--method", "linear",
                          "--out", str(tmp_path / "ckpt"))
    assert code == 2 and out == ""
    assert err == f"vidagent: {data / 'waving'}: class folder 'waving' has no video clips (.mp4, .avi, .mkv, .mov, ...); " \
                  "add clips or remove the folder\n"
    assert not (tmp_path / "ckpt").exists()


@pytest.mark.parametrize("backbone, method, message", [
    ("lite:efficientnet-lite3", "adapter", "method adapter changes the backbone's forward pass"),
    ("resnet50", "linear", "backbone 'resnet50': use open_clip:ARCH[:TAG]"),
    ("lite:efficientnet-lite3", "dora", "unknown method 'dora'"),
])
def test_bad_backbone_or_method(capsys, tiny_dataset, tmp_path, backbone, method, message):
    code, out, err = _run(capsys, "--data", str(tiny_dataset), "--backbone", backbone, "--method", method,
                          "--out", str(tmp_path / "ckpt"))
    assert code == 2 and message in err and err.count("\n") == 1 and err.startswith("vidagent: ")


@pytest.mark.lite
def test_train_prints_the_summary_and_saves(capsys, tiny_dataset, tmp_path):
    code, out, err = _run(capsys, "--data", str(tiny_dataset), "--backbone", "lite:efficientnet-lite3",
                          "--method", "temporal-head", "--out", str(tmp_path / "ckpt"), "--frames", "3", "--epochs", "2")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith(f"saved {tmp_path / 'ckpt'}: temporal-head on lite:efficientnet-lite3, 3 labels, ")
    assert lines[1].startswith("held-out test (3 clips): top-1 ") and "(validation, 3 clips: top-1 " in lines[1]
    assert len(lines) == 6  # + header + 3 confusion rows
    assert "epoch 1/2: train loss " in err and "epoch 2/2: " in err
    assert (tmp_path / "ckpt" / "recognizer.json").is_file()
