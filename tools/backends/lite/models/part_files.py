"""Joining a model file from parts shipped in several PyPI packages, every byte hashed once.

Used by the planner's split GGUF files (``planners.model_files``) and the lite tools' joined
models (``tools.backends.lite.models.joined``); each wraps the outcome in its own error with
its own reinstall command."""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

CHUNK_BYTES = 1 << 20


def sha256_file(path: Path) -> str:
    """The sha256 hex digest of the file at ``path``, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class JoinOutcome:
    """``corrupt``: indices of the parts whose sha256 differed; ``whole_matches``: the joined
    bytes had the expected sha256. ``target`` was written only when both are clean."""

    corrupt: tuple[int, ...]
    whole_matches: bool

    @property
    def ok(self) -> bool:
        return not self.corrupt and self.whole_matches


def join_checked(parts: Sequence[tuple[Path, str]], target: Path, sha256: str) -> JoinOutcome:
    """Concatenate ``parts`` (path, expected sha256), in order, into ``target``.

    The bytes go to a temp file beside ``target`` that replaces it (fsynced, mode 0644, since
    the cache may be shared) only when every part's hash and the whole's match ``sha256``;
    otherwise ``target`` is left as it was and the temp file removed."""
    total = hashlib.sha256()
    corrupt: list[int] = []
    fd, tmp_name = tempfile.mkstemp(prefix=target.name + ".", suffix=".part", dir=target.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            for i, (path, expected) in enumerate(parts):
                own = hashlib.sha256()
                with open(path, "rb") as src:
                    for chunk in iter(lambda: src.read(CHUNK_BYTES), b""):
                        own.update(chunk)
                        total.update(chunk)
                        out.write(chunk)
                if own.hexdigest() != expected:
                    corrupt.append(i)
            out.flush()
            os.fsync(out.fileno())
        outcome = JoinOutcome(corrupt=tuple(corrupt), whole_matches=total.hexdigest() == sha256)
        if outcome.ok:
            os.chmod(tmp, 0o644)
            tmp.replace(target)
        return outcome
    finally:
        tmp.unlink(missing_ok=True)
