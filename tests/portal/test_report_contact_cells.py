"""The contact's cells (``portal.reporting.contact.count_contact``): what a month counts,
under which slice, and how a period sums them; on SQLite and PostgreSQL. The figures
themselves are checked against the hand-worked book of ``test_report_figures``."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import Flask
from sqlalchemy import func, select

from portal.core import db
from portal.models import AuditEntry, Case, ContactAttempt, Loan, OptOut
from portal.reporting import monthly
from portal.reporting.cells import in_period
from portal.reporting.contact import CELLS, LOG, contact, count_contact
from portal.reporting.portfolio import Slice
from tests.portal.factories import add_staff, build_case
from tests.portal.test_report_cells import _row as month_end_row

TAIPEI = ZoneInfo("Asia/Taipei")
SEPTEMBER, OCTOBER, NOVEMBER = date(2026, 9, 30), date(2026, 10, 31), date(2026, 11, 30)
LING, WEI = "ling@haohuan.example", "wei@haohuan.example"


def taipei(month: int, day: int, hour: int = 12) -> datetime:
    """A moment of 2026 in Taipei, as UTC."""
    return datetime(2026, month, day, hour, tzinfo=TAIPEI).astimezone(UTC)


def _attempt(case_id: int, channel: str, at: datetime, agent: str, **more: Any) -> ContactAttempt:
    borrower_id = db.session().get_one(Case, case_id).loan.borrower_id
    return ContactAttempt(
        case_id=case_id, borrower_id=borrower_id, channel=channel, at=at, agent=agent, **more
    )


def _opt_out(case_id: int, channel: str, at: datetime) -> OptOut:
    borrower_id = db.session().get_one(Case, case_id).loan.borrower_id
    return OptOut(borrower_id=borrower_id, channel=channel, at=at, source="link")


def _cells(session: Any, month_end: date) -> list[tuple[str, tuple[Any, ...]]]:
    """Every cell of the month, without its id, in order (of their text: a NULL reason
    does not compare with a reason)."""
    return sorted(
        (
            (table.name, tuple(value for key, value in row._mapping.items() if key != "id"))
            for table in CELLS
            for row in session.execute(select(table).where(table.c.month_end == month_end))
        ),
        key=repr,
    )


def test_a_month_is_counted_under_the_slice_its_case_had_when_it_began(app: Flask) -> None:
    ling = add_staff(app, LING, roles=("agent",))
    wei = add_staff(app, WEI, roles=("agent",))
    a = build_case(app).case_id
    with app.app_context():
        session = db.session()
        # ling's at the end of October, wei's since.
        session.add(month_end_row(OCTOBER, a, ling, "late"))
        session.get_one(Case, a).owner_id = wei
        session.add_all(
            [
                _attempt(a, "call", taipei(11, 2), WEI, connected=True, outcome="reached"),
                _attempt(a, "sms", taipei(11, 3), "system", outcome="sent"),
                AuditEntry(
                    at=taipei(11, 4),
                    actor=WEI,
                    action="call.refused",
                    case_id=a,
                    details={"reasons": ["quiet_hours"]},
                ),
                _opt_out(a, "sms", taipei(11, 5)),
            ]
        )
        session.flush()
        count_contact(session, NOVEMBER, TAIPEI)
        whole = contact(session, OCTOBER, OCTOBER)
        lings = contact(session, OCTOBER, OCTOBER, Slice(owner_id=ling))
        weis = contact(session, OCTOBER, OCTOBER, Slice(owner_id=wei))
        late = contact(session, OCTOBER, OCTOBER, Slice(stage="late"))

    def figures(found: Any) -> tuple[int, ...]:
        return (
            found.attempts,
            found.right_party_contacts,
            found.cases,
            found.refusals,
            found.refusals_by_reason["quiet_hours"],
            found.opt_outs_by_channel["sms"],
        )

    # Everything under ling's slice and the stage of October's row, none under wei's.
    assert figures(whole) == figures(lings) == figures(late) == (2, 1, 1, 1, 1, 1)
    assert figures(weis) == (0, 0, 0, 0, 0, 0)
    # The report's days are the pair's: November.
    assert (whole.first, whole.last) == (date(2026, 11, 1), NOVEMBER)


def _two_months(app: Flask) -> tuple[int, int]:
    """A: a call in October and in November; B: an email in November and a refusal in a
    batch (two of the gate's reasons and one not the gate's)."""
    a, b = build_case(app).case_id, build_case(app, currency="CNY").case_id
    with app.app_context():
        session = db.session()
        session.add_all(
            [
                _attempt(a, "call", taipei(10, 20), LING, outcome="no_answer"),
                _attempt(a, "call", taipei(11, 2), LING, connected=True, outcome="reached"),
                # 23:00 on 30 November in Taipei: still November.
                _attempt(b, "email", taipei(11, 30, 23), "system", outcome="sent"),
                AuditEntry(
                    at=taipei(11, 6),
                    actor=LING,
                    action="message.refused",
                    case_id=None,
                    details={
                        "batch_id": 1,
                        "refused": {"opted_out": [b], "quiet_hours": [b], "no_address": [a]},
                    },
                ),
            ]
        )
        session.commit()
    return a, b


def test_a_period_of_two_months_counts_case_months(app: Flask) -> None:
    _two_months(app)
    with app.app_context():
        session = db.session()
        monthly.recount(session, OCTOBER, NOVEMBER, TAIPEI)
        # The pairs from 30 September to 31 October: October and November.
        both = contact(session, SEPTEMBER, OCTOBER)
        october = contact(session, SEPTEMBER, SEPTEMBER)
        november = contact(session, OCTOBER, OCTOBER)
    # A in October; A and B in November: three case-months of two cases.
    assert (october.attempts, october.cases) == (1, 1)
    assert (november.attempts, november.cases) == (2, 2)
    assert (both.attempts, both.cases, both.right_party_contacts) == (3, 3, 1)
    assert both.attempts_per_case == 1
    # B's batch refusals: one under each of the gate's reasons; A's (no address) is not.
    assert (both.refusals, both.refusals_by_reason["opted_out"]) == (2, 1)
    assert both.refusals_by_reason["quiet_hours"] == 1
    assert (both.first, both.last) == (date(2026, 10, 1), NOVEMBER)


def test_counting_a_month_again_leaves_the_same_cells(app: Flask) -> None:
    _two_months(app)
    with app.app_context():
        session = db.session()
        written = count_contact(session, NOVEMBER, TAIPEI)
        before = _cells(session, NOVEMBER)
        session.commit()
        # As the month-end step counts it again the next month (October stays counted).
        again = monthly.count_month(session, date(2026, 12, 31), TAIPEI)
        after = _cells(session, NOVEMBER)
        session.commit()
        october = _cells(session, OCTOBER)
    # Cells: A's and B's log rows (2), the case-months of one slice each (2), B's
    # refusal cells (the total and two reasons, 3).
    assert written == len(before) == 7
    assert after == before
    # (The other sections' counters run too: only the contact's is compared here.)
    assert again["contact"] == written
    assert october == []


def test_an_opt_out_counts_once_under_one_case_of_its_borrower(app: Flask) -> None:
    ling = add_staff(app, LING, roles=("agent",))
    # One borrower's two loans: A (TWD, not in the book when November began) and C (CNY,
    # ling's then). Another's two, D and E, neither in the book then.
    a, c, d, e = (
        build_case(app, currency=currency).case_id for currency in ("TWD", "CNY", "HKD", "HKD")
    )
    with app.app_context():
        session = db.session()
        cases = {i: session.get_one(Case, i) for i in (a, c, d, e)}
        cases[c].loan.borrower_id = cases[a].loan.borrower_id
        cases[e].loan.borrower_id = cases[d].loan.borrower_id
        row = month_end_row(OCTOBER, c, ling, "early")
        row.currency = "CNY"
        session.add(row)
        session.flush()
        session.add_all([_opt_out(a, "call", taipei(11, 3)), _opt_out(e, "email", taipei(11, 4))])
        session.flush()
        count_contact(session, NOVEMBER, TAIPEI)
        whole = contact(session, OCTOBER, OCTOBER)
        by_currency = {
            currency: contact(session, OCTOBER, OCTOBER, Slice(currency=currency)).opt_outs
            for currency in ("TWD", "CNY", "HKD")
        }
        borrowers = session.scalar(select(func.count(func.distinct(Loan.borrower_id))))
    assert borrowers == 2
    # Each borrower and channel once: A's borrower's under C (in the book then), D's
    # borrower's under D (the lower number).
    assert dict(whole.opt_outs_by_channel) == {
        "call": 1,
        "sms": 0,
        "email": 1,
        "letter": 0,
        "line": 0,
        "wechat": 0,
    }
    assert by_currency == {"TWD": 0, "CNY": 1, "HKD": 1}


def test_the_chat_apps_are_counted_as_channels_of_their_own(app: Flask) -> None:
    """A reminder on LINE and an opt-out of WeChat (issue 20) are counted under their own
    channels: the month's report reads every channel the contact log may hold."""
    add_staff(app, LING, roles=("agent",))
    case_id = build_case(app).case_id
    with app.app_context():
        session = db.session()
        session.add(month_end_row(OCTOBER, case_id, None, "early"))
        session.add_all(
            [
                _attempt(case_id, "line", taipei(11, 5), "strategy"),
                _attempt(case_id, "sms", taipei(11, 6), "strategy"),
                _opt_out(case_id, "wechat", taipei(11, 7)),
            ]
        )
        session.flush()
        count_contact(session, NOVEMBER, TAIPEI)
        found = contact(session, OCTOBER, OCTOBER)
    assert found.attempts_by_channel["line"] == 1
    assert found.attempts_by_channel["sms"] == 1
    assert found.opt_outs_by_channel["wechat"] == 1
    assert found.attempts == 2


