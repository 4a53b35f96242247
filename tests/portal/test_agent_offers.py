"""Pre-approved offers in the agent console: built live from the engine, ready within an
agent's authority, waiting for a supervisor beyond it, refused outside policy; approved
or declined by someone else (four eyes), withdrawn, expired by the daily work; every
action audited; and the borrower who opens the offer's link sees it first.

The case (from ``build_case``) is 47 days past due, in the middle stage: NT$11,450
overdue (two installments of NT$5,500, a NT$300 fee, a NT$150 penalty). There an agent
may waive up to 50% of the penalties and spread the arrears over 12 payments; a
supervisor up to 100% and 24.
"""

from __future__ import annotations

import re
import threading
from datetime import timedelta

import pytest
from flask import g, render_template
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from portal.access.verification import issue_link
from portal.arrangements import offers as service
from portal.arrangements.agreement import offer_terms, usable_offer
from portal.cases import lifecycle
from portal.cases.facts import policy
from portal.core import db
from portal.core.clock import as_utc
from portal.models import AuditEntry, Case, CaseEvent, Offer, StaffMember
from portal.web.agent.offer_views import offers_section

from .factories import NOW, TODAY, add_staff, build_case, staff_sign_in, unwrapped

AGENT = "agent@haohuan.example"
OTHER_AGENT = "other@haohuan.example"
SUPERVISOR = "boss@haohuan.example"
SECOND_SUPERVISOR = "boss2@haohuan.example"

WITHIN = {
    "kind": "arrears_plan",
    "installments": "6",
    "frequency": "monthly",
    "first_due_date": "2026-12-05",
    "down_payment": "",
    "penalty_waiver_pct": "50",
    "fee_waiver_pct": "0",
    "settlement_discount_pct": "0",
    "interest_rate_pct": "0",
}
BEYOND = {**WITHIN, "penalty_waiver_pct": "100", "fee_waiver_pct": "40"}  # agent: 50%, 25%
OUTSIDE = {**WITHIN, "installments": "30"}  # a supervisor's most is 24


def staff(app, *accounts):
    for email, roles in accounts:
        add_staff(app, email=email, roles=roles)


def signed_in(app, email):
    client = app.test_client()
    assert staff_sign_in(client, email=email).status_code == 303
    return client


def new_url(case_id):
    return f"/agent/cases/{case_id}/offers/new"


def action_url(case_id, offer_id, action):
    return f"/agent/cases/{case_id}/offers/{offer_id}/{action}"


def offers_of(app, case_id):
    with app.app_context():
        found = db.session().scalars(
            select(Offer).where(Offer.case_id == case_id).order_by(Offer.id)
        )
        offers = list(found)
        db.session().expunge_all()
        return offers


def audit_of(app, action):
    with app.app_context():
        found = list(db.session().scalars(select(AuditEntry).where(AuditEntry.action == action)))
        db.session().expunge_all()
        return found


def events_of(app, case_id, kind):
    with app.app_context():
        query = select(CaseEvent).where(CaseEvent.case_id == case_id, CaseEvent.kind == kind)
        found = list(db.session().scalars(query))
        db.session().expunge_all()
        return found


def create(client, case_id, terms, lang="en"):
    return client.post(new_url(case_id), data=terms, query_string={"lang": lang})


def text(response):
    return unwrapped(response.get_data(as_text=True))


# Within, beyond and outside authority --------------------------------------------------


def test_an_offer_within_the_agents_authority_is_ready(app):
    staff(app, (AGENT, ("agent",)))
    built = build_case(app)
    client = signed_in(app, AGENT)
    made = create(client, built.case_id, WITHIN)
    assert made.status_code == 303
    [offer] = offers_of(app, built.case_id)
    assert (offer.status, offer.authority, offer.created_by) == ("ready", "agent", AGENT)
    assert as_utc(offer.expires_at) == NOW + timedelta(days=7)
    assert offer.decided_by is None
    # Stored in exactly the shape the borrower side reads back.
    terms = offer_terms(offer)
    assert (terms.kind.value, terms.installments, str(terms.penalty_waiver_pct)) == (
        "arrears_plan",
        6,
        "50",
    )
    assert terms.first_due_date.isoformat() == "2026-12-05"
    [event] = events_of(app, built.case_id, "offer_created")
    assert (event.data["offer_id"], event.data["status"]) == (offer.id, "ready")
    [entry] = audit_of(app, "offer.create")
    assert (entry.actor, entry.case_id) == (AGENT, built.case_id)
    assert entry.details["offer_id"] == offer.id
    # Back to the case, where the notice waits (shown by whichever page comes next).
    back = f"/agent/cases/{built.case_id}?section=offers#offers"
    assert made.headers["Location"].endswith(back)
    assert "is ready to send" in text(client.get(new_url(built.case_id) + "?lang=en"))


