"""The FastAPI app: settings read once, models loaded once (lifespan), the limits every request is
held to (body size, read time, Host header), security headers, error handlers, and uvicorn.

Settings come from arguments or the environment: ``FUDE_MODELS`` (comma-separated shipped models or
model folders, default ``ja,hiragana,hiragana-seq,kmnist,mnist``), ``FUDE_SAMPLES_DB`` (default
``~/.local/share/fude/samples.sqlite``) and ``FUDE_BIND_HOST`` (the address served on: on loopback,
only requests naming this machine in their Host header are answered, against DNS rebinding).
"""

from __future__ import annotations

import os
import sys
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import h11
from fastapi import FastAPI, HTTPException, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from uvicorn.protocols.http.h11_impl import H11Protocol

from fude.errors import ModelError
from fude.models import SERVED_MODELS
from fude.serve.routes import MAX_BODY_BYTES, router
from fude.strokes import StrokeError

DEFAULT_MODELS = SERVED_MODELS
LOOPBACK = ("127.0.0.1", "localhost", "::1")
READ_TIMEOUT = 10.0  # seconds a client has to send a request's headers and body (slow or half-open clients)
KEEP_ALIVE = 5.0  # seconds an idle connection stays open between requests


def default_db() -> Path:
    """``$FUDE_SAMPLES_DB``, else ``~/.local/share/fude/samples.sqlite``."""
    return Path(os.environ.get("FUDE_SAMPLES_DB", Path.home() / ".local" / "share" / "fude" / "samples.sqlite"))


@dataclass(frozen=True)
class Settings:
    """What the app serves: the models (shipped names or model folders), the sample database, and
    the address it is bound to (None: not known, no Host check)."""

    models: tuple[str, ...]
    db: Path
    host: str | None = None

    @classmethod
    def read(cls, models: str | None = None, db: str | os.PathLike | None = None,
             host: str | None = None) -> "Settings":
        """From the arguments, else the environment, else the defaults (see the module doc).

        Raises:
            ValueError: no model, or two models that would have the same name.
        """
        names = tuple(m.strip() for m in (models or os.environ.get("FUDE_MODELS", DEFAULT_MODELS)).split(",")
                      if m.strip())
        if not names:
            raise ValueError("no model to serve: give --models NAME[,NAME...] (shipped models or run folders)")
        seen: dict[str, str] = {}
        for n in names:
            key = model_key(n)
            if key in seen:
                raise ValueError(f"--models {seen[key]!r} and {n!r} would both be served as {key!r}: "
                                 f"give each model a folder of its own name")
            seen[key] = n
        return cls(names, Path(db) if db else default_db(), host or os.environ.get("FUDE_BIND_HOST") or None)

    @property
    def allowed_hosts(self) -> list[str] | None:
        """Host-header names answered: this machine's names when bound to loopback, else any."""
        return ["127.0.0.1", "localhost", "[::1]", "::1"] if self.host in LOOPBACK else None


def model_key(name_or_dir: str) -> str:
    """The name a model is served under: a shipped model's name, or its folder's name."""
    return Path(str(name_or_dir).rstrip("/\\")).resolve().name if Path(name_or_dir).exists() else Path(name_or_dir).name


def load_served(settings: Settings) -> tuple[dict, object]:
    """The recognizers by served name, each run once on a tiny drawing, and the sample store: what a
    server needs before it answers.

    Raises:
        fude.models.ModelError: a model that is not there or will not load.
        ValueError: a sample database that cannot be created or opened.
    """
    from fude.recognizer import load_model, reading_backend
    from fude.serve.samples import SampleStore

    # one character is a tiny batch: one intra-op thread answers it fastest and leaves the other cores
    # to the event loop and to concurrent requests (onnxruntime's per session, PyTorch's per process)
    models = {model_key(n): load_model(n, backend=reading_backend(n), threads=1) for n in settings.models}
    if "torch" in sys.modules:
        import torch

        torch.set_num_threads(1)
    for rec in models.values():  # the first forward pass sets up its kernels (~0.3 s): not on a user's pen-up
        rec.predict_strokes([[[0.0, 0.0], [8.0, 8.0]], [[8.0, 0.0], [0.0, 8.0]]], k=1)
    try:
        store = SampleStore(settings.db)
    except Exception as e:  # OSError, sqlite3.Error: a folder or file fude cannot write
        raise ValueError(f"cannot open the sample database {settings.db}: {e} (choose another with --db)") from e
    return models, store


