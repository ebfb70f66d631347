"""The HTTP API and the page (FastAPI). ``create_app`` wires settings, store and runs together.

Every error answer is ``{"detail": "<one line>"}`` with its status; an unexpected exception is
logged with its traceback and answered 500 without one.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import os
import shutil
import tempfile
from contextlib import asynccontextmanager
from importlib.resources import files
from pathlib import Path
from typing import Annotated, Any, AsyncIterator
from urllib.parse import urlsplit

from fastapi import FastAPI, HTTPException, Query, Request
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from server import eval_runs
from server.frames import Box, ReaderPool, draw_jpeg
from server.paths import PathNotAllowed, PathNotFound, confined
from server.runs import END, Busy, RunManager
from server.settings import ServerSettings, is_loopback
from server.store import RunEvent, RunRecord, Store, VideoRecord
from tools.errors import InputError, MissingExtraError, VideoError, VideoNotFoundError

log = logging.getLogger(__name__)

TOKEN_COOKIE = "vidagent_token"
ID_PATTERN = r"^[0-9a-f]{12}$"
EVAL_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$"
VIDEO_SUFFIXES = frozenset(".mp4 .m4v .mov .mkv .webm .avi .mpg .mpeg .ts .mts .flv .wmv .3gp .ogv".split())
UPLOAD_TYPES = ("video/", "application/octet-stream")
EVENT_POLL_S = 0.2
KEEPALIVE_S = 15.0
LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})
PAGE_CSP = ("default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; style-src 'self'; "
            "script-src 'self'; connect-src 'self'; frame-src 'self'; frame-ancestors 'self'; base-uri 'none'; "
            "form-action 'self'")
REPORT_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; frame-ancestors 'self'"

VideoId = Annotated[str, PathParam(pattern=ID_PATTERN, description="a registered video's id")]
RunId = Annotated[str, PathParam(pattern=ID_PATTERN, description="a run's id")]
FrameIndex = Annotated[int, PathParam(ge=0, le=10**8, description="0-based frame index")]
MaxSide = Annotated[int | None, Query(ge=16, le=4096, description="shrink the image to this many pixels at most")]


class Problem(BaseModel):
    detail: str


class VideoOut(BaseModel):
    """A registered video (durations in seconds, sizes in pixels and bytes)."""

    id: str
    name: str
    source: str
    size_bytes: int
    created_at: float
    sha256: str
    duration_s: float
    fps: float
    n_frames: int
    width: int
    height: int
    codec: str

    @classmethod
    def of(cls, v: VideoRecord) -> "VideoOut":
        m = v.meta
        return cls(id=v.id, name=v.name, source=v.source, size_bytes=v.size_bytes, created_at=v.created_at,
                   sha256=m.sha256, duration_s=m.duration_s, fps=m.fps, n_frames=m.n_frames, width=m.width,
                   height=m.height, codec=m.codec)


class RegisterPath(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: str = Field(min_length=1, max_length=4096, description="a file under an allowed video root "
                                                                 "(absolute, or relative to the first root)")


class AskIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    video_id: str = Field(pattern=ID_PATTERN)
    question: str = Field(min_length=1, max_length=2000, pattern=r"\S")
    options: list[Annotated[str, Field(min_length=1, max_length=500)]] | None = Field(
        default=None, min_length=2, max_length=10, description="choices, for a multiple-choice question")


class RunSummary(BaseModel):
    id: str
    video_id: str
    question: str
    state: str
    created_at: float
    finished_at: float | None
    status: str | None = Field(description="the answer's status once finished")
    answer: str | None

    @classmethod
    def of(cls, r: RunRecord) -> "RunSummary":
        a = r.answer or {}
        return cls(id=r.id, video_id=r.video_id, question=r.question, state=r.state, created_at=r.created_at,
                   finished_at=r.finished_at, status=a.get("status"), answer=a.get("answer"))


class Info(BaseModel):
    planner: str
    profile: str
    tools: list[str]
    max_upload_bytes: int
    max_active_runs: int
    video_roots: int
    eval_roots: int
    auth: bool


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for error answers (each ``{"detail": "<one line>"}``)."""
    return {code: {"model": Problem} for code in codes}


