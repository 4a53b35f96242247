"""Catalog upkeep for ``make translations`` and ``make compile``.

English is the source language, so its catalog's translations are the message ids
themselves (``fill_english``). A regional catalog inherits from its language's: Hong Kong's
``translations/zh_Hant_HK/LC_MESSAGES/overrides.po`` holds only what Hong Kong says
differently from Taiwan, and ``inherit`` compiles Taiwan's catalog with those overrides laid
over it into ``zh_Hant_HK``'s ``messages.mo`` (``pybabel update`` leaves ``overrides.po``
alone: it updates only files named ``messages.po``).
"""

from __future__ import annotations

import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

TRANSLATIONS = Path(__file__).resolve().parents[2] / "translations"
OVERRIDES = "overrides.po"


def _read(path: Path, locale: str | None = None) -> Catalog:
    with path.open("rb") as handle:
        return read_po(handle, locale=locale)


def fill_english() -> int:
    """Copy every English msgid (and plural) into its msgstr; returns how many changed."""
    path = TRANSLATIONS / "en" / "LC_MESSAGES" / "messages.po"
    catalog = _read(path)
    changed = 0
    for message in catalog:
        if not message.id:
            continue
        wanted = tuple(message.id) if message.pluralizable else message.id
        if message.string != wanted or message.fuzzy:
            message.string = wanted
            message.flags.discard("fuzzy")
            changed += 1
    with path.open("wb") as handle:
        write_po(handle, catalog, sort_output=True)
    return changed


def inherited(child: str, parent: str) -> Catalog:
    """``parent``'s catalog with ``child``'s overrides laid over it, as ``child``'s.
    Raises ValueError for an override of a message the parent does not have (its
    source string changed: the override must follow it)."""
    catalog = _read(TRANSLATIONS / parent / "LC_MESSAGES" / "messages.po", locale=child)
    overrides = _read(TRANSLATIONS / child / "LC_MESSAGES" / OVERRIDES, locale=child)
    for override in overrides:
        if not override.id:
            continue
        message = catalog.get(override.id, override.context)
        if message is None:
            raise ValueError(f"{child} overrides a message {parent} lacks: {override.id!r}")
        message.string = override.string
    return catalog


def inherit(child: str, parent: str) -> None:
    """Compile ``child``'s inherited catalog into its ``messages.mo``."""
    catalog = inherited(child, parent)
    with (TRANSLATIONS / child / "LC_MESSAGES" / "messages.mo").open("wb") as handle:
        write_mo(handle, catalog)


if __name__ == "__main__":
    if sys.argv[1:2] == ["inherit"]:
        inherit(sys.argv[2], sys.argv[3])
        print(f"{sys.argv[2]}: compiled from {sys.argv[3]} and its overrides", file=sys.stderr)
    else:
        print(f"en: {fill_english()} messages filled", file=sys.stderr)