def create_app(models: str | None = None, db: str | os.PathLike | None = None, host: str | None = None,
               loaded: tuple[dict, object] | None = None) -> FastAPI:
    """The FastAPI app; ``models``, ``db`` and ``host`` default to the environment (see the module
    doc). ``loaded``: models and store already made by :func:`load_served` (else the app makes them
    at start-up)."""
    settings = Settings.read(models, db, host)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        from fude.serve.batching import Batcher
        from fude.serve.writers import WriterMemories

        app.state.models, app.state.samples = loaded or load_served(settings)  # once, at start-up
        # drawings sent together to one model are read together (fude.serve.batching)
        app.state.batchers = {name: Batcher(rec) for name, rec in app.state.models.items()}
        # each writer's memory, in the samples database (fude.serve.writers)
        app.state.writers = WriterMemories(app.state.samples.path, app.state.models)
        yield
        for batcher in app.state.batchers.values():
            batcher.close()

    app = FastAPI(title="fude", summary="Read handwritten Japanese characters and digits", lifespan=lifespan,
                  docs_url=None, redoc_url=None)  # /docs is fude's own offline page (routes.docs)
    app.exception_handler(StrokeError)(stroke_error)
    app.exception_handler(ModelError)(model_error)
    app.include_router(router)
    app.openapi = lambda: openapi_schema(app)
    app.add_middleware(SameOrigin)
    app.add_middleware(BodyLimit, limit=MAX_BODY_BYTES)  # the last added is the outermost
    if settings.allowed_hosts:
        from starlette.middleware.trustedhost import TrustedHostMiddleware

        app.add_middleware(TrustedHostMiddleware, allowed_hosts=settings.allowed_hosts)
    app.add_middleware(SecurityHeaders)  # on every answer, refusals included
    return app


class BodyLimit:
    """ASGI middleware: a request body over ``limit`` bytes gets a 413, whether it declares its
    length (refused before reading) or comes in chunks (refused as soon as the chunks pass the
    limit: nothing beyond it is held in memory or spooled to disk)."""

    def __init__(self, app, limit: int = MAX_BODY_BYTES) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope["headers"]).get(b"content-length")
        too_large = f"request body over {self.limit // 2**20} MB"
        if length is not None and (not length.isdigit() or int(length) > self.limit):
            return await JSONResponse({"detail": too_large}, status_code=413)(scope, receive, send)
        seen = 0

        async def limited():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:  # answered by FastAPI's handler of HTTPException
                    raise HTTPException(413, too_large)
            return message

        await self.app(scope, limited, send)


class SameOrigin:
    """ASGI middleware: a POST that a browser sends from another site's page gets a 403 before its
    body is read. A form or a multipart upload needs no CORS preflight, so without this any page a
    user visits could send the server images to decode or samples to store. Browsers name the
    sending page in ``Origin`` (https://fetch.spec.whatwg.org/#origin-header); it must be this
    server (the request's ``Host``). Requests without ``Origin`` (curl, scripts, the CLI) pass."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http" and scope["method"] not in ("GET", "HEAD", "OPTIONS"):
            headers = dict(scope["headers"])
            origin, host = headers.get(b"origin"), headers.get(b"host", b"")
            if origin is not None and origin.split(b"://", 1)[-1].rstrip(b"/").lower() != host.lower():
                name = origin.decode("latin-1")[:100]
                return await JSONResponse({"detail": f"cross-site request refused: a page of {name} may not post "
                                                     "to this server"}, status_code=403)(scope, receive, send)
        await self.app(scope, receive, send)


SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    # a page of its own sets a stricter policy (routes.page); this one covers JSON and the rest
    (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'; base-uri 'none'"),
]


class SecurityHeaders:
    """ASGI middleware: every response says not to sniff its type, not to be framed, not to send a
    referrer, and what it may load (unless the route set its own Content-Security-Policy)."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def with_headers(message) -> None:
            if message["type"] == "http.response.start":
                names = {k.lower() for k, _ in message.get("headers", [])}
                message["headers"] = [*message.get("headers", []),
                                      *[(k, v) for k, v in SECURITY_HEADERS if k not in names]]
            await send(message)

        await self.app(scope, receive, with_headers)


async def stroke_error(_request: Request, exc: StrokeError) -> JSONResponse:
    """Strokes that pass the schema but not fude's checks (a NaN, too many points, ...): a 422."""
    return JSONResponse({"detail": str(exc)}, status_code=422)


