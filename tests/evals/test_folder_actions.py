"""`vidagent eval run --suite folder-actions`: a folder dataset of real .mp4 clips (the generated
order-only classes), scored by a tiny recogniser trained on EfficientNet-Lite3 features, into the
same results rows and report as the QA suites."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from agent.cli import main
from evals.suites.folder_actions import FolderActionsSuite
from tools.recognition.data import DatasetError

CLASSES = ("left_to_right", "right_to_left")


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """2 classes x 3 clips of 17 frames, 48 x 48 pixels: left_to_right/000.mp4 ..."""
    from tools.recognition.synthetic import write_dataset

    return write_dataset(tmp_path_factory.mktemp("folder") / "data", clips_per_class=3, size=48, classes=CLASSES,
                         seed=5)


def test_every_clip_is_a_multiple_choice_sample_of_its_folder(folder, tmp_path):
    samples = FolderActionsSuite(folder).load()
    assert [s.sample_id for s in samples] == [f"{c}/{i:03d}.mp4" for c in CLASSES for i in range(3)]
    s = samples[4]
    assert s.options == CLASSES and s.answer == 1 and s.answer_text == s.qtype == "right_to_left"
    assert s.video_path == str((folder / "right_to_left" / "001.mp4").resolve())
    assert len(FolderActionsSuite(folder).load(limit=2)) == 2
    listed = tmp_path / "testlist01.txt"
    listed.write_text("right_to_left/002.mp4\nleft_to_right/000.mp4 1\n\n")
    assert [s.sample_id for s in FolderActionsSuite(folder, split_list=listed).load()] == [
        "left_to_right/000.mp4", "right_to_left/002.mp4"]
    listed.write_text("left_to_right/000.mp4\nwaving/v_01.avi\n")
    with pytest.raises(DatasetError, match=r"1 listed clips are not in .* \(first: waving/v_01\.avi\)$"):
        FolderActionsSuite(folder, split_list=listed).load()


def checkpoint_and_data(folder, tmp_path, *, method: str, frames: int):
    """A one-epoch EfficientNet-Lite3 checkpoint trained on ``folder``, and a copy of ``folder``
    for the test to change."""
    from tools.recognition.training import TrainConfig, train_recognizer

    ckpt = tmp_path / "ckpt"
    train_recognizer(TrainConfig(data=folder, backbone="lite:efficientnet-lite3", method=method, out=ckpt,
                                 frames=frames, epochs=1, val_fraction=0.34, test_fraction=0.34,
                                 cache_dir=tmp_path / "features"))
    data = tmp_path / "data"
    shutil.copytree(folder, data)
    return ckpt, data


@pytest.mark.lite
def test_a_checkpoint_is_scored_clip_by_clip(folder, tmp_path, capsys):
    """Each row is the recogniser's own top label for the clip; a clip that does not decode is
    an error row counted wrong; the report reads the run like a QA run; resume adds nothing."""
    from tools.recognition.data import load_clips, read_clip
    from tools.recognition.recognizer import Recognizer

    ckpt, data = checkpoint_and_data(folder, tmp_path, method="temporal-head", frames=2)
    (data / "right_to_left" / "002.mp4").write_bytes(b"\x00" * 2048)
    out = tmp_path / "run"
    code = main(["eval", "run", "--suite", "folder-actions", "--data", str(data), "--checkpoint", str(ckpt),
                 "--out", str(out)])
    result = capsys.readouterr()
    assert code == 0, result.err
    assert "6 clips classified now, 0 already done, 6 selected" in result.err
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert [r["sample_id"] for r in rows] == [f"{c}/{i:03d}.mp4" for c in CLASSES for i in range(3)]
    broken = rows[5]
    assert broken["status"] == "error" and broken["error_kind"] == "video_unreadable" and broken["correct"] is None
    assert broken["error"].startswith(f"clip {data / 'right_to_left' / '002.mp4'} does not decode: ")

    recognizer = Recognizer.load(ckpt)
    clips = load_clips(data).clips[:5]
    probs = recognizer.probabilities(np.stack([read_clip(c, 2, (280, 280)) for c in clips]))
    for row, clip, p in zip(rows, clips, probs):
        label = recognizer.labels[int(p.argmax())]
        assert (row["answer"], row["choice"], row["correct"]) == (label, CLASSES.index(label), label == clip.label)
        assert row["confidence"] == pytest.approx(float(p.max()), abs=1e-5) and row["status"] == "answered"
    right = [sum(r["correct"] is True for r in rows if r["qtype"] == c) for c in CLASSES]
    assert f"| all | 6 | {sum(right) / 6:.1%} | {sum(right) / 5:.1%} | {sum(right)} | 5 | 0 | 0 | 1 |" in result.out
    assert f"| left_to_right | 3 | {right[0] / 3:.1%} | {right[0] / 3:.1%} | {right[0]} | 3 | 0 | 0 | 0 |" in result.out
    assert f"| right_to_left | 3 | {right[1] / 3:.1%} | {right[1] / 2:.1%} | {right[1]} | 2 | 0 | 0 | 1 |" in result.out

    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["suite"]["name"] == "folder_actions" and manifest["models"][0]["role"] == "recognizer"
    assert json.loads((out / "recognizer.json").read_text()) == json.loads((ckpt / "recognizer.json").read_text())
    assert main(["eval", "report", str(out)]) == 0 and (out / "report.md").is_file()
    report = (out / "report.md").read_text()
    assert "left_to_right" in report and "right_to_left" in report  # per-class (question type) rows
    capsys.readouterr()
    assert main(["eval", "run", "--suite", "folder-actions", "--data", str(data), "--checkpoint", str(ckpt),
                 "--out", str(out), "--resume"]) == 0
    assert "0 clips classified now, 6 already done" in capsys.readouterr().err


@pytest.mark.lite
def test_labels_the_checkpoint_cannot_predict_are_one_line(folder, tmp_path, capsys):
    ckpt, data = checkpoint_and_data(folder, tmp_path, method="linear", frames=1)
    (data / "left_to_right").rename(data / "waving")
    code = main(["eval", "run", "--suite", "folder-actions", "--data", str(data), "--checkpoint", str(ckpt),
                 "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1, err
    assert err == (f"vidagent: labels of {data} (right_to_left, waving) do not match checkpoint {ckpt} "
                   "(left_to_right, right_to_left): it cannot predict waving\n")
    assert not (tmp_path / "run").exists()


def test_checkpoint_options_belong_to_folder_actions(folder, tmp_path, capsys):
    code = main(["eval", "run", "--suite", "mot", "--data", str(folder), "--checkpoint", str(tmp_path),
                 "--out", str(tmp_path / "run")])
    assert code == 2 and "--checkpoint and --split-list are for --suite folder-actions" in capsys.readouterr().err
    data = tmp_path / "data"
    shutil.copytree(folder, data)
    (data / "waving").mkdir()
    code = main(["eval", "run", "--suite", "folder-actions", "--data", str(data), "--checkpoint", str(tmp_path),
                 "--out", str(tmp_path / "run")])
    assert capsys.readouterr().err == (f"vidagent: {data / 'waving'}: class folder 'waving' has no video clips "
                                       "(.mp4, .avi, .mkv, .mov, ...); add clips or remove the folder\n")
    shutil.rmtree(data / "waving")
    code = main(["eval", "run", "--suite", "folder-actions", "--data", str(data), "--checkpoint", str(tmp_path),
                 "--out", str(tmp_path / "run")])
    assert code == 2 and capsys.readouterr().err == (
        f"vidagent: {tmp_path}: not a recogniser checkpoint (no recognizer.json); train one with vidagent train "
        "recognizer\n")
    assert not (tmp_path / "run").exists()


def test_a_pipeline_answers_the_clips_as_multiple_choice(folder, tmp_path, capsys):
    """Through the ordinary QA runner: a scripted planner that always picks option 0
    (left_to_right) is right on exactly the left_to_right clips the split list keeps."""
    (tmp_path / "left.json").write_text('[{"action": "answer", "answer": "left_to_right", "choice": 0}]')
    pipeline = tmp_path / "left.toml"
    pipeline.write_text('name = "always-left"\nscript = "left.json"\n\n[planner]\nkind = "scripted"\n\n'
                        '[tools]\nprofile = "core"\n')
    listed = tmp_path / "testlist.txt"
    listed.write_text("left_to_right/001.mp4\nright_to_left/000.mp4\nright_to_left/002.mp4\n")
    out = tmp_path / "run"
    code = main(["eval", "run", "--suite", "folder-actions", "--data", str(folder), "--split-list", str(listed),
                 "--pipeline", str(pipeline), "--out", str(out), "--no-progress"])
    result = capsys.readouterr()
    assert code == 0, result.err
    rows = {r["sample_id"]: r for r in map(json.loads, (out / "results.jsonl").read_text().splitlines())}
    assert {k: (r["choice"], r["correct"]) for k, r in rows.items()} == {
        "left_to_right/001.mp4": (0, True), "right_to_left/000.mp4": (0, False), "right_to_left/002.mp4": (0, False)}
    assert "| all | 3 | 33.3% | 33.3% | 1 | 3 | 0 | 0 | 0 |" in result.out
