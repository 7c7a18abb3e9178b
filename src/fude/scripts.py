"""Writing systems: which script a character belongs to, hiragana romaji, small kana.

Code-point ranges are the Unicode blocks (https://www.unicode.org/charts/): Hiragana U+3040..U+309F,
Katakana U+30A0..U+30FF, CJK Unified Ideographs U+4E00..U+9FFF and Extension A U+3400..U+4DBF.
"""

from __future__ import annotations

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
SMALL_KANA: dict[str, str] = dict(zip("ぁぃぅぇぉっゃゅょゎゕゖ", "あいうえおつやゆよわかけ"))


def romaji(char: str) -> str | None:
    """Hepburn romaji of a hiragana character (``"あ"`` -> ``"a"``, ``"ゐ"`` -> ``"wi"``); None for
    anything else (digits, marks such as the iteration mark ゝ)."""
    return ROMAJI.get(char)


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
