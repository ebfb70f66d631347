"""A real HTTP chat-completions server for tests, replying from a script.

It listens on 127.0.0.1 (a free port) and speaks enough of the OpenAI API for a client:
``POST /v1/chat/completions``, ``GET /health`` and ``GET /v1/models``. Each POST takes the next
scripted reply from a queue: a completion (text, tool calls, usage, any ``finish_reason``), an
HTTP error with a body, a slow reply, or a dropped connection. Every request is recorded
(path, headers, parsed JSON body) so tests assert what the client actually sent.

Use the ``chat_server`` fixture from any test module::

    from tests.planners.chat_server import ChatServer, chat_server  # noqa: F401 (fixture)

    def test_x(chat_server: ChatServer):
        chat_server.push(Completion(content='{"action": "answer", "answer": "yes"}'))
        ... PlannerConfig(base_url=chat_server.url) ...
        assert chat_server.requests[0].body["response_format"]["type"] == "json_schema"

When the queue is empty the server answers HTTP 500 ``no scripted reply left``, so a test that
sends more requests than it scripted fails loudly.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Union

import pytest


@dataclass(frozen=True)
class Completion:
    """A 200 chat completion. ``finish_reason`` defaults to ``tool_calls`` when there are
    tool calls, else ``stop``. ``usage`` is sent as given (None: no usage block)."""

    content: str | None = None
    tool_calls: tuple[dict, ...] = ()
    finish_reason: str | None = None
    usage: dict | None = None
    model: str = "test-model"


@dataclass(frozen=True)
class HTTPError:
    """An error status with a body (a dict is sent as JSON, a str as text/plain)."""

    status: int
    body: dict | str = ""


@dataclass(frozen=True)
class Slow:
    """Wait ``seconds`` before sending ``then`` (the client may have given up by then)."""

    seconds: float
    then: "ScriptedReply" = field(default_factory=lambda: Completion(content="{}"))


@dataclass(frozen=True)
class Drop:
    """Close the connection without sending any response."""


ScriptedReply = Union[Completion, HTTPError, Slow, Drop]


def json_reply(obj: Any, **kwargs: Any) -> Completion:
    """A completion whose content is ``obj`` as JSON."""
    return Completion(content=json.dumps(obj), **kwargs)


def tool_call(name: str, args: dict | str, call_id: str | None = None) -> dict:
    """One OpenAI ``tool_calls`` item; ``args`` as a dict, or a raw (possibly broken) string."""
    arguments = args if isinstance(args, str) else json.dumps(args)
    return {"id": call_id or f"call_{name}", "type": "function", "function": {"name": name, "arguments": arguments}}


def openai_error(message: str, type_: str = "BadRequestError", code: int = 400) -> dict:
    """An OpenAI-style error body, as vLLM sends it."""
    return {"error": {"message": message, "type": type_, "param": None, "code": code}}


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    body: Any  # parsed JSON, or None


class ChatServer:
    """The server; ``url`` is its API root including ``/v1`` (what ``base_url`` takes)."""

    def __init__(self, model: str = "test-model"):
        self.model = model
        self.requests: list[RecordedRequest] = []
        self._queue: deque[ScriptedReply] = deque()
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._httpd.daemon_threads = True
        self._httpd.chat = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, name="chat-server", daemon=True
        )

    @property
    def root_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def url(self) -> str:
        return self.root_url + "/v1"

    def start(self) -> "ChatServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> "ChatServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def push(self, *replies: ScriptedReply) -> "ChatServer":
        """Queue replies for the next POSTs, in order."""
        with self._lock:
            self._queue.extend(replies)
        return self

    @property
    def pending(self) -> int:
        """Scripted replies not yet sent."""
        with self._lock:
            return len(self._queue)

    @property
    def bodies(self) -> list[Any]:
        """The JSON bodies of the chat-completion requests received, in order."""
        return [r.body for r in self.requests if r.path.endswith("/chat/completions")]

    @property
    def last_body(self) -> Any:
        return self.bodies[-1]

    def _record(self, request: RecordedRequest) -> ScriptedReply | None:
        with self._lock:
            self.requests.append(request)
            return self._queue.popleft() if self._queue else None

    def _completion_body(self, reply: Completion) -> dict:
        message: dict[str, Any] = {"role": "assistant", "content": reply.content}
        if reply.tool_calls:
            message["tool_calls"] = list(reply.tool_calls)
        finish = reply.finish_reason or ("tool_calls" if reply.tool_calls else "stop")
        body = {
            "id": f"chatcmpl-{next(self._ids)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": reply.model,
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        }
        if reply.usage is not None:
            body["usage"] = reply.usage
        return body


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: ThreadingHTTPServer

    def log_message(self, format: str, *args: Any) -> None:  # keep pytest output clean
        pass

    @property
    def chat(self) -> ChatServer:
        return self.server.chat  # type: ignore[attr-defined]

    def do_GET(self) -> None:
        if self.path == "/health":
            self._send(200, {"status": "ok"})
        elif self.path == "/v1/models":
            self._send(200, {"object": "list", "data": [{"id": self.chat.model, "object": "model", "owned_by": "tests"}]})
        else:
            self._send(404, {"error": {"message": f"no route {self.path}", "code": 404}})

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            body = json.loads(raw) if raw else None
        except json.JSONDecodeError:
            body = None
        headers = {k.lower(): v for k, v in self.headers.items()}
        if self.path != "/v1/chat/completions":
            self.chat.requests.append(RecordedRequest("POST", self.path, headers, body))
            self._send(404, {"error": {"message": f"no route {self.path}", "code": 404}})
            return
        reply = self.chat._record(RecordedRequest("POST", self.path, headers, body))
        self._answer(reply)

    def _answer(self, reply: ScriptedReply | None) -> None:
        if reply is None:
            self._send(500, {"error": {"message": f"chat_server: no scripted reply left ({len(self.chat.requests)} requests so far)"}})
        elif isinstance(reply, Slow):
            time.sleep(reply.seconds)
            self._answer(reply.then)
        elif isinstance(reply, Drop):
            self.close_connection = True
        elif isinstance(reply, HTTPError):
            self._send(reply.status, reply.body)
        else:
            self._send(200, self.chat._completion_body(reply))

    def _send(self, status: int, body: dict | str) -> None:
        data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        kind = "text/plain" if isinstance(body, str) else "application/json"
        try:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up (a Slow reply past its timeout)


@pytest.fixture
def chat_server():
    """A started ChatServer, stopped after the test."""
    with ChatServer() as server:
        yield server


# --- sample planner inputs, shared by the planner tests and usable elsewhere -------------------

DETECT_PARAMS = {
    "type": "object",
    "properties": {
        "labels": {"type": "array", "items": {"type": "string"}, "minItems": 1},
        "start_s": {"type": "number", "minimum": 0, "default": 0},
        "end_s": {"anyOf": [{"type": "number"}, {"type": "null"}], "default": None},
        "min_confidence": {"type": "number", "minimum": 0, "maximum": 1, "default": 0.3},
    },
    "required": ["labels"],
    "additionalProperties": False,
}
READ_TEXT_PARAMS = {
    "type": "object",
    "properties": {"time_s": {"type": "number", "minimum": 0}},
    "required": ["time_s"],
    "additionalProperties": False,
}


def sample_request(
    *,
    steps: int = 1,
    options: tuple[str, ...] | None = ("one", "two", "three"),
    feedback: str | None = None,
    must_answer: bool = False,
    images: int = 0,
    option_scores: tuple[float, ...] | None = None,
):
    """A fixed PlannerInput about a 10 s clip, with ``steps`` earlier tool-call steps and
    ``images`` tiny placeholder frames (not real JPEGs: small enough never to be decoded)."""
    from planners.base import CallTools, HistoryStep, ImagePart, PlannerInput
    from tools.types import Evidence, Observation, ToolCall, ToolSpec, VideoMeta

    tools = (
        ToolSpec(name="detect_objects", description="Find objects by label in a time range.", parameters=DETECT_PARAMS),
        ToolSpec(name="read_text", description="Read the text visible in the frame at a time.", parameters=READ_TEXT_PARAMS),
    )
    video = VideoMeta(
        path="/videos/bikes.mp4", sha256="0" * 64, duration_s=10.0, fps=25.0, n_frames=250, width=640, height=272, codec="h264"
    )
    history = []
    for i in range(steps):
        call = ToolCall(name="detect_objects", args={"labels": ["bicycle"], "start_s": 2.0 * i}, id=f"call_{i}")
        text = f"bicycle: {i + 2} detections between {2 * i} s and 10 s"
        evidence = (Evidence(time_s=1.2 + i, frame_index=30 + 25 * i, box=(10.0, 20.5, 110.0, 220.0), note="bicycle"),)
        history.append(
            HistoryStep(
                action=CallTools(thought=f"Look for bicycles from {2 * i} s.", calls=(call,)),
                observations=(Observation(call_id=call.id, name=call.name, status="ok", text=text, evidence=evidence),),
            )
        )
    frames = tuple(
        ImagePart(time_s=i * 2.5, frame_index=int(i * 62.5), jpeg_b64=f"FRAME{i}", width=64, height=27) for i in range(images)
    )
    return PlannerInput(
        question="How many bicycles cross the road?",
        options=options,
        video=video,
        tools=tools,
        history=tuple(history),
        feedback=feedback,
        must_answer=must_answer,
        images=frames,
        option_scores=option_scores,
    )


#: A small tool-call schema that real servers (llama.cpp, vLLM) are asked to follow in tests.
TOOL_CALL_SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "enum": ["detect_objects", "read_text"]},
        "arguments": {
            "type": "object",
            "properties": {
                "time_s": {"type": "number"},
                "labels": {"type": "array", "items": {"type": "string", "maxLength": 16}, "maxItems": 3},
            },
            "required": ["time_s", "labels"],
            "additionalProperties": False,
        },
    },
    "required": ["name", "arguments"],
    "additionalProperties": False,
}
