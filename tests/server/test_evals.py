"""Evaluation runs through the server: listed with their summary, their report served as one
self-contained page (tables and plots), nothing outside the eval roots reachable."""

from __future__ import annotations

import re
import shutil

import pytest

from evals.pipeline import Pipeline
from evals.runner import RunOptions, run_suite
from tests.evals.pipelines.tiny import PIPELINES, make_clips, write_suite
from tests.server.conftest import start_server

pytestmark = pytest.mark.slow

OPTIONS = ("red", "green", "blue")
SAMPLES = [  # choice0.toml always answers option 0: right, wrong, right
    dict(sample_id="s1", video_id="two_cuts", question="Colour?", options=OPTIONS, answer=0, qtype="A"),
    dict(sample_id="s2", video_id="two_cuts", question="Colour?", options=OPTIONS, answer=1, qtype="A"),
    dict(sample_id="s3", video_id="one_cut", question="Colour?", options=OPTIONS, answer=0, qtype="B"),
]


def test_eval_runs_are_listed_and_reported(tmp_path, monkeypatch, served_list):
    monkeypatch.setenv("VIDAGENT_CACHE_DIR", str(tmp_path / "cache"))
    make_clips(tmp_path / "videos")
    suite = write_suite(tmp_path / "annotations", SAMPLES)
    evals = tmp_path / "evals"
    run_suite(suite, Pipeline.load(PIPELINES / "choice0.toml"),
              RunOptions(out_dir=evals / "always0", videos_dir=tmp_path / "videos", progress=False))
    (evals / "not-a-run").mkdir()
    shutil.copytree(evals / "always0", tmp_path / "elsewhere" / "copy")
    (evals / "linked").symlink_to(tmp_path / "elsewhere" / "copy", target_is_directory=True)  # leads out: refused

    served = start_server(tmp_path, "--eval-root", str(evals), script=[{"action": "answer", "answer": "x"}])
    served_list.append(served)
    listed = served.client.get("/api/evals").json()
    assert [(r["name"], r["pipeline"], r["n"]) for r in listed] == [("always0", "always-0", 3)]
    assert listed[0]["accuracy"] == pytest.approx(2 / 3)

    report = served.client.get("/api/evals/always0/report")
    assert report.status_code == 200 and report.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in report.headers["content-security-policy"]
    assert len(re.findall(r'<img alt="[^"]+" src="data:image/png;base64,', report.text)) >= 2  # plots inline
    assert not re.search(r'(src|href)="(https?:)?//', report.text)  # nothing fetched from elsewhere
    assert (evals / "always0" / "report.html").is_file()

    for name, status in (("not-a-run", 404), ("missing", 404), ("linked", 404), ("..", 404)):
        r = served.client.get(f"/api/evals/{name}/report")
        assert r.status_code in (status, 422), (name, r.status_code, r.text)
