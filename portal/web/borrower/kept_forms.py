"""What a borrower typed into a form posted after their session ended (WCAG 2.2.1): kept
on the server for a while, under a random name that only their browser's session holds,
and given back once they have verified again for the same case.

Kept in Redis when it is configured (every web worker sees it); without Redis the portal
runs as one process, and the process keeps it. Nothing here is written to the database:
an unsent hardship note is not a record of the case.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass
from threading import Lock

from werkzeug.datastructures import MultiDict

from portal.core import redis_client

KEPT_SECONDS = 2 * 60 * 60  # as long as a session may last
MOST_CHARACTERS = 20_000  # more than any borrower form takes: anything larger is not kept
_local: dict[str, tuple[float, str]] = {}
_local_lock = Lock()


@dataclass(frozen=True)
class KeptForm:
    """A posted form kept for one case: the endpoint it went to and its fields."""

    case_id: int
    endpoint: str
    fields: dict[str, list[str]]

    def formdata(self) -> MultiDict[str, str]:
        """The fields as WTForms reads a posted form."""
        pairs = [(name, value) for name, values in self.fields.items() for value in values]
        return MultiDict(pairs)


def _key(token: str) -> str:
    return f"{redis_client.prefix()}:kept-form:{token}"


def keep(case_id: int, endpoint: str, fields: dict[str, list[str]]) -> str | None:
    """Keep the fields (without the CSRF token) for ``case_id``; the token to find them
    again, or None when there is nothing worth keeping or it is too large."""
    fields = {name: values for name, values in fields.items() if name != "csrf_token"}
    text = json.dumps({"case_id": case_id, "endpoint": endpoint, "fields": fields})
    if not any(value.strip() for values in fields.values() for value in values):
        return None
    if len(text) > MOST_CHARACTERS:
        return None
    token = secrets.token_urlsafe(24)
    redis = redis_client.client()
    if redis is not None:
        try:
            redis.set(_key(token), text, ex=KEPT_SECONDS)
            return token
        except redis_client.RedisError:
            pass  # Redis is down: this process keeps it, better than losing it
    with _local_lock:
        now = time.monotonic()
        for stale in [k for k, (until, _) in _local.items() if until < now]:
            del _local[stale]
        _local[token] = (now + KEPT_SECONDS, text)
    return token


def _read(token: str, *, remove: bool) -> KeptForm | None:
    text: str | bytes | None = None
    redis = redis_client.client()
    if redis is not None:
        try:
            text = redis.get(_key(token))
            if text is not None and remove:
                redis.delete(_key(token))
        except redis_client.RedisError:
            text = None
    if text is None:
        with _local_lock:
            found = _local.get(token)
            if found is not None and found[0] >= time.monotonic():
                text = found[1]
            if found is not None and remove:
                del _local[token]
    if text is None:
        return None
    data = json.loads(text)
    return KeptForm(int(data["case_id"]), str(data["endpoint"]), dict(data["fields"]))


def peek(token: str) -> KeptForm | None:
    """The kept form, left in place (to know where to go after verification)."""
    return _read(token, remove=False)


def take(token: str) -> KeptForm | None:
    """The kept form, removed: it is given back once."""
    return _read(token, remove=True)