def test_the_agents_figures_sum_the_same_cells(app: Flask) -> None:
    """What the agents' reader sums per agent: attempts (outbound), right-party contacts
    (connected, inbound included) and inbound calls, from ``contact_cells``."""
    b = build_case(app).case_id
    with app.app_context():
        session = db.session()
        session.add_all(
            [
                _attempt(b, "call", taipei(11, 2), LING, outcome="no_answer"),
                _attempt(b, "call", taipei(11, 3), LING, connected=True, outcome="promise"),
                _attempt(b, "call", taipei(11, 4), LING, connected=True, inbound=True),
                _attempt(b, "sms", taipei(11, 5), "system", outcome="sent"),
                _attempt(b, "call", taipei(11, 6), WEI, outcome="no_answer"),
            ]
        )
        session.flush()
        count_contact(session, NOVEMBER, TAIPEI)
        outbound = func.sum(LOG.c.attempts).filter(LOG.c.inbound.is_(False))
        inbound = func.sum(LOG.c.attempts).filter(LOG.c.inbound.is_(True))
        per_agent = session.execute(
            select(
                LOG.c.agent,
                func.coalesce(outbound, 0),
                func.sum(LOG.c.connected),
                func.coalesce(inbound, 0),
            )
            .where(*in_period(LOG, OCTOBER, OCTOBER, Slice()), LOG.c.agent.in_([LING, WEI]))
            .group_by(LOG.c.agent)
        ).all()
    assert sorted(tuple(row) for row in per_agent) == [(LING, 2, 2, 1), (WEI, 1, 0, 0)]
