"""Progress of a run on stderr: a rich bar with ETA on a terminal, else a line now and then."""

from __future__ import annotations

import sys
import time
from typing import TextIO

#: Without a terminal, print a progress line at most this often, seconds.
PLAIN_INTERVAL_S = 5.0


class RunProgress:
    """Counts finished samples of this session (``total`` of them) and shows an ETA.

    ``enabled=False`` shows nothing. The ETA assumes the remaining samples take as long as
    the finished ones did on average.
    """

    def __init__(self, total: int, *, description: str = "eval", enabled: bool = True, stream: TextIO | None = None):
        self.total = total
        self.done = 0
        self.errors = 0
        self.correct = 0
        self.started = time.monotonic()
        self._stream = stream or sys.stderr
        self._enabled = enabled and total > 0
        self._bar = None
        self._last_line = 0.0
        if self._enabled and self._stream.isatty():
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._bar = Progress(
                TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                TextColumn("{task.fields[stats]}"), TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
                console=Console(file=self._stream), transient=False,
            )
            self._task = self._bar.add_task(description, total=total, stats="")
            self._bar.start()
        self._description = description

    def advance(self, *, correct: bool, error: bool) -> None:
        self.done += 1
        self.correct += correct
        self.errors += error
        if not self._enabled:
            return
        stats = f"acc {self.correct / self.done:.2f} err {self.errors}"
        if self._bar is not None:
            self._bar.update(self._task, advance=1, stats=stats)
            return
        now = time.monotonic()
        if self.done == self.total or now - self._last_line >= PLAIN_INTERVAL_S:
            self._last_line = now
            print(f"{self._description}: {self.done}/{self.total} ({100 * self.done / self.total:.0f}%) {stats} "
                  f"elapsed {now - self.started:.0f} s eta {self.eta_s():.0f} s", file=self._stream, flush=True)

    def eta_s(self) -> float:
        """Seconds until all ``total`` samples are done, at the average pace so far."""
        if self.done == 0:
            return float("nan")
        return (time.monotonic() - self.started) / self.done * (self.total - self.done)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
