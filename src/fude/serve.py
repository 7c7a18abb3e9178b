"""``fude serve``: a page where a person draws a character and sees the top guesses live, an HTTP API
(FastAPI; its OpenAPI schema is at ``/docs``), and collection of confirmed drawings into SQLite.

Settings come from flags or the environment: ``FUDE_MODELS`` (comma-separated shipped models or run
folders, default ``hiragana,hiragana-seq,kmnist,mnist``) and ``FUDE_SAMPLES_DB`` (default
``~/.local/share/fude/samples.sqlite``). Models load once, when the app starts (lifespan).
"""

from __future__ import annotations

import io
import os
import time
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path

from fastapi import FastAPI, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from fude.classmap import romaji
from fude.strokes import MAX_STROKES, StrokeError, from_json_dict

MAX_BODY_BYTES = 5 * 1024 * 1024  # the largest request accepted (an uploaded image), bytes
MAX_IMAGE_SIDE = 4096  # pixels
DEFAULT_MODELS = "hiragana,hiragana-seq,kmnist,mnist"


def default_db() -> Path:
    return Path(os.environ.get("FUDE_SAMPLES_DB", Path.home() / ".local" / "share" / "fude" / "samples.sqlite"))


class Canvas(BaseModel):
    model_config = ConfigDict(allow_inf_nan=False, extra="forbid")
    width: float = Field(gt=0, le=100_000)
    height: float = Field(gt=0, le=100_000)
    y_up: bool = False


class StrokesRequest(BaseModel):
    """A drawing as strokes (fude's stroke JSON) and the model to read it with."""

    model_config = ConfigDict(allow_inf_nan=False)
    strokes: list[list[list[float]]] = Field(description="strokes, each [[x, y], ...] in drawing order, y down",
                                             max_length=MAX_STROKES)
    canvas: Canvas | None = None
    model: str = "hiragana"


class SampleRequest(StrokesRequest):
    """A drawing the person confirmed, with its label."""

    label: str = Field(min_length=1, max_length=8, description="the character that was drawn")
    guess: str | None = Field(default=None, max_length=8, description="the model's top-1 guess")
    client_id: str | None = Field(default=None, max_length=64, description="an opaque id of the browser")


def _with_romaji(top: list[dict]) -> list[dict]:
    return [{**g, "romaji": romaji(g["char"])} for g in top]


