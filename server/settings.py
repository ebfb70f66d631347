"""What a ``vidagent serve`` process is allowed to do: where it listens, who may call it,
which files it may read, how much it accepts."""

from __future__ import annotations

import ipaddress
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from tools.errors import ConfigError

TOKEN_ENV = "VIDAGENT_SERVE_TOKEN"
DEFAULT_PORT = 8765
MIN_TOKEN_CHARS = 16


def is_loopback(host: str) -> bool:
    """True for addresses only this machine can reach (127.0.0.0/8, ::1, ``localhost``)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class ServerSettings(BaseModel):
    """Limits of one server process.

    ``video_roots``: directories whose videos may be registered by path (resolved; a path
    whose real location is outside every root is refused). ``eval_roots``: directories whose
    subdirectories are evaluation runs. ``data_dir``: where ``server.sqlite`` and uploads live.
    ``max_upload_bytes``: the upload cap, bytes. ``max_active_runs``: questions answered at
    once; another is refused with 429 until one finishes.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = "127.0.0.1"
    port: int = Field(default=DEFAULT_PORT, ge=0, le=65535)
    token: str | None = None
    video_roots: tuple[Path, ...] = ()
    eval_roots: tuple[Path, ...] = ()
    data_dir: Path
    max_upload_bytes: int = Field(default=512 * 2**20, gt=0)
    max_active_runs: int = Field(default=1, ge=1)

    @model_validator(mode="after")
    def _safe(self) -> "ServerSettings":
        if self.token is not None and len(self.token) < MIN_TOKEN_CHARS:
            raise ValueError(f"the token must have at least {MIN_TOKEN_CHARS} characters")
        if not is_loopback(self.host) and not self.token:
            raise ValueError(
                f"binding to {self.host} (not loopback) needs a token: pass --token or set {TOKEN_ENV}"
            )
        return self

    @classmethod
    def build(cls, **values) -> "ServerSettings":
        """Validate ``values`` (ConfigError with one line on failure); roots must be directories."""
        from pydantic import ValidationError

        try:
            settings = cls(**values)
        except ValidationError as exc:
            err = exc.errors()[0]
            raise ConfigError(str(err["msg"]).removeprefix("Value error, ")) from exc
        for root in settings.video_roots + settings.eval_roots:
            if not root.is_dir():
                raise ConfigError(f"{root} is not a directory")
        resolved = {
            "video_roots": tuple(r.resolve() for r in settings.video_roots),
            "eval_roots": tuple(r.resolve() for r in settings.eval_roots),
            "data_dir": settings.data_dir.resolve(),
        }
        return settings.model_copy(update=resolved)
