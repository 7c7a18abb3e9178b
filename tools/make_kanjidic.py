"""Build ``src/fude/resources/kanjidic.json`` from KANJIDIC2: for each kanji fude reads (the kanji of
``resources/stroke_counts.json``, i.e. every kanji KanjiVG draws), the fields fude uses and nothing
more: the newspaper frequency rank (1 = most frequent of the 2,500 ranked; null beyond), the school
grade (1-6 taught in primary school, 8 the rest of the jōyō kanji, 9-10 jinmeiyō; null: neither),
the main on and kun readings and the first English meanings.

KANJIDIC2: the Electronic Dictionary Research and Development Group, Monash University,
http://www.edrdg.org/wiki/index.php/KANJIDIC_Project — CC BY-SA 4.0. Debian ships it as
``kanjidic-xml`` (``/usr/share/edict/kanjidic2.xml.gz``). Run from the repository root:

    python tools/make_kanjidic.py [/usr/share/edict/kanjidic2.xml.gz]
"""

import gzip
import json
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

RES = Path(__file__).resolve().parents[1] / "src" / "fude" / "resources"
READINGS, MEANINGS = 3, 3  # the first few of each: what a candidate list has room to show


def main() -> None:
    source = Path(sys.argv[1] if len(sys.argv) > 1 else "/usr/share/edict/kanjidic2.xml.gz")
    wanted = set(json.loads((RES / "stroke_counts.json").read_text("utf-8")))
    root = ET.fromstring(gzip.decompress(source.read_bytes()))
    header = root.find("header")
    version = f"file {header.findtext('file_version')}, database {header.findtext('database_version')}, " \
              f"{header.findtext('date_of_creation')}"
    kanji = {}
    for ch in root.iter("character"):
        c = ch.findtext("literal")
        if c not in wanted:
            continue
        misc = ch.find("misc")
        freq, grade = misc.findtext("freq"), misc.findtext("grade")
        rm = ch.find("reading_meaning/rmgroup")
        on = [r.text for r in rm.findall("reading") if r.get("r_type") == "ja_on"][:READINGS] if rm is not None else []
        kun = [r.text for r in rm.findall("reading") if r.get("r_type") == "ja_kun"][:READINGS] if rm is not None else []
        meaning = [m.text for m in rm.findall("meaning") if m.get("m_lang") is None][:MEANINGS] if rm is not None else []
        kanji[c] = [int(freq) if freq else None, int(grade) if grade else None, on, kun, meaning]
    doc = {"source": "KANJIDIC2, the Electronic Dictionary Research and Development Group (EDRDG), "
                     "http://www.edrdg.org/wiki/index.php/KANJIDIC_Project", "licence": "CC BY-SA 4.0",
           "version": version, "fields": ["freq", "grade", "on", "kun", "meaning"], "kanji": kanji}
    out = RES / "kanjidic.json"
    out.write_text(json.dumps(doc, ensure_ascii=False, separators=(",", ":")), encoding="utf-8")
    ranked = sum(v[0] is not None for v in kanji.values())
    print(f"{len(kanji)} kanji ({ranked} with a frequency rank) of {len(wanted)} characters -> {out} "
          f"({out.stat().st_size:,} bytes)")


if __name__ == "__main__":
    main()