def openapi_schema(app: FastAPI) -> dict:
    """FastAPI's schema, with the request bodies that the routes read themselves (they are told apart
    by Content-Type) in ``components`` so that every ``$ref`` resolves."""
    if app.openapi_schema is None:
        from fude.serve.schemas import Error, LineRequest, SampleRequest, StrokesRequest

        schema = get_openapi(title=app.title, version=app.version, summary=app.summary, routes=app.routes)
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        for model in (StrokesRequest, LineRequest, SampleRequest, Error):
            body = model.model_json_schema(ref_template="#/components/schemas/{model}")
            components.update(body.pop("$defs", {}))
            components[model.__name__] = body
        app.openapi_schema = schema
    return app.openapi_schema


async def model_error(request, exc: ModelError):
    """A model that cannot read (damaged weights answering NaN): a 500 that says so, not ``nan%``."""
    return JSONResponse({"detail": f"the server's model cannot read: {exc}"}, status_code=500)


def app_from_env() -> FastAPI:
    """The app with its settings from the environment (``FUDE_MODELS``, ``FUDE_SAMPLES_DB``,
    ``FUDE_BIND_HOST``): the factory each uvicorn worker process calls. A worker ends with the
    server that started it (:func:`end_with_parent`): killed with SIGKILL, uvicorn's supervisor
    cannot stop its workers, which went on serving the port."""
    end_with_parent()
    return create_app()


def end_with_parent() -> None:
    """Ask Linux to send this process SIGTERM when its parent dies (``prctl(PR_SET_PDEATHSIG)``), and
    end at once if the parent is already gone; elsewhere, nothing."""
    import ctypes
    import ctypes.util
    import signal

    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(1, int(signal.SIGTERM), 0, 0, 0)  # 1: PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() == 1:  # the parent died before the request was made
        os.kill(os.getpid(), signal.SIGTERM)


def run(host: str = "127.0.0.1", port: int = 8000, models: str | None = None, db: str | None = None,
        workers: int = 1, read_timeout: float = READ_TIMEOUT) -> None:
    """Serve with uvicorn in ``workers`` processes (each loads the models; they share the sample
    database, which SQLite's WAL mode lets several processes write); says so loudly when bound
    beyond this machine. The models and the database are checked before the server starts, so a
    broken configuration ends in one clear error. A client gets ``read_timeout`` seconds to send
    each request (headers and body).

    Raises:
        ValueError: ``workers`` below 1, a bad timeout, a name collision or a database fude cannot open.
        fude.models.ModelError: a model that is not there or will not load.
    """
    import uvicorn

    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    if not read_timeout > 0:
        raise ValueError(f"the read timeout must be positive seconds, got {read_timeout}")
    settings = Settings.read(models, db, host)
    loaded = load_served(settings)  # fails here, in one line, rather than inside uvicorn's start-up
    if host not in LOOPBACK:
        print(f"warning: binding to {host}: anyone who can reach this machine can use the page and add samples")
    os.environ["FUDE_READ_TIMEOUT"] = str(read_timeout)  # read by TimedH11Protocol, in every worker
    options = dict(host=host, port=port, log_level="info", http=TimedH11Protocol, timeout_keep_alive=KEEP_ALIVE)
    if workers == 1:
        uvicorn.run(create_app(models, db, host, loaded), **options)
        return
    os.environ["FUDE_MODELS"] = ",".join(settings.models)  # the worker processes read their settings here
    os.environ["FUDE_SAMPLES_DB"] = str(settings.db)
    os.environ["FUDE_BIND_HOST"] = host
    uvicorn.run("fude.serve:app_from_env", factory=True, workers=workers, **options)


class TimedH11Protocol(H11Protocol):
    """uvicorn's HTTP/1.1 protocol (h11) with a deadline for reading each request: a connection that
    has not sent a whole request ``$FUDE_READ_TIMEOUT`` seconds (default :data:`READ_TIMEOUT`) after it
    opened or began one is closed. uvicorn itself waits forever for headers and body; idle
    keep-alive connections it closes after ``timeout_keep_alive``. A class of this module, not of a
    function, so that uvicorn's worker processes can import it."""

    _deadline = None

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        if self._deadline is None and self.conn.their_state in (h11.IDLE, h11.SEND_BODY):
            self._arm()  # a new request begins on a kept-alive connection
        super().data_received(data)
        if self.conn.their_state not in (h11.IDLE, h11.SEND_BODY):
            self._disarm()  # the whole request is in

    def connection_lost(self, exc) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(float(os.environ.get("FUDE_READ_TIMEOUT", READ_TIMEOUT)), self._expire)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expire(self) -> None:
        self._deadline = None
        if not self.transport.is_closing():
            self.transport.close()
