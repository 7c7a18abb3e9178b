"""The HTTP routes: thin handlers over the app's models (``app.state.models``) and sample store
(``app.state.samples``), both made once at start-up (:func:`fude.serve.app.create_app`)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from importlib import resources
from pathlib import Path

from fastapi import APIRouter, HTTPException, Request
from fastapi import Path as Path_
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from pydantic import ValidationError
from starlette.requests import ClientDisconnect

from fude.models.store import DEFAULT_IMAGE_MODEL
from fude.recognizer.line import LineAbandoned
from fude.scripts import kanji_info, romaji
from fude.serve.samples import StoreFull
from fude.serve.schemas import ERRORS, TOKEN, LineRequest, SampleRequest, StrokesRequest, body_problem
from fude.strokes import MAX_LINE_POINTS, MAX_LINE_STROKES, MAX_POINTS, Character, StrokeError, from_json_dict

MAX_BODY_BYTES = 5 * 1024 * 1024  # the largest request accepted (an uploaded image), bytes
# a body up to this size is parsed and checked on the event loop (tens of microseconds: a thread's
# hand-off would cost more); a larger one, up to MAX_BODY_BYTES, on a worker thread, so that it
# never holds up the other requests
INLINE_BODY_BYTES = 64 * 1024
MAX_IMAGE_SIDE = 4096  # pixels
# Images are decoded by two threads of their own: a 4096x4096 16-bit scan costs ~130 MB at its
# peak, so the server's memory stays bounded however many are sent together (the others wait their
# turn), and what they free is given back to the system (glibc keeps freed memory per thread:
# decoded in the 40 threads of the request pool, eight scans held ~1 GB after they were answered)
IMAGE_READERS = ThreadPoolExecutor(2, thread_name_prefix="fude-image")
# Lines are read by two threads of their own, and at most LINE_QUEUE lines are read or wait at once
# (per server process); past that a client gets 503 with Retry-After, so costly lines can neither
# take the pool that answers drawings and /health nor pile up work for after their clients left
LINE_READERS = ThreadPoolExecutor(2, thread_name_prefix="fude-line")
LINE_QUEUE = 8
_lines = {"in_flight": 0}


@lru_cache(maxsize=1)
def _malloc_trim():
    """glibc's ``malloc_trim`` (https://man7.org/linux/man-pages/man3/malloc_trim.3.html), or None
    on another C library."""
    import ctypes

    try:
        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None


def give_back_memory() -> None:
    """Return the memory freed by a large decode to the system (glibc only; elsewhere nothing)."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)

router = APIRouter()


def model_named(request: Request, name: str):
    """The loaded :class:`~fude.recognizer.Recognizer` called ``name`` (a 404 if there is none:
    names are looked up among the loaded models, never as paths)."""
    models = request.app.state.models
    if name not in models:
        raise HTTPException(404, f"unknown model {name!r}; this server has {', '.join(models)}")
    return models[name]


def media_type(request: Request) -> str:
    """The request's Content-Type without its parameters, lower case (``application/json``)."""
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


def require_json(request: Request) -> None:
    """A 415 unless the body is declared JSON: a cross-site form cannot send ``application/json``
    without the browser asking this server first (CORS), so writes take nothing else."""
    if media_type(request) != "application/json":
        raise HTTPException(415, "send the body as JSON (Content-Type: application/json)")


async def body_json(request: Request, schema, max_points: int = MAX_POINTS):
    """The request body validated as ``schema`` (off the event loop when large): a 413 over the size cap or
    with more than ``max_points`` points (counted before parsing, so a body of a million points
    costs milliseconds, not seconds), a 400 for malformed JSON, a 422 for JSON of the wrong shape,
    each naming the first problem."""
    try:
        raw = await request.body()
    except ClientDisconnect:  # the read deadline closed the connection, or the client left: no one to answer
        raise HTTPException(400, "the request body never arrived") from None
    if len(raw) > MAX_BODY_BYTES:
        raise HTTPException(413, f"request body over {MAX_BODY_BYTES // 2**20} MB")
    request.state.large_body = len(raw) > INLINE_BODY_BYTES
    # every point opens a bracket, so more brackets than points, strokes and the list itself allow
    # is a drawing over the limit, whatever else the body holds
    if raw.count(b"[") > max_points + MAX_LINE_STROKES + 1:
        raise HTTPException(413, f"a drawing of more than {max_points:,} points")
    problem = body_problem(raw)
    if problem:
        raise HTTPException(*problem)
    try:
        return await off_loop_if_large(request, schema.model_validate_json, raw)
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        kind = "malformed JSON" if first.get("type") == "json_invalid" else "invalid request"
        raise HTTPException(422 if kind == "invalid request" else 400,
                            f"{kind}: {where + ': ' if where else ''}{first.get('msg')}") from None


