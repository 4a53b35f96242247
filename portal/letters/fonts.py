"""The fonts a letter is set in. A letter must print on any machine and its text must
stay extractable (copy, search, screen readers, and our tests read it back). In order:

1. ``LETTER_FONT`` (or ``HAOHUAN_LETTER_FONT``), a TrueType font (``.ttf``, or ``.ttc``
   with ``#index``), embedded as a subset with a ToUnicode map. ``cid`` skips to 3.
2. Otherwise a TrueType CJK font found on the machine (Debian's fonts-arphic-uming or
   fonts-wqy-zenhei), embedded the same way.
3. Otherwise the CJK fonts every PDF viewer knows by name (MSung-Light for Traditional,
   STSong-Light for Simplified): nothing to install, nothing embedded, the viewer
   substitutes its own Ming/Song font; text is extractable through the standard CMaps.

Noto CJK (Debian's fonts-noto-cjk) is OpenType with CFF outlines, which reportlab cannot
embed; it is skipped. Latin text is always Helvetica (a base font every viewer has); any
character the chosen CJK font lacks falls back to the other CJK fonts, so a Simplified
address on a Traditional letter still prints.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from xml.sax.saxutils import escape

from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import CIDEncoding, UnicodeCIDFont
from reportlab.pdfbase.ttfonts import TTFError, TTFont

from portal.core import settings
from portal.core.i18n import DEFAULT

log = logging.getLogger(__name__)


LATIN = "Helvetica"
LATIN_BOLD = "Helvetica-Bold"
# The CJK fonts PDF viewers know by name, each with its Unicode CMap and the legacy
# charset it covers (what the viewer's substitute font is sure to have).
CID_FACES = {
    "MSung-Light": ("UniCNS-UCS2-H", "big5hkscs"),
    "STSong-Light": ("UniGB-UCS2-H", "gbk"),
}
CID_ORDER = {
    "zh_Hant_TW": ("MSung-Light", "STSong-Light"),
    "zh_Hant_HK": ("MSung-Light", "STSong-Light"),
    "zh_Hans_CN": ("STSong-Light", "MSung-Light"),
    "en": ("MSung-Light", "STSong-Light"),
}
# TrueType CJK fonts Debian installs (fonts-arphic-uming, fonts-wqy-zenhei), and the
# index of the collection's face for each language (UMing: 0 CN, 1 HK, 2 TW).
KNOWN_FONTS: tuple[tuple[str, dict[str, int]], ...] = (
    (
        "/usr/share/fonts/truetype/arphic/uming.ttc",
        {"zh_Hant_TW": 2, "zh_Hant_HK": 1, "zh_Hans_CN": 0, "en": 2},
    ),
    ("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc", {}),
    ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", {}),
)


class _CIDFont(UnicodeCIDFont):
    """reportlab's UnicodeCIDFont pairs MSung-Light (Adobe-CNS1) with the GB CMap, so
    viewers pick wrong glyphs or none; this one takes the CMap that matches the font."""

    def __init__(self, face: str, encoding: str) -> None:
        super().__init__(face)
        self.encoding = CIDEncoding(encoding)
        self.encodingName = encoding


@cache
def _cid_face(face: str) -> str:
    pdfmetrics.registerFont(_CIDFont(face, CID_FACES[face][0]))
    return face


@cache
def _truetype(path: str, index: int) -> TTFont | None:
    """The TrueType font at ``path`` registered for embedding, or None when it cannot
    be (missing, or CFF outlines such as Noto CJK's)."""
    name = f"HaohuanCJK-{re.sub(r'[^A-Za-z0-9]', '', Path(path).stem)}-{index}"
    try:
        font = TTFont(name, path, subfontIndex=index)
    except (OSError, TTFError) as error:
        log.warning("letter font %s#%s cannot be embedded: %s", path, index, error)
        return None
    pdfmetrics.registerFont(font)
    return font


@dataclass(frozen=True)
class Fonts:
    """The CJK faces a letter is set in, in order of preference (Latin is Helvetica)."""

    cjk: tuple[str, ...]
    embedded: TTFont | None

    def face_for(self, character: str) -> str:
        """The first face that has ``character``."""
        try:
            character.encode("cp1252")
            return LATIN
        except UnicodeEncodeError:
            pass
        for face in self.cjk:
            if self.embedded is not None and face == self.embedded.fontName:
                if ord(character) in self.embedded.face.charToGlyph:
                    return face
                continue
            try:
                character.encode(CID_FACES[face][1])
                return face
            except UnicodeEncodeError:
                continue
        return self.cjk[0]

    def markup(self, text: str) -> str:
        """``text`` as paragraph markup, each run in a face that has its characters."""
        # A narrow no-break space (Babel's, in some formats) is in no font used here.
        text = text.replace("\u202f", "\u00a0")
        runs: list[tuple[str, list[str]]] = []
        for character in text:
            face = self.face_for(character)
            if runs and runs[-1][0] == face:
                runs[-1][1].append(character)
            else:
                runs.append((face, [character]))
        return "".join(
            escape("".join(chars))
            if face == LATIN
            else f'<font face="{face}">{escape("".join(chars))}</font>'
            for face, chars in runs
        )


def setting(name: str) -> str:
    """A letter setting (``HAOHUAN_<name>`` in the environment, read at start by
    ``portal.core.settings``), or "" when unset."""
    return str(settings.current().get(name) or "")


def letter_fonts(locale: str) -> Fonts:
    """The fonts for a letter in ``locale`` (see the module's docstring for the order)."""
    cid = tuple(_cid_face(face) for face in CID_ORDER.get(locale, CID_ORDER[DEFAULT]))
    configured = setting("LETTER_FONT").strip()
    candidates: list[tuple[str, int]] = []
    if configured.lower() != "cid":
        if configured:
            path, _sep, face = configured.partition("#")
            candidates.append((path, int(face) if face.isdigit() else 0))
        candidates += [
            (path, faces.get(locale, 0)) for path, faces in KNOWN_FONTS if Path(path).is_file()
        ]
    for path, index in candidates:
        font = _truetype(path, index)
        if font is not None:
            return Fonts((font.fontName, *cid), font)
    return Fonts(cid, None)