def test_an_offer_beyond_it_waits_for_a_supervisor_who_approves_it(app):
    staff(app, (AGENT, ("agent",)), (SUPERVISOR, ("agent", "supervisor")))
    built = build_case(app)
    agent = signed_in(app, AGENT)
    assert create(agent, built.case_id, BEYOND).status_code == 303
    [offer] = offers_of(app, built.case_id)
    assert (offer.status, offer.authority) == ("needs_approval", "supervisor")
    with app.test_request_context("/"):
        case = db.session().get(Case, built.case_id)
        assert usable_offer(db.session(), case, offer.id, NOW) is None  # not sendable yet

    supervisor = signed_in(app, SUPERVISOR)
    queue = text(supervisor.get("/agent/approvals?lang=en"))
    assert f"Offer {offer.id}" in queue
    assert "The penalty waiver can be at most 50%." in queue
    assert "The fee waiver can be at most 25%." in queue

    later = NOW + timedelta(minutes=20)  # (within the supervisor's session)
    app.config["HAOHUAN_NOW"] = later.isoformat()
    approved = supervisor.post(
        action_url(built.case_id, offer.id, "approve"), data={f"approve-{offer.id}-note": "ok"}
    )
    assert approved.status_code == 303
    [offer] = offers_of(app, built.case_id)
    assert (offer.status, offer.decided_by, offer.decision_note) == ("ready", SUPERVISOR, "ok")
    # Sendable for a whole validity period from the approval, not from the making.
    assert as_utc(offer.expires_at) == later + timedelta(days=7)
    [entry] = audit_of(app, "offer.approve")
    assert (entry.actor, entry.details["offer_id"], entry.details["maker"]) == (
        SUPERVISOR,
        offer.id,
        AGENT,
    )
    assert events_of(app, built.case_id, "offer_approved")
    after = text(supervisor.get("/agent/approvals?lang=en"))
    assert f"Offer {offer.id} is approved and ready to send." in after
    assert "No offer is waiting for approval." in after


def test_the_borrower_who_opens_an_approved_offers_link_sees_it_first(app, client):
    staff(app, (AGENT, ("agent",)), (SUPERVISOR, ("agent", "supervisor")))
    built = build_case(app, locale="en")
    create(signed_in(app, AGENT), built.case_id, BEYOND)
    [offer] = offers_of(app, built.case_id)
    signed_in(app, SUPERVISOR).post(action_url(built.case_id, offer.id, "approve"))
    # The link a message carries (the messaging module issues it in the send).
    with app.test_request_context("/"):
        session = db.session()
        token = issue_link(session, session.get(Case, built.case_id), NOW, offer=offer)
        session.commit()
    verified = client.post(f"/r/{token}", data={"method": "id_last4", "answer": built.id_last4})
    assert verified.location.endswith("/plans")
    html = text(client.get("/plans"))
    assert html.index("An offer prepared for you") < html.index("Plans you can choose now")
    # Every penalty (NT$150) and 40% of the fee (NT$120) waived, as approved.
    assert "We waive NT$270." in html


def test_a_supervisors_own_offer_beyond_an_agents_authority_is_ready_on_their_own(app):
    staff(app, (SUPERVISOR, ("agent", "supervisor")))
    built = build_case(app)
    client = signed_in(app, SUPERVISOR)
    settlement = {**WITHIN, "kind": "settlement", "settlement_discount_pct": "30"}
    preview = client.post(
        f"/agent/cases/{built.case_id}/offers/preview?lang=en",
        data=settlement,
        headers={"HX-Request": "true"},
    )
    assert "within yours as a supervisor" in text(preview)
    assert create(client, built.case_id, settlement).status_code == 303
    [offer] = offers_of(app, built.case_id)
    assert (offer.status, offer.authority, offer.decided_by) == ("ready", "supervisor", SUPERVISOR)
    assert offer.terms["kind"] == "settlement"
    assert offer.terms["installments"] == 1  # what the kind ignores is not stored
    [entry] = audit_of(app, "offer.create")
    assert entry.details["approved_by_maker"] is True
    assert events_of(app, built.case_id, "offer_created")[0].data["approved_by_maker"] is True


