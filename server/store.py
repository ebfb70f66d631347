"""The server's memory: registered videos, runs and their step events, in one SQLite file.

Everything a client can list survives a restart. Runs that were queued or running when the
previous process stopped are marked ``interrupted`` when the store opens.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from tools.types import VideoMeta

SCHEMA_VERSION = 1

RunState = Literal["queued", "running", "finished", "failed", "interrupted"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS videos (
    id TEXT PRIMARY KEY, sha256 TEXT NOT NULL, name TEXT NOT NULL, path TEXT NOT NULL,
    source TEXT NOT NULL, size_bytes INTEGER NOT NULL, meta TEXT NOT NULL, created_at REAL NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS videos_by_file ON videos (sha256, path);
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY, video_id TEXT NOT NULL REFERENCES videos (id), question TEXT NOT NULL,
    options TEXT, state TEXT NOT NULL, created_at REAL NOT NULL, started_at REAL,
    finished_at REAL, answer TEXT, error TEXT
);
CREATE INDEX IF NOT EXISTS runs_by_time ON runs (created_at);
CREATE TABLE IF NOT EXISTS events (
    run_id TEXT NOT NULL REFERENCES runs (id), seq INTEGER NOT NULL, type TEXT NOT NULL,
    at REAL NOT NULL, data TEXT NOT NULL, PRIMARY KEY (run_id, seq)
);
"""


def new_id() -> str:
    return uuid.uuid4().hex[:12]


class VideoRecord(BaseModel):
    """A registered video. ``source``: ``upload`` (a copy in the data dir) or ``path`` (a
    file under an allowed root). ``size_bytes``: file size."""

    model_config = ConfigDict(frozen=True)

    id: str
    name: str
    source: Literal["upload", "path"]
    size_bytes: int
    meta: VideoMeta
    created_at: float = Field(description="unix time, seconds")
    path: str = Field(exclude=True, description="where the file is; never sent to clients")


class RunRecord(BaseModel):
    """One question about one video and, once finished, its answer (the CLI's ``--json``
    object: answer, choice, confidence, status, error, evidence, trace)."""

    model_config = ConfigDict(frozen=True)

    id: str
    video_id: str
    question: str
    options: list[str] | None = None
    state: RunState
    created_at: float
    started_at: float | None = None
    finished_at: float | None = None
    answer: dict[str, Any] | None = None
    error: str | None = None


class RunEvent(BaseModel):
    """One step of a run as it happened. ``seq`` counts from 1 per run; ``at``: unix seconds."""

    model_config = ConfigDict(frozen=True)

    seq: int
    type: str
    at: float
    data: dict[str, Any]


class Store:
    """Thread-safe access to ``path`` (one connection, one lock: the server's writes are few)."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.executescript(_SCHEMA)
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            if version == 0:
                self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            elif version != SCHEMA_VERSION:
                raise RuntimeError(f"{path} has schema version {version}; this server writes {SCHEMA_VERSION}")
            self._db.execute(
                "UPDATE runs SET state='interrupted', error='the server stopped before the run finished', "
                "finished_at=? WHERE state IN ('queued', 'running')",
                (time.time(),),
            )

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- videos ---------------------------------------------------------------------------

    def add_video(self, name: str, source: str, path: Path, meta: VideoMeta) -> VideoRecord:
        """Register ``path`` (an existing row for the same file and content is returned)."""
        with self._lock:
            row = self._db.execute("SELECT * FROM videos WHERE sha256=? AND path=?", (meta.sha256, str(path))).fetchone()
            if row is None:
                self._db.execute(
                    "INSERT INTO videos VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (new_id(), meta.sha256, name, str(path), source, path.stat().st_size, meta.model_dump_json(),
                     time.time()),
                )
                row = self._db.execute("SELECT * FROM videos WHERE sha256=? AND path=?", (meta.sha256, str(path))).fetchone()
        return _video(row)

    def video(self, video_id: str) -> VideoRecord | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM videos WHERE id=?", (video_id,)).fetchone()
        return _video(row) if row else None

    def video_by_sha(self, sha256: str, source: str) -> VideoRecord | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM videos WHERE sha256=? AND source=?", (sha256, source)).fetchone()
        return _video(row) if row else None

    def videos(self, limit: int = 100) -> list[VideoRecord]:
        with self._lock:
            rows = self._db.execute("SELECT * FROM videos ORDER BY created_at DESC LIMIT ?", (limit,)).fetchall()
        return [_video(r) for r in rows]

    def count(self, table: Literal["videos", "runs", "events"]) -> int:
        with self._lock:
            return self._db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]

    # -- runs -----------------------------------------------------------------------------

    def add_run(self, video_id: str, question: str, options: list[str] | None) -> RunRecord:
        run_id = new_id()
        with self._lock:
            self._db.execute(
                "INSERT INTO runs (id, video_id, question, options, state, created_at) VALUES (?, ?, ?, ?, 'queued', ?)",
                (run_id, video_id, question, json.dumps(options) if options is not None else None, time.time()),
            )
        return self.run(run_id)

    def set_running(self, run_id: str) -> None:
        with self._lock:
            self._db.execute("UPDATE runs SET state='running', started_at=? WHERE id=?", (time.time(), run_id))

    def finish_run(self, run_id: str, answer: dict[str, Any] | None, error: str | None) -> None:
        state = "finished" if answer is not None else "failed"
        with self._lock:
            self._db.execute(
                "UPDATE runs SET state=?, finished_at=?, answer=?, error=? WHERE id=?",
                (state, time.time(), json.dumps(answer) if answer is not None else None, error, run_id),
            )

    def run(self, run_id: str) -> RunRecord | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM runs WHERE id=?", (run_id,)).fetchone()
        return _run(row) if row else None

    def runs(self, limit: int = 50) -> list[RunRecord]:
        with self._lock:
            rows = self._db.execute("SELECT * FROM runs ORDER BY created_at DESC LIMIT ?", (limit,)).fetchall()
        return [_run(r) for r in rows]

    # -- events ---------------------------------------------------------------------------

    def add_event(self, run_id: str, type_: str, data: dict[str, Any]) -> RunEvent:
        with self._lock:
            seq = self._db.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM events WHERE run_id=?", (run_id,)).fetchone()[0]
            at = time.time()
            self._db.execute("INSERT INTO events VALUES (?, ?, ?, ?, ?)", (run_id, seq, type_, at, json.dumps(data)))
        return RunEvent(seq=seq, type=type_, at=at, data=data)

    def events(self, run_id: str, after: int = 0) -> list[RunEvent]:
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, type, at, data FROM events WHERE run_id=? AND seq>? ORDER BY seq", (run_id, after)
            ).fetchall()
        return [RunEvent(seq=r["seq"], type=r["type"], at=r["at"], data=json.loads(r["data"])) for r in rows]


def _video(row: sqlite3.Row) -> VideoRecord:
    return VideoRecord(
        id=row["id"], name=row["name"], source=row["source"], size_bytes=row["size_bytes"],
        meta=VideoMeta.model_validate_json(row["meta"]), created_at=row["created_at"], path=row["path"],
    )


def _run(row: sqlite3.Row) -> RunRecord:
    return RunRecord(
        id=row["id"], video_id=row["video_id"], question=row["question"],
        options=json.loads(row["options"]) if row["options"] else None, state=row["state"],
        created_at=row["created_at"], started_at=row["started_at"], finished_at=row["finished_at"],
        answer=json.loads(row["answer"]) if row["answer"] else None, error=row["error"],
    )
