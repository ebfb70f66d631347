"""The Ray executor runs the same per-sample function as the local pool and gives the same rows.

Ray is part of the eval extra; if it is missing or cannot start here, this test fails and
says so (it is not skipped: a silently skipped executor test hides a broken install).
"""

from __future__ import annotations

import os

import pytest

from evals.pipeline import Pipeline
from evals.runner import RunOptions, run_suite
from tests.evals.pipelines.tiny import PIPELINES, QUESTION_KEYED, make_clips, write_suite

OPTIONS = ("red", "green", "blue")
SAMPLES = [
    dict(sample_id="pick", video_id="two_cuts", question="Colour? [pick 2]", options=OPTIONS, answer=2, qtype="A"),
    dict(sample_id="count3", video_id="two_cuts", question="How many shots are there?", answer="3 shots", qtype="B"),
    dict(sample_id="count2", video_id="one_cut", question="How many shots are there?", answer="3 shots", qtype="B"),
    dict(sample_id="garbage", video_id="one_cut", question="Colour? [garbage]", options=OPTIONS, answer=0, qtype="A"),
    dict(sample_id="broken", video_id="not_a_video", question="Colour? [pick 0]", options=OPTIONS, answer=0, qtype="A"),
    dict(sample_id="missing", video_id="absent", question="Colour? [pick 0]", options=OPTIONS, answer=0, qtype="A"),
]
COMPARED = ("status", "correct", "prediction", "answer", "choice", "error_kind", "steps", "tool_calls", "reference")


def _ray():
    try:
        import ray
    except ImportError as exc:
        pytest.fail(f"Ray is not installed ({exc}); install it with: pip install 'ray>=2.9' (eval extra)")
    return ray


def test_ray_executor_gives_the_same_rows_as_local_processes(tmp_path):
    ray = _ray()
    make_clips(tmp_path / "videos")
    suite = write_suite(tmp_path / "annotations", SAMPLES)
    pipeline = Pipeline.load(PIPELINES / "function.toml", planner_factory=QUESTION_KEYED)
    try:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    except Exception as exc:  # noqa: BLE001 - any start-up failure is the finding
        pytest.fail(f"Ray could not start a local cluster here: {type(exc).__name__}: {exc}")
    try:
        on_ray = run_suite(suite, pipeline, RunOptions(out_dir=tmp_path / "ray", videos_dir=tmp_path / "videos",
                                                       workers=2, executor="ray", progress=False))
    finally:
        ray.shutdown()
    local = run_suite(suite, pipeline, RunOptions(out_dir=tmp_path / "local", videos_dir=tmp_path / "videos",
                                                  workers=2, executor="local", progress=False))

    ray_rows = {r.sample_id: r for r in on_ray.run_dir.rows()}
    local_rows = {r.sample_id: r for r in local.run_dir.rows()}
    assert sorted(ray_rows) == sorted(local_rows) == sorted(s["sample_id"] for s in SAMPLES)
    for sample_id, row in local_rows.items():
        assert [getattr(row, f) for f in COMPARED] == [getattr(ray_rows[sample_id], f) for f in COMPARED], sample_id
    assert ray_rows["count3"].answer == "3 shots" and ray_rows["garbage"].status == "unparsed"
    assert ray_rows["broken"].error_kind == "video_unreadable"
    ray_pids = {r.worker_pid for r in ray_rows.values() if r.worker_pid}
    local_pids = {r.worker_pid for r in local_rows.values() if r.worker_pid}
    assert ray_pids and not ray_pids & local_pids and os.getpid() not in ray_pids, "Ray rows came from Ray workers"
    assert on_ray.run_dir.read_manifest()["args"]["executor"] == "ray"
