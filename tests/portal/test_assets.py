"""Static files: versioned names from ``url_for``, a year's immutable caching under them,
revalidation under the plain name, gzip for text when the client accepts it, and nothing
outside the folder."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

from flask import Flask, url_for
from flask.testing import FlaskClient

from portal.web import assets

STATIC = Path(__file__).resolve().parents[2] / "static"


def _versioned(app: Flask, name: str) -> str:
    with app.test_request_context("/"):
        return url_for("static", filename=name)


def test_every_file_links_under_a_name_that_carries_its_content_hash(app: Flask) -> None:
    for file in sorted(STATIC.rglob("*")):
        if not file.is_file() or file.name.startswith("."):
            continue
        name = file.relative_to(STATIC).as_posix()
        link = _versioned(app, name)
        stem, suffix = name.rsplit(".", 1)
        assert re.fullmatch(rf"/static/{re.escape(stem)}\.[0-9a-f]{{12}}\.{suffix}", link), link


def test_a_versioned_name_is_cached_for_a_year_and_the_plain_name_revalidated(
    app: Flask, client: FlaskClient
) -> None:
    versioned = client.get(_versioned(app, "app.css"))
    plain = client.get("/static/app.css")
    assert versioned.status_code == plain.status_code == 200
    assert versioned.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert plain.headers["Cache-Control"] == "no-cache"
    assert versioned.data == plain.data == (STATIC / "app.css").read_bytes()
    assert versioned.headers["Content-Type"] == "text/css; charset=utf-8"
    # The ETag answers a revalidation with 304 and no body.
    again = client.get("/static/app.css", headers={"If-None-Match": plain.headers["ETag"]})
    assert again.status_code == 304
    assert again.data == b""


def test_text_is_sent_gzipped_only_to_a_client_that_accepts_it(
    app: Flask, client: FlaskClient
) -> None:
    link = _versioned(app, "vendor/htmx-2.0.11.min.js")
    original = (STATIC / "vendor/htmx-2.0.11.min.js").read_bytes()
    squeezed = client.get(link, headers={"Accept-Encoding": "gzip, deflate, br"})
    assert squeezed.headers["Content-Encoding"] == "gzip"
    assert squeezed.headers["Vary"] == "Accept-Encoding"
    assert len(squeezed.data) < len(original) / 2
    assert gzip.decompress(squeezed.data) == original
    whole = client.get(link)
    assert "Content-Encoding" not in whole.headers
    assert whole.data == original


def test_a_changed_file_gets_a_new_name_and_the_old_name_is_gone(tmp_path: Path) -> None:
    (tmp_path / "site.css").write_text("body { color: black }")
    before = assets.StaticFiles(tmp_path).versioned_name("site.css")
    (tmp_path / "site.css").write_text("body { color: navy }")
    files = assets.StaticFiles(tmp_path)
    after = files.versioned_name("site.css")
    assert before != after
    assert set(files.by_versioned) == {after}
    # A file too small to gain from gzip is sent as it is.
    assert files.assets["site.css"].gzipped is None


def test_unknown_names_and_paths_outside_the_folder_are_not_found(client: FlaskClient) -> None:
    for path in (
        "/static/nope.css",
        "/static/app.000000000000.css",
        "/static/../portal/cli.py",
        "/static/%2e%2e/pyproject.toml",
        "/static/vendor/../../pyproject.toml",
    ):
        assert client.get(path).status_code == 404, path


def test_pages_link_only_to_versioned_files_that_are_served(client: FlaskClient) -> None:
    page = client.get("/staff/sign-in?lang=en").get_data(as_text=True)
    links = re.findall(r'(?:href|src)="(/static/[^"]+)"', page)
    assert links
    for link in links:
        assert re.search(r"\.[0-9a-f]{12}\.\w+$", link), link
        response = client.get(link)
        assert response.status_code == 200
        assert response.headers["Cache-Control"].endswith("immutable")