def test_an_offer_outside_policy_is_refused_with_its_reasons_and_nothing_is_stored(app):
    staff(app, (SUPERVISOR, ("agent", "supervisor")))
    built = build_case(app)
    client = signed_in(app, SUPERVISOR)
    refused = create(client, built.case_id, OUTSIDE)
    assert refused.status_code == 422
    html = text(refused)
    assert "Outside policy" in html
    assert "That is too many installments. The most allowed is 24." in html
    assert 'value="30"' in html  # the terms stay as typed
    assert offers_of(app, built.case_id) == []
    assert audit_of(app, "offer.create") == []
    assert events_of(app, built.case_id, "offer_created") == []


def test_the_builder_previews_each_outcome_without_storing_anything(app):
    staff(app, (AGENT, ("agent",)))
    built = build_case(app)
    client = signed_in(app, AGENT)
    page = client.get(new_url(built.case_id) + "?lang=en")
    assert page.status_code == 200
    assert "Ready to send" in text(page)  # the starting terms are the agent's own
    for terms, words in (
        (WITHIN, "Ready to send"),
        (BEYOND, "Needs a supervisor"),
        (OUTSIDE, "Outside policy"),
    ):
        answer = client.post(
            f"/agent/cases/{built.case_id}/offers/preview?lang=en",
            data=terms,
            headers={"HX-Request": "true"},
        )
        assert answer.status_code == 200
        assert words in text(answer)
    schedule = text(
        client.post(
            f"/agent/cases/{built.case_id}/offers/preview?lang=en",
            data=WITHIN,
            headers={"HX-Request": "true"},
        )
    )
    amounts = [int(a.replace(",", "")) for a in re.findall(r"NT\$([\d,]+)</td>", schedule)]
    *installments, total = amounts
    assert len(installments) == 6
    assert sum(installments) == total == 11_375  # half the NT$150 penalty waived
    assert offers_of(app, built.case_id) == []
    # Opening the builder is a view of the case, recorded.
    [view] = audit_of(app, "case.view")
    assert view.details == {"page": "offer_builder"}


def test_the_preview_is_a_fragment_for_htmx_and_the_whole_page_without_it(app):
    staff(app, (AGENT, ("agent",)))
    built = build_case(app)
    client = signed_in(app, AGENT)
    url = f"/agent/cases/{built.case_id}/offers/preview?lang=en"
    fragment = client.post(url, data=BEYOND, headers={"HX-Request": "true"})
    assert fragment.status_code == 200
    assert text(fragment).lstrip().startswith('<section id="offer-preview"')
    assert "<html" not in text(fragment)
    assert "HX-Request" in fragment.headers["Vary"]
    page = client.post(url, data=BEYOND)
    assert page.status_code == 200
    html = text(page)
    assert "<html" in html
    assert 'id="offer-preview"' in html
    assert 'name="penalty_waiver_pct" type="text" value="100"' in html
    assert "Needs a supervisor" in html


def test_bad_input_is_explained_in_the_language_and_nothing_is_lost(app):
    staff(app, (AGENT, ("agent",)))
    built = build_case(app)
    client = signed_in(app, AGENT)
    bad = {
        **WITHIN,
        "installments": "abc",
        "penalty_waiver_pct": "150",
        "first_due_date": "next week",
        "kind": "loan_shark",
    }
    answer = create(client, built.case_id, bad, lang="zh_Hant_TW")
    assert answer.status_code == 422
    html = text(answer)
    assert "請輸入 1 到 600 之間的數字。" in html
    for typed in ("abc", "150", "next week"):
        assert f'value="{typed}"' in html
    assert "Enter a percentage" not in html  # translated, not English
    assert offers_of(app, built.case_id) == []
    english = create(client, built.case_id, bad)
    assert "Enter a percentage from 0 to 100, like 50 or 12.5." in text(english)
    assert "Choose one of the listed values." in text(english)
    simplified = create(client, built.case_id, bad, lang="zh_Hans_CN")
    assert "请输入 1 到 600 之间的数字。" in text(simplified)
    # The htmx preview of bad input answers 200 (htmx swaps no 4xx) with the problems.
    fragment = client.post(
        f"/agent/cases/{built.case_id}/offers/preview?lang=en",
        data=bad,
        headers={"HX-Request": "true"},
    )
    assert fragment.status_code == 200
    assert "Correct the form to see the schedule" in text(fragment)


