"""The case page as a workspace: above the fold, the case, "may I call now?" as the gate
answers it, what is waiting on the case and the next action; below, one section open at a
time, read only when open (``portal.contact.workspace``, ``portal.web.agent.views``)."""

from __future__ import annotations

import itertools
import re
from datetime import timedelta

import pytest
from flask_babel import force_locale
from sqlalchemy import event, select

from portal.cases import holds
from portal.cases.flags import raise_flag
from portal.contact import workspace
from portal.contact.calls import call_check
from portal.contact.workspace import Action, PromiseState, case_now, next_actions
from portal.core import db
from portal.models import (
    AuditEntry,
    Callback,
    Case,
    DisputeReason,
    DisputeResolution,
    FlagReason,
    Promise,
    StaffMember,
)
from portal.web.agent import SECTIONS

from .factories import (
    NOW,
    TODAY,
    add_history,
    add_staff,
    build_case,
    staff_sign_in,
    unwrapped,
)

AGENT = "agent@haohuan.example"


@pytest.fixture
def agent(app):
    add_staff(app, AGENT, ("agent", "supervisor"))
    client = app.test_client()
    assert staff_sign_in(client, AGENT).status_code == 303
    return client


def summary_of(html: str) -> str:
    """The page above its sections, its spaces plain and its apostrophes as typed."""
    summary = html[: html.index('id="case-sections"')]
    return summary.replace("\u202f", " ").replace("&#39;", "'")


# The next action ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("callable_now", "on_hold", "message_allowed"),
    list(itertools.product([True, False], repeat=3)),
)
def test_the_next_action_is_a_call_when_allowed_else_the_hold_else_a_message_else_an_offer(
    callable_now, on_hold, message_allowed
):
    primary, others = next_actions(callable_now, on_hold, message_allowed)
    if callable_now:
        assert primary is Action.LOG_CALL
    elif on_hold:
        assert primary is Action.REVIEW_HOLD
    elif message_allowed:
        assert primary is Action.SEND_MESSAGE
    else:
        assert primary is Action.MAKE_OFFER
    # Every other action once, never the primary; the hold's review only with a hold.
    everything = {Action.LOG_CALL, Action.SEND_MESSAGE, Action.MAKE_OFFER, Action.PRINT_LETTER}
    if on_hold:
        everything.add(Action.REVIEW_HOLD)
    assert primary not in others
    assert len(others) == len(set(others))
    assert {primary, *others} == everything


@pytest.mark.parametrize(
    ("days", "state"), [(-3, PromiseState.PAST), (0, PromiseState.DUE), (1, PromiseState.COMING)]
)
def test_an_open_promise_is_coming_due_or_past_on_the_borrowers_today(days, state):
    promise = Promise(due_date=TODAY + timedelta(days=days))
    assert workspace.promise_state(promise, TODAY) is state


# What the summary reads ----------------------------------------------------------------------


def _now_of(app, case_id: int, moment=NOW):
    with app.test_request_context("/"), force_locale("en"):
        session = db.session()
        case = session.get(Case, case_id)
        return case_now(session, case, moment), call_check(session, case, moment)


def test_the_verdict_is_the_call_checks_answer_at_any_hour(app):
    built = build_case(app)  # Taipei
    for hours in range(0, 24, 3):
        moment = NOW + timedelta(hours=hours)
        now, check = _now_of(app, built.case_id, moment)
        assert now.check == check
        assert (now.primary is Action.LOG_CALL) is check.allowed
    # 23:00 in Taipei: refused, allowed from the first allowed hour of their next
    # morning, on their clock.
    now, _ = _now_of(app, built.case_id, NOW + timedelta(hours=13))
    assert not now.check.allowed
    first_hour = now.check.hours[0].lstrip("0")
    assert now.check.allowed_from is not None
    assert f"Dec 1, 2026, {first_hour}:00" in now.check.allowed_from
    assert "Taipei" in now.check.allowed_from
    # No email, and SMS by the same hours: nothing to send now, so an offer comes first.
    assert now.message_channels == ()
    assert now.primary is Action.MAKE_OFFER


def test_what_is_waiting_callback_promise_flags_and_a_proposed_dispute(app):
    built = build_case(app, days_past_due=31, locale="en")
    add_staff(app, AGENT, ("agent",))
    with app.test_request_context("/"):
        session = db.session()
        case = session.get(Case, built.case_id)
        session.add(
            Callback(
                case_id=case.id,
                due_at=NOW + timedelta(hours=2),
                source="borrower",
                requested_by="borrower",
                requested_at=NOW,
            )
        )
        for number, status in enumerate(("kept", "open")):
            session.add(
                Promise(
                    case_id=case.id,
                    made_by=AGENT,
                    made_at=NOW - timedelta(days=5 - number),
                    due_date=TODAY,
                    amount=1000 + number,
                    currency="TWD",
                    status=status,
                )
            )
        raise_flag(session, case, FlagReason.PROMISE_BROKEN, NOW, "system")
        session.commit()
        holds.place_hold(
            session, case, "dispute", "paid", NOW, dispute_reason=DisputeReason.ALREADY_PAID
        )
        member = session.scalar(select(StaffMember).where(StaffMember.email == AGENT))
        holds.propose(session, case, member, DisputeResolution.REJECTED, "no proof", NOW)
    now, _ = _now_of(app, built.case_id)
    assert now.callback is not None
    assert "Taipei" in (now.callback_time or "")
    assert now.promise is not None
    assert now.promise.amount == 1001  # the open one
    assert now.promise_state is PromiseState.DUE
    assert [f.reason for f in now.flags] == ["promise_broken", "hold_placed"]
    assert now.hold is not None
    assert now.hold_waits_for_sign_off
    # On hold: no collection call, and its review comes first.
    assert not now.check.allowed
    assert now.primary is Action.REVIEW_HOLD


