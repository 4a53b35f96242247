"""Static files under versioned names, cached for a year and sent compressed.

``url_for("static", filename="app.css")`` builds ``/static/app.<hash>.css``, where the hash
is of the file's content: a changed file gets a new name, so a browser may keep each name
for a year without asking again (``Cache-Control: public, max-age=31536000, immutable``).
The plain name is still served, revalidated on every view (``no-cache`` with an ETag), for
anything that links to it directly.

Every file is read, hashed and (for text) gzipped once, when the app is built: the folder
is small (about 100 KB, htmx the most of it) and never changes under a running worker. A
client that sends ``Accept-Encoding: gzip`` gets the compressed bytes.

Written here rather than taken from WhiteNoise: WhiteNoise serves hashed names only when
the hashed files exist on disk, which needs a build step (Django's manifest storage) that
``make demo`` and the tests would have to run; this module hashes in memory at start-up and
is a little over a hundred lines.
"""

from __future__ import annotations

import gzip
import hashlib
import mimetypes
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import Flask, Response, abort, request

# Long enough that two versions of one file never share a name.
HASH_LENGTH = 12
YEAR = 31536000
IMMUTABLE = f"public, max-age={YEAR}, immutable"
REVALIDATE = "no-cache"
# Text worth compressing; images and fonts are compressed already.
COMPRESSIBLE = (
    "text/",
    "application/javascript",
    "application/json",
    "application/manifest+json",
    "image/svg+xml",
)
# Below this, gzip's header costs more than it saves.
SMALLEST_COMPRESSED = 512


@dataclass(frozen=True)
class Asset:
    """One static file: its bytes, gzipped bytes (or None), type and versioned name."""

    body: bytes
    gzipped: bytes | None
    mimetype: str
    versioned: str
    etag: str


def _versioned(name: str, digest: str) -> str:
    path = Path(name)
    return str(path.with_name(f"{path.stem}.{digest}{path.suffix}"))


def _mimetype(name: str) -> str:
    guessed = mimetypes.guess_type(name)[0] or "application/octet-stream"
    return f"{guessed}; charset=utf-8" if guessed.startswith("text/") else guessed


def _asset(folder: Path, file: Path) -> Asset:
    body = file.read_bytes()
    digest = hashlib.sha256(body).hexdigest()[:HASH_LENGTH]
    name = file.relative_to(folder).as_posix()
    mimetype = _mimetype(name)
    gzipped = None
    if mimetype.startswith(COMPRESSIBLE) and len(body) >= SMALLEST_COMPRESSED:
        # mtime=0: the same bytes on every start and in every worker.
        gzipped = gzip.compress(body, compresslevel=9, mtime=0)
    return Asset(body, gzipped, mimetype, _versioned(name, digest), f'"{digest}"')


def load(folder: Path) -> dict[str, Asset]:
    """Every file under ``folder`` by its name relative to it (dot-files skipped)."""
    assets = {}
    for file in sorted(folder.rglob("*")):
        relative = file.relative_to(folder)
        if file.is_file() and not any(part.startswith(".") for part in relative.parts):
            assets[relative.as_posix()] = _asset(folder, file)
    return assets


class StaticFiles:
    """The app's static files: the view that serves them and the names URLs use."""

    def __init__(self, folder: Path) -> None:
        self.assets = load(folder)
        self.by_versioned = {asset.versioned: name for name, asset in self.assets.items()}

    def versioned_name(self, name: str) -> str:
        """The name a URL should use for ``name``: versioned when the file exists."""
        asset = self.assets.get(name)
        return asset.versioned if asset else name

    def serve(self, filename: str) -> Response:
        """The file by its versioned name (cached a year) or its plain name (revalidated)."""
        name = self.by_versioned.get(filename)
        cache_control = IMMUTABLE
        if name is None:
            name, cache_control = filename, REVALIDATE
        asset = self.assets.get(name)
        if asset is None:
            abort(404)
        return _response(asset, cache_control)


def _response(asset: Asset, cache_control: str) -> Response:
    headers = {"Cache-Control": cache_control, "ETag": asset.etag}
    if asset.gzipped is not None:
        headers["Vary"] = "Accept-Encoding"
    if request.if_none_match.contains(asset.etag.strip('"')):
        return Response(status=304, headers=headers)
    body = asset.body
    if asset.gzipped is not None and request.accept_encodings.quality("gzip") > 0:
        body = asset.gzipped
        headers["Content-Encoding"] = "gzip"
    return Response(body, content_type=asset.mimetype, headers=headers)


def init_app(app: Flask, folder: Path) -> None:
    """Serve ``folder`` at ``/static/`` (the endpoint ``static``) under versioned names."""
    files = StaticFiles(folder)
    app.extensions["haohuan.static"] = files
    app.add_url_rule("/static/<path:filename>", endpoint="static", view_func=files.serve)

    @app.url_defaults
    def versioned(endpoint: str, values: dict[str, Any]) -> None:
        if endpoint == "static" and "filename" in values:
            values["filename"] = files.versioned_name(values["filename"])