async def off_loop_if_large(request: Request, fn, *args):
    """``fn(*args)``, on a worker thread when the body :func:`body_json` read was large (over
    ``INLINE_BODY_BYTES``), else right here on the event loop."""
    return await run_in_threadpool(fn, *args) if request.state.large_body else fn(*args)


def drawing(req: StrokesRequest) -> Character:
    """The request as a Character: shapes, finite values and limits checked, y_up canvases flipped."""
    return from_json_dict(req.model_dump(include={"strokes", "canvas"}), "request")


def with_romaji(top: list[dict]) -> list[dict]:
    """Each guess with its romaji (kana; else null) and, for a kanji, its main readings and English
    meanings from KANJIDIC2 (``"kanji": {"on", "kun", "meaning"}``; else null)."""
    return [{**g, "romaji": romaji(g["char"]), "kanji": kanji_info(g["char"])} for g in top]


@router.get("/health")
def health(request: Request) -> dict:
    """The server is up: its models, and per model the drawings read so far and the batches they
    were read in (``fude.serve.batching``)."""
    batchers = getattr(request.app.state, "batchers", {})
    return {"status": "ok", "models": list(request.app.state.models),
            "batches": {name: {"drawings": b.drawings, "batches": b.batches, "alone": b.costly}
                        for name, b in batchers.items()}}


@router.get("/api/models")
def list_models(request: Request) -> dict:
    return {"models": [{"name": n, "classes": len(r.class_map), "chars": "".join(r.class_map.chars)}
                       for n, r in request.app.state.models.items()]}


PREDICT_BODY = {"requestBody": {"required": True, "content": {
    "application/json": {"schema": {"$ref": "#/components/schemas/StrokesRequest"}},
    "multipart/form-data": {"schema": {"type": "object", "required": ["file"], "properties": {
        "file": {"type": "string", "format": "binary", "description": "PNG or JPEG, at most 5 MB and 4096 px"},
        "model": {"type": "string", "default": DEFAULT_IMAGE_MODEL, "maxLength": 64}}}}}}}
SAMPLE_BODY = {"requestBody": {"required": True, "content": {
    "application/json": {"schema": {"$ref": "#/components/schemas/SampleRequest"}}}}}
LINE_BODY = {"requestBody": {"required": True, "content": {
    "application/json": {"schema": {"$ref": "#/components/schemas/LineRequest"}}}}}


# One path for both kinds of input, told apart by Content-Type: FastAPI's typed bodies bind one
# media type per route, and the page and API clients already post both to /api/predict.
@router.post("/api/predict", openapi_extra=PREDICT_BODY, responses=ERRORS)
async def predict(request: Request) -> dict:
    """Top-5 guesses for a drawing (JSON strokes) or an uploaded image (multipart ``file``)."""
    t0 = time.perf_counter()
    kind = media_type(request)
    if kind == "multipart/form-data":
        name, top = await predict_image(request)
    elif kind == "application/json":
        req = await body_json(request, StrokesRequest)
        char = await off_loop_if_large(request, drawing, req)  # checked first: its errors do not depend on the models
        model_named(request, req.model)  # a 404 for a model this server does not have
        hand = await writer_memory(request, req.writer, req.model)
        # read with the drawings that other clients sent at the same time, off the event loop; a writer
        # with a memory is read with it
        try:
            if hand is not None:
                top = await run_in_threadpool(hand.predict_strokes, char.strokes, k=req.k, canvas=char.canvas,
                                              script=req.script, chars=req.chars)
            else:
                top = await request.app.state.batchers[req.model].predict_strokes(
                    char.strokes, k=req.k, canvas=char.canvas, script=req.script, chars=req.chars)
        except StrokeError:
            raise  # the app's stroke-error handler answers it
        except ValueError as e:  # a script or chars filter that leaves none of the model's characters
            raise HTTPException(422, f"invalid request: {e}") from None
        name = req.model
    else:
        raise HTTPException(415, "send JSON strokes (application/json) or an image (multipart/form-data, field 'file')")
    return {"model": name, "top": with_romaji(top), "elapsed_ms": (time.perf_counter() - t0) * 1000}


