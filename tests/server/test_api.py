"""``vidagent serve`` as a real process on 127.0.0.1 with the scripted planner: register, ask,
stream, answer, frames with boxes, restart and list; then bad inputs, each answered with its
status and nothing stored."""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from server.settings import ServerSettings
from tests.server.conftest import REPO, read_events, start_server
from tests.videos import truncate, write_image, write_text_file
from tools.errors import ConfigError

pytestmark = pytest.mark.slow

BOX = [100.0, 40.0, 300.0, 200.0]
SHOTS_SCRIPT = [
    {"action": "call_tools", "thought": "cuts first", "calls": [{"name": "detect_shots", "args": {}}]},
    {"action": "answer", "thought": "six shots; a bike in the second", "answer": "six shots",
     "evidence": [{"time_s": 2.0, "box": BOX, "note": "a bike"}]},
]
MAGENTA = np.array([255, 0, 255])


def jpeg(response) -> np.ndarray:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/jpeg"
    return np.asarray(Image.open(io.BytesIO(response.content)).convert("RGB")).astype(int)


def near(pixels: np.ndarray, color: np.ndarray, tol: int = 60) -> np.ndarray:
    return np.abs(pixels - color).max(axis=-1) <= tol


def test_register_ask_stream_answer_frames_restart_and_list(tmp_path, video_root, served_list):
    served = start_server(tmp_path, "--video-root", str(video_root), script=SHOTS_SCRIPT)
    served_list.append(served)
    client = served.client

    video = client.post("/api/videos/path", json={"path": "bikes.mp4"})
    assert video.status_code == 201, video.text
    video = video.json()
    assert (video["n_frames"], video["fps"], video["width"], video["height"]) == (250, 25.0, 640, 272)

    run = client.post("/api/runs", json={"video_id": video["id"], "question": "How many shots are there?"})
    assert run.status_code == 202, run.text
    assert run.json()["state"] in {"queued", "running", "finished"}
    run_id = run.json()["id"]

    events = read_events(client, run_id)
    kinds = [k for k, _ in events]
    assert kinds[:2] == ["queued", "started"] and kinds[-2:] == ["answer", "end"], kinds
    assert kinds.count("plan") == 2 and kinds.count("tools") == 1
    plan = dict(events)["plan"]  # the last plan event: the answer turn
    assert plan["action"] == "answer" and plan["thought"].startswith("six shots")
    call = dict(events)["tools"]["calls"][0]
    assert call["name"] == "detect_shots" and call["status"] == "ok" and call["seconds"] > 0
    assert "cuts at 1.20" in call["observation"]  # bikes.mp4's first cut, measured by the tool

    done = client.get(f"/api/runs/{run_id}").json()
    assert done["state"] == "finished"
    answer = done["answer"]
    assert (answer["status"], answer["answer"]) == ("answered", "six shots")
    assert answer["evidence"] == [{"time_s": 2.0, "frame_index": 50, "box": BOX, "note": "a bike"}]
    assert len(answer["trace"]["steps"]) == 2

    boxed = jpeg(client.get(f"/api/runs/{run_id}/frames/50"))
    plain = jpeg(client.get(f"/api/videos/{video['id']}/frames/50"))
    assert boxed.shape == plain.shape == (272, 640, 3)
    x1, y1, x2, y2 = (int(v) for v in BOX)
    # the outline sits just outside the box: magenta there in the drawn frame, not in the plain one
    left_edge = boxed[y1 + 20:y2 - 20, x1 - 3]
    assert near(left_edge, MAGENTA).mean() > 0.9
    assert near(plain[y1 + 20:y2 - 20, x1 - 3], MAGENTA).mean() < 0.1
    inside = (slice(y1 + 30, y2 - 30), slice(x1 + 30, x2 - 30))
    assert np.abs(boxed[inside] - plain[inside]).mean() < 3  # the box's inside is left as it was
    assert client.get(f"/api/runs/{run_id}/frames/250").status_code == 404  # 250 frames: 0-249

    # the second question reuses the loaded planner source and the tool results
    second = client.post("/api/runs", json={"video_id": video["id"], "question": "And now?"}).json()
    read_events(client, second["id"])
    assert client.get(f"/api/runs/{second['id']}").json()["answer"]["trace"]["totals"]["cache_hits"] >= 1

    served.stop()
    served_list.remove(served)
    again = start_server(tmp_path, "--video-root", str(video_root), data_dir=served.data_dir, script=SHOTS_SCRIPT)
    served_list.append(again)
    listed = again.client.get("/api/runs").json()
    assert [r["id"] for r in listed] == [second["id"], run_id]  # newest first
    assert all(r["state"] == "finished" and r["answer"] == "six shots" for r in listed)
    assert [v["id"] for v in again.client.get("/api/videos").json()] == [video["id"]]
    assert [k for k, _ in read_events(again.client, run_id)] == kinds  # the stream replays after a restart