# Approval: four eyes, decline, re-judged -------------------------------------------------


def test_an_agent_cannot_approve_and_nobody_approves_their_own_offer(app):
    staff(app, (AGENT, ("agent",)), (SUPERVISOR, ("agent", "supervisor")))
    built = build_case(app)
    agent = signed_in(app, AGENT)
    create(agent, built.case_id, BEYOND)
    [offer] = offers_of(app, built.case_id)
    assert agent.get("/agent/approvals").status_code == 403
    assert agent.post(action_url(built.case_id, offer.id, "approve")).status_code == 403
    assert agent.post(action_url(built.case_id, offer.id, "decline")).status_code == 403
    # The maker promoted to supervisor still may not approve their own offer.
    with app.app_context():
        session = db.session()
        member = session.scalars(select(StaffMember).where(StaffMember.email == AGENT)).one()
        member.roles = "agent,supervisor"
        session.commit()
    own = agent.post(action_url(built.case_id, offer.id, "approve"), query_string={"lang": "en"})
    assert own.status_code == 403
    assert "another supervisor must approve or decline it" in text(own)
    assert offers_of(app, built.case_id)[0].status == "needs_approval"
    assert audit_of(app, "offer.approve") == []


def test_a_declined_offer_says_why(app):
    staff(app, (AGENT, ("agent",)), (SUPERVISOR, ("agent", "supervisor")))
    built = build_case(app)
    create(signed_in(app, AGENT), built.case_id, BEYOND)
    [offer] = offers_of(app, built.case_id)
    supervisor = signed_in(app, SUPERVISOR)
    url = action_url(built.case_id, offer.id, "decline")
    field = f"decline-{offer.id}-note"
    blank = supervisor.post(url, data={field: "   "}, query_string={"lang": "en"})
    assert blank.status_code == 422
    assert "Say why the offer is declined." in text(blank)
    assert offers_of(app, built.case_id)[0].status == "needs_approval"
    note = "Fees cannot be waived for this product."
    declined = supervisor.post(url, data={field: note})
    assert declined.status_code == 303
    [offer] = offers_of(app, built.case_id)
    assert (offer.status, offer.decided_by, offer.decision_note) == ("declined", SUPERVISOR, note)
    [entry] = audit_of(app, "offer.decline")
    assert entry.details["note"] == note
    # Decided once: a second decision finds it decided.
    again = supervisor.post(
        action_url(built.case_id, offer.id, "approve"), query_string={"lang": "en"}
    )
    assert again.status_code == 409
    assert "already been decided" in text(again)
    assert offers_of(app, built.case_id)[0].status == "declined"


def test_approval_judges_the_case_as_it_is_now(app):
    staff(app, (AGENT, ("agent",)), (SUPERVISOR, ("agent", "supervisor")))
    built = build_case(app)
    create(signed_in(app, AGENT), built.case_id, BEYOND)
    [offer] = offers_of(app, built.case_id)
    # Meanwhile the borrower pays everything overdue: there is nothing left to offer on.
    with app.app_context():
        session = db.session()
        for installment in session.get(Case, built.case_id).loan.installments:
            if installment.due_date < TODAY:
                installment.principal_paid = installment.principal_due
                installment.interest_paid = installment.interest_due
        session.commit()
    supervisor = signed_in(app, SUPERVISOR)
    assert "It cannot be approved now" in text(supervisor.get("/agent/approvals?lang=en"))
    refused = supervisor.post(
        action_url(built.case_id, offer.id, "approve"), query_string={"lang": "en"}
    )
    assert refused.status_code == 409
    assert "now outside policy" in text(refused)
    assert "Nothing is overdue on this loan." in text(refused)
    assert offers_of(app, built.case_id)[0].status == "needs_approval"
    assert audit_of(app, "offer.approve") == []


# Holds and plans ---------------------------------------------------------------------------


