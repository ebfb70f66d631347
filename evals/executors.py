"""Where samples run: a local pool of spawned processes, or Ray actors. Both run
``SampleWorker.answer`` (``evals.worker``) and yield one ``Completion`` per task.

Each worker builds its ``SampleWorker`` once and answers one sample at a time. A sample that
runs past ``timeout_s`` (seconds, counted from when it was handed to its worker) is
reported as ``timeout`` and its worker is killed and replaced; a worker that dies mid-sample
is reported as ``worker_died`` and replaced. A worker that fails to *start* stops the run with
``WorkerStartError`` (every worker would fail the same way: a bad pipeline, a planner server
that cannot start).
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
import traceback
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Literal, Protocol

from evals.worker import SampleOutcome, SampleTask, SampleWorker, WorkerSpec
from planners.servers.process import die_with_parent
from tools.errors import VidagentError

ExecutorName = Literal["local", "ray"]
#: Seconds a worker gets to exit after SIGTERM before it is SIGKILLed.
TERMINATE_GRACE_S = 3.0


class WorkerStartError(VidagentError):
    """A worker could not build its agent from the pipeline."""


@dataclass(frozen=True)
class Completion:
    """A finished task: the worker's outcome, or why the parent gave up on it.

    ``failure_kind`` is ``timeout``, ``worker_died`` or ``worker_error`` (the remote call
    itself raised) when ``outcome`` is None.
    """

    task: SampleTask
    outcome: SampleOutcome | None = None
    failure: str | None = None
    failure_kind: Literal["timeout", "worker_died", "worker_error"] | None = None
    seconds: float = 0.0


class Executor(Protocol):
    def run(self, tasks: Iterable[SampleTask]) -> Iterator[Completion]:
        """Run ``tasks``, yielding completions as they finish (not in task order)."""
        ...


def make_executor(name: ExecutorName, spec: WorkerSpec, workers: int, timeout_s: float | None) -> Executor:
    if workers < 1:
        raise ValueError("workers must be >= 1")
    if name == "local":
        return LocalExecutor(spec, workers, timeout_s)
    if name == "ray":
        return RayExecutor(spec, workers, timeout_s)
    raise ValueError(f"unknown executor {name!r}; choose local or ray")


# -- local processes -----------------------------------------------------------------------


def _exit_on_sigterm(signum, frame) -> None:
    raise SystemExit(128 + signum)


def _local_worker_main(spec: WorkerSpec, conn: Connection) -> None:
    """Body of a pool process: build the worker, then answer tasks until told to stop."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    signal.signal(signal.SIGTERM, _exit_on_sigterm)  # run the finally below (closes planner servers)
    die_with_parent()  # a killed run leaves no worker answering for nobody
    try:
        worker = SampleWorker(spec)
    except BaseException as exc:
        conn.send(("init_error", "".join(traceback.format_exception_only(type(exc), exc)).strip()))
        return
    try:
        conn.send(("ready", os.getpid()))
        while True:
            try:
                task = conn.recv()
            except EOFError:
                break
            if task is None:
                break
            conn.send(("done", worker.answer(task)))
    finally:
        worker.close()


class _Slot:
    """One pool process and the task it is working on."""

    def __init__(self, ctx, spec: WorkerSpec, number: int):
        parent, child = ctx.Pipe()
        self.name = f"worker-{number}"
        self.process = ctx.Process(target=_local_worker_main, args=(spec, child), name=self.name, daemon=True)
        self.process.start()
        child.close()
        self.conn = parent
        self.ready = False
        self.task: SampleTask | None = None
        self.started = 0.0

    def give(self, task: SampleTask) -> None:
        self.task, self.started = task, time.monotonic()
        self.conn.send(task)

    def stop(self, *, now: bool) -> None:
        if not now and self.process.is_alive():
            try:
                self.conn.send(None)
            except (BrokenPipeError, OSError):
                pass
            self.process.join(TERMINATE_GRACE_S)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(TERMINATE_GRACE_S)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        self.conn.close()


class LocalExecutor:
    """A pool of ``workers`` spawned processes (spawn: no inherited threads or locks)."""

    def __init__(self, spec: WorkerSpec, workers: int, timeout_s: float | None = None):
        self.spec, self.workers, self.timeout_s = spec, workers, timeout_s
        self._ctx = multiprocessing.get_context("spawn")
        self._started = 0

    def _new_slot(self) -> _Slot:
        self._started += 1
        return _Slot(self._ctx, self.spec, self._started)

    def run(self, tasks: Iterable[SampleTask]) -> Iterator[Completion]:
        pending = deque(tasks)
        if not pending:
            return
        slots = [self._new_slot() for _ in range(min(self.workers, len(pending)))]
        try:
            while pending or any(s.task is not None for s in slots):
                for slot in slots:
                    if slot.ready and slot.task is None and pending:
                        slot.give(pending.popleft())
                wait([s.conn for s in slots] + [s.process.sentinel for s in slots], self._wait_s(slots))
                for slot in list(slots):
                    completion, gone = self._check(slot)
                    if completion is not None:
                        yield completion
                    if gone:
                        slot.stop(now=True)
                        slots.remove(slot)
                        if pending:
                            slots.append(self._new_slot())
        finally:
            for slot in slots:
                slot.stop(now=False)

    def _wait_s(self, slots: list[_Slot]) -> float | None:
        if self.timeout_s is None:
            return None
        busy = [s.started + self.timeout_s - time.monotonic() for s in slots if s.task is not None]
        return max(0.0, min(busy)) + 0.01 if busy else None

    def _check(self, slot: _Slot) -> tuple[Completion | None, bool]:
        """``(completion, gone)``: what ``slot`` finished, and whether its process must be replaced."""
        if slot.conn.poll():
            try:
                kind, payload = slot.conn.recv()
            except (EOFError, OSError):  # the process closed its end: it exited or is exiting
                slot.process.join(TERMINATE_GRACE_S)
                return self._dead(slot)
            if kind == "init_error":
                raise WorkerStartError(f"a worker could not start the pipeline: {payload}")
            if kind == "ready":
                slot.ready = True
                return None, False
            task, slot.task = slot.task, None  # kind == "done"
            return Completion(task=task, outcome=payload, seconds=payload.seconds), False
        if not slot.process.is_alive():
            return self._dead(slot)
        if slot.task is not None and self.timeout_s is not None and time.monotonic() - slot.started > self.timeout_s:
            return _timed_out(slot.task, self.timeout_s, slot.started), True
        return None, False

    @staticmethod
    def _dead(slot: _Slot) -> tuple[Completion | None, bool]:
        code = slot.process.exitcode
        if not slot.ready:
            raise WorkerStartError(f"{slot.name} exited with code {code} while starting the pipeline (its stderr is "
                                   "above; a script that starts a run needs an `if __name__ == \"__main__\":` guard)")
        if slot.task is None:
            return None, True
        return Completion(task=slot.task, failure=f"the worker process died (exit code {code})",
                          failure_kind="worker_died", seconds=time.monotonic() - slot.started), True