def test_upload_is_kept_once_and_served_with_ranges(tmp_path, bikes_mp4, served_list):
    served = start_server(tmp_path, script=SHOTS_SCRIPT)
    served_list.append(served)
    data = bikes_mp4.read_bytes()
    first = served.client.post("/api/videos/upload", params={"name": "bikes.mp4"}, content=data,
                               headers={"Content-Type": "video/mp4"})
    assert first.status_code == 201, first.text
    again = served.client.post("/api/videos/upload", params={"name": "copy.mp4"}, content=data,
                               headers={"Content-Type": "application/octet-stream"})
    assert again.json()["id"] == first.json()["id"]
    assert [p.name for p in served.uploads()] == [f"{first.json()['sha256']}.mp4"]
    part = served.client.get(f"/api/videos/{first.json()['id']}/file", headers={"Range": "bytes=0-99"})
    assert part.status_code == 206 and part.content == data[:100]


def test_bad_uploads_are_refused_and_nothing_is_stored(tmp_path, bikes_mp4, served_list):
    served = start_server(tmp_path, "--max-upload-mb", "0.25", script=SHOTS_SCRIPT)
    served_list.append(served)
    text = write_text_file(tmp_path / "notes.txt").read_bytes()
    png = write_image(tmp_path / "still.png").read_bytes()
    cut = truncate(bikes_mp4, tmp_path / "cut.mp4", 0.2).read_bytes()  # 20% of bikes.mp4: under the cap
    assert len(cut) < 0.25 * 2**20 < len(bikes_mp4.read_bytes())
    cases = [
        ("text sent as video/mp4", {"name": "a.mp4"}, text, "video/mp4", 415, "not a video"),
        ("text sent as text/plain", {"name": "a.mp4"}, text, "text/plain", 415, "Content-Type"),
        ("a .txt name", {"name": "notes.txt"}, text, "video/mp4", 415, "not a video file name"),
        ("a still image", {"name": "still.mp4"}, png, "video/mp4", 415, "still image"),
        ("a truncated mp4", {"name": "cut.mp4"}, cut, "video/mp4", 415, "truncated"),
        ("an empty body", {"name": "a.mp4"}, b"", "video/mp4", 415, "empty"),
        ("over the cap (Content-Length)", {"name": "bikes.mp4"}, bikes_mp4.read_bytes(), "video/mp4", 413, "limit"),
    ]
    for label, params, body, ctype, status, says in cases:
        r = served.client.post("/api/videos/upload", params=params, content=body, headers={"Content-Type": ctype})
        assert (r.status_code, says in r.json()["detail"]) == (status, True), (label, r.text)
        assert "Traceback" not in r.text

    def chunks():  # no Content-Length: the server counts the bytes as they come
        data = bikes_mp4.read_bytes()
        for i in range(0, len(data), 65536):
            yield data[i:i + 65536]

    r = served.client.post("/api/videos/upload", params={"name": "bikes.mp4"}, content=chunks(),
                           headers={"Content-Type": "video/mp4"})
    assert r.status_code == 413, r.text
    assert served.client.get("/api/videos").json() == []
    assert served.uploads() == []