@router.post("/api/predict-line", openapi_extra=LINE_BODY, responses=ERRORS)
async def predict_line(request: Request) -> dict:
    """A word written left to right as one drawing: its best reading and, per character, the strokes
    it was read from and its top 5 (``fude.recognizer.line``)."""
    t0 = time.perf_counter()
    require_json(request)
    req = await body_json(request, LineRequest, MAX_LINE_POINTS)
    strokes = (await off_loop_if_large(request, from_json_dict, req.model_dump(include={"strokes"}), "request",
                                       MAX_LINE_STROKES, MAX_LINE_POINTS)).strokes
    rec = model_named(request, req.model)
    if _lines["in_flight"] >= LINE_QUEUE:
        raise HTTPException(503, f"the server is reading {LINE_QUEUE} lines already; send this one again in a moment",
                            headers={"Retry-After": "1"})
    _lines["in_flight"] += 1
    gone = threading.Event()  # set when the client leaves: the reading stops at its next chunk

    async def watch() -> None:
        while not gone.is_set():
            if await request.is_disconnected():
                gone.set()
            await asyncio.sleep(0.1)

    watcher = asyncio.get_running_loop().create_task(watch())
    try:
        reader = await writer_memory(request, req.writer, req.model) or rec
        line = await asyncio.get_running_loop().run_in_executor(
            LINE_READERS, lambda: reader.predict_line(strokes, k=5, script=req.script, chars=req.chars,
                                                      abandoned=gone.is_set))
    except LineAbandoned:
        raise HTTPException(499, "the client left before its line was read") from None
    except StrokeError:
        raise
    except ValueError as e:
        raise HTTPException(422, f"invalid request: {e}") from None
    finally:
        _lines["in_flight"] -= 1
        gone.set()
        watcher.cancel()
    return {"model": req.model, "text": line["text"],
            "characters": [{"strokes": c["strokes"], "top": with_romaji(c["top"])} for c in line["characters"]],
            "elapsed_ms": (time.perf_counter() - t0) * 1000}


async def predict_image(request: Request) -> tuple[str, list[dict]]:
    """The multipart branch of :func:`predict`: the model's name and its top-5 for the image."""
    from PIL import Image

    from fude.datasets.preprocess import ImageError, load_image, read_picture

    try:
        form = await request.form(max_files=1, max_fields=4)
    except HTTPException:
        raise  # the body limit's 413
    except ClientDisconnect:
        raise HTTPException(400, "the request body never arrived") from None
    except Exception as e:  # the multipart parser's own errors: a malformed body is the client's
        raise HTTPException(400, f"malformed multipart body ({e})") from None
    upload, name = form.get("file"), str(form.get("model") or DEFAULT_IMAGE_MODEL)
    rec = model_named(request, name)
    if upload is None or isinstance(upload, str):
        raise HTTPException(422, "multipart body needs a 'file' field holding the image")
    if rec.input_spec.kind != "image":
        raise HTTPException(422, f"model {name!r} reads strokes, not images: send the drawing as JSON strokes")
    data = await upload.read()
    if len(data) > MAX_BODY_BYTES:
        raise HTTPException(413, f"image over {MAX_BODY_BYTES // 2**20} MB")
    try:
        with Image.open(io.BytesIO(data)) as probe:  # header only: refuse before decoding
            if max(probe.size) > MAX_IMAGE_SIDE:
                raise HTTPException(413, f"image of {probe.size[0]}x{probe.size[1]} px; at most "
                                         f"{MAX_IMAGE_SIDE} px a side")
    except HTTPException:
        raise
    except Exception:
        pass  # not an image: load_image below says so in its words

    def decode(data: bytes):  # -> uint8 (frame, frame), the share of the picture its ink spans
        try:
            return read_picture(load_image(data), box=rec.box, frame=rec.input_size, pen=rec.settings.picture_pen)
        finally:
            give_back_memory()

    try:
        image, share = await asyncio.get_running_loop().run_in_executor(IMAGE_READERS, decode, data)
        return name, await run_in_threadpool(lambda: rec.predict(image[None], k=5, ink_share=[share])[0])
    except ImageError as e:
        raise HTTPException(400, str(e).replace("<bytes>: ", "")) from None


@router.post("/api/samples", status_code=201, openapi_extra=SAMPLE_BODY,
             responses={200: {"description": "a retried sample (same request_id): the first one's id"}, **ERRORS})
async def add_sample(request: Request):
    """Save a drawing the person confirmed (one SQLite transaction). With a ``request_id`` a retry
    stores nothing new and answers 200 with the first one's id."""
    require_json(request)
    req = await body_json(request, SampleRequest)
    if req.model and req.model not in request.app.state.models:
        raise HTTPException(422, f"invalid request: model: {req.model!r} is not a model of this server "
                                 f"({', '.join(request.app.state.models)}); leave it empty if none guessed")
    char = await off_loop_if_large(request, drawing, req)
    who = req.client_id or (request.client.host if request.client else "")
    if not sample_rate.allow(who):
        raise HTTPException(429, f"more than {SAMPLES_PER_MINUTE} samples a minute from one client; a person "
                                 "confirms a few: wait a moment", headers={"Retry-After": "10"})
    try:
        sample_id, new = request.app.state.samples.add(char.strokes, req.label, char.canvas or None, req.guess,
                                                       req.model or None, req.client_id, req.request_id)
    except StoreFull as e:
        raise HTTPException(507, f"{e}; the samples already saved are kept") from None
    if new and req.model and req.client_id and len(req.client_id) >= 8:  # the writer's memory learns it
        await run_in_threadpool(request.app.state.writers.learn, req.client_id, req.model, char.strokes, req.label)
    return JSONResponse({"id": sample_id, **({} if new else {"duplicate": True})}, status_code=201 if new else 200)


