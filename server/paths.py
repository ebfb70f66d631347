"""Paths a client names, confined to allowed roots: no ``..``, no symlink that leads out."""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

from tools.errors import InputError


class PathNotAllowed(InputError):
    """The path lies outside every allowed root (403)."""


class PathNotFound(InputError):
    """The path is inside a root but names no file (404)."""


def confined(requested: str, roots: tuple[Path, ...]) -> Path:
    """The real path of ``requested`` if it is a file inside one of ``roots`` (already resolved).

    ``requested`` is absolute or relative to the first root. Refused (PathNotAllowed): no roots,
    any ``..`` component, NUL bytes, and any path whose real location (symlinks followed) is
    outside every root.
    """
    if not roots:
        raise PathNotAllowed("no video roots are configured: start the server with --video-root DIR")
    if "\x00" in requested or not requested.strip():
        raise PathNotAllowed("the path is empty or holds a NUL byte")
    parts = PurePosixPath(requested.replace("\\", "/")).parts  # a Windows-style '..' is refused too
    if ".." in parts:
        raise PathNotAllowed("the path may not contain '..'")
    candidate = Path(requested) if Path(requested).is_absolute() else roots[0] / requested
    real = Path(os.path.realpath(candidate))
    if not any(real == root or real.is_relative_to(root) for root in roots):
        raise PathNotAllowed(f"{requested} is outside the allowed video roots")
    if not _is_file(real):
        raise PathNotFound(f"{requested}: no such file")
    return real


def _is_file(path: Path) -> bool:
    """``path.is_file()``, False also where the OS refuses the name (too long: ENAMETOOLONG,
    which pathlib raises instead of answering False)."""
    try:
        return path.is_file()
    except OSError:
        return False


def _is_dir(path: Path) -> bool:
    try:
        return path.is_dir()
    except OSError:
        return False


def child_dir(name: str, roots: tuple[Path, ...]) -> Path:
    """The directory ``name`` (one path component) directly under one of ``roots``, really
    inside it (a symlink leading out is refused like a missing one)."""
    if not name or name in {".", ".."} or "/" in name or "\\" in name or "\x00" in name:
        raise PathNotAllowed(f"{name!r} is not a plain directory name")
    for root in roots:
        real = Path(os.path.realpath(root / name))
        if real.parent == root and _is_dir(real):
            return real
    raise PathNotFound(f"no evaluation run named {name}")