def create_app(models: str | None = None, db: str | os.PathLike | None = None) -> FastAPI:
    """The FastAPI app; ``models`` and ``db`` default to the environment (see the module doc)."""
    from fude.models import load_model
    from fude.samples import SampleStore

    names = [m.strip() for m in (models or os.environ.get("FUDE_MODELS", DEFAULT_MODELS)).split(",") if m.strip()]

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        import torch

        # one character is a tiny batch: one intra-op thread answers it fastest and leaves the other
        # cores to the event loop and to concurrent requests
        torch.set_num_threads(1)
        app.state.models = {Path(n).name: load_model(n) for n in names}  # once, at start-up
        app.state.samples = SampleStore(db or default_db())
        yield

    app = FastAPI(title="fude", summary="Read handwritten Japanese characters and digits", lifespan=lifespan)

    @app.middleware("http")
    async def limit_body(request: Request, call_next):
        size = request.headers.get("content-length")
        if size is not None and (not size.isdigit() or int(size) > MAX_BODY_BYTES):
            return JSONResponse({"detail": f"request body over {MAX_BODY_BYTES // 2**20} MB"}, status_code=413)
        return await call_next(request)

    @app.exception_handler(StrokeError)
    async def stroke_error(_request, exc: StrokeError):
        return JSONResponse({"detail": str(exc)}, status_code=422)

    def model_named(name: str):
        if name not in app.state.models:
            raise HTTPException(404, f"unknown model {name!r}; this server has {', '.join(app.state.models)}")
        return app.state.models[name]

    async def body_json(request: Request, schema):
        raw = await request.body()
        if len(raw) > MAX_BODY_BYTES:
            raise HTTPException(413, f"request body over {MAX_BODY_BYTES // 2**20} MB")
        try:
            return schema.model_validate_json(raw)
        except ValidationError as e:
            first = e.errors()[0]
            where = ".".join(str(p) for p in first.get("loc", ()))
            kind = "malformed JSON" if first.get("type") == "json_invalid" else "invalid request"
            raise HTTPException(422 if kind == "invalid request" else 400,
                                f"{kind}: {where + ': ' if where else ''}{first.get('msg')}") from None

    @app.get("/health")
    def health() -> dict:
        return {"status": "ok", "models": list(app.state.models)}

    @app.get("/api/models")
    def list_models() -> dict:
        return {"models": [{"name": n, "classes": len(r.class_map), "chars": "".join(r.class_map.chars)}
                           for n, r in app.state.models.items()]}

    predict_body = {"requestBody": {"required": True, "content": {
        "application/json": {"schema": StrokesRequest.model_json_schema()},
        "multipart/form-data": {"schema": {"type": "object", "required": ["file"], "properties": {
            "file": {"type": "string", "format": "binary", "description": "PNG or JPEG, at most 5 MB and 4096 px"},
            "model": {"type": "string", "default": "kmnist"}}}}}}}

    @app.post("/api/predict", openapi_extra=predict_body)
    async def predict(request: Request) -> dict:
        """Top-5 guesses for a drawing (JSON strokes) or an uploaded image (multipart ``file``)."""
        t0 = time.perf_counter()
        kind = request.headers.get("content-type", "")
        if kind.startswith("multipart/form-data"):
            name, top = await _predict_image(request)
        elif kind.startswith("application/json"):
            req = await body_json(request, StrokesRequest)
            rec = model_named(req.model)
            char = _drawing(req)
            # off the event loop: other requests are read and answered while this one is computed
            top = await run_in_threadpool(rec.predict_strokes, char.strokes, k=5, canvas=char.canvas)
            name = req.model
        else:
            raise HTTPException(415, "send JSON strokes (application/json) or an image (multipart/form-data, field 'file')")
        return {"model": name, "top": _with_romaji(top), "elapsed_ms": (time.perf_counter() - t0) * 1000}

    async def _predict_image(request: Request):
        from fude.preprocess import ImageError, load_image, to_dataset_image

        try:
            form = await request.form(max_files=1, max_fields=4)
        except Exception as e:  # the multipart parser's own errors: a malformed body is the client's
            raise HTTPException(400, f"malformed multipart body ({e})") from None
        upload, name = form.get("file"), str(form.get("model") or "kmnist")
        rec = model_named(name)
        if upload is None or isinstance(upload, str):
            raise HTTPException(422, "multipart body needs a 'file' field holding the image")
        data = await upload.read()
        if len(data) > MAX_BODY_BYTES:
            raise HTTPException(413, f"image over {MAX_BODY_BYTES // 2**20} MB")
        try:
            from PIL import Image

            with Image.open(io.BytesIO(data)) as probe:  # header only: refuse before decoding
                if max(probe.size) > MAX_IMAGE_SIDE:
                    raise HTTPException(413, f"image of {probe.size[0]}x{probe.size[1]} px; at most "
                                             f"{MAX_IMAGE_SIDE} px a side")
        except HTTPException:
            raise
        except Exception:
            pass  # not an image: load_image below says so in its words
        def read(data: bytes) -> list[dict]:
            return rec.predict(to_dataset_image(load_image(data), box=rec.box)[None], k=5)[0]

        try:
            return name, await run_in_threadpool(read, data)
        except ImageError as e:
            raise HTTPException(400, str(e).replace("<bytes>: ", "")) from None

    def _drawing(req: StrokesRequest):
        """The request as a Character: shapes, finite values and limits checked, y_up canvases flipped."""
        return from_json_dict(req.model_dump(include={"strokes", "canvas"}), "request")

    @app.post("/api/samples", status_code=201)
    async def add_sample(request: Request) -> dict:
        """Save a drawing the person confirmed (one SQLite transaction)."""
        req = await body_json(request, SampleRequest)
        char = _drawing(req)
        sample_id = app.state.samples.add(char.strokes, req.label, char.canvas or None, req.guess, req.model,
                                          req.client_id)
        return {"id": sample_id}

    @app.get("/api/samples/stats")
    def sample_stats() -> dict:
        return app.state.samples.stats()

    @app.get("/", response_class=HTMLResponse)
    def page() -> str:
        return resources.files("fude.resources").joinpath("draw.html").read_text("utf-8")

    @app.get("/fonts/ipaexg.ttf", include_in_schema=False)
    def japanese_font() -> FileResponse:
        """IPAexGothic (IPA Font License) from the matplotlib-fontja package, for browsers without a
        Japanese font: the page falls back to it, so the glyphs render offline."""
        import matplotlib_fontja

        font = Path(matplotlib_fontja.__file__).parent / "fonts" / "ipaexg.ttf"
        return FileResponse(font, media_type="font/ttf", headers={"Cache-Control": "public, max-age=604800"})

    return app


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

