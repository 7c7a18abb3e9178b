"""The API's request bodies (pydantic), validated before any handler runs, and the error answers
every route may give."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictFloat

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
    k: int = Field(default=5, ge=1, le=10, description="how many guesses to return")


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


class SampleRequest(Drawing):
    """A drawing the person confirmed, with its label."""

    label: str = Field(min_length=1, max_length=8, pattern=TEXT, description="the character that was drawn")
    guess: str | None = Field(default=None, max_length=8, pattern=TEXT, description="the model's top-1 guess")
    model: str = Field(default="", max_length=64, description="the model that guessed: one this server loaded, or empty")
    client_id: str | None = Field(default=None, max_length=64, pattern=TOKEN, description="an opaque id of the browser")
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
    (503, "too many lines being read at once (predict-line): send it again after Retry-After seconds"),
)}