# -- Ray -------------------------------------------------------------------------------------


class _RayWorker:
    """The Ray actor body: one SampleWorker per actor."""

    def __init__(self, spec: WorkerSpec):
        self.worker = SampleWorker(spec)

    def ready(self) -> int:
        return os.getpid()

    def answer(self, task: SampleTask) -> SampleOutcome:
        return self.worker.answer(task)


class RayExecutor:
    """``workers`` Ray actors (1 CPU each) on the cluster ``ray.init`` connects to.

    If Ray is not initialised yet, ``ray.init()`` is called (it joins ``$RAY_ADDRESS`` when
    set, else starts a local cluster) and shut down after the run.
    """

    def __init__(self, spec: WorkerSpec, workers: int, timeout_s: float | None = None):
        self.spec, self.workers, self.timeout_s = spec, workers, timeout_s

    def run(self, tasks: Iterable[SampleTask]) -> Iterator[Completion]:
        from tools.errors import require

        ray = require("ray", "eval")
        pending = deque(tasks)
        if not pending:
            return
        started_ray = not ray.is_initialized()
        if started_ray:
            ray.init(include_dashboard=False)
        actor_class = ray.remote(num_cpus=1, max_restarts=0)(_RayWorker)
        actors: list = []
        inflight: dict = {}  # ObjectRef -> (actor, task, started)
        try:
            actors = self._start(ray, actor_class, min(self.workers, len(pending)))
            idle = list(actors)
            while pending or inflight:
                while idle and pending:
                    actor, task = idle.pop(), pending.popleft()
                    inflight[actor.answer.remote(task)] = (actor, task, time.monotonic())
                done, _ = ray.wait(list(inflight), num_returns=1, timeout=self._wait_s(inflight))
                for ref in done:
                    actor, task, started = inflight.pop(ref)
                    try:
                        outcome = ray.get(ref)
                    except ray.exceptions.RayTaskError as exc:  # e.g. the outcome could not be serialised
                        yield Completion(task=task, failure=f"the Ray task failed: {_first_line(exc)}",
                                         failure_kind="worker_error", seconds=time.monotonic() - started)
                        idle.append(actor)
                        continue
                    except ray.exceptions.RayActorError as exc:
                        yield Completion(task=task, failure=f"the Ray worker died: {_first_line(exc)}",
                                         failure_kind="worker_died", seconds=time.monotonic() - started)
                        actors.remove(actor)
                        if pending:
                            replacement = self._start(ray, actor_class)
                            actors += replacement
                            idle += replacement
                        continue
                    yield Completion(task=task, outcome=outcome, seconds=outcome.seconds)
                    idle.append(actor)
                for ref, (actor, task, started) in list(inflight.items()):
                    if self.timeout_s is not None and time.monotonic() - started > self.timeout_s:
                        del inflight[ref]
                        ray.kill(actor, no_restart=True)
                        actors.remove(actor)
                        yield _timed_out(task, self.timeout_s, started)
                        if pending:
                            replacement = self._start(ray, actor_class)
                            actors += replacement
                            idle += replacement
        finally:
            for actor in actors:
                ray.kill(actor, no_restart=True)
            if started_ray:
                ray.shutdown()

    def _start(self, ray, actor_class, n: int = 1) -> list:
        """``n`` new actors, once each has built its SampleWorker."""
        actors = [actor_class.remote(self.spec) for _ in range(n)]
        try:
            ray.get([a.ready.remote() for a in actors])
        except ray.exceptions.RayActorError as exc:
            for actor in actors:
                ray.kill(actor, no_restart=True)
            raise WorkerStartError(f"a Ray worker could not start the pipeline: {_first_line(exc)}") from exc
        return actors

    def _wait_s(self, inflight: dict) -> float | None:
        if self.timeout_s is None:
            return None
        left = [started + self.timeout_s - time.monotonic() for _, _, started in inflight.values()]
        return max(0.0, min(left)) + 0.01 if left else None


def _timed_out(task: SampleTask, timeout_s: float, started: float) -> Completion:
    return Completion(task=task, failure=f"timed out after {timeout_s:g} s; the worker was replaced",
                      failure_kind="timeout", seconds=time.monotonic() - started)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else type(exc).__name__