def test_the_summary_shows_the_verdict_what_waits_and_the_next_action(app, agent):
    built = build_case(app, days_past_due=31)
    add_history(app, built.case_id, agent=AGENT)
    html = agent.get(f"/agent/cases/{built.case_id}?lang=en").get_data(as_text=True)
    summary = unwrapped(summary_of(html))
    for words in (
        "Case LN-T-",
        "陳**",
        "Collection stage:",
        "State: Open",
        "Needs an agent",
        "NT$",
        "Unassigned",
        "You may call the borrower now.",
        "The borrower's local time: Nov 30, 2026, 10:00:00 AM (Taipei)",
        "Call back at Nov 30, 2026 1:00 PM (Taipei)",
        "(the borrower asked)",
        "Promise to pay NT$1,000 by November 30, 2026",
        "due today",
        "Promise to pay not kept",
        "The borrower sent a request",
    ):
        assert words in summary, words
    assert "陳怡君" not in html
    primary = re.search(r'id="primary-action" href="([^"]+)">([^<]+)<', summary)
    assert primary is not None
    assert primary.groups() == (
        f"/agent/cases/{built.case_id}?section=calls#log-call",
        "Log a call",
    )
    for other in ("Send a reminder", "Build an offer", "Print a letter"):
        assert re.search(rf'class="button secondary" href="[^"]+">{other}<', summary), other


def test_a_held_case_says_why_not_and_puts_the_holds_review_first(app, agent):
    built = build_case(app, days_past_due=31, locale="en")
    with app.test_request_context("/"):
        session = db.session()
        holds.place_hold(
            session,
            session.get(Case, built.case_id),
            "dispute",
            "not mine",
            NOW,
            dispute_reason=DisputeReason.NOT_MINE,
        )
    html = agent.get(f"/agent/cases/{built.case_id}?lang=en").get_data(as_text=True)
    summary = unwrapped(summary_of(html))
    check = agent.get(f"/agent/cases/{built.case_id}/calls/check?lang=en").get_data(as_text=True)
    reasons = re.findall(r"<li>([^<]+)</li>", check[check.index("call-check") :])
    assert reasons
    assert "Do not call the borrower now." in summary
    for reason in reasons:  # the same gate's words as the call-check page
        assert f"<li>{reason}</li>" in summary
    assert "This is not my loan" in summary
    assert "Review by" in summary
    assert re.search(
        r'id="primary-action" href="[^"]*section=holds#hold">Review the hold<', summary
    )


# Only the open section is read ---------------------------------------------------------------


def _statements(app, client, path: str) -> list[str]:
    seen: list[str] = []
    engine = app.extensions["haohuan.engine"]

    def note(conn, cursor, statement, *args) -> None:
        seen.append(statement)

    client.get(path)  # warm
    event.listen(engine, "before_cursor_execute", note)
    try:
        assert client.get(path).status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", note)
    return seen


def _tables(statements: list[str]) -> set[str]:
    return {t for s in statements for t in re.findall(r"FROM (\w+)", s)}


def test_the_default_page_reads_no_closed_section_and_as_much_for_a_long_history(app, agent):
    bare = build_case(app, days_past_due=31)
    busy = build_case(app, days_past_due=31)
    add_history(app, busy.case_id, agent=AGENT)
    counts = {}
    for built in (bare, busy):
        statements = _statements(app, agent, f"/agent/cases/{built.case_id}")
        counts[built.case_id] = len(statements)
        read = _tables(statements)
        # The events, the payments and their allocations, the offers and the dispute's
        # evidence are each a section's: none is read before its section opens.
        for table in ("case_events", "payments", "allocations", "offers", "dispute_evidence"):
            assert table not in read, (table, read)
    # A case with months of history costs the page no more statements than a new one.
    assert counts[busy.case_id] <= counts[bare.case_id] + 1, counts
    assert counts[busy.case_id] <= 25, counts
    # Opening a section reads its data, and the fragment reads less than the whole page.
    events = _statements(app, agent, f"/agent/cases/{busy.case_id}/sections/events")
    assert any("FROM case_events" in s for s in events)
    assert len(events) < counts[busy.case_id]


def test_each_section_read_is_recorded_with_its_name(app, agent):
    built = build_case(app)
    for section in SECTIONS:
        agent.get(f"/agent/cases/{built.case_id}/sections/{section.name}")
        agent.get(f"/agent/cases/{built.case_id}?section={section.name}")
    with app.app_context():
        entries = db.session().scalars(
            select(AuditEntry).where(AuditEntry.action == "case.view").order_by(AuditEntry.id)
        )
        shown = [(e.actor, e.case_id, e.details.get("section")) for e in entries]
    expected = [(AGENT, built.case_id, s.name) for s in SECTIONS for _ in range(2)]
    assert shown == expected


def test_the_fragment_of_a_section_is_its_part_with_the_tabs(app, agent):
    built = build_case(app)
    part = agent.get(
        f"/agent/cases/{built.case_id}/sections/payments?lang=en", headers={"HX-Request": "true"}
    ).get_data(as_text=True)
    assert part.startswith('<div id="case-sections"')
    assert 'aria-current="true">Payments<' in part
    assert part.count('aria-current="true"') == 1
    assert "No payments on this case." in part
    # Each tab pushes its page's address, so back, reload and bookmarks keep the section.
    assert f'data-hx-push-url="/agent/cases/{built.case_id}?section=events"' in part
