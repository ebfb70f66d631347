"""The result cache: tool outputs stored in one SQLite file, keyed by what produced them.

A row is keyed by ``CacheKey``: the video's SHA-256, the tool (capability) name, the backend
name, the backend version and the arguments as canonical JSON. The output is stored as
JSON text plus a compressed array blob (``tools.serialization``, no pickle), with the
seconds the tool took to compute it and the time the row was written.

Where the file lives: ``ResultCache.default()`` uses ``$VIDAGENT_CACHE_DIR/results.sqlite``
if that variable is set, else ``platformdirs.user_cache_dir("vidagent")/results.sqlite``.
Nothing is read or created until the first call that needs the file.

Concurrency: many threads and many processes may read and write one file at once. Each
thread (and each process, after a fork) gets its own connection; the file is in WAL mode
(readers never block the writer); every statement is its own short transaction and waits
up to ``BUSY_TIMEOUT_S`` for a lock; writes are ``INSERT OR REPLACE``, so two processes
computing the same result both succeed and the last write wins. WAL needs shared memory,
so keep the file on a local disk, not a network share.

Corrupt files: a file that is not an SQLite database, or whose pages are damaged, raises
``CacheCorruptError``, a one-line message naming the file and saying that
``vidagent cache clear`` (or deleting the file) fixes it. The file is not moved aside
automatically: other processes may have it open, and silently discarding stored results
would hide the problem. ``clear()`` with no filters is the fix: on a corrupt file it deletes
the file (and its ``-wal``/``-shm`` companions) so the next use starts an empty cache.
"""

from __future__ import annotations

import json
import math
import os
import re
import sqlite3
import threading
import time
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from pydantic import BaseModel
from pydantic_core import to_jsonable_python

from tools.errors import VidagentError
from tools.serialization import SerializationError, decode_output, encode_output
from tools.types import ToolOutput

