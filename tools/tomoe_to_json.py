"""Turn Tomoe's stroke dictionary (``.tdic``) into fude's stroke JSON files, one per character.

Tomoe's ``.tdic`` text holds, per character: the character on a line, ``:N`` (its stroke
count), then one line per stroke, ``K (x y) (x y) ...`` with K points on a canvas of about
300x300 pixels, y pointing down; entries are separated by blank lines. The strokes are
hand-made: a person's writing reduced to its turning points. fude keeps the entries whose
character is a hiragana code point and writes ``OUT/NN-<char>.json`` in the documented format
(``fude.strokes``). Source: tomoe_data by Hiroyuki Komatsu,
https://github.com/hiroyuki-komatsu/tomoe_data/ (all.tdic; Apache-2.0 or CC BY 4.0).

    python tools/tomoe_to_json.py all.tdic bench/data/tomoe-hiragana
"""

import json
import re
import sys
from pathlib import Path

CANVAS = {"width": 300, "height": 300, "y_up": False}


def entries(text: str):
    """Yield ``(char, strokes)`` for each entry; strokes as lists of ``[x, y]``.

    Raises:
        ValueError: an entry whose stroke count or point counts disagree with its strokes.
    """
    for block in re.split(r"\n\s*\n", text.strip()):
        lines = [line.strip() for line in block.strip().splitlines()]
        char, count = lines[0], int(lines[1].lstrip(":"))
        strokes = []
        for line in lines[2:]:
            points = [[int(x), int(y)] for x, y in re.findall(r"\((-?\d+) (-?\d+)\)", line)]
            if len(points) != int(line.split()[0]):
                raise ValueError(f"{char}: stroke {line!r} does not hold the point count it declares")
            strokes.append(points)
        if len(strokes) != count:
            raise ValueError(f"{char}: declares {count} strokes but has {len(strokes)}")
        yield char, strokes


def main(src: str, out: str) -> None:
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    kept = [(c, s) for c, s in entries(Path(src).read_text(encoding="utf-8"))
            if len(c) == 1 and 0x3041 <= ord(c) <= 0x3096]
    for i, (char, strokes) in enumerate(kept):
        doc = {"strokes": strokes, "label": char, "canvas": CANVAS}
        (folder / f"{i:02d}-{char}.json").write_text(json.dumps(doc, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"{len(kept)} hiragana drawings written to {folder}")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__.split("\n\n")[-1].strip())
    main(sys.argv[1], sys.argv[2])
