"""The API's request bodies (pydantic), validated before any handler runs, and the error answers
every route may give."""

from __future__ import annotations

import bisect
import json
import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt

from fude.models.store import DEFAULT_STROKE_MODEL
from fude.scripts import SCRIPT_FILTERS
from fude.strokes import MAX_LINE_STROKES, MAX_STROKES

TEXT = r"^[^\x00-\x1f\x7f]*$"  # free text: no control characters (NUL, newline, ...)
TOKEN = r"^[A-Za-z0-9._:-]*$"  # ids and names: what survives any file, log or CSV unquoted
# a coordinate is a JSON number: "12" and true are refused, not read as 12.0 and 1.0
Strokes = list[list[list[StrictFloat]]]


class Canvas(BaseModel):
    """The drawing surface, in the strokes' units."""

    model_config = ConfigDict(allow_inf_nan=False, extra="forbid")
    width: StrictFloat = Field(gt=0, le=100_000)
    height: StrictFloat = Field(gt=0, le=100_000)
    y_up: bool = Field(default=False, strict=True)


class Drawing(BaseModel):
    """A drawing as strokes (fude's stroke JSON)."""

    model_config = ConfigDict(allow_inf_nan=False)
    strokes: Strokes = Field(description="strokes, each [[x, y], ...] in drawing order, y down",
                                             max_length=MAX_STROKES)
    canvas: Canvas | None = None


class StrokesRequest(Drawing):
    """A drawing, the model to read it with, and which characters the guesses may be."""

    model: str = Field(default=DEFAULT_STROKE_MODEL, max_length=64, description="a model this server loaded")
    script: Literal[tuple(SCRIPT_FILTERS)] = Field(default="all", description="only guesses of this script")
    chars: str | None = Field(default=None, min_length=1, max_length=4000, pattern=TEXT,
                              description="only guesses among these characters (e.g. the kana of a lesson)")
    k: StrictInt = Field(default=5, ge=1, le=10, description="how many guesses to return (a JSON integer)")
    writer: str | None = Field(default=None, min_length=8, max_length=64, pattern=TOKEN,
                               description="the page's own random id of its writer: read with that writer's memory")


class LineRequest(BaseModel):
    """A word written left to right as one drawing, the model to read it with, and which
    characters the guesses may be."""

    model_config = ConfigDict(allow_inf_nan=False, extra="forbid")
    strokes: Strokes = Field(description="strokes, each [[x, y], ...] in writing order, y down",
                                             max_length=MAX_LINE_STROKES)
    model: str = Field(default=DEFAULT_STROKE_MODEL, max_length=64, description="a model this server loaded")
    script: Literal[tuple(SCRIPT_FILTERS)] = Field(default="all", description="only guesses of this script")
    chars: str | None = Field(default=None, min_length=1, max_length=4000, pattern=TEXT,
                              description="only guesses among these characters")
    writer: str | None = Field(default=None, min_length=8, max_length=64, pattern=TOKEN,
                               description="the page's own random id of its writer: read with that writer's memory")


class SampleRequest(Drawing):
    """A drawing the person confirmed, with its label."""

    label: str = Field(min_length=1, max_length=8, pattern=TEXT, description="the character that was drawn")
    guess: str | None = Field(default=None, max_length=8, pattern=TEXT, description="the model's top-1 guess")
    model: str = Field(default="", max_length=64, description="the model that guessed: one this server loaded, or empty")
    client_id: str | None = Field(default=None, max_length=64, pattern=TOKEN, description="an opaque id of the browser: "
                                  "its writer, whose memory learns the sample (8 characters or more)")
    request_id: str | None = Field(default=None, min_length=8, max_length=64, pattern=TOKEN,
                                   description="an id the client makes up for this sample: a retried POST with the "
                                               "same id stores it once and answers with the first one's id")


class Error(BaseModel):
    """What every 4xx answer holds."""

    detail: str = Field(description="what was wrong with the request and what is expected")


ERRORS = {code: {"model": Error, "description": text} for code, text in (
    (400, "malformed JSON, multipart body or image"),
    (403, "a POST sent by another site's page (its Origin is not this server)"),
    (404, "no such model on this server"),
    (413, "request body over 5 MB, an image over 4096 pixels a side, or a drawing over its point limit"),
    (415, "a Content-Type the route does not take"),
    (422, "a well-formed request with invalid fields"),
    (429, "more samples a minute from one client than a person confirms (samples): wait Retry-After seconds"),
    (503, "too many lines being read at once (predict-line): send it again after Retry-After seconds"),
    (507, "the sample database is full (samples): nothing new is saved, nothing saved is lost"),
)}


MAX_STRING_QUOTES = 20_000  # quote marks in a body: a request's few fields and strings (chars: 4,000 at most)
MAX_OBJECTS = 100  # braces of each kind in a body: a request is one object, with a canvas inside
_COLON = re.compile(rb"\s*:")


def body_problem(raw: bytes) -> tuple[int, str] | None:
    """What makes a JSON request body unfit to parse, found before any parse (which would hold the
    event loop), in a few passes of ``bytes.count``/``find`` over it: ``(status, detail)``, or None.

    - 413: more quote marks than :data:`MAX_STRING_QUOTES` or braces than :data:`MAX_OBJECTS` (a
      5 MB body of ``"k":1,`` repeated took 150 ms of the event loop to parse);
    - 400: a key given twice in one object (JSON parsers keep the last: the request would be read
      as something the client did not mean).
    """
    quotes, opens, closes = raw.count(b'"'), raw.count(b"{"), raw.count(b"}")
    if quotes > MAX_STRING_QUOTES or max(opens, closes) > MAX_OBJECTS:
        return 413, (f"a request body of {quotes:,} quote marks and {opens:,} objects; a request is one object "
                     f"of a few named fields (at most {MAX_STRING_QUOTES:,} and {MAX_OBJECTS})")
    marks, prev, i = [], -1, raw.find(b'"')
    while i >= 0:  # the quote marks not escaped: an even run of backslashes before them
        between = raw[prev + 1: i]
        if (len(between) - len(between.rstrip(b"\\"))) % 2 == 0:
            marks.append(i)
        prev, i = i, raw.find(b'"', i + 1)
    spans = list(zip(marks[::2], marks[1::2]))  # each string's opening and closing quote
    events = [(a, "string", b) for a, b in spans]
    starts = [a for a, _ in spans]
    for brace in (b"{", b"}"):
        at = raw.find(brace)
        while at >= 0:
            inside = bisect.bisect(starts, at) - 1
            if inside < 0 or at > spans[inside][1]:  # not within a string
                events.append((at, brace.decode(), 0))
            at = raw.find(brace, at + 1)
    keys: list[set] = []
    for at, kind, end in sorted(events):
        if kind == "{":
            keys.append(set())
        elif kind == "}":
            if keys:
                keys.pop()
        elif keys and _COLON.match(raw, end + 1):
            try:
                key = json.loads(raw[at: end + 1])
            except ValueError:
                return None  # not JSON: the parser says so in its words
            if key in keys[-1]:
                return 400, f"malformed JSON: the key {key!r} is given twice in one object"
            keys[-1].add(key)
    return None
