"""Templates compiled once per server, not once per worker.

Jinja compiles each template to Python the first time a worker renders it, and gunicorn
replaces every worker after about a thousand requests (``max_requests``), so a busy server
would compile its templates again every few seconds. The compiled code is kept in
``BYTECODE``, a cache in this process's memory: gunicorn's master fills it before it forks
(``precompile``, from ``portal.gunicorn_conf``'s ``when_ready``), and every worker it forks
inherits it. Jinja checks each entry against its template's source, so an edited template
is compiled afresh, never served stale.
"""

from __future__ import annotations

import zlib

from flask import Flask
from jinja2 import BytecodeCache
from jinja2.bccache import Bucket


class MemoryBytecodeCache(BytecodeCache):
    """Compiled templates by Jinja's key, in this process (and the processes it forks),
    compressed: every worker carries the whole cache (1.4 MiB of code for some hundred
    templates, 0.5 MiB compressed) and loads from it only the few templates it renders,
    each once."""

    def __init__(self) -> None:
        self.compiled: dict[str, bytes] = {}

    def load_bytecode(self, bucket: Bucket) -> None:
        """Fill ``bucket`` with its compiled code, when there is any."""
        code = self.compiled.get(bucket.key)
        if code is not None:
            bucket.bytecode_from_string(zlib.decompress(code))

    def dump_bytecode(self, bucket: Bucket) -> None:
        """Keep ``bucket``'s compiled code."""
        self.compiled[bucket.key] = zlib.compress(bucket.bytecode_to_string())

    def clear(self) -> None:
        """Forget every compiled template."""
        self.compiled.clear()


BYTECODE = MemoryBytecodeCache()


def init_app(app: Flask) -> None:
    """Compile the app's templates through the shared cache."""
    app.jinja_env.bytecode_cache = BYTECODE


def precompile(app: Flask) -> int:
    """Compile every HTML and text template ``app`` can load; how many there are."""
    names = [name for name in app.jinja_env.list_templates() if name.endswith((".html", ".txt"))]
    for name in names:
        app.jinja_env.get_template(name)
    return len(names)
