"""The home-screen icons and the web app manifests, drawn and written once and kept in
``static/`` (run ``python -m portal.web.icons`` after changing the brand colour or the
names; the tests check what is there).

"Add to Home Screen" gives the portal a home: a manifest per language (``name`` 好還,
好还 or Haohuan by the page's language, opening the borrower's status page, standalone,
in the brand colour of ``app.css``) and the icons it names: 192 and 512 pixels, a
maskable one (the glyph inside the central safe circle, so any mask shape keeps it) and
Apple's 180-pixel touch icon. The icon is 好, the lender's first character, in white on
the brand colour; it is the same character in both scripts.

Nothing here registers a service worker, and nothing should: a cached page would keep a
borrower's debts on a shared phone after they signed out.

Pillow (and the CJK font the letters use) are needed only to draw: a web worker never
imports this module.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

from portal.core.i18n import LOCALES, language_tag

STATIC = Path(__file__).resolve().parents[2] / "static"
ICONS = "icons"
# The manifest's name on a page in each language (Simplified pages use 好还).
NAMES = {"zh_Hant_TW": "好還", "zh_Hant_HK": "好還", "zh_Hans_CN": "好还", "en": "Haohuan"}
START_URL = "/status"
GLYPH = "好"
# (file, pixels, maskable): the sizes browsers and iOS ask for.
ICON_FILES = (
    ("icon-192.png", 192, False),
    ("icon-512.png", 512, False),
    ("icon-maskable-512.png", 512, True),
    ("apple-touch-icon.png", 180, True),
)


def css_colour(name: str, css: str | None = None) -> str:
    """The value of the custom property ``--name`` in ``app.css`` (a hex colour)."""
    text = css if css is not None else (STATIC / "app.css").read_text(encoding="utf-8")
    found = re.search(rf"--{re.escape(name)}:\s*(#[0-9a-fA-F]{{6}})\s*;", text)
    if found is None:
        raise ValueError(f"app.css declares no --{name} colour")
    return found.group(1).lower()


def manifest_file(locale: str) -> str:
    """The manifest's name under ``static/`` for a page in ``locale``."""
    return f"manifest.{language_tag(locale)}.webmanifest"


def manifest(locale: str) -> dict[str, Any]:
    """The web app manifest for pages in ``locale``."""
    name = NAMES[locale]
    return {
        "name": name,
        "short_name": name,
        "lang": language_tag(locale),
        "dir": "ltr",
        "id": START_URL,
        "start_url": START_URL,
        "scope": "/",
        "display": "standalone",
        "theme_color": css_colour("brand"),
        "background_color": css_colour("paper"),
        "icons": [
            {
                "src": f"/static/{ICONS}/{file}",
                "sizes": f"{size}x{size}",
                "type": "image/png",
                "purpose": "maskable" if maskable else "any",
            }
            for file, size, maskable in ICON_FILES
            if file != "apple-touch-icon.png"
        ],
    }


def _font(size: int) -> Any:
    from PIL import ImageFont

    from portal.letters.fonts import KNOWN_FONTS

    for path, _faces in KNOWN_FONTS:
        if Path(path).exists():
            return ImageFont.truetype(path, size)
    raise SystemExit("no CJK TrueType font found (install fonts-wqy-zenhei)")


def draw(size: int, maskable: bool) -> Any:
    """One icon: 好 in the brand's ink on the brand colour. A plain icon is a rounded
    square on transparency; a maskable one (and Apple's, which iOS rounds itself) fills
    the square, the glyph within the central 60%."""
    from PIL import Image, ImageDraw

    brand, ink = css_colour("brand"), css_colour("brand-ink")
    scale = 4  # drawn large and reduced: smooth edges without anti-aliased primitives
    big = size * scale
    image = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    pen = ImageDraw.Draw(image)
    if maskable:
        pen.rectangle((0, 0, big, big), fill=brand)
        glyph = int(big * 0.5)
    else:
        pen.rounded_rectangle((0, 0, big - 1, big - 1), radius=int(big * 0.22), fill=brand)
        glyph = int(big * 0.62)
    # A stroke around the glyph thickens the font's thin strokes, to read at 48 pixels.
    pen.text(
        (big / 2, big / 2),
        GLYPH,
        font=_font(glyph),
        fill=ink,
        anchor="mm",
        stroke_width=max(1, glyph // 64),
        stroke_fill=ink,
    )
    return _two_colours(image.resize((size, size), Image.Resampling.LANCZOS), brand, ink)


# A palette of the two colours' blends (the glyph's edges) and the brand at each opacity
# (the rounded corners' edges): a few kilobytes a file, and the brand colour exact, where
# a quantizer would shift it a step.
BLENDS = 48
OPACITIES = 16


def _rgb(colour: str) -> tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


def _two_colours(image: Any, brand: str, ink: str) -> Any:
    from PIL import Image

    base, top = _rgb(brand), _rgb(ink)
    span = [t - b for b, t in zip(base, top, strict=True)]
    length = sum(d * d for d in span) or 1
    palette: list[int] = []
    for step in range(BLENDS):
        palette += [round(b + d * step / (BLENDS - 1)) for b, d in zip(base, span, strict=True)]
    palette += list(base) * OPACITIES
    alphas = bytes([255] * BLENDS + [round(255 * k / (OPACITIES - 1)) for k in range(OPACITIES)])
    indices = bytearray()
    # Pillow 13 names it get_flattened_data; getdata, its old name, is going.
    pixels = getattr(image, "get_flattened_data", None) or image.getdata
    for red, green, blue, alpha in pixels():
        if alpha < 248:
            indices.append(BLENDS + round(alpha * (OPACITIES - 1) / 255))
            continue
        along = sum((c - b) * d for c, b, d in zip((red, green, blue), base, span, strict=True))
        indices.append(round(min(max(along / length, 0.0), 1.0) * (BLENDS - 1)))
    result = Image.frombytes("P", image.size, bytes(indices))
    result.putpalette(palette)
    if max(indices) >= BLENDS:
        # Only an icon with transparent pixels says so: Apple's must have none.
        result.info["transparency"] = alphas
    return result


def write(folder: Path = STATIC) -> list[Path]:
    """Draw the icons and write the manifests under ``folder``; the files written."""
    written = []
    (folder / ICONS).mkdir(parents=True, exist_ok=True)
    for file, size, maskable in ICON_FILES:
        path = folder / ICONS / file
        draw(size, maskable).save(path, optimize=True)
        written.append(path)
    for locale in LOCALES:
        path = folder / manifest_file(locale)
        text = json.dumps(manifest(locale), ensure_ascii=False, indent=2) + "\n"
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


if __name__ == "__main__":
    for done in write(Path(sys.argv[1]) if len(sys.argv) > 1 else STATIC):
        print(done)