def test_a_dispute_bars_offers_and_a_hardship_hold_does_not(app):
    staff(app, (AGENT, ("agent",)))
    disputed = build_case(app, hold="dispute")
    hardship = build_case(app, hold="hardship")
    client = signed_in(app, AGENT)
    refused = create(client, disputed.case_id, WITHIN)
    assert refused.status_code == 422
    assert "The borrower disputes this debt" in text(refused)
    assert offers_of(app, disputed.case_id) == []
    preview = client.post(
        f"/agent/cases/{hardship.case_id}/offers/preview?lang=en",
        data=WITHIN,
        headers={"HX-Request": "true"},
    )
    assert "on hold for hardship" in text(preview)
    assert create(client, hardship.case_id, WITHIN).status_code == 303
    assert offers_of(app, hardship.case_id)[0].status == "ready"


# Withdrawal, expiry, the case section ------------------------------------------------------


def test_an_offer_is_withdrawn_by_its_maker_or_a_supervisor_only(app):
    staff(
        app,
        (AGENT, ("agent",)),
        (OTHER_AGENT, ("agent",)),
        (SUPERVISOR, ("agent", "supervisor")),
    )
    built = build_case(app)
    agent = signed_in(app, AGENT)
    create(agent, built.case_id, WITHIN)
    create(agent, built.case_id, BEYOND)
    first, second = offers_of(app, built.case_id)
    other, supervisor = signed_in(app, OTHER_AGENT), signed_in(app, SUPERVISOR)
    assert other.post(action_url(built.case_id, first.id, "withdraw")).status_code == 403
    assert agent.post(action_url(built.case_id, first.id, "withdraw")).status_code == 303
    assert supervisor.post(action_url(built.case_id, second.id, "withdraw")).status_code == 303
    assert [o.status for o in offers_of(app, built.case_id)] == ["withdrawn", "withdrawn"]
    assert [e.actor for e in audit_of(app, "offer.withdraw")] == [AGENT, SUPERVISOR]
    with app.test_request_context("/"):
        case = db.session().get(Case, built.case_id)
        assert usable_offer(db.session(), case, first.id, NOW) is None
    # Withdrawn once; a second withdrawal changes nothing.
    agent.post(action_url(built.case_id, first.id, "withdraw"))
    assert len(audit_of(app, "offer.withdraw")) == 2


# One open offer per case --------------------------------------------------------------------


def test_a_new_offer_withdraws_the_open_one_and_says_so(app):
    staff(
        app, (AGENT, ("agent",)), (OTHER_AGENT, ("agent",)), (SUPERVISOR, ("agent", "supervisor"))
    )
    built = build_case(app)
    agent = signed_in(app, AGENT)
    assert create(agent, built.case_id, BEYOND).status_code == 303
    [first] = offers_of(app, built.case_id)
    # The builder warns before anything changes; another agent's offer counts too.
    other = signed_in(app, OTHER_AGENT)
    preview = other.post(
        f"/agent/cases/{built.case_id}/offers/preview?lang=en",
        data=WITHIN,
        headers={"HX-Request": "true"},
    )
    assert f"creating this one withdraws offer {first.id}." in text(preview)
    made = create(other, built.case_id, WITHIN)
    assert made.status_code == 303
    page = text(other.get(made.headers["Location"].split("#")[0] + "&lang=en"))
    first, second = offers_of(app, built.case_id)
    assert f"It replaces offer {first.id}, which is withdrawn." in page
    assert f"Replaced by offer {second.id}" in page
    assert (first.status, first.replaced_by_id) == ("withdrawn", second.id)
    assert (second.status, second.replaced_by_id) == ("ready", None)
    [event] = events_of(app, built.case_id, "offer_withdrawn")
    assert event.data == {"offer_id": first.id, "by": OTHER_AGENT, "replaced_by": second.id}
    [entry] = audit_of(app, "offer.withdraw")
    assert (entry.actor, entry.details["offer_id"], entry.details["was"]) == (
        OTHER_AGENT,
        first.id,
        "needs_approval",
    )
    assert entry.details["replaced_by"] == second.id
    assert [e.details["replaces"] for e in audit_of(app, "offer.create")] == [[], [first.id]]
    # The withdrawn one has left the approval queue and can no longer be approved.
    supervisor = signed_in(app, SUPERVISOR)
    assert f"Offer {first.id}" not in text(supervisor.get("/agent/approvals?lang=en"))
    assert supervisor.post(action_url(built.case_id, first.id, "approve")).status_code == 409


