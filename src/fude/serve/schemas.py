"""The API's request bodies (pydantic), validated before any handler runs."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from fude.strokes import MAX_STROKES


class Canvas(BaseModel):
    """The drawing surface, in the strokes' units."""

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
