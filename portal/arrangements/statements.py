"""The income-and-expenditure statement a borrower types while choosing a plan, kept on
the server for their session only.

The session cookie is signed, not encrypted: anything in it can be read by whoever holds
the cookie (a shared phone, a proxy's log). So the cookie carries a random key, and the
figures stay in ``session_statements``, found by the key's SHA-256 and the session's
link, for at most ``KEPT_FOR`` (a borrower session's longest life). Commits: ``save`` and
``forget`` each commit their own change.
"""

from __future__ import annotations

from dataclasses import asdict, fields
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from negotiation.affordability import Statement
from portal.core.hashing import new_token, token_hash
from portal.models import SessionStatement

# A borrower session lasts 2 hours at most (portal.web.borrower.session).
KEPT_FOR = timedelta(hours=2)


def save(db: Session, link_id: int, statement: Statement, now: datetime, key: str | None) -> str:
    """Keep ``statement`` for the session of ``link_id`` (replacing the one under ``key``,
    if any); returns the key for the cookie. Old statements of every session go. Commits."""
    if key:
        db.execute(delete(SessionStatement).where(SessionStatement.key_hash == token_hash(key)))
    db.execute(delete(SessionStatement).where(SessionStatement.saved_at < now - KEPT_FOR))
    fresh = new_token()
    db.add(
        SessionStatement(
            link_id=link_id, key_hash=token_hash(fresh), figures=asdict(statement), saved_at=now
        )
    )
    db.commit()
    return fresh


def load(db: Session, link_id: int, key: str, now: datetime) -> Statement | None:
    """The statement kept under ``key`` for this session's link, while it is fresh."""
    figures = db.scalar(
        select(SessionStatement.figures).where(
            SessionStatement.key_hash == token_hash(key),
            SessionStatement.link_id == link_id,
            SessionStatement.saved_at >= now - KEPT_FOR,
        )
    )
    if not isinstance(figures, dict):
        return None
    known = {field.name for field in fields(Statement)}
    try:
        return Statement(**{k: int(v) for k, v in figures.items() if k in known})
    except (TypeError, ValueError):
        return None


def forget(db: Session, key: str) -> None:
    """Drop the statement kept under ``key`` (the borrower skipped the step). Commits."""
    db.execute(delete(SessionStatement).where(SessionStatement.key_hash == token_hash(key)))
    db.commit()