def test_an_open_offer_past_its_expiry_is_expired_not_withdrawn_by_a_new_one(app):
    staff(app, (AGENT, ("agent",)))
    built = build_case(app)
    agent = signed_in(app, AGENT)
    create(agent, built.case_id, WITHIN)
    app.config["HAOHUAN_NOW"] = (NOW + timedelta(days=8)).isoformat()
    agent = signed_in(app, AGENT)
    preview = agent.post(
        f"/agent/cases/{built.case_id}/offers/preview?lang=en",
        data=WITHIN,
        headers={"HX-Request": "true"},
    )
    assert "withdraws offer" not in text(preview)
    assert (
        create(agent, built.case_id, {**WITHIN, "first_due_date": "2026-12-12"}).status_code == 303
    )
    first, second = offers_of(app, built.case_id)
    assert (first.status, first.replaced_by_id, second.status) == ("expired", None, "ready")
    assert [e.data["offer_id"] for e in events_of(app, built.case_id, "offer_expired")] == [
        first.id
    ]


def test_the_database_holds_one_open_offer_per_case(app):
    built = build_case(app)
    with app.app_context():
        session = db.session()

        def offer(status):
            return Offer(
                case_id=built.case_id,
                status=status,
                terms={},
                created_by=AGENT,
                created_at=NOW,
                expires_at=NOW + timedelta(days=7),
            )

        session.add_all([offer("withdrawn"), offer("declined"), offer("ready")])
        session.commit()
        session.add(offer("needs_approval"))
        with pytest.raises(IntegrityError):
            session.commit()
        session.rollback()