def test_paths_outside_the_roots_are_refused(tmp_path, video_root, bikes_mp4, served_list):
    outside = tmp_path / "outside"
    outside.mkdir()
    shutil.copy(bikes_mp4, outside / "secret.mp4")
    (video_root / "escape.mp4").symlink_to(outside / "secret.mp4")  # a file link leading out
    (video_root / "linked").symlink_to(outside, target_is_directory=True)  # a directory link leading out
    (video_root / "alias.mp4").symlink_to(video_root / "bikes.mp4")  # a link that stays inside
    served = start_server(tmp_path, "--video-root", str(video_root), script=SHOTS_SCRIPT)
    served_list.append(served)
    refused = [
        "../outside/secret.mp4",
        "linked/../../outside/secret.mp4",
        "bikes.mp4/../../outside/secret.mp4",
        "./../outside/secret.mp4",
        "..\\outside\\secret.mp4",
        str(outside / "secret.mp4"),
        f"{video_root}/../outside/secret.mp4",
        "escape.mp4",
        "linked/secret.mp4",
        "/etc/passwd",
        "bikes.mp4\x00.txt",
    ]
    for path in refused:
        r = served.client.post("/api/videos/path", json={"path": path})
        assert r.status_code == 403, (path, r.status_code, r.text)
    assert served.client.post("/api/videos/path", json={"path": "missing.mp4"}).status_code == 404
    assert served.client.get("/api/videos").json() == []
    ok = served.client.post("/api/videos/path", json={"path": "alias.mp4"})
    assert ok.status_code == 201, ok.text
    assert len(served.client.get("/api/videos").json()) == 1
    for url in ("/api/evals/..", "/api/evals/%2e%2e%2fetc", "/static/..%2fapp.py", "/api/runs/..%2f..%2fetc/frames/1"):
        r = served.client.get(url)
        assert r.status_code in (404, 422), (url, r.status_code)


def test_token_is_required_on_every_request(tmp_path, bikes_mp4, served_list):
    token = "t0ken-for-tests-0123456789"
    served = start_server(tmp_path, token=token, script=SHOTS_SCRIPT)
    served_list.append(served)
    anonymous = served.client.__class__(base_url=served.url, trust_env=False)
    wrong = served.client.__class__(base_url=served.url, headers={"Authorization": "Bearer wrong-token-0123456789"},
                                    trust_env=False)
    try:
        for client, label in ((anonymous, "no token"), (wrong, "wrong token")):
            for method, url in (("GET", "/"), ("GET", "/api/videos"), ("GET", "/api/openapi.json"),
                                ("GET", "/static/app.js"), ("GET", "/api/runs"), ("POST", "/api/runs")):
                r = client.request(method, url, json={} if method == "POST" else None)
                assert r.status_code == 401, (label, method, url, r.status_code)
                assert r.headers["www-authenticate"] == "Bearer"
            r = client.post("/api/videos/upload", params={"name": "bikes.mp4"}, content=bikes_mp4.read_bytes(),
                            headers={"Content-Type": "video/mp4"})
            assert r.status_code == 401
        assert anonymous.get("/api/health").status_code == 200  # liveness only, nothing else
        assert anonymous.get("/", params={"token": "wrong-token-0123456789"}).status_code == 401
        login = anonymous.get("/", params={"token": token})
        assert login.status_code == 303 and "httponly" in login.headers["set-cookie"].lower()
        assert anonymous.get("/api/info").status_code == 200  # the cookie now carries the token
        assert served.client.get("/api/info").json()["auth"] is True
        assert served.client.get("/api/videos").json() == [] and served.uploads() == []
    finally:
        anonymous.close()
        wrong.close()


def test_cross_site_requests_are_refused(tmp_path, served_list):
    served = start_server(tmp_path, script=SHOTS_SCRIPT)
    served_list.append(served)
    r = served.client.post("/api/runs", json={"video_id": "0" * 12, "question": "q"},
                           headers={"Origin": "http://evil.example"})
    assert r.status_code == 403
    assert served.client.get("/api/videos", headers={"Host": "rebound.example"}).status_code == 400
    assert served.client.get("/api/runs").json() == []


