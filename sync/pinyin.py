"""Pinyin initials of a business type's name, for kiosk search ('证照变更' → 'zzbg')."""

from __future__ import annotations

__all__ = ["pinyin_initials"]


def pinyin_initials(name: str) -> str:
    """Lower-case initials; characters without pinyin are kept as they are.

    pypinyin's phrase dictionary costs ~50 MB, so it is imported only when called: the cloud
    fills `BusinessType.pinyin` when a type is authored, and an edge calls this only for a
    type that arrives without it.
    """
    from pypinyin import Style, lazy_pinyin

    return "".join(lazy_pinyin(name, style=Style.FIRST_LETTER)).lower()
