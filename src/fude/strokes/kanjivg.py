"""KanjiVG stroke-order data as point sequences.

KanjiVG (Ulrich Apel et al., http://kanjivg.tagaini.net, CC BY-SA 3.0) draws every character as
an SVG in a 109x109 box, one ``<path>`` per stroke in writing order (ids ``kvg:XXXXX-sN``). fude
reads the hiragana files (U+3041..U+3096) to know each character's strokes and stroke count, and to
generate training drawings (:mod:`fude.strokes.synth`).
"""

from __future__ import annotations

import os
import re
import xml.etree.ElementTree as ET
from functools import lru_cache
from pathlib import Path

import numpy as np

from fude.strokes.formats import StrokeError

SVG_NS = "{http://www.w3.org/2000/svg}"
VIEWBOX = 109.0  # KanjiVG's drawing box, in its units (y down)


def path_points(d: str, step: float = 1.5) -> np.ndarray:
    """Points ``(n, 2)`` along an SVG path's ``d`` attribute, about ``step`` units apart (parsed
    with the ``svg.path`` package: lines, quadratic and cubic Béziers, arcs, relative forms)."""
    from svg.path import Move, parse_path

    path = parse_path(d)
    pts: list[complex] = []
    for seg in path:
        if isinstance(seg, Move):
            if not pts:
                pts.append(seg.end)
            continue
        n = max(2, int(np.ceil(seg.length(error=1e-3) / step)) + 1)
        ts = np.linspace(0, 1, n)
        pts.extend(seg.point(t) for t in (ts[1:] if pts else ts))
    return np.array([[p.real, p.imag] for p in pts], dtype=np.float64)


def read_svg(path: str | os.PathLike, step: float = 1.5) -> tuple[str, list[np.ndarray]]:
    """(character, strokes) from one KanjiVG file; strokes in writing order, in KanjiVG units.

    Raises:
        StrokeError: not a KanjiVG SVG, or one with no stroke paths.
    """
    path = Path(path)
    try:
        root = ET.parse(path).getroot()
    except (ET.ParseError, OSError) as e:
        raise StrokeError(f"{path}: not a readable SVG file ({e})") from e
    strokes = []
    for el in root.iter(f"{SVG_NS}path"):
        m = re.fullmatch(r"kvg:([0-9a-f]{5})-s(\d+)", el.get("id", ""))
        if m and el.get("d"):
            strokes.append((int(m.group(2)), int(m.group(1), 16), path_points(el.get("d"), step)))
    if not strokes:
        raise StrokeError(f"{path}: no KanjiVG stroke paths (ids kvg:XXXXX-sN) found")
    strokes.sort(key=lambda t: t[0])
    return chr(strokes[0][1]), [s for _, _, s in strokes]


@lru_cache(maxsize=4)
def load_kanjivg(folder: str) -> dict[str, list[np.ndarray]]:
    """Every ``*.svg`` in ``folder``: {character: strokes}, in code-point order.

    Raises:
        StrokeError: the folder holds no SVG files.
    """
    files = sorted(Path(folder).glob("*.svg"))
    if not files:
        raise StrokeError(f"{folder}: no KanjiVG .svg files; expected e.g. {folder}/03042.svg")
    chars = dict(read_svg(f) for f in files)
    return dict(sorted(chars.items()))


def stroke_counts() -> dict[str, int]:
    """Standard stroke count of every hiragana, from KanjiVG (shipped as
    ``fude/resources/hiragana_stroke_counts.json``, so no SVG files are needed)."""
    import json
    from importlib import resources

    return json.loads(resources.files("fude.resources").joinpath("hiragana_stroke_counts.json").read_text("utf-8"))


def stroke_count_warning(strokes: list, char: str, expected: dict[str, int]) -> str | None:
    """A warning when a drawing of ``char`` has a different number of strokes than the standard
    form (``expected``: character -> stroke count, e.g. from :func:`load_kanjivg`); None if it
    matches or the character is unknown."""
    want = expected.get(char)
    if want is None or len(strokes) == want:
        return None
    return (f"{char} is written with {want} stroke{'s' * (want != 1)}, this drawing has {len(strokes)}: "
            f"strokes may be joined or split, which can lower the recognition of stroke-based models")