def test_concurrent_asks_beyond_the_limit_get_429_and_a_restart_interrupts(tmp_path, video_root, served_list):
    gate = tmp_path / "gate"
    args = ("--video-root", str(video_root), "--planner-factory", "tests.server.gate_planner:gated", "--max-runs", "1")
    served = start_server(tmp_path, *args, env={"VIDAGENT_TEST_GATE": str(gate)})
    served_list.append(served)
    video_id = served.client.post("/api/videos/path", json={"path": "bikes.mp4"}).json()["id"]
    first = served.client.post("/api/runs", json={"video_id": video_id, "question": "one"})
    assert first.status_code == 202
    busy = served.client.post("/api/runs", json={"video_id": video_id, "question": "two"})
    assert busy.status_code == 429 and busy.headers["retry-after"] == "5"
    assert "in progress" in busy.json()["detail"]
    assert [r["question"] for r in served.client.get("/api/runs").json()] == ["one"]
    gate.touch()
    end_kind, end = read_events(served.client, first.json()["id"])[-1]
    assert (end_kind, end["state"]) == ("end", "finished")
    assert served.client.get(f"/api/runs/{first.json()['id']}").json()["answer"]["answer"] == "released"
    gate.unlink()
    held = served.client.post("/api/runs", json={"video_id": video_id, "question": "three"})
    assert held.status_code == 202

    served.stop()  # while "three" waits at the gate
    served_list.remove(served)
    again = start_server(tmp_path, *args, data_dir=served.data_dir, env={"VIDAGENT_TEST_GATE": str(gate)})
    served_list.append(again)
    run = again.client.get(f"/api/runs/{held.json()['id']}").json()
    assert run["state"] == "interrupted" and "stopped" in run["error"]
    assert read_events(again.client, run["id"])[-1][0] == "end"


def _serve_cli(tmp_path, *args: str, prelude: str = "") -> subprocess.CompletedProcess:
    code = f"{prelude}import sys; from server.cli import main; sys.exit(main(sys.argv[1:]))"
    env = {k: v for k, v in os.environ.items() if k != "VIDAGENT_SERVE_TOKEN"}
    env["PYTHONPATH"] = str(REPO)
    return subprocess.run([sys.executable, "-c", code, "--data-dir", str(tmp_path / "data"), "--script",
                           str(tmp_path / "none.json"), *args], capture_output=True, text=True, timeout=60, env=env)


@pytest.mark.parametrize(("values", "says"), [
    ({"host": "0.0.0.0"}, "binding to 0.0.0.0 (not loopback) needs a token"),
    ({"host": "192.0.2.1"}, "needs a token"),
    ({"host": "::"}, "needs a token"),
    ({"host": "0.0.0.0", "token": "short"}, "at least 16 characters"),
    ({"video_roots": (Path("/no/such/dir"),)}, "/no/such/dir is not a directory"),
])
def test_unsafe_or_bad_settings_are_refused(tmp_path, values, says):
    with pytest.raises(ConfigError, match=re.escape(says)):
        ServerSettings.build(data_dir=tmp_path, **values)
    assert ServerSettings.build(data_dir=tmp_path, host="::1").host == "::1"  # loopback needs none
    assert ServerSettings.build(data_dir=tmp_path, host="0.0.0.0", token="x" * 16).token


def test_non_loopback_without_a_token_stops_before_listening(tmp_path):
    done = _serve_cli(tmp_path, "--host", "0.0.0.0")
    assert done.returncode == 2, done.stderr
    assert done.stderr == "vidagent: binding to 0.0.0.0 (not loopback) needs a token: pass --token or set " \
                          "VIDAGENT_SERVE_TOKEN\n"


def test_missing_extra_is_one_line_naming_it(tmp_path):
    done = _serve_cli(tmp_path, prelude="import sys; sys.modules['fastapi'] = None; ")
    assert done.returncode == 2
    assert done.stderr == "vidagent: fastapi is not installed; run: pip install 'vidagent[serve]'\n"
