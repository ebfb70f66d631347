"""What the planner and the vision-language tools share about OpenAI-compatible servers: the
API key read from the environment, and a server's error message on one line.

It lives under ``tools`` because tools never import ``planners``; the planner imports it from
here.
"""

from __future__ import annotations

import json
import os

import httpx

from tools.errors import ConfigError

#: The longest server text quoted in an error, characters.
MAX_ERROR_TEXT = 400


def one_line(text: str, limit: int = MAX_ERROR_TEXT) -> str:
    """``text`` with its whitespace runs as single spaces, cut to ``limit`` characters ("..." ends a cut)."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def error_text(response: httpx.Response) -> str:
    """The server's error message on one line: OpenAI's ``error.message``, FastAPI's ``detail``,
    or the body itself."""
    try:
        body = response.json()
    except ValueError:
        return one_line(response.text) or response.reason_phrase
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict) and err.get("message"):
            return one_line(str(err["message"]))
        for key in ("error", "detail", "message"):
            if body.get(key):
                value = body[key]
                return one_line(value if isinstance(value, str) else json.dumps(value))
    return one_line(json.dumps(body))


def auth_headers(env_var: str | None, owner: str) -> dict[str, str]:
    """The bearer header for the API key in ``env_var`` (none without ``env_var``); a ConfigError
    naming ``owner``, whose ``api_key_env`` it is, when that variable is unset."""
    if not env_var:
        return {}
    key = os.environ.get(env_var, "")
    if not key:
        raise ConfigError(f"{owner} api_key_env names {env_var}, which is not set in the environment")
    return {"Authorization": f"Bearer {key}"}
