"""Catalog upkeep for ``make translations``: English is the source language, so its
catalog's translations are the message ids themselves."""

from __future__ import annotations

import sys
from pathlib import Path

from babel.messages.pofile import read_po, write_po

TRANSLATIONS = Path(__file__).resolve().parents[2] / "translations"


def fill_english() -> int:
    """Copy every English msgid (and plural) into its msgstr; returns how many changed."""
    path = TRANSLATIONS / "en" / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as handle:
        catalog = read_po(handle)
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


if __name__ == "__main__":
    print(f"en: {fill_english()} messages filled", file=sys.stderr)
