"""Writing systems: which script a character belongs to, the script filters, hiragana romaji, small
kana, visually identical twins across scripts, and which kanji are in common use.

Code-point ranges are the Unicode blocks (https://www.unicode.org/charts/): Hiragana U+3040..U+309F,
Katakana U+30A0..U+30FF, CJK Unified Ideographs U+4E00..U+9FFF and Extension A U+3400..U+4DBF.
Common kanji: the first level of JIS X 0208 (2,965 kanji chosen for frequent use, JIS C 6226-1978),
read from Python's ``euc_jp`` codec.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

HIRAGANA = tuple(chr(c) for c in range(0x3041, 0x3097))  # the 86 hiragana code points, ぁ..ゖ

# Hepburn romanisation of every hiragana code point U+3041..U+3096, in code-point order (small
# kana read as their full-size forms; ゐ/ゑ/を as the historical wi/we/wo)
_HIRAGANA_ROMAJI = (
    "a a i i u u e e o o ka ga ki gi ku gu ke ge ko go sa za shi ji su zu se ze so zo ta da chi ji tsu tsu "
    "zu te de to do na ni nu ne no ha ba pa hi bi pi fu bu pu he be pe ho bo po ma mi mu me mo ya ya yu yu "
    "yo yo ra ri ru re ro wa wa wi we wo n vu ka ke"
).split()
ROMAJI: dict[str, str] = dict(zip(HIRAGANA, _HIRAGANA_ROMAJI))
assert len(ROMAJI) == len(HIRAGANA)

# small kana and the full-size kana whose shape they share (they differ only in size on the page)
SMALL_KANA: dict[str, str] = dict(zip("ぁぃぅぇぉっゃゅょゎゕゖァィゥェォッャュョヮヵヶ",
                                      "あいうえおつやゆよわかけアイウエオツヤユヨワカケ"))

# characters of different scripts that are drawn the same way: a drawing cannot tell them apart, so
# recognisers rank them next to each other and scoring counts a twin of the truth as right
TWINS: tuple[str, ...] = ("へヘ", "べベ", "ぺペ", "カ力", "ロ口", "エ工", "ニ二", "タ夕", "ト卜", "ハ八", "ヒ匕",
                          "ム厶", "一ー", "オ才", "メ乂")
_TWIN_OF: dict[str, str] = {c: group for group in TWINS for c in group}

# the script filters of the stroke recognisers (``--script``): which scripts each one lets through
SCRIPT_FILTERS: dict[str, tuple[str, ...]] = {
    "all": ("hiragana", "katakana", "kanji", "digit", "other"),
    "hiragana": ("hiragana",), "katakana": ("katakana",), "kana": ("hiragana", "katakana"), "kanji": ("kanji",)}


def romaji(char: str) -> str | None:
    """Hepburn romaji of a kana (``"あ"`` -> ``"a"``, ``"ア"`` -> ``"a"``, ``"ゐ"`` -> ``"wi"``); None for
    anything else (digits, marks such as the iteration mark ゝ)."""
    cp = ord(char) if len(char) == 1 else 0
    if 0x30A1 <= cp <= 0x30F6:  # katakana read as the hiragana of the same sound
        char = chr(cp - 0x60)
    return ROMAJI.get(char)


@lru_cache(maxsize=1)
def kanjidic() -> dict[str, list]:
    """KANJIDIC2's fields fude ships (``resources/kanjidic.json``, built by ``tools/make_kanjidic.py``;
    EDRDG, CC BY-SA 4.0): ``{kanji: [frequency rank or None, school grade or None, on readings, kun
    readings, meanings]}`` for every kanji fude reads."""
    import json
    from importlib import resources

    text = resources.files("fude.resources").joinpath("kanjidic.json").read_text(encoding="utf-8")
    return json.loads(text)["kanji"]


def kanji_info(char: str) -> dict | None:
    """A kanji's main readings and English meanings from KANJIDIC2: ``{"on": ["ゴ"], "kun": ["かた.る"],
    "meaning": ["word", "speech", "language"]}`` (up to three of each; kun readings mark the okurigana
    after a dot), or None for a character that is not a kanji fude knows."""
    entry = kanjidic().get(char)
    return None if entry is None else {"on": entry[2], "kun": entry[3], "meaning": entry[4]}


def script(char: str) -> str:
    """The script of a character: ``"hiragana"``, ``"katakana"``, ``"kanji"``, ``"digit"`` or ``"other"``
    (by its first code point)."""
    cp = ord(char[0]) if char else -1
    if 0x3041 <= cp <= 0x309F:
        return "hiragana"
    if 0x30A0 <= cp <= 0x30FF:
        return "katakana"
    if 0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF:
        return "kanji"
    if char.isdigit():
        return "digit"
    return "other"


def common_kanji(char: str) -> bool:
    """Whether ``char`` is one of the 2,965 kanji of JIS X 0208 level 1, the set of kanji in common
    use (rows 16 to 47 of the standard: EUC-JP lead bytes 0xB0..0xCF); False for every other
    character, the 3,390 kanji of level 2 and kanji outside JIS X 0208 included."""
    try:
        code = char.encode("euc_jp")
    except (UnicodeEncodeError, AttributeError):
        return False
    return len(code) == 2 and 0xB0 <= code[0] <= 0xCF


# what a script prior (``Recognizer(script_prior=...)``) may weigh: the scripts, and the kanji outside
# the common set (:func:`common_kanji`), whose factor multiplies the kanji one
PRIOR_GROUPS: tuple[str, ...] = ("hiragana", "katakana", "kanji", "digit", "other", "uncommon-kanji")


def prior_factors(chars, prior: dict[str, float]) -> np.ndarray:
    """Each character's factor under a script prior ``{group: factor}`` (groups of
    :data:`PRIOR_GROUPS`; missing ones weigh 1): float32 ``(len(chars),)``, its script's factor,
    times the ``uncommon-kanji`` factor for a kanji outside JIS X 0208 level 1."""
    rare = float(prior.get("uncommon-kanji", 1.0))
    return np.array([prior.get(script(c), 1.0) * (rare if script(c) == "kanji" and not common_kanji(c) else 1.0)
                     for c in chars], np.float32)


def twins(char: str) -> str:
    """The characters drawn the same as ``char``, itself included (``"へ"`` -> ``"へヘ"``; ``"あ"`` -> ``"あ"``)."""
    return _TWIN_OF.get(char, char)


def allowed(chars, script_filter: str = "all", only: str | None = None) -> np.ndarray:
    """Which of ``chars`` (a class map's characters) pass a script filter and an optional set of
    characters: bool ``(len(chars),)``.

    Args:
        script_filter: one of :data:`SCRIPT_FILTERS` (``all``, ``hiragana``, ``katakana``, ``kana``, ``kanji``).
        only: if given, only these characters (e.g. the kana of a lesson, ``"あいうえお"``).

    Raises:
        ValueError: an unknown filter, or a filter and character set that leave no class (the
            message says which characters are not in the model).
    """
    if script_filter not in SCRIPT_FILTERS:
        raise ValueError(f"script must be one of {', '.join(SCRIPT_FILTERS)}, got {script_filter!r}")
    chars = tuple(chars)
    characters, scripts = _scripts_of(chars)
    keep = np.isin(scripts, SCRIPT_FILTERS[script_filter])
    if only is not None:
        wanted = set(only) - set(" \t\n,")
        if not wanted:
            raise ValueError("chars is empty: give the characters to choose from, e.g. あいうえお")
        keep &= np.isin(characters, list(wanted))
        unknown = sorted(wanted - set(chars)) if not keep.any() else []
        if unknown:
            raise ValueError(f"this model does not read {''.join(unknown[:20])}{'...' * (len(unknown) > 20)}")
    if not keep.any():
        raise ValueError(f"none of these {len(keep)} characters passes script={script_filter!r}"
                         + (f" and chars={only!r}" if only is not None else ""))
    return keep


@lru_cache(maxsize=8)
def _scripts_of(chars: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """A class map's characters and the script of each, as arrays, worked out once per class map
    (a recogniser filters every drawing; 6,600 script lookups would cost it milliseconds)."""
    return np.array(chars), np.array([script(c) for c in chars])