DB_FILENAME = "results.sqlite"
#: Stored in ``PRAGMA user_version``; a file from a newer vidagent is refused, not altered.
SCHEMA_VERSION = 1
#: How long one statement waits for another connection's lock before failing, seconds.
BUSY_TIMEOUT_S = 60.0

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_KEY_COLUMNS = ("video_sha256", "tool", "backend", "tool_version", "args_json")
_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS results (
    video_sha256 TEXT NOT NULL,
    tool         TEXT NOT NULL,
    backend      TEXT NOT NULL,
    tool_version TEXT NOT NULL,
    args_json    TEXT NOT NULL,
    output_json  TEXT NOT NULL,
    arrays       BLOB NOT NULL,
    compute_s    REAL NOT NULL,
    created_at   REAL NOT NULL,
    UNIQUE ({", ".join(_KEY_COLUMNS)})
);
CREATE INDEX IF NOT EXISTS results_by_tool ON results (tool);
PRAGMA user_version = {SCHEMA_VERSION};
"""


class CacheError(VidagentError):
    """The result cache file cannot be used."""


class CacheCorruptError(CacheError):
    """The cache file is damaged; ``ResultCache.clear()`` (``vidagent cache clear``) replaces it."""

    def __init__(self, path: Path, detail: str):
        self.path = path
        super().__init__(
            f"result cache {path} is corrupt ({detail}); run `vidagent cache clear` or delete that file"
        )


class BackendLike(Protocol):
    """What ``CacheKey.of`` reads from a ``tools.registry.ToolBackend`` (``backend`` defaults
    to ``"default"`` and ``result_model`` to None when absent)."""

    name: str
    backend: str
    version: str
    result_model: type[BaseModel] | None


@dataclass(frozen=True)
class CacheKey:
    """What identifies a stored result. ``args_json`` must be ``canonical_json(args)``.

    ``result_model`` is not part of the identity: it is the model the stored ``data`` is
    rebuilt with, carried along so that ``put`` can check it (``CacheKey.of`` takes it from
    the backend).
    """

    video_sha256: str
    tool: str
    tool_version: str
    args_json: str
    backend: str = "default"
    result_model: type[BaseModel] | None = field(default=None, compare=False, repr=False)

    def __post_init__(self):
        if not _SHA256.match(self.video_sha256):
            raise ValueError(f"video_sha256 must be 64 lowercase hex digits, got {self.video_sha256!r}")

    @classmethod
    def of(cls, video_sha256: str, backend: BackendLike, args: Mapping[str, Any] | BaseModel) -> "CacheKey":
        """The key of running ``backend`` with ``args`` on the video with hash ``video_sha256``.

        Pass the arguments after validation (``args_model.model_dump()``) so that an omitted
        default and the same value given explicitly share one key.
        """
        return cls(
            video_sha256=video_sha256,
            tool=backend.name,
            tool_version=str(backend.version),
            args_json=canonical_json(args),
            backend=getattr(backend, "backend", "default"),
            result_model=getattr(backend, "result_model", None),
        )

    def as_row(self) -> tuple[str, ...]:
        """The key's values in the order of the table's key columns."""
        return tuple(getattr(self, c) for c in _KEY_COLUMNS)


def canonical_json(value: Any) -> str:
    """One JSON text per value: sorted keys, no spaces, integral floats written as integers.

    ``1`` and ``1.0`` (and ``-0.0`` and ``0``) give the same text; other floats keep their
    shortest exact repr, so ``0.1`` and ``0.10000000000000002`` differ. Tuples are lists, sets
    are sorted lists, numpy scalars are Python numbers, models are their JSON dump. NaN and
    infinity are refused: they have no JSON form and make no sense as a tool argument.
    """
    return json.dumps(_canonical(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _canonical(value: Any) -> Any:
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return int(value)  # IntEnum and friends become plain ints
    if isinstance(value, float):
        return _canonical_float(value)
    if isinstance(value, np.generic):
        return _canonical(value.item())
    if isinstance(value, BaseModel):
        return _canonical(value.model_dump(mode="json"))
    if isinstance(value, Mapping):
        return {k if isinstance(k, str) else canonical_json(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_canonical(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted((_canonical(v) for v in value), key=canonical_json)
    return _canonical(to_jsonable_python(value))  # datetime, Enum, Path, ...


def _canonical_float(x: float) -> float | int:
    if not math.isfinite(x):
        raise ValueError(f"tool arguments cannot hold {x}")
    return int(x) if x.is_integer() else x


@dataclass(frozen=True)
class CacheInfo:
    """What a cache file holds.

    ``size_bytes``: the database file plus its write-ahead log. ``compute_s``: total seconds
    the tools spent computing the stored results, i.e. the time one hit on every row saves.
    ``oldest``/``newest``: when the oldest and newest rows were written, Unix seconds.
    """

    path: Path
    size_bytes: int = 0
    rows: int = 0
    rows_per_tool: dict[str, int] = field(default_factory=dict)
    videos: int = 0
    compute_s: float = 0.0
    oldest: float | None = None
    newest: float | None = None

    def summary(self) -> str:
        """One line for humans, e.g. ``12 stored results for 2 videos, 3.4 MB, 95.0 s of compute (path)``."""
        return (
            f"{self.rows} stored results for {self.videos} videos, {self.size_bytes / 1e6:.1f} MB, "
            f"{self.compute_s:.1f} s of compute ({self.path})"
        )



def cache_root() -> Path:
    """vidagent's cache directory: ``$VIDAGENT_CACHE_DIR``, else the user's cache dir."""
    directory = os.environ.get("VIDAGENT_CACHE_DIR")
    if not directory:
        import platformdirs

        directory = platformdirs.user_cache_dir("vidagent", appauthor=False)
    return Path(directory)

class ResultCache:
    """Tool outputs in one SQLite file, safe to share between threads and processes."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path).expanduser()
        self._local = threading.local()
        self._lock = threading.Lock()
        self._connections: list[tuple[int, sqlite3.Connection]] = []  # (pid, connection)
        self._generation = 0  # bumped by close(): threads then open fresh connections

    @classmethod
    def default(cls) -> "ResultCache":
        """The cache at ``$VIDAGENT_CACHE_DIR/results.sqlite``, else in the user's cache dir."""
        return cls(cache_root() / DB_FILENAME)

    def __repr__(self) -> str:
        return f"ResultCache({str(self.path)!r})"

    def __enter__(self) -> "ResultCache":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def get(self, key: CacheKey, result_model: type[BaseModel] | None) -> ToolOutput | None:
        """The stored output for ``key``, or None if there is none.

        A row that no longer decodes with ``result_model`` (the tool's output changed without
        a version bump) counts as a miss, with a warning; the next ``put`` replaces it.
        """
        with self._guard():
            row = self._conn().execute(
                f"SELECT output_json, arrays FROM results WHERE {_KEY_MATCH}", key.as_row()
            ).fetchone()
        if row is None:
            return None
        try:
            return decode_output(row[0], row[1], result_model)
        except SerializationError as exc:
            warnings.warn(f"result cache {self.path}: ignoring stored {key.tool} result: {exc}", stacklevel=2)
            return None

    def put(
        self, key: CacheKey, output: ToolOutput, seconds: float, result_model: type[BaseModel] | None = None
    ) -> None:
        """Store ``output`` under ``key``, replacing any row with the same key.

        ``seconds``: how long the tool took to compute ``output`` (what a hit saves).
        ``result_model``: the model ``output.data`` is rebuilt with on ``get``; defaults to
        ``key.result_model`` (the backend's, via ``CacheKey.of``). When ``output.data`` is set
        and there is no result model, or it is not ``type(output.data)``, this raises
        ``SerializationError`` and stores nothing, so a missing declaration fails here rather
        than on every later read.
        """
        if not (math.isfinite(seconds) and seconds >= 0):
            raise ValueError(f"seconds must be a finite number >= 0, got {seconds}")
        output_json, arrays = encode_output(output, result_model or key.result_model)  # outside the transaction: keep it short
        with self._guard():
            self._conn().execute(
                f"INSERT OR REPLACE INTO results ({', '.join(_KEY_COLUMNS)}, output_json, arrays, compute_s, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (*key.as_row(), output_json, arrays, float(seconds), time.time()),
            )

    def info(self) -> CacheInfo:
        """Counts and sizes of what the file holds (an absent file is an empty cache, not created)."""
        if not self.path.exists():
            return CacheInfo(path=self.path)
        with self._guard():
            conn = self._conn()
            conn.execute("BEGIN")  # one snapshot for all counts
            try:
                per_tool = dict(conn.execute("SELECT tool, COUNT(*) FROM results GROUP BY tool ORDER BY tool"))
                videos, compute_s, oldest, newest = conn.execute(
                    "SELECT COUNT(DISTINCT video_sha256), COALESCE(SUM(compute_s), 0.0), MIN(created_at), MAX(created_at)"
                    " FROM results"
                ).fetchone()
            finally:
                conn.execute("COMMIT")
        return CacheInfo(
            path=self.path,
            size_bytes=self._size_bytes(),
            rows=sum(per_tool.values()),
            rows_per_tool=per_tool,
            videos=videos,
            compute_s=compute_s,
            oldest=oldest,
            newest=newest,
        )

    def clear(self, tool: str | None = None, video_sha256: str | None = None) -> int:
        """Delete the rows of ``tool`` and/or ``video_sha256`` (all rows if both are None).

        Returns the number of rows removed. With no filters, a corrupt file is deleted
        instead (returning 0, since its rows cannot be counted); with filters it raises
        ``CacheCorruptError``.
        """
        if not self.path.exists():
            return 0
        try:
            with self._guard():
                conn = self._conn()
                removed = conn.execute(
                    "DELETE FROM results WHERE (?1 IS NULL OR tool = ?1) AND (?2 IS NULL OR video_sha256 = ?2)",
                    (tool, video_sha256),
                ).rowcount
                if removed:
                    conn.executescript("PRAGMA incremental_vacuum;")  # give freed pages back to the disk
        except CacheCorruptError:
            if tool is not None or video_sha256 is not None:
                raise
            self._delete_files()
            return 0
        return removed

    def close(self) -> None:
        """Close this process's connections. Call when no other thread is using the cache;
        later calls reopen the file."""
        with self._lock:
            mine = [c for pid, c in self._connections if pid == os.getpid()]
            self._connections = []
            self._generation += 1
        for conn in mine:
            conn.close()

    # -- connections ---------------------------------------------------------------------

    def _conn(self) -> sqlite3.Connection:
        """This thread's connection, opened on first use (and again after close() or a fork)."""
        local = self._local
        if getattr(local, "conn", None) is not None and local.key == (os.getpid(), self._generation):
            return local.conn
        conn = self._open()
        with self._lock:
            self._connections.append((os.getpid(), conn))
            local.conn, local.key = conn, (os.getpid(), self._generation)
        return conn

    def _open(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            # isolation_level=None: autocommit, so each statement is its own short transaction.
            # check_same_thread=False only so that close() may close other threads' connections.
            conn = sqlite3.connect(
                self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
            )
        except sqlite3.OperationalError as exc:
            raise CacheError(f"cannot open result cache {self.path}: {exc}") from exc
        try:
            _prepare(conn, self.path)
        except BaseException:
            conn.close()
            raise
        return conn

    @contextmanager
    def _guard(self) -> Iterator[None]:
        """Turn SQLite's corruption errors into a CacheCorruptError naming the file."""
        try:
            yield
        except sqlite3.DatabaseError as exc:
            if _is_corruption(exc):
                raise CacheCorruptError(self.path, str(exc)) from exc
            raise

    def _size_bytes(self) -> int:
        files = (self.path, self.path.with_name(self.path.name + "-wal"))
        return sum(f.stat().st_size for f in files if f.exists())

    def _delete_files(self) -> None:
        self.close()
        for suffix in ("", "-wal", "-shm"):
            self.path.with_name(self.path.name + suffix).unlink(missing_ok=True)


_KEY_MATCH = " AND ".join(f"{c} = ?" for c in _KEY_COLUMNS)


def _prepare(conn: sqlite3.Connection, path: Path) -> None:
    """Set per-connection options and create the table on first use of the file."""
    try:
        conn.execute("PRAGMA synchronous = NORMAL")  # safe with WAL; a crash loses at most the last writes
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version == SCHEMA_VERSION:
            return  # WAL mode is persistent: it was set when the file was created
        if version > SCHEMA_VERSION:
            raise CacheError(
                f"result cache {path} has schema {version}, newer than this vidagent's {SCHEMA_VERSION}; "
                "upgrade vidagent or use another VIDAGENT_CACHE_DIR"
            )
        _create(conn)
    except sqlite3.DatabaseError as exc:
        if _is_corruption(exc):
            raise CacheCorruptError(path, str(exc)) from exc
        raise


def _create(conn: sqlite3.Connection) -> None:
    # auto_vacuum must be chosen before WAL mode and before the first table.
    conn.execute("PRAGMA auto_vacuum = INCREMENTAL")
    _set_wal(conn)
    conn.execute("BEGIN IMMEDIATE")  # another process may be creating the file too: one at a time
    try:
        if conn.execute("PRAGMA user_version").fetchone()[0] != SCHEMA_VERSION:
            for statement in filter(str.strip, _SCHEMA.split(";")):
                conn.execute(statement)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def _set_wal(conn: sqlite3.Connection) -> None:
    """Switch the file to WAL mode. Changing the journal mode may report "locked" at once,
    without waiting, while other connections are opening it, so retry until the timeout."""
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    while True:
        try:
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)
            continue
        if mode.lower() != "wal":
            raise CacheError(f"result cache could not switch to WAL mode (journal mode is {mode})")
        return


def _is_corruption(exc: sqlite3.DatabaseError) -> bool:
    name = getattr(exc, "sqlite_errorname", "") or ""
    return name == "SQLITE_NOTADB" or name.startswith("SQLITE_CORRUPT")