def create_app(settings: ServerSettings, store: Store, runs: RunManager) -> FastAPI:
    """The ASGI app. It closes ``runs`` and ``store`` when the server shuts down."""
    readers = ReaderPool()
    uploads = settings.data_dir / "uploads"
    uploads.mkdir(parents=True, exist_ok=True)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        runs.close()
        readers.close()
        store.close()

    # docs_url/redoc_url off: FastAPI's pages load their scripts from a CDN.
    app = FastAPI(title="vidagent", version=_version(), lifespan=lifespan, docs_url=None, redoc_url=None,
                  openapi_url="/api/openapi.json", responses=errors(400, 401, 403, 422))
    _install_guards(app, settings)
    _install_error_handlers(app)

    def video_or_404(video_id: str) -> VideoRecord:
        video = store.video(video_id)
        if video is None:
            raise HTTPException(404, f"no video {video_id}")
        return video

    def run_or_404(run_id: str) -> RunRecord:
        run = store.run(run_id)
        if run is None:
            raise HTTPException(404, f"no run {run_id}")
        return run

    # -- service ----------------------------------------------------------------------------

    @app.get("/api/health", tags=["service"])
    def health() -> dict[str, str]:
        """Liveness (the one path answered without a token)."""
        return {"status": "ok"}

    @app.get("/api/info", tags=["service"])
    def info() -> Info:
        return Info(planner=runs.planner_label, profile=runs.profile, tools=runs.tool_names, max_upload_bytes=settings.max_upload_bytes,
                    max_active_runs=settings.max_active_runs, video_roots=len(settings.video_roots),
                    eval_roots=len(settings.eval_roots), auth=settings.token is not None)

    # -- videos -----------------------------------------------------------------------------

    @app.get("/api/videos", tags=["videos"])
    def list_videos(limit: Annotated[int, Query(ge=1, le=500)] = 100) -> list[VideoOut]:
        return [VideoOut.of(v) for v in store.videos(limit)]

    @app.post("/api/videos/upload", status_code=201, tags=["videos"], responses=errors(413, 415), openapi_extra={"requestBody": {
        "required": True,
        "content": {t: {"schema": {"type": "string", "format": "binary"}} for t in ("application/octet-stream", "video/mp4")},
    }})
    async def upload_video(request: Request, name: Annotated[str, Query(min_length=1, max_length=200)] = "upload.mp4") -> VideoOut:
        """Upload a video as the raw request body (Content-Type ``video/*`` or
        ``application/octet-stream``), at most the server's upload cap. 413 when larger, 415
        when it is not a decodable video; nothing is kept then."""
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if not ctype.startswith(UPLOAD_TYPES):
            raise HTTPException(415, f"upload a video as the request body (Content-Type video/* or "
                                     f"application/octet-stream), not {ctype or 'nothing'}")
        display = Path(name.replace("\\", "/")).name or "upload"
        suffix = Path(display).suffix.lower()
        if suffix and suffix not in VIDEO_SUFFIXES:
            raise HTTPException(415, f"{display}: not a video file name ({', '.join(sorted(VIDEO_SUFFIXES))})")
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > settings.max_upload_bytes:
            raise HTTPException(413, f"the upload is {int(declared)} bytes; the limit is {settings.max_upload_bytes}")
        fd, tmp_name = tempfile.mkstemp(prefix=".upload-", dir=uploads)
        tmp = Path(tmp_name)
        try:
            size = 0
            with os.fdopen(fd, "wb") as fh:
                async for chunk in request.stream():
                    size += len(chunk)
                    if size > settings.max_upload_bytes:
                        raise HTTPException(413, f"the upload is over the limit of {settings.max_upload_bytes} bytes")
                    fh.write(chunk)
            if size == 0:
                raise HTTPException(415, "the upload is empty")
            return VideoOut.of(await run_in_threadpool(_keep_upload, store, tmp, uploads, display, suffix))
        finally:
            tmp.unlink(missing_ok=True)

    @app.post("/api/videos/path", status_code=201, tags=["videos"], responses=errors(404, 415))
    def register_path(body: RegisterPath) -> VideoOut:
        """Register a video file under one of the allowed roots (403 outside them, ``..`` or a
        symlink leading out included)."""
        real = confined(body.path, settings.video_roots)
        meta = _probe(real)
        return VideoOut.of(store.add_video(real.name, "path", real, meta))

    @app.get("/api/videos/{video_id}", tags=["videos"], responses=errors(404))
    def get_video(video_id: VideoId) -> VideoOut:
        return VideoOut.of(video_or_404(video_id))

    @app.get("/api/videos/{video_id}/file", tags=["videos"], response_class=FileResponse,
             responses={200: {"content": {"video/*": {}}}, **errors(404)})
    def video_file(video_id: VideoId) -> FileResponse:
        """The video itself (byte ranges supported, for seeking in a player)."""
        video = video_or_404(video_id)
        if not Path(video.path).is_file():
            raise HTTPException(404, f"the file of video {video_id} is gone")
        return FileResponse(video.path, media_type=_media_type(video.path), filename=video.name,
                            content_disposition_type="inline")

    @app.get("/api/videos/{video_id}/frames/{frame_index}", tags=["videos"], response_class=Response,
             responses={200: {"content": {"image/jpeg": {}}}, **errors(404, 415)})
    def video_frame(video_id: VideoId, frame_index: FrameIndex, max_side: MaxSide = None) -> Response:
        """Frame ``frame_index`` as JPEG."""
        video = video_or_404(video_id)
        return _jpeg(readers, video, frame_index, [], max_side)

    # -- runs -------------------------------------------------------------------------------

    @app.post("/api/runs", status_code=202, tags=["runs"], responses=errors(404, 429))
    def ask(body: AskIn) -> RunRecord:
        """Ask a question about a registered video; answers at once with the run's id. Follow it
        with ``/api/runs/{id}/events``; 429 while the server's run slots are all busy."""
        video = video_or_404(body.video_id)
        return runs.submit(video, body.question.strip(), body.options)

    @app.get("/api/runs", tags=["runs"])
    def list_runs(limit: Annotated[int, Query(ge=1, le=500)] = 50) -> list[RunSummary]:
        return [RunSummary.of(r) for r in store.runs(limit)]

    @app.get("/api/runs/{run_id}", tags=["runs"], responses=errors(404))
    def get_run(run_id: RunId) -> RunRecord:
        """The run; once finished, ``answer`` holds the answer, its evidence and the trace."""
        return run_or_404(run_id)

    @app.get("/api/runs/{run_id}/steps", tags=["runs"], responses=errors(404))
    def run_steps(run_id: RunId, after: Annotated[int, Query(ge=0, le=10**9)] = 0) -> list[RunEvent]:
        """The run's events recorded so far (those after sequence number ``after``)."""
        run_or_404(run_id)
        return store.events(run_id, after)

    @app.get("/api/runs/{run_id}/events", tags=["runs"], response_class=StreamingResponse,
             responses={200: {"content": {"text/event-stream": {}}}, **errors(404)})
    async def run_events(request: Request, run_id: RunId,
                         after: Annotated[int, Query(ge=0, le=10**9)] = 0) -> StreamingResponse:
        """Server-sent events: one per step as it happens (``event:`` the type, ``id:`` the
        sequence number, ``data:`` JSON), ending with ``end``. ``Last-Event-ID`` resumes."""
        run_or_404(run_id)
        last = request.headers.get("last-event-id", "")
        start = int(last) if last.isdigit() and len(last) < 10 else after
        return StreamingResponse(_sse(request, store, run_id, start), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

    @app.get("/api/runs/{run_id}/frames/{frame_index}", tags=["runs"], response_class=Response,
             responses={200: {"content": {"image/jpeg": {}}}, **errors(404, 415)})
    def run_frame(run_id: RunId, frame_index: FrameIndex, max_side: MaxSide = None) -> Response:
        """Frame ``frame_index`` as JPEG with the boxes of the run's evidence at that frame."""
        run = run_or_404(run_id)
        video = video_or_404(run.video_id)
        evidence = (run.answer or {}).get("evidence", [])
        boxes = [Box(tuple(e["box"]), e.get("note", "")) for e in evidence
                 if e.get("box") and e.get("frame_index") == frame_index]
        return _jpeg(readers, video, frame_index, boxes, max_side)

    # -- evaluation runs --------------------------------------------------------------------

    @app.get("/api/evals", tags=["evals"])
    def list_evals() -> list[eval_runs.EvalRunSummary]:
        return eval_runs.list_runs(settings.eval_roots)

    @app.get("/api/evals/{name}", tags=["evals"], responses=errors(404, 409))
    def get_eval(name: Annotated[str, PathParam(pattern=EVAL_NAME_PATTERN)]) -> eval_runs.EvalRunSummary:
        return _eval_call(eval_runs.summary, name, settings.eval_roots)

    @app.get("/api/evals/{name}/report", tags=["evals"], response_class=HTMLResponse, responses=errors(404, 409, 503))
    def eval_report(name: Annotated[str, PathParam(pattern=EVAL_NAME_PATTERN)]) -> HTMLResponse:
        """The run's self-contained HTML report (tables and plots)."""
        page = _eval_call(eval_runs.report_html, name, settings.eval_roots)
        return HTMLResponse(page, headers={"Content-Security-Policy": REPORT_CSP})

    # -- the page ---------------------------------------------------------------------------

    static = files("server") / "static"

    @app.get("/", include_in_schema=False)
    def page() -> HTMLResponse:
        return HTMLResponse((static / "index.html").read_text(encoding="utf-8"),
                            headers={"Content-Security-Policy": PAGE_CSP, "Cache-Control": "no-store"})

    @app.get("/static/{name}", include_in_schema=False)
    def static_file(name: Annotated[str, PathParam(pattern=r"^[a-z0-9_-]+\.(js|css|svg)$")]) -> Response:
        resource = static / name
        if not resource.is_file():
            raise HTTPException(404, f"no static file {name}")
        media = {"js": "text/javascript", "css": "text/css", "svg": "image/svg+xml"}[name.rsplit(".", 1)[1]]
        return Response(resource.read_bytes(), media_type=media, headers={"Cache-Control": "no-cache"})

    return app


# -- pieces ------------------------------------------------------------------------------------


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("vidagent")
    except PackageNotFoundError:
        return "0"


def _probe(path: Path):
    """The video's metadata; VideoError (-> 415) when it is not a decodable video."""
    from tools.video import VideoReader

    with VideoReader.open(path) as reader:
        return reader.meta


def _keep_upload(store: Store, tmp: Path, uploads: Path, name: str, suffix: str) -> VideoRecord:
    """Check the uploaded file decodes, then keep it as ``<sha256><suffix>`` (one copy per content)."""
    meta = _probe(tmp)
    existing = store.video_by_sha(meta.sha256, "upload")
    if existing is not None and Path(existing.path).is_file():
        return existing
    final = uploads / f"{meta.sha256}{suffix or '.mp4'}"
    shutil.move(tmp, final)
    return store.add_video(name, "upload", final, meta.model_copy(update={"path": str(final)}))


def _media_type(path: str) -> str:
    suffix = Path(path).suffix.lower()
    return {".mp4": "video/mp4", ".m4v": "video/mp4", ".mov": "video/quicktime", ".webm": "video/webm",
            ".mkv": "video/x-matroska", ".avi": "video/x-msvideo", ".mpg": "video/mpeg", ".mpeg": "video/mpeg",
            ".ogv": "video/ogg"}.get(suffix, "application/octet-stream")


def _jpeg(readers: ReaderPool, video: VideoRecord, index: int, boxes: list[Box], max_side: int | None) -> Response:
    if index >= video.meta.n_frames:
        raise HTTPException(404, f"video {video.id} has {video.meta.n_frames} frames (0-{video.meta.n_frames - 1})")
    frame = readers.get(video.path).frame(index)
    return Response(draw_jpeg(frame.image, boxes, max_side=max_side), media_type="image/jpeg",
                    headers={"Cache-Control": "no-cache"})


def _eval_call(fn, name: str, roots: tuple[Path, ...]):
    try:
        return fn(name, roots)
    except ValueError as exc:  # evals: a run directory without results yet
        raise HTTPException(409, f"evaluation run {name}: {str(exc).splitlines()[0]}") from exc


async def _sse(request: Request, store: Store, run_id: str, after: int) -> AsyncIterator[str]:
    idle = 0.0
    while True:
        events = await run_in_threadpool(store.events, run_id, after)
        for event in events:
            after = event.seq
            payload = json.dumps({"seq": event.seq, "at": event.at, **event.data})
            yield f"id: {event.seq}\nevent: {event.type}\ndata: {payload}\n\n"
            if event.type == END:
                return
        run = await run_in_threadpool(store.run, run_id)
        if run is None or run.state == "interrupted":
            yield f"event: {END}\ndata: {json.dumps({'state': run.state if run else 'gone'})}\n\n"
            return
        if await request.is_disconnected():
            return
        idle = 0.0 if events else idle + EVENT_POLL_S
        if idle >= KEEPALIVE_S:
            idle = 0.0
            yield ": keep-alive\n\n"
        await asyncio.sleep(EVENT_POLL_S)


def _problem(status: int, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(Busy)
    async def busy(request: Request, exc: Busy) -> JSONResponse:
        return _problem(429, str(exc), {"Retry-After": "5"})

    @app.exception_handler(PathNotAllowed)
    async def not_allowed(request: Request, exc: PathNotAllowed) -> JSONResponse:
        return _problem(403, str(exc))

    @app.exception_handler(PathNotFound)
    async def not_found(request: Request, exc: PathNotFound) -> JSONResponse:
        return _problem(404, str(exc))

    @app.exception_handler(VideoError)
    async def bad_video(request: Request, exc: VideoError) -> JSONResponse:
        if isinstance(exc, VideoNotFoundError):
            return _problem(404, f"{Path(exc.path).name}: no such file")
        return _problem(415, f"{'upload' if Path(exc.path).name.startswith('.upload-') else Path(exc.path).name}: "
                             f"{exc.reason}")

    @app.exception_handler(InputError)
    async def bad_input(request: Request, exc: InputError) -> JSONResponse:
        return _problem(400, str(exc))

    @app.exception_handler(MissingExtraError)
    async def missing_extra(request: Request, exc: MissingExtraError) -> JSONResponse:
        return _problem(503, str(exc))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        first = errors[0] if errors else {"loc": (), "msg": "invalid request"}
        where = ".".join(str(x) for x in first.get("loc", ()) if x != "body") or "request"
        return _problem(422, f"{where}: {first.get('msg', 'invalid')}")

    @app.exception_handler(Exception)
    async def internal(request: Request, exc: Exception) -> JSONResponse:
        log.error("internal error on %s %s", request.method, request.url.path, exc_info=exc)
        return _problem(500, f"internal error ({type(exc).__name__}); see the server log")


def _install_guards(app: FastAPI, settings: ServerSettings) -> None:
    """Host check (against DNS rebinding), token check (when a token is set), same-origin
    check for writes, and security headers on every answer."""
    allowed_hosts = set(LOOPBACK_NAMES) | {settings.host.lower()}
    check_host = is_loopback(settings.host)  # elsewhere the token is the guard

    @app.middleware("http")
    async def guard(request: Request, call_next):
        host = urlsplit(f"//{request.headers.get('host', '')}").hostname or ""
        if check_host and host.lower() not in allowed_hosts and f"[{host}]" not in allowed_hosts:
            return _secure(_problem(400, "unexpected Host header (the server answers to its loopback names only)"))
        if settings.token and request.url.path != "/api/health":
            offered = _offered_token(request)
            if request.url.path == "/" and request.method == "GET" and "token" in request.query_params:
                if not _same(request.query_params["token"], settings.token):
                    return _secure(_problem(401, "wrong token", {"WWW-Authenticate": "Bearer"}))
                response = RedirectResponse("/", status_code=303)
                response.set_cookie(TOKEN_COOKIE, settings.token, httponly=True, samesite="strict", path="/")
                return _secure(response)
            if offered is None:
                return _secure(_problem(401, "a token is required: send 'Authorization: Bearer <token>' "
                                             "or open the page as /?token=<token>", {"WWW-Authenticate": "Bearer"}))
            if not _same(offered, settings.token):
                return _secure(_problem(401, "wrong token", {"WWW-Authenticate": "Bearer"}))
        origin = request.headers.get("origin")
        if request.method not in ("GET", "HEAD", "OPTIONS") and origin and urlsplit(origin).netloc != request.headers.get("host"):
            return _secure(_problem(403, "cross-origin writes are refused"))
        return _secure(await call_next(request))


def _offered_token(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return request.cookies.get(TOKEN_COOKIE)


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode("utf-8", "surrogateescape"), b.encode("utf-8", "surrogateescape"))


def _secure(response: Response) -> Response:
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    response.headers.setdefault("X-Frame-Options", "SAMEORIGIN")
    return response