SAMPLES_PER_MINUTE = 120  # confirmed samples one client (its id, else its address) may save a minute


class RateLimit:
    """At most ``per_minute`` events a minute per key (a sliding window of the last minute's times),
    for at most 10,000 keys at once (the quietest forgotten first)."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute, self.seen = per_minute, {}

    def allow(self, key: str, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        times = [t for t in self.seen.pop(key, []) if now - t < 60.0]
        ok = len(times) < self.per_minute
        self.seen[key] = times + [now] if ok else times
        if len(self.seen) > 10_000:
            del self.seen[next(iter(self.seen))]
        return ok


sample_rate = RateLimit(SAMPLES_PER_MINUTE)


async def writer_memory(request: Request, writer: str | None, model: str):
    """``writer``'s memory for ``model`` when they have one that holds drawings, else None."""
    if not writer:
        return None
    hand = await run_in_threadpool(request.app.state.writers.memory, writer, model)
    return hand if len(hand) else None


WRITER_ID = Path_(min_length=8, max_length=64, pattern=TOKEN, description="the page's own random id")


@router.get("/api/writers/{writer}", responses=ERRORS)
def writer_stats(request: Request, writer: str = WRITER_ID) -> dict:
    """How many confirmed drawings ``writer``'s memory holds, per model."""
    return {"writer": writer, "drawings": request.app.state.writers.count(writer)}


@router.delete("/api/writers/{writer}", responses=ERRORS)
def forget_writer(request: Request, writer: str = WRITER_ID) -> dict:
    """Forget ``writer``'s memory (every model); their samples stay, no longer linked to them."""
    return {"writer": writer, "forgotten": request.app.state.writers.forget(writer)}


@router.get("/api/samples/stats")
def sample_stats(request: Request) -> dict:
    return request.app.state.samples.stats()


@lru_cache(maxsize=4)
def html_page(name: str) -> tuple[str, str]:
    """A packaged page and its Content-Security-Policy: its own inline script and style (by their
    sha256), fude's font, and requests to this server only."""
    text = resources.files("fude.resources").joinpath(name).read_text("utf-8")

    def hashes(tag: str) -> str:
        return " ".join(f"'sha256-{base64.b64encode(hashlib.sha256(m.encode()).digest()).decode()}'"
                        for m in re.findall(rf"<{tag}>(.*?)</{tag}>", text, re.S))

    policy = (f"default-src 'none'; script-src {hashes('script')}; style-src {hashes('style')}; "
              "font-src 'self'; connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'; "
              "base-uri 'none'; form-action 'self'")
    return text, policy


@router.get("/", response_class=HTMLResponse)
def page() -> HTMLResponse:
    text, policy = html_page("draw.html")
    return HTMLResponse(text, headers={"Content-Security-Policy": policy})


@router.get("/favicon.svg", include_in_schema=False)
@router.get("/favicon.ico", include_in_schema=False)
def favicon() -> FileResponse:
    """The page's icon (a brush), as SVG: browsers that ask for /favicon.ico get it too."""
    return FileResponse(Path(str(resources.files("fude.resources").joinpath("favicon.svg"))), media_type="image/svg+xml",
                        headers={"Cache-Control": "public, max-age=604800"})


@router.get("/docs", response_class=HTMLResponse, include_in_schema=False)
def docs() -> HTMLResponse:
    """The API's reference, drawn from ``/openapi.json`` by the page itself: no CDN, works offline."""
    text, policy = html_page("docs.html")
    return HTMLResponse(text, headers={"Content-Security-Policy": policy})


@router.get("/fonts/ipaexg.ttf", include_in_schema=False)
def japanese_font() -> FileResponse:
    """IPAexGothic (IPA Font License) from the matplotlib-fontja package, for browsers without a
    Japanese font: the page falls back to it, so the glyphs render offline. Found without importing
    the package (which imports matplotlib); 404 on the core install, which leaves it out (the page
    then uses the browser's own Japanese font)."""
    import importlib.util

    spec = importlib.util.find_spec("matplotlib_fontja")
    font = Path(spec.origin).parent / "fonts" / "ipaexg.ttf" if spec is not None and spec.origin else None
    if font is None or not font.is_file():
        raise HTTPException(404, 'IPAexGothic is not installed (pip install "fude[train]" adds matplotlib-fontja)')
    return FileResponse(font, media_type="font/ttf", headers={"Cache-Control": "public, max-age=604800"})
