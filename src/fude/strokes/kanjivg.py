"""KanjiVG stroke-order data as point sequences: templates for every kana and kanji.

KanjiVG (Ulrich Apel et al., http://kanjivg.tagaini.net, CC BY-SA 3.0) draws every character as
an SVG in a 109x109 box, one ``<path>`` per stroke in writing order (ids ``kvg:XXXXX-sN``, or
``kvg:XXXXX-Variant-sN`` in a variant's file). ``05b57.svg`` is the standard form of U+5B57; files
with a suffix are variant forms of the same character: ``05b57-Kaisho.svg`` is its regular-script
*handwriting* form (3,488 characters have one), others are other stroke orders or glyph shapes.
Strokes are grouped into components (``<g kvg:element=...>``): a template keeps, for every stroke,
which top-level component it belongs to, so that :mod:`fude.strokes.synth` can change the
components' proportions as writers do.

fude reads these files to know each character's strokes and stroke count, and to generate training
drawings. Parsing all 11,662 files takes a while, so :func:`load_templates` keeps what it read in a
cache file (``~/.cache/fude/templates``, or ``$FUDE_CACHE_DIR``) keyed by the files' content and
fude's version, and checked by its own sha256 when read.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from fude.strokes.formats import StrokeError

SVG_NS = "{http://www.w3.org/2000/svg}"
KVG_NS = "{http://kanjivg.tagaini.net}"
VIEWBOX = 109.0  # KanjiVG's drawing box, in its units (y down)
STEP = 1.5  # default spacing of the points read along a path, in KanjiVG units
_STROKE_ID = re.compile(r"kvg:([0-9a-f]{5})(?:-([A-Za-z0-9]+))?-s(\d+)")
_FILE = re.compile(r"([0-9a-f]{5})(?:-([A-Za-z0-9]+))?\.svg")


@dataclass(frozen=True)
class Template:
    """One KanjiVG drawing of a character.

    Attributes:
        char: the character.
        variant: ``""`` for the standard form, else the file's suffix (``"Kaisho"``, ``"VtLst"``, ...).
        strokes: the strokes in writing order, each float64 ``(n, 2)`` in KanjiVG units (0..109, y down).
        parts: for every stroke, the index of the character's top-level component it belongs to
            (0, 1, ... in order of first stroke); strokes outside any component get their own index.
    """

    char: str
    variant: str
    strokes: tuple[np.ndarray, ...]
    parts: tuple[int, ...]


@lru_cache(maxsize=1024)
def _basis(degree: int, n: int) -> np.ndarray:
    """The Bernstein polynomials of ``degree`` at ``n`` evenly spaced t in [0, 1]: ``(n, degree + 1)``."""
    from math import comb

    t = np.linspace(0.0, 1.0, n)[:, None]
    return np.hstack([comb(degree, i) * t ** i * (1 - t) ** (degree - i) for i in range(degree + 1)])


def _bezier(points: list[complex], n: int) -> np.ndarray:
    """``n`` points along the Bézier curve with these control points (Bernstein form), as complex
    numbers, t from 0 to 1."""
    return _basis(len(points) - 1, n) @ np.array(points)


def path_points(d: str, step: float = STEP) -> np.ndarray:
    """Points ``(n, 2)`` float64 along an SVG path's ``d`` attribute, about ``step`` units apart.

    The path is parsed with the ``svg.path`` package (lines, quadratic and cubic Béziers, arcs,
    relative forms); lines and Béziers are evaluated in NumPy, other segments point by point.
    """
    from svg.path import CubicBezier, Line, Move, QuadraticBezier, parse_path

    pts: list[np.ndarray] = []
    for seg in parse_path(d):
        if isinstance(seg, Move):
            if not pts:
                pts.append(np.array([seg.end]))
            continue
        if isinstance(seg, (Line, QuadraticBezier, CubicBezier)):
            ctrl = [seg.start, seg.end] if isinstance(seg, Line) else \
                [seg.start, seg.control, seg.end] if isinstance(seg, QuadraticBezier) else \
                [seg.start, seg.control1, seg.control2, seg.end]
            length = float(np.abs(np.diff(_bezier(ctrl, 17))).sum())
            n = max(2, int(np.ceil(length / step)) + 1)
            p = _bezier(ctrl, n)
        else:
            n = max(2, int(np.ceil(seg.length(error=1e-3) / step)) + 1)
            p = np.array([seg.point(t) for t in np.linspace(0, 1, n)])
        pts.append(p[1:] if pts else p)
    z = np.concatenate(pts) if pts else np.zeros(0, complex)
    return np.column_stack([z.real, z.imag]).astype(np.float64)


def read_template(path: str | os.PathLike, step: float = STEP) -> Template:
    """The :class:`Template` in one KanjiVG file.

    Raises:
        StrokeError: not a readable SVG, or one with no KanjiVG stroke paths.
    """
    path = Path(path)
    try:
        root = ET.parse(path).getroot()
    except (ET.ParseError, OSError) as e:
        raise StrokeError(f"{path}: not a readable SVG file ({e})") from e
    strokes: list[tuple[int, int, np.ndarray, int]] = []
    variant = ""

    def walk(el: ET.Element, part: int | None, depth: int) -> None:
        nonlocal variant
        for child in el:
            if child.tag == f"{SVG_NS}g":
                # depth 0: the character's own group; its child groups are the top-level components
                walk(child, len(strokes) if depth == 1 and part is None else part, depth + 1)
            elif child.tag == f"{SVG_NS}path":
                m = _STROKE_ID.fullmatch(child.get("id", ""))
                if m and child.get("d"):
                    variant = m.group(2) or ""
                    strokes.append((int(m.group(3)), int(m.group(1), 16), path_points(child.get("d"), step),
                                    len(strokes) if part is None else part))

    for top in root.iter(f"{SVG_NS}g"):
        if (top.get("id") or "").startswith("kvg:StrokePaths_"):
            walk(top, None, 0)
            break
    if not strokes:
        raise StrokeError(f"{path}: no KanjiVG stroke paths (ids kvg:XXXXX-sN) found")
    strokes.sort(key=lambda t: t[0])
    firsts: dict[int, int] = {}  # component key -> its index, in order of first stroke
    parts = tuple(firsts.setdefault(p, len(firsts)) for *_, p in strokes)
    return Template(chr(strokes[0][1]), variant, tuple(s for _, _, s, _ in strokes), parts)


def read_svg(path: str | os.PathLike, step: float = STEP) -> tuple[str, list[np.ndarray]]:
    """(character, strokes) from one KanjiVG file; strokes in writing order, in KanjiVG units.

    Raises:
        StrokeError: not a KanjiVG SVG, or one with no stroke paths.
    """
    t = read_template(path, step)
    return t.char, list(t.strokes)


def _files(folder: Path, chars: set[str] | None, variants: bool) -> list[Path]:
    out = []
    for f in sorted(folder.glob("*.svg")):
        m = _FILE.fullmatch(f.name)
        if not m or (m.group(2) and not variants) or (chars is not None and chr(int(m.group(1), 16)) not in chars):
            continue
        out.append(f)
    return out


def _cache_dir() -> Path:
    env = os.environ.get("FUDE_CACHE_DIR")
    return (Path(env).expanduser() if env else Path.home() / ".cache" / "fude") / "templates"


CACHE_FORMAT = 2  # bump when Template or the parsing changes


def _cache_key(files: list[Path]) -> str:
    """What the cache of ``files`` is keyed on: their names and content, fude's version and the
    cache format (reading 11,662 files to hash them takes 0.2-1 s; parsing them, minutes)."""
    from fude import __version__

    h = hashlib.sha256(f"fude {__version__} cache {CACHE_FORMAT}".encode())
    for f in files:
        h.update(f.name.encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()


def _payload_digest(points: np.ndarray, lengths: np.ndarray, meta: bytes, key: str) -> str:
    return hashlib.sha256(key.encode() + points.tobytes() + lengths.tobytes() + meta).hexdigest()


def _save_cache(path: Path, templates: list[Template], key: str) -> None:
    from fude.files import atomic_write, npz_bytes

    strokes = [s for t in templates for s in t.strokes]
    meta = json.dumps([[t.char, t.variant, list(t.parts)] for t in templates], ensure_ascii=False).encode()
    points = np.concatenate(strokes).astype(np.float32)
    lengths = np.array([len(s) for s in strokes], np.int32)
    digest = _payload_digest(points, lengths, meta, key)
    atomic_write(path, npz_bytes(points=points, lengths=lengths, meta=np.frombuffer(meta, np.uint8),
                                 sha256=np.frombuffer(digest.encode(), np.uint8)))


def _load_cache(path: Path, key: str) -> list[Template] | None:
    """The templates in the cache file, or None when it is missing, unreadable, damaged, or not
    the one written for ``key`` (its sha256 covers the key and every array): parse again."""
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            points, lengths, meta = z["points"], z["lengths"], z["meta"].tobytes()
            digest = z["sha256"].tobytes().decode()
        if (points.dtype != np.float32 or lengths.dtype != np.int32 or points.ndim != 2
                or digest != _payload_digest(points, lengths, meta, key)):
            return None
        pieces = np.split(points.astype(np.float64), np.cumsum(lengths)[:-1])
        out, k = [], 0
        for char, variant, parts in json.loads(meta):
            out.append(Template(str(char), str(variant), tuple(pieces[k: k + len(parts)]), tuple(int(i) for i in parts)))
            k += len(parts)
        if k != len(pieces):
            return None
        return out
    except Exception:  # noqa: BLE001 - any damage (zip, zlib, JSON, types) means: parse again
        return None


def load_templates(folder: str | os.PathLike | None = None, chars=None, variants: bool = True, workers: int = 0,
                   cache: bool = True, data_dir: str | os.PathLike | None = None) -> dict[str, list[Template]]:
    """Every KanjiVG file in ``folder`` (or only those of ``chars``): {character: [templates]}, in
    code-point order, each character's standard form first, then its variants by file name.

    Args:
        folder: a folder of KanjiVG SVG files; None: the registered ``kanjivg`` collection in the
            data directory (:func:`fude.datasets.stroke_source`; ``data_dir`` names another one).
        chars: an iterable of characters to read (default: all).
        variants: also read the variant files (``-Kaisho`` and others).
        workers: processes to parse with (0: one per free core); parsing all 11,662 files takes
            about two minutes on one core.
        cache: keep what was parsed in the cache folder and read it from there next time. The
            cache is keyed on the files' names and content and fude's version, and carries a
            sha256 of what it holds: a damaged or altered cache file is parsed again and replaced.

    Raises:
        StrokeError: the folder holds none of the requested SVG files.
        DatasetError: no folder given, and the registered one is not in the data directory.
    """
    if folder is None:
        from fude.datasets import stroke_source

        folder = stroke_source("kanjivg", data_dir)
    folder = Path(folder)
    wanted = None if chars is None else set(chars)
    files = _files(folder, wanted, variants)
    if not files:
        raise StrokeError(f"{folder}: no KanjiVG .svg files{' for these characters' if wanted else ''}; "
                          f"expected e.g. {folder}/03042.svg")
    key = _cache_key(files) if cache else ""
    cache_file = _cache_dir() / f"kanjivg-{key[:24]}.npz"
    templates = _load_cache(cache_file, key) if cache else None
    if templates is None:
        if len(files) > 200 and workers != 1:
            from concurrent.futures import ProcessPoolExecutor

            from fude.cores import free_cores

            with ProcessPoolExecutor(workers or max(1, int(free_cores()))) as pool:
                templates = list(pool.map(read_template, files, chunksize=64))
        else:
            templates = [read_template(f) for f in files]
        if cache:
            try:
                _save_cache(cache_file, templates, key)
            except OSError:
                pass  # a read-only home: parse again next time
    out: dict[str, list[Template]] = {}
    for t in sorted(templates, key=lambda t: (ord(t.char), t.variant != "", t.variant)):
        out.setdefault(t.char, []).append(t)
    return out


@lru_cache(maxsize=4)
def load_kanjivg(folder: str | None = None) -> dict[str, list[np.ndarray]]:
    """The standard form of every character in ``folder`` (None: the registered ``kanjivg``
    collection, :func:`fude.datasets.stroke_source`): {character: strokes}, in code-point order.

    Raises:
        StrokeError: the folder holds no SVG files.
        DatasetError: no folder given, and the registered one is not in the data directory.
    """
    return {c: list(ts[0].strokes) for c, ts in load_templates(folder, variants=False).items()
            if ts[0].variant == ""}


def stroke_counts() -> dict[str, int]:
    """Standard stroke count of every kana and kanji KanjiVG draws, from its standard form
    (shipped as ``fude/resources/stroke_counts.json``, so no SVG files are needed)."""
    from importlib import resources

    return json.loads(resources.files("fude.resources").joinpath("stroke_counts.json").read_text("utf-8"))


def most_strokes() -> dict[str, int]:
    """The most strokes any KanjiVG form of a kana or kanji has, its standard form or a variant
    (``-Kaisho`` and the others): :func:`stroke_counts`, raised for the 15 characters whose
    variant forms have more strokes (``fude/resources/stroke_counts_most.json``, read from the
    full KanjiVG set; e.g. 嚢: 18 strokes, 22 in a variant)."""
    from importlib import resources

    more = json.loads(resources.files("fude.resources").joinpath("stroke_counts_most.json").read_text("utf-8"))
    return {**stroke_counts(), **more}


def stroke_count_warning(strokes: list, char: str, expected: dict[str, int]) -> str | None:
    """A warning when a drawing of ``char`` has more strokes than the standard form (``expected``:
    character -> stroke count, e.g. :func:`stroke_counts`): a stroke split in two or stray ink, which
    the reading's stroke-count evidence weighs against; None otherwise. Fewer strokes are how joined,
    casual writing looks, and weigh nothing: no warning."""
    want = expected.get(char)
    if want is None or len(strokes) <= want:
        return None
    return (f"{char} is written with {want} stroke{'s' * (want != 1)}, this drawing has {len(strokes)}: a stroke "
            f"split in two or stray ink lowers the reading (fewer strokes, as joined writing gives, weigh nothing)")
