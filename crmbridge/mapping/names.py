"""Splitting a person's full name into given and family name, and joining them back.

Western names split at the last space (``John Smith`` -> given ``John``,
family ``Smith``) and join with a space. Chinese names (written family name
first, without a space) split after the surname, compound surnames such as
欧阳, 司马 and 诸葛 included (``欧阳娜娜`` -> family ``欧阳``, given ``娜娜``), and
join without a space.

The two functions are exact inverses for any stripped name:
``join_name(*split_name(text)) == text``. Names that cannot be split without
losing that guarantee (one word, ``李 娜`` with a space between two Chinese
parts, ``阿沛·阿旺晋美`` with a middle dot) go whole into the family name.
"""

from __future__ import annotations

from typing import Final

__all__ = ["COMPOUND_SURNAMES", "is_cjk", "join_name", "split_name"]

_SIMPLIFIED: Final = (
    "欧阳司马诸葛上官东方独孤南宫万俟闻人夏侯皇甫尉迟公羊澹台公冶宗政濮阳淳于单于太叔申屠公孙"
    "仲孙轩辕令狐钟离宇文长孙慕容鲜于闾丘司徒司空亓官司寇子车颛孙端木巫马公西漆雕乐正壤驷公良"
    "拓跋夹谷宰父谷梁段干百里东郭南门呼延羊舌微生梁丘左丘东门西门第五"
)
_TRADITIONAL: Final = "歐陽司馬諸葛東方獨孤南宮聞人尉遲單于公孫軒轅鍾離長孫鮮于閭丘顓孫巫馬樂正壤駟東郭南門東門西門穀梁"

COMPOUND_SURNAMES: Final[frozenset[str]] = frozenset(
    text[i : i + 2] for text in (_SIMPLIFIED, _TRADITIONAL) for i in range(0, len(text), 2)
)
"""Two-character Chinese surnames (simplified and traditional forms)."""

_SEPARATORS: Final = frozenset("·•・")


def is_cjk(char: str) -> bool:
    """Whether ``char`` is a CJK ideograph (unified, extensions or compatibility)."""
    code = ord(char)
    return (
        0x4E00 <= code <= 0x9FFF
        or 0x3400 <= code <= 0x4DBF
        or 0x20000 <= code <= 0x323AF
        or 0xF900 <= code <= 0xFAFF
    )


def _all_cjk(text: str) -> bool:
    return all(is_cjk(c) for c in text)


def split_name(text: str | None) -> tuple[str | None, str | None]:
    """``(given, family)`` of a full name; ``(None, None)`` for an empty one.

    See the module docstring for the rules; a name that cannot be split is
    returned whole as the family name, because CRMs such as Zoho require the
    family name and leave the given name optional.
    """
    if not text:
        return None, None
    if any(c in _SEPARATORS for c in text):
        return None, text
    if " " not in text:
        if is_cjk(text[0]) and len(text) > 1:
            surname = text[:2] if text[:2] in COMPOUND_SURNAMES and len(text) > 2 else text[0]
            given = text[len(surname) :]
            if is_cjk(given[0]):
                return given, surname
        return None, text
    cut = text.rfind(" ")
    given, family = text[:cut], text[cut + 1 :]
    if not given or not family or _fuses(given, family):
        return None, text
    return given, family


def join_name(given: str | None, family: str | None) -> str | None:
    """The full name from its parts: ``欧阳`` + ``娜娜`` -> ``欧阳娜娜``, ``John`` + ``Smith`` -> ``John Smith``."""
    if not given:
        return family or None
    if not family:
        return given
    if _fuses(given, family):
        return family + given
    return f"{given} {family}"


def _fuses(given: str, family: str) -> bool:
    """Chinese order applies: an all-CJK family name followed by a CJK given name."""
    return is_cjk(given[0]) and _all_cjk(family)
