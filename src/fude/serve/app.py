"""The FastAPI app: settings read once, models loaded once (lifespan), the body-size limit, the
error handlers, and uvicorn.

Settings come from arguments or the environment: ``FUDE_MODELS`` (comma-separated shipped models or
model folders, default ``hiragana,hiragana-seq,kmnist,mnist``) and ``FUDE_SAMPLES_DB`` (default
``~/.local/share/fude/samples.sqlite``).
"""

from __future__ import annotations

import os
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from fude.serve.routes import MAX_BODY_BYTES, router
from fude.strokes import StrokeError

DEFAULT_MODELS = "hiragana,hiragana-seq,kmnist,mnist"


def default_db() -> Path:
    """``$FUDE_SAMPLES_DB``, else ``~/.local/share/fude/samples.sqlite``."""
    return Path(os.environ.get("FUDE_SAMPLES_DB", Path.home() / ".local" / "share" / "fude" / "samples.sqlite"))


@dataclass(frozen=True)
class Settings:
    """What the app serves: the models (shipped names or model folders) and the sample database."""

    models: tuple[str, ...]
    db: Path

    @classmethod
    def read(cls, models: str | None = None, db: str | os.PathLike | None = None) -> "Settings":
        """From the arguments, else the environment, else the defaults (see the module doc)."""
        names = (models or os.environ.get("FUDE_MODELS", DEFAULT_MODELS)).split(",")
        return cls(tuple(m.strip() for m in names if m.strip()), Path(db) if db else default_db())


def create_app(models: str | None = None, db: str | os.PathLike | None = None) -> FastAPI:
    """The FastAPI app; ``models`` and ``db`` default to the environment (see the module doc)."""
    settings = Settings.read(models, db)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        import torch

        from fude.recognizer import load_model
        from fude.serve.samples import SampleStore

        # one character is a tiny batch: one intra-op thread answers it fastest and leaves the other
        # cores to the event loop and to concurrent requests
        torch.set_num_threads(1)
        app.state.models = {Path(n).name: load_model(n) for n in settings.models}  # once, at start-up
        app.state.samples = SampleStore(settings.db)
        yield

    app = FastAPI(title="fude", summary="Read handwritten Japanese characters and digits", lifespan=lifespan)
    app.middleware("http")(limit_body)
    app.exception_handler(StrokeError)(stroke_error)
    app.include_router(router)
    return app


async def limit_body(request: Request, call_next):
    """Refuse a declared body over the cap before reading it (413)."""
    size = request.headers.get("content-length")
    if size is not None and (not size.isdigit() or int(size) > MAX_BODY_BYTES):
        return JSONResponse({"detail": f"request body over {MAX_BODY_BYTES // 2**20} MB"}, status_code=413)
    return await call_next(request)


async def stroke_error(_request: Request, exc: StrokeError) -> JSONResponse:
    """Strokes that pass the schema but not fude's checks (a NaN, too many points, ...): a 422."""
    return JSONResponse({"detail": str(exc)}, status_code=422)


def app_from_env() -> FastAPI:
    """The app with its settings from the environment (``FUDE_MODELS``, ``FUDE_SAMPLES_DB``): the
    factory each uvicorn worker process calls."""
    return create_app()


def run(host: str = "127.0.0.1", port: int = 8000, models: str | None = None, db: str | None = None,
        workers: int = 1) -> None:
    """Serve with uvicorn in ``workers`` processes (each loads the models; they share the sample
    database, which SQLite's WAL mode lets several processes write); says so loudly when bound
    beyond this machine.

    Raises:
        ValueError: ``workers`` below 1.
    """
    import uvicorn

    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    if host not in ("127.0.0.1", "localhost", "::1"):
        print(f"warning: binding to {host}: anyone who can reach this machine can use the page and add samples")
    if workers == 1:
        uvicorn.run(create_app(models, db), host=host, port=port, log_level="info")
        return
    if models:  # the worker processes read their settings from the environment
        os.environ["FUDE_MODELS"] = models
    if db:
        os.environ["FUDE_SAMPLES_DB"] = str(db)
    uvicorn.run("fude.serve:app_from_env", factory=True, host=host, port=port, workers=workers, log_level="info")
