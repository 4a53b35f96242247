"""Holds are reviewed before they end, and a dispute's evidence is served only to staff
with the case open.

- The daily work asks for a review (a ``hold_review`` flag) a policy-set number of days
  before a breathing space ends, and when a dispute's review-by date comes: once per
  hold, whatever the re-runs, the following days or an agent's clearing.
- Evidence is a download for the agent role only (supervisors hold it), audited, with a
  type that is never sniffed and nothing a browser could run; another case's file, a
  deactivated member, a borrower's session, an id no column holds and a file gone from
  disk all get nothing, and nothing is audited for them.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from negotiation import PolicyError, load_policy
from portal.cases import holds, lifecycle
from portal.cases.facts import policy
from portal.core import db
from portal.models import AuditEntry, Case, CaseFlag, DisputeEvidence, FlagReason, StaffMember
from portal.staff import accounts

from .factories import NOW, TODAY, add_staff, build_case, staff_sign_in
from .test_holds import PNG, disputed, upload


def declare(app, case_id: int, reason: str) -> None:
    with app.test_request_context("/"):
        session = db.session()
        holds.place_hold(session, session.get(Case, case_id), reason, "why", NOW)


def work(app, as_of: date, **rules) -> lifecycle.DayWork:
    with app.app_context():
        return lifecycle.work_day(
            app.extensions["haohuan.engine"], replace(policy(), **rules), as_of, NOW
        )


def review_flags(app, case_id: int) -> list[CaseFlag]:
    with app.app_context():
        rows = (
            db.session()
            .scalars(
                select(CaseFlag)
                .where(CaseFlag.case_id == case_id, CaseFlag.reason == FlagReason.HOLD_REVIEW)
                .order_by(CaseFlag.id)
            )
            .all()
        )
        db.session().expunge_all()
        return list(rows)


def clear(app, flag_id: int) -> None:
    from portal.cases.flags import clear_flag

    with app.app_context():
        session = db.session()
        flag = session.get(CaseFlag, flag_id)
        clear_flag(session, session.get(Case, flag.case_id), flag.id, NOW, "agent@x", "Reviewed")
        session.commit()


@pytest.mark.parametrize("days_before", [0, 1, 7, 14, 59])
def test_a_breathing_space_asks_for_a_review_the_policys_days_before_it_ends(app, days_before):
    built = build_case(app, days_past_due=31)
    declare(app, built.case_id, "hardship")
    ends_on = TODAY + timedelta(days=60)
    review_on = ends_on - timedelta(days=days_before)
    assert (
        work(
            app, review_on - timedelta(days=1), hardship_review_days_before=days_before
        ).holds_to_review
        == 0
    )
    assert review_flags(app, built.case_id) == []
    day = work(app, review_on, hardship_review_days_before=days_before)
    if days_before == 0:
        # On its last day the space ends by itself instead, which asks for an agent.
        assert day.hardships_ended == 1
        return
    assert day.holds_to_review == 1
    [flag] = review_flags(app, built.case_id)
    assert flag.details["hold"] == "hardship"
    assert flag.details["until"] == ends_on.isoformat()
    assert flag.raised_by == "system"
    with app.app_context():
        assert db.session().get(Case, built.case_id).needs_agent


def test_a_review_is_asked_once_per_hold_whatever_reruns_days_or_clearing(app):
    built = build_case(app, days_past_due=31)
    declare(app, built.case_id, "hardship")
    review_on = TODAY + timedelta(days=53)  # the default: 7 days before day 60
    assert work(app, review_on).holds_to_review == 1
    assert work(app, review_on).holds_to_review == 0  # the same day again
    assert work(app, review_on + timedelta(days=1)).holds_to_review == 0
    [flag] = review_flags(app, built.case_id)
    clear(app, flag.id)  # the agent reviewed it
    assert work(app, review_on + timedelta(days=2)).holds_to_review == 0
    assert len(review_flags(app, built.case_id)) == 1
    # The space ends: its hold-ended flag asks for the agent; a new hold is asked anew.
    ended = work(app, TODAY + timedelta(days=60))
    assert ended.hardships_ended == 1
    with app.app_context():
        session = db.session()
        with app.test_request_context("/"):
            holds.place_hold(
                session,
                session.get(Case, built.case_id),
                "hardship",
                "again",
                NOW + timedelta(days=61),
            )
    assert work(app, TODAY + timedelta(days=61 + 53)).holds_to_review == 1
    assert len(review_flags(app, built.case_id)) == 2


def test_an_open_review_flag_is_cleared_when_the_hold_ends(app):
    built = build_case(app, days_past_due=31)
    declare(app, built.case_id, "hardship")
    work(app, TODAY + timedelta(days=53))
    work(app, TODAY + timedelta(days=60))
    [flag] = review_flags(app, built.case_id)
    assert flag.cleared_at is not None  # moot once the hold ended


def test_a_dispute_asks_for_a_review_when_its_review_by_date_comes(app):
    built = build_case(app, days_past_due=31)
    declare(app, built.case_id, "dispute")
    review_by = TODAY + timedelta(days=30)
    assert work(app, review_by - timedelta(days=1)).holds_to_review == 0
    assert work(app, review_by).holds_to_review == 1
    [flag] = review_flags(app, built.case_id)
    assert (flag.details["hold"], flag.details["until"]) == ("dispute", review_by.isoformat())
    # A dispute missed for days (the job did not run) is asked about on the day it runs.
    other = build_case(app, days_past_due=31)
    declare(app, other.case_id, "dispute")
    assert work(app, review_by + timedelta(days=9)).holds_to_review == 1


def test_the_reviews_are_set_based_over_many_cases(app):
    due = [build_case(app, days_past_due=31) for _ in range(3)]
    for built in due:
        declare(app, built.case_id, "hardship")
    not_yet = build_case(app, days_past_due=31)
    with app.test_request_context("/"):
        session = db.session()
        holds.place_hold(
            session, session.get(Case, not_yet.case_id), "hardship", "", NOW + timedelta(days=5)
        )
    lifted = build_case(app, days_past_due=31)
    declare(app, lifted.case_id, "hardship")
    member = add_staff(app, "agent@haohuan.example", ("agent",))
    with app.test_request_context("/"):
        session = db.session()
        holds.lift(
            session, session.get(Case, lifted.case_id), session.get(StaffMember, member), "ok", NOW
        )
    assert work(app, TODAY + timedelta(days=53)).holds_to_review == 3
    assert review_flags(app, not_yet.case_id) == []
    assert review_flags(app, lifted.case_id) == []


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (60, "less than hardship_breathing_space_days"),  # the whole space, or more
        (61, "less than hardship_breathing_space_days"),
        (-1, "whole number from 0 to 365"),
        ("7", "whole number"),
        (True, "whole number"),
        (7.5, "whole number"),
    ],
)
def test_the_review_days_are_checked_when_the_policy_loads(value, problem):
    with pytest.raises(PolicyError, match=problem):
        load_policy({"holds": {"hardship_review_days_before": value}})


def test_the_review_days_default_to_a_week_and_a_product_may_set_them(tmp_path):
    assert load_policy().hardship_review_days_before == 7
    path = tmp_path / "product.toml"
    path.write_text("[holds]\nhardship_review_days_before = 10\n", encoding="utf-8")
    assert load_policy(path=path).hardship_review_days_before == 10


# Evidence -----------------------------------------------------------------------------------

PDF = b"%PDF-1.7\n<script>alert(1)</script>\n"


def with_evidence(app, tmp_path):
    """A disputed case with a PNG and a PDF (under hostile names), and their addresses."""
    built, borrower = disputed(app, tmp_path)
    for data, name in ((PNG, 'receipt".png'), (PDF, "../../etc/statement.pdf")):
        assert upload(borrower, data, name).status_code == 303
    with app.app_context():
        ids = (
            db.session()
            .scalars(
                select(DisputeEvidence.id)
                .where(DisputeEvidence.case_id == built.case_id)
                .order_by(DisputeEvidence.id)
            )
            .all()
        )
    return built, borrower, [f"/agent/cases/{built.case_id}/evidence/{i}" for i in ids]


def staff_client(app, email: str, roles: tuple[str, ...]):
    client = app.test_client()
    add_staff(app, email, roles)
    assert staff_sign_in(client, email).status_code == 303
    return client


def views(app) -> list[tuple[str, int | None]]:
    with app.app_context():
        rows = db.session().execute(
            select(AuditEntry.actor, AuditEntry.case_id).where(AuditEntry.action == "evidence.view")
        )
        return [(actor, case_id) for actor, case_id in rows]


@pytest.mark.parametrize("roles", [("agent",), ("agent", "supervisor")])
def test_evidence_is_a_safe_audited_download_for_staff_who_open_cases(app, tmp_path, roles):
    built, _borrower, links = with_evidence(app, tmp_path)
    staff = staff_client(app, "agent@haohuan.example", roles)
    for link, data, kind, extension in zip(
        links, (PNG, PDF), ("image/png", "application/pdf"), ("png", "pdf"), strict=True
    ):
        got = staff.get(link)
        assert got.status_code == 200
        assert got.data == data
        assert got.headers["Content-Type"] == kind  # proved by its first bytes, no charset
        assert got.headers["X-Content-Type-Options"] == "nosniff"
        disposition = got.headers["Content-Disposition"]
        # An attachment under our own name: the borrower's name (quotes, a path) never
        # reaches the header.
        assert re.fullmatch(
            rf'attachment; filename="evidence-{built.case_id}-\d+\.{extension}"', disposition
        )
        assert "sandbox" in got.headers["Content-Security-Policy"]
        assert got.headers["Cache-Control"] == "no-store"
    assert views(app) == [("agent@haohuan.example", built.case_id)] * 2


@pytest.mark.parametrize("roles", [("finance",), ("admin",), ("supervisor",)])
def test_staff_who_cannot_open_the_case_get_no_evidence(app, tmp_path, roles):
    _built, _borrower, links = with_evidence(app, tmp_path)
    staff = staff_client(app, "other@haohuan.example", roles)
    got = staff.get(links[0])
    assert got.status_code == 403
    assert PNG not in got.data
    assert views(app) == []


def test_no_evidence_for_a_deactivated_member_a_borrower_or_anyone_signed_out(app, tmp_path):
    _built, borrower, links = with_evidence(app, tmp_path)
    staff = staff_client(app, "agent@haohuan.example", ("agent",))
    with app.app_context():
        session = db.session()
        accounts.deactivate(
            session, accounts.find_member(session, "agent@haohuan.example"), "test", NOW
        )
    for client in (staff, borrower, app.test_client()):
        got = client.get(links[0])
        assert got.status_code in (302, 303)
        assert "/staff/sign-in" in got.headers["Location"]
        assert PNG not in got.data
    assert views(app) == []


def test_no_evidence_through_another_case_a_wild_id_or_a_file_gone(app, tmp_path):
    built, _borrower, links = with_evidence(app, tmp_path)
    other = build_case(app, days_past_due=31)
    staff = staff_client(app, "agent@haohuan.example", ("agent",))
    evidence_id = links[0].rsplit("/", 1)[1]
    for address in (
        f"/agent/cases/{other.case_id}/evidence/{evidence_id}",  # the case the agent opened
        f"/agent/cases/{built.case_id}/evidence/{10**30}",  # no column holds it
        f"/agent/cases/{built.case_id}/evidence/0",
        f"/agent/cases/{10**30}/evidence/{evidence_id}",
    ):
        got = staff.get(address)
        assert got.status_code == 404, address
        assert PNG not in got.data
    for stored in (tmp_path / "evidence").iterdir():
        stored.unlink()
    assert staff.get(links[0]).status_code == 404  # not a 500
    assert views(app) == []
