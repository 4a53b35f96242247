"""Installable and light: every borrower page links a web app manifest in its language
(好還, 好还 or Haohuan), whose icons exist at the sizes it says, served as the other
static files are; and no page or script registers a service worker. (The pages' weight,
under 100 KB, is measured in Chromium: tests/browser/test_borrower_journey.py.)"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from flask import url_for
from PIL import Image

from portal.core.i18n import LOCALES
from portal.web import icons

from .factories import build_case, sign_in
from .test_messaging import agent_client

ROOT = Path(__file__).resolve().parents[2]
STATIC = ROOT / "static"
BRANDS = {"zh_Hant_TW": "好還", "zh_Hant_HK": "好還", "zh_Hans_CN": "好还", "en": "Haohuan"}


def manifest_link(page: str) -> str:
    found = re.findall(r'<link rel="manifest" href="([^"]+)">', page)
    assert len(found) == 1, found
    return found[0]


@pytest.mark.parametrize("locale", LOCALES)
def test_each_languages_manifest_is_valid_and_names_the_brand(locale):
    path = STATIC / icons.manifest_file(locale)
    stored = json.loads(path.read_text(encoding="utf-8"))
    # Written by portal/web/icons.py from app.css and the names: never stale.
    assert stored == icons.manifest(locale)
    assert stored["name"] == stored["short_name"] == BRANDS[locale]
    assert stored["lang"] == locale.replace("_", "-")
    assert (stored["start_url"], stored["scope"], stored["display"]) == (
        "/status",
        "/",
        "standalone",
    )
    css = (STATIC / "app.css").read_text(encoding="utf-8")
    brand = re.search(r"--brand:\s*(#[0-9a-f]{6});", css).group(1)
    assert stored["theme_color"] == brand
    purposes = set()
    for icon in stored["icons"]:
        file = STATIC / icon["src"].removeprefix("/static/")
        width, height = (int(n) for n in icon["sizes"].split("x"))
        with Image.open(file) as image:
            assert image.format == "PNG"
            assert image.size == (width, height)
        assert icon["type"] == "image/png"
        # Small: a phone on a slow connection fetches them when it installs.
        assert file.stat().st_size < 16 * 1024
        purposes.add((icon["purpose"], width))
    assert purposes >= {("any", 192), ("any", 512), ("maskable", 512)}


def test_the_icons_are_the_brand_colour_and_the_maskable_ones_fill_their_square():
    brand = tuple(int(icons.css_colour("brand")[i : i + 2], 16) for i in (1, 3, 5))
    with Image.open(STATIC / "icons/apple-touch-icon.png") as apple:
        assert apple.size == (180, 180)
        # iOS rounds the corners itself: the square is full, with no transparency.
        assert apple.convert("RGBA").getpixel((0, 0)) == (*brand, 255)
    with Image.open(STATIC / "icons/icon-maskable-512.png") as maskable:
        assert maskable.convert("RGBA").getpixel((0, 0)) == (*brand, 255)
        # The glyph (white) stays inside the central safe circle (radius 40%).
        rgba = maskable.convert("RGBA")
        for x, y in ((60, 256), (452, 256), (256, 60), (256, 452)):
            assert rgba.getpixel((x, y)) == (*brand, 255)
    with Image.open(STATIC / "icons/icon-512.png") as plain:
        rgba = plain.convert("RGBA")
        assert rgba.getpixel((0, 0))[3] == 0  # a rounded corner
        assert rgba.getpixel((256, 40)) == (*brand, 255)


@pytest.mark.parametrize(
    ("locale", "brand"), [("zh_Hant_TW", "好還"), ("zh_Hans_CN", "好还"), ("en", "Haohuan")]
)
def test_borrower_pages_link_the_manifest_of_their_language(app, client, locale, brand):
    built = build_case(app, locale=locale)
    verify = client.get(f"/r/{built.token}").get_data(as_text=True)
    sign_in(client, built)
    status = client.get("/status")
    assert status.status_code == 200
    page = status.get_data(as_text=True)
    link = manifest_link(page)
    assert link == manifest_link(verify)
    with app.test_request_context("/"):
        assert link == url_for("static", filename=icons.manifest_file(locale))
        touch = url_for("static", filename="icons/apple-touch-icon.png")
    assert f'<link rel="apple-touch-icon" href="{touch}">' in page
    assert f'<meta name="theme-color" content="{icons.css_colour("brand")}">' in page
    served = client.get(link)
    assert served.status_code == 200
    assert served.headers["Content-Type"] == "application/manifest+json"
    assert served.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    manifest = json.loads(served.data)
    assert manifest["name"] == brand
    # The icons it names are served, as PNG, under the plain names it uses.
    for icon in manifest["icons"]:
        image = client.get(icon["src"])
        assert image.status_code == 200
        assert image.headers["Content-Type"] == "image/png"
        assert image.headers["Cache-Control"] == "no-cache"
    # The page chosen in another language links that language's manifest.
    english = client.get("/status?lang=en").get_data(as_text=True)
    if locale != "en":
        assert manifest_link(english).startswith("/static/manifest.en.")


def test_the_staff_consoles_are_not_installed_as_the_borrowers_app(app):
    page = agent_client(app).get("/agent/").get_data(as_text=True)
    assert 'rel="manifest"' not in page
    assert "apple-touch-icon" not in page


def test_no_page_or_script_registers_a_service_worker(app, client):
    # A service worker could keep a borrower's pages (their debts) on a shared phone
    # after they leave: none is registered, by any template or script we serve.
    for file in [*(ROOT / "templates").rglob("*.html"), *STATIC.rglob("*.js")]:
        text = file.read_text(encoding="utf-8")
        assert "serviceWorker" not in text, file
        assert "navigator.serviceWorker" not in text, file
    built = build_case(app)
    pages = [client.get(f"/r/{built.token}")]
    sign_in(client, built)
    pages += [client.get(path) for path in ("/status", "/plans", "/pay", "/contact", "/help")]
    for response in pages:
        assert response.status_code == 200, response.request.path
        assert "serviceWorker" not in response.get_data(as_text=True)
        assert "Service-Worker-Allowed" not in response.headers


def test_the_home_screen_opens_the_status_page_or_says_how_to_come_back(app, client):
    # Opened from the home screen with no session (it ended, or another phone): the page
    # that says to open the link again, never an error.
    away = client.get("/status")
    assert (away.status_code, away.headers["Location"]) == (302, "/session-ended")
    assert client.get("/session-ended").status_code == 200
    built = build_case(app)
    sign_in(client, built)
    assert client.get("/status").status_code == 200