def test_concurrent_offers_leave_one_open(app, backend):
    if backend == "sqlite":
        pytest.skip("SQLite serialises every writer; the race needs PostgreSQL")
    agents = [f"agent{n}@haohuan.example" for n in range(4)]
    staff(app, *((email, ("agent",)) for email in agents))
    built = build_case(app)
    clients = [signed_in(app, email) for email in agents]
    barrier = threading.Barrier(len(clients))
    statuses: list[int] = []
    failures: list[BaseException] = []

    def submit(client):
        try:
            barrier.wait(timeout=10)
            statuses.append(create(client, built.case_id, WITHIN).status_code)
        except BaseException as error:  # reported to the main thread below
            failures.append(error)

    threads = [threading.Thread(target=submit, args=(c,)) for c in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not failures
    assert statuses == [303] * len(clients)
    offers = offers_of(app, built.case_id)
    assert len(offers) == len(clients)
    assert [o.status for o in offers] == ["withdrawn"] * (len(clients) - 1) + ["ready"]
    # Each withdrawn offer names the one that replaced it: a chain ending at the open one.
    assert [o.replaced_by_id for o in offers] == [o.id for o in offers[1:]] + [None]


def test_tampered_ids_get_nothing(app):
    staff(app, (SUPERVISOR, ("agent", "supervisor")), (AGENT, ("agent",)))
    mine = build_case(app)
    other = build_case(app)
    create(signed_in(app, AGENT), mine.case_id, BEYOND)
    [offer] = offers_of(app, mine.case_id)
    client = signed_in(app, SUPERVISOR)
    assert client.get(new_url(9999)).status_code == 404
    assert client.get(new_url(2**70)).status_code == 404
    assert client.post(f"/agent/cases/{2**64}/offers/preview", data=WITHIN).status_code == 404
    for action in ("approve", "decline", "withdraw"):
        # The offer named under another case, or an offer that does not exist.
        assert client.post(action_url(other.case_id, offer.id, action)).status_code == 404
        assert client.post(action_url(mine.case_id, offer.id + 99, action)).status_code == 404
        assert client.post(action_url(mine.case_id, 2**70, action)).status_code == 404
    assert offers_of(app, mine.case_id)[0].status == "needs_approval"


def test_offers_expire_by_the_daily_work_and_are_unusable_from_their_expiry(app):
    staff(app, (AGENT, ("agent",)), (SUPERVISOR, ("agent", "supervisor")))
    built, other = build_case(app), build_case(app)
    agent = signed_in(app, AGENT)
    create(agent, built.case_id, WITHIN)
    create(agent, other.case_id, BEYOND)
    (ready,), (waiting,) = offers_of(app, built.case_id), offers_of(app, other.case_id)
    after = NOW + timedelta(days=7, minutes=1)
    app.config["HAOHUAN_NOW"] = after.isoformat()
    with app.test_request_context("/"):
        case = db.session().get(Case, built.case_id)
        # Unusable from the moment it expires, before the daily work writes it down.
        assert usable_offer(db.session(), case, ready.id, after) is None
        assert service.effective_status(db.session().get(Offer, ready.id), after) == "expired"
    supervisor = signed_in(app, SUPERVISOR)
    assert f"Offer {waiting.id}" not in text(supervisor.get("/agent/approvals?lang=en"))
    late = supervisor.post(action_url(other.case_id, waiting.id, "approve"))
    assert late.status_code == 409
    assert offers_of(app, other.case_id)[0].status == "needs_approval"

    with app.app_context():
        engine = app.extensions["haohuan.engine"]
        day = lifecycle.work_day(engine, policy(), TODAY + timedelta(days=7), after)
        assert day.offers_expired == 2
        assert lifecycle.work_day(engine, policy(), TODAY + timedelta(days=7), after).changed == 0
    for case_id, offer in ((built.case_id, ready), (other.case_id, waiting)):
        assert [o.status for o in offers_of(app, case_id)] == ["expired"]
        expired = events_of(app, case_id, "offer_expired")
        assert [e.data["offer_id"] for e in expired] == [offer.id]


def test_an_offer_not_yet_expired_is_left_alone_by_the_daily_work(app):
    staff(app, (AGENT, ("agent",)))
    built = build_case(app)
    create(signed_in(app, AGENT), built.case_id, WITHIN)
    with app.app_context():
        engine = app.extensions["haohuan.engine"]
        almost = NOW + timedelta(days=6, hours=23)
        assert lifecycle.work_day(engine, policy(), TODAY, almost).offers_expired == 0
    assert offers_of(app, built.case_id)[0].status == "ready"


def test_the_case_section_lists_offers_with_what_can_be_done(app):
    staff(app, (AGENT, ("agent",)), (SUPERVISOR, ("agent", "supervisor")))
    built = build_case(app)
    agent = signed_in(app, AGENT)
    create(agent, built.case_id, BEYOND)
    create(agent, built.case_id, WITHIN)  # withdraws the first: one open offer per case
    waiting, ready = offers_of(app, built.case_id)
    path = f"/agent/cases/{built.case_id}"
    with app.test_request_context(path, headers={"Accept-Language": "en"}):
        session = db.session()
        g.staff = session.scalars(select(StaffMember).where(StaffMember.email == AGENT)).one()
        case = session.get(Case, built.case_id)
        context = offers_section(session, case, g.staff, NOW)
        html = render_template("agent/_case_offers.html", **context)
        sendable = "agent.send_message" in app.view_functions
    assert [row["status"] for row in context["offers_panel"]["rows"]] == ["ready", "withdrawn"]
    assert "Ready to send" in html
    assert f"Replaced by offer {ready.id}" in html
    assert html.count('name="offer_id"') == (2 * 1 if sendable else 0)  # SMS and email
    assert f'name="offer_id" value="{waiting.id}"' not in html
    assert html.count("/withdraw") == 1
    assert "Build an offer" in html
    assert "/r/" not in html  # no link is ever shown to pass on


def test_offer_counts_in_the_queue_and_audit_are_complete(app):
    staff(app, (AGENT, ("agent",)), (SUPERVISOR, ("agent", "supervisor")))
    built, other = build_case(app), build_case(app)
    agent = signed_in(app, AGENT)
    create(agent, built.case_id, BEYOND)
    create(agent, other.case_id, BEYOND)
    (first,), (second,) = offers_of(app, built.case_id), offers_of(app, other.case_id)
    supervisor = signed_in(app, SUPERVISOR)
    html = text(supervisor.get("/agent/approvals?lang=en"))
    assert "2 offers are waiting" in html
    assert html.index(f"Offer {first.id}") < html.index(f"Offer {second.id}")  # oldest first
    supervisor.post(action_url(built.case_id, first.id, "approve"))
    supervisor.post(
        action_url(other.case_id, second.id, "decline"), data={f"decline-{second.id}-note": "no"}
    )
    supervisor.post(action_url(built.case_id, first.id, "withdraw"))
    with app.app_context():
        actions = list(
            db.session().scalars(
                select(AuditEntry.action)
                .where(AuditEntry.action.like("offer.%"))
                .order_by(AuditEntry.id)
            )
        )
        count = db.session().scalar(select(func.count(AuditEntry.id)))
    assert actions == [
        "offer.create",
        "offer.create",
        "offer.approve",
        "offer.decline",
        "offer.withdraw",
    ]
    assert count >= len(actions)
