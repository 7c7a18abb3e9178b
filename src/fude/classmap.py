"""Class maps: class index -> Unicode code point -> character.

The Kuzushiji maps are the official CSV files of the Kuzushiji-MNIST project
(https://github.com/rois-codh/kmnist, ``index,codepoint,char``), shipped verbatim in
``fude/resources``; MNIST's map is the ten digits.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from fude.scripts import romaji


@dataclass(frozen=True)
class ClassMap:
    """An ordered list of classes; entry ``i`` names class index ``i``.

    Attributes:
        chars: the character of each class, e.g. ``("お", "き", ...)``.
    """

    chars: tuple[str, ...]

    def __post_init__(self) -> None:
        if not self.chars:
            raise ValueError("a class map needs at least one class")
        if len(set(self.chars)) != len(self.chars):
            raise ValueError(f"class map has repeated characters: {list(self.chars)}")

    def __len__(self) -> int:
        return len(self.chars)

    def char(self, index: int) -> str:
        """The character of class ``index``; raises IndexError if out of range."""
        return self.chars[index]

    def codepoint(self, index: int) -> str:
        """The code point of class ``index`` as ``U+XXXX`` (first code point if several)."""
        return f"U+{ord(self.chars[index][0]):04X}"

    def romaji(self, index: int) -> str | None:
        """Romaji of class ``index`` where it is a hiragana, else None (:func:`fude.scripts.romaji`)."""
        return romaji(self.chars[index])

    def to_list(self) -> list[dict]:
        """JSON-ready ``[{index, codepoint, char}, ...]``."""
        return [{"index": i, "codepoint": self.codepoint(i), "char": c} for i, c in enumerate(self.chars)]

    def to_csv(self) -> str:
        """The map as the official CSV text (``index,codepoint,char``), which :meth:`from_csv` reads;
        a character that needs it (a comma, a quote, a line break) is quoted as RFC 4180 says."""
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(["index", "codepoint", "char"])
        writer.writerows([r["index"], r["codepoint"], r["char"]] for r in self.to_list())
        return buf.getvalue()

    @classmethod
    def from_list(cls, rows: list[dict]) -> "ClassMap":
        """Inverse of :meth:`to_list`; rows must be sorted by index 0..K-1."""
        for i, row in enumerate(rows):
            if row.get("index") != i:
                raise ValueError(f"class map row {i} has index {row.get('index')!r}; expected {i}")
        return cls(tuple(row["char"] for row in rows))

    @classmethod
    def digits(cls) -> "ClassMap":
        """The MNIST class map: index i -> the digit i."""
        return cls(tuple("0123456789"))

    @classmethod
    def from_csv(cls, path: str | Path) -> "ClassMap":
        """Read an official class-map CSV (``index,codepoint,char``).

        Raises:
            ValueError: if a row is malformed, indices are not 0..K-1 in order, or a code
                point does not match its character.
        """
        with open(path, encoding="utf-8", newline="") as f:  # newline="": quoted line breaks stay in their cell
            return cls._parse(f.read(), str(path))

    @classmethod
    def packaged(cls, name: str) -> "ClassMap":
        """An official class map shipped with fude: ``"kmnist"`` or ``"k49"``."""
        text = resources.files("fude.resources").joinpath(f"{name}_classmap.csv").read_text(encoding="utf-8")
        return cls._parse(text, f"fude/resources/{name}_classmap.csv")

    @classmethod
    def _parse(cls, text: str, where: str) -> "ClassMap":
        try:
            rows = list(csv.DictReader(io.StringIO(text)))
        except csv.Error as e:  # a field over the csv module's limit, a NUL byte, ...
            raise ValueError(f"{where}: not a readable CSV ({e})") from None
        if not rows or not {"index", "codepoint", "char"} <= set(rows[0]):
            raise ValueError(f"{where}: expected a CSV with header 'index,codepoint,char'")
        chars = []
        for line, row in enumerate(rows, start=2):
            if row["index"] is None or not row["index"].strip().isdigit() or int(row["index"]) != line - 2:
                raise ValueError(f"{where} line {line}: index {row['index']!r}, expected {line - 2}")
            char, cp = row["char"], row["codepoint"]
            if not char or cp != f"U+{ord(char[0]):04X}":
                raise ValueError(f"{where} line {line}: code point {cp!r} does not match character {char!r}")
            chars.append(char)
        return cls(tuple(chars))

    @classmethod
    def indices(cls, num_classes: int) -> "ClassMap":
        """A placeholder map for unnamed classes: index i -> the string ``str(i)``."""
        return cls(tuple(str(i) for i in range(num_classes)))
