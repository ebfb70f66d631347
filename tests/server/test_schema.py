"""A property-based run of the server's own OpenAPI schema (schemathesis) against a live
server: whatever the generated requests, no answer is a 5xx and none carries a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.server.conftest import start_server

pytestmark = pytest.mark.slow

SCRIPT = [{"action": "answer", "thought": "", "answer": "ok"}] * 50
MAX_SECONDS = 90


def test_schema_fuzzing_finds_no_server_error(tmp_path, video_root, served_list):
    served = start_server(tmp_path, "--video-root", str(video_root), "--max-upload-mb", "1", "--max-runs", "4",
                          script=SCRIPT)
    served_list.append(served)
    assert served.client.post("/api/videos/path", json={"path": "bikes.mp4"}).status_code == 201
    st = Path(sys.executable).parent / "schemathesis"
    done = subprocess.run(
        [str(st), "run", f"{served.url}/api/openapi.json", "--checks", "not_a_server_error",
         "--phases", "examples,coverage,fuzzing", "--max-examples", "10", "--seed", "1",
         "--max-time", str(MAX_SECONDS), "--request-timeout", "30", "--generation-database", "none",
         "--no-color", "--suppress-health-check", "all"],
        capture_output=True, text=True, timeout=MAX_SECONDS + 120, cwd=tmp_path,
    )
    tail = done.stdout[-4000:] + done.stderr[-2000:]
    print(done.stdout[-2500:])
    assert done.returncode == 0, tail
    assert "No issues found" in done.stdout or "passed" in done.stdout, tail
    log = served.process.log_tail(200)
    assert "Traceback" not in log, log
