"""Flags: each reason a case needs an agent is open at most once, is raised by what
happened (a new hold, a hold that ended by itself, a lock-out, a broken promise) and is
cleared by an agent with a note; ``needs_agent`` is true exactly while one is open."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from portal.cases import flags
from portal.core import db
from portal.models import Case, CaseEvent, CaseFlag, FlagReason

from .factories import NOW, TODAY, build_case
from .test_holds import declare, work


def open_reasons(app, case_id: int) -> list[str]:
    with app.app_context():
        return [flag.reason.value for flag in flags.open_flags(db.session(), case_id)]


def needs_agent(app, case_id: int) -> bool:
    with app.app_context():
        return db.session().get(Case, case_id).needs_agent


def test_a_reason_is_open_once_and_the_case_needs_an_agent_until_the_last_is_cleared(app):
    built = build_case(app)
    with app.app_context():
        session = db.session()
        case = session.get(Case, built.case_id)
        first = flags.raise_flag(session, case, FlagReason.AGENT, NOW, "a@example.com", note="x")
        again = flags.raise_flag(session, case, FlagReason.AGENT, NOW, "b@example.com")
        other = flags.raise_flag(session, case, FlagReason.PROMISE_BROKEN, NOW, "system")
        session.commit()
        assert first is not None
        assert again is None
        assert other is not None
        first_id, other_id = first.id, other.id
    assert open_reasons(app, built.case_id) == ["agent", "promise_broken"]
    with app.app_context():
        session = db.session()
        case = session.get(Case, built.case_id)
        flags.clear_flag(session, case, first_id, NOW, "a@example.com", "  called them  ")
        session.commit()
        assert case.needs_agent is True
        flags.clear_flag(session, case, other_id, NOW, "a@example.com", "paid")
        session.commit()
        assert case.needs_agent is False
        cleared = session.get(CaseFlag, first_id)
        assert (cleared.cleared_by, cleared.clear_note) == ("a@example.com", "called them")
        # Cleared is cleared: neither again, nor from another case.
        with pytest.raises(flags.FlagError):
            flags.clear_flag(session, case, first_id, NOW, "a@example.com", "again")
        # A cleared reason may be raised anew.
        assert flags.raise_flag(session, case, FlagReason.AGENT, NOW, "system") is not None
        session.commit()
        kinds = session.scalars(
            select(CaseEvent.kind).where(CaseEvent.case_id == built.case_id)
        ).all()
        assert kinds.count("flag_raised") == 3
        assert kinds.count("flag_cleared") == 2


def test_another_cases_flag_cannot_be_cleared(app):
    mine, theirs = build_case(app), build_case(app)
    with app.app_context():
        session = db.session()
        flag = flags.raise_flag(
            session, session.get(Case, theirs.case_id), FlagReason.AGENT, NOW, "system"
        )
        session.commit()
        with pytest.raises(flags.FlagError):
            flags.clear_flag(session, session.get(Case, mine.case_id), flag.id, NOW, "a", "n")
    assert open_reasons(app, theirs.case_id) == ["agent"]


def test_a_hold_raises_its_review_and_ending_by_itself_replaces_it(app):
    built = build_case(app, days_past_due=20)
    declare(app, built.case_id, "hardship")
    assert open_reasons(app, built.case_id) == ["hold_placed"]
    assert needs_agent(app, built.case_id)
    work(app, TODAY + timedelta(days=61))
    # The new-hold flag is moot once the hold ends; the end nobody chose asks for a review.
    assert open_reasons(app, built.case_id) == ["hold_ended"]
