"""Typed errors. Every message is one line that says what went wrong and what to do."""

from __future__ import annotations


class VidagentError(Exception):
    """Base of all errors raised on purpose by vidagent."""


class InputError(VidagentError):
    """The user gave something unusable (bad path, bad video, bad option). CLI exit code 2."""


class VideoError(InputError):
    """A video cannot be opened or decoded."""

    def __init__(self, path: str, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class VideoNotFoundError(VideoError):
    def __init__(self, path: str):
        super().__init__(path, "no such file")


class NotAVideoError(VideoError):
    def __init__(self, path: str, detail: str = ""):
        super().__init__(path, "not a video file" + (f" ({detail})" if detail else ""))


class NoVideoStreamError(VideoError):
    def __init__(self, path: str):
        super().__init__(path, "the file has no video stream")


class EmptyVideoError(VideoError):
    def __init__(self, path: str):
        super().__init__(path, "the video stream has zero frames")


class CorruptVideoError(VideoError):
    """Decoding stopped early. ``decoded_frames`` frames (up to ``last_time_s``) were readable."""

    def __init__(self, path: str, detail: str, decoded_frames: int = 0, last_time_s: float | None = None):
        self.decoded_frames = decoded_frames
        self.last_time_s = last_time_s
        where = (
            f"; decoding stopped after {decoded_frames} frames at {last_time_s:.3f} s"
            if last_time_s is not None
            else f"; decoding stopped after {decoded_frames} frames"
        )
        super().__init__(path, f"truncated or corrupt video ({detail}){where}")


class ToolRetry(VidagentError):
    """Raised by a tool when the planner should try again with different arguments."""


class ToolTimeout(VidagentError):
    """A tool call ran past its time limit."""


class MissingExtraError(VidagentError):
    """An optional dependency is not installed."""

    def __init__(self, package: str, extra: str):
        self.package = package
        self.extra = extra
        super().__init__(f"{package} is not installed; run: pip install 'vidagent[{extra}]'")


class ConfigError(InputError):
    """A config or pipeline file is invalid."""


def require(module: str, extra: str, package: str | None = None):
    """Import an optional module or raise MissingExtraError naming the extra to install."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtraError(package or module, extra) from exc
