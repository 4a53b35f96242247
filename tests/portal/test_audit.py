"""The staff audit log: every staff action appended (who, when, what, on which case),
never changed (the database itself refuses), and read by admins only, filtered, paged
and exported as a CSV that a spreadsheet opens safely."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, timedelta

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from portal.audit import trail
from portal.audit.search import PER_PAGE
from portal.core import db
from portal.models import AuditEntry, Case, StaffMember

from .factories import NOW, PASSWORD, add_staff, build_case, staff_sign_in

ADMIN = "admin@haohuan.example"
AGENT = "agent@haohuan.example"


def signed_in(app, email, roles):
    add_staff(app, email=email, roles=roles)
    client = app.test_client()
    assert staff_sign_in(client, email=email).status_code == 303
    return client


def entries(app, **where):
    with app.app_context():
        query = select(AuditEntry).filter_by(**where).order_by(AuditEntry.id)
        found = db.session().scalars(query).all()
        db.session().expunge_all()
        return list(found)


def add_entry(app, actor, action, at, case_id=None, **details):
    with app.app_context():
        session = db.session()
        trail.record(session, actor, action, at, case_id=case_id, **details)
        session.commit()


def read_csv(response):
    body = response.get_data(as_text=True)
    assert body.startswith("\ufeff")
    return list(csv.DictReader(io.StringIO(body[1:])))


# Every action is recorded --------------------------------------------------------------------


def test_every_staff_action_records_who_when_what_and_which_case(app):
    built = build_case(app)
    on_hold = build_case(app)
    agent = signed_in(app, AGENT, ("agent",))
    case = built.case_id
    assert agent.get(f"/agent/cases/{case}/calls/check").status_code == 200
    promised = agent.post(
        f"/agent/cases/{case}/calls",
        data={
            "answered": "borrower",
            "outcome": "promise",
            "promise_date": "2026-12-05",
            "promise_amount": "1000",
            "opt_out": "email",
        },
    )
    assert promised.status_code == 303
    disputed = agent.post(
        f"/agent/cases/{on_hold.case_id}/calls",
        data={"answered": "borrower", "outcome": "dispute", "note": "Not my loan."},
    )
    assert disputed.status_code == 303
    refused = agent.post(f"/agent/cases/{on_hold.case_id}/calls", data={"answered": "nobody"})
    assert refused.status_code == 422
    assert agent.post("/staff/sign-out").status_code == 303

    with app.app_context():
        agent_id = db.session().scalar(select(StaffMember.id).where(StaffMember.email == AGENT))
    expected = [
        ("staff.sign_in", None),
        ("call.log", case),
        ("promise.create", case),
        ("optout.record", case),
        ("call.log", on_hold.case_id),
        ("hold.place", on_hold.case_id),
        ("call.refused", on_hold.case_id),
        ("staff.sign_out", None),
    ]
    found = entries(app)
    assert [(e.action, e.case_id) for e in found] == expected
    for entry in found:
        assert (entry.actor, entry.staff_id) == (AGENT, agent_id)
        assert entry.at.replace(tzinfo=UTC) == NOW
        assert entry.address == "127.0.0.1"
    assert found[2].details["amount"] == 100_000
    assert found[3].details["channel"] == "email"
    assert found[5].details["reason"] == "dispute"


def test_a_failed_sign_in_is_recorded_with_the_email_typed_never_the_password(app):
    add_staff(app, email=AGENT, roles=("agent",))
    client = app.test_client()
    assert (
        staff_sign_in(client, email="Agent@Haohuan.example", password="wrong password!").status_code
        == 401
    )
    assert staff_sign_in(client, email="nobody@haohuan.example").status_code == 401
    failed = entries(app, action="staff.sign_in_failed")
    assert [(e.actor, e.staff_id, e.details["verdict"]) for e in failed] == [
        (AGENT, None, "wrong"),
        ("nobody@haohuan.example", None, "wrong"),
    ]
    for entry in failed:
        assert "wrong password" not in str(entry.details)
        assert PASSWORD not in str(entry.details)


# Append-only, by the database itself -----------------------------------------------------------


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_entries SET action = 'nothing.happened'",
        "UPDATE audit_entries SET actor = 'someone.else@haohuan.example' WHERE id = 1",
        "DELETE FROM audit_entries",
        "DELETE FROM audit_entries WHERE id = 1",
    ],
)
def test_the_database_refuses_to_change_or_remove_an_entry(app, statement):
    add_entry(app, "cli", "staff.create", NOW, email="x@haohuan.example")
    engine = app.extensions["haohuan.engine"]
    with pytest.raises(DBAPIError, match="append-only"), engine.begin() as connection:
        connection.execute(text(statement))
    (entry,) = entries(app)
    assert (entry.actor, entry.action) == ("cli", "staff.create")


def test_the_orm_cannot_change_an_entry_either(app):
    add_entry(app, "cli", "staff.create", NOW)
    with app.app_context():
        session = db.session()
        entry = session.scalars(select(AuditEntry)).one()
        entry.action = "nothing.happened"
        with pytest.raises(DBAPIError, match="append-only"):
            session.commit()
        session.rollback()
    assert entries(app)[0].action == "staff.create"


# The admin's view --------------------------------------------------------------------------------


@pytest.fixture
def admin(app):
    return signed_in(app, ADMIN, ("admin",))


@pytest.fixture
def log(app):
    """A varied log: two agents, several actions, two cases, three days."""
    first, second = build_case(app), build_case(app)
    rows = [
        ("mei@haohuan.example", "call.log", NOW - timedelta(days=2), first.case_id),
        ("mei@haohuan.example", "promise.create", NOW - timedelta(days=2), first.case_id),
        ("li@haohuan.example", "call.check", NOW - timedelta(days=1), second.case_id),
        ("li@haohuan.example", "offer.create", NOW - timedelta(hours=1), second.case_id),
        ("cli", "staff.create", NOW - timedelta(minutes=5), None),
    ]
    for actor, action, at, case_id in rows:
        add_entry(app, actor, action, at, case_id)
    return first, second


def listed(client, query=""):
    """The actions the log lists, in order, leaving out the admin's own looks at it."""
    response = client.get(f"/admin/audit?lang=en&{query}")
    assert response.status_code == 200, response.status_code
    body = response.get_data(as_text=True).split("<tbody>")[1].split("</tbody>")[0]
    actions = []
    for row in re.findall(r"<tr>(.*?)</tr>", body, flags=re.S):
        cells = re.findall(r"<td[^>]*>(.*?)</td>", row, flags=re.S)
        if len(cells) != 6:
            continue
        # The action in words, its code beside it (the code alone when it has no words).
        code = re.search(r'<span class="hint code[^"]*">([^<]+)</span>', cells[2])
        action = code.group(1) if code else cells[2]
        if action != "audit.view":
            actions.append(action)
    return actions


def test_the_log_lists_newest_first_and_filters(app, admin, log):
    first, second = log
    everything = listed(admin)
    # The admin's own sign-in is the newest; the oldest entries come last.
    assert everything == [
        "staff.sign_in",
        "staff.create",
        "offer.create",
        "call.check",
        "promise.create",
        "call.log",
    ]
    assert listed(admin, "actor=MEI") == ["promise.create", "call.log"]
    assert listed(admin, "action=call.log") == ["call.log"]
    assert listed(admin, "action=call.") == ["call.check", "call.log"]
    assert listed(admin, f"case={second.case_id}") == ["offer.create", "call.check"]
    with app.app_context():
        number = db.session().get(Case, first.case_id).loan.number
    assert listed(admin, f"case={number.lower()}") == ["promise.create", "call.log"]
    # Days are the lender's (Asia/Taipei): 28 November is two days before the clock.
    assert listed(admin, "since=2026-11-28&until=2026-11-28") == ["promise.create", "call.log"]
    assert listed(admin, "since=2026-11-29") == [
        "staff.sign_in",
        "staff.create",
        "offer.create",
        "call.check",
    ]
    assert listed(admin, "actor=nobody") == []


def test_the_auditor_reads_finance_work_as_one_area(app, admin, log):
    for minutes, action in enumerate(
        ("reconcile.run", "finance.refund.request", "ledger.journal", "refunds.x"), start=1
    ):
        add_entry(app, "mei@haohuan.example", action, NOW - timedelta(minutes=60 - minutes))
    assert listed(admin, "action=area:finance") == [
        "ledger.journal",
        "finance.refund.request",
        "reconcile.run",
    ]
    page = admin.get("/admin/audit?lang=en").get_data(as_text=True)
    assert 'value="area:finance"' in page
    assert admin.get("/admin/audit?lang=en&action=area:nowhere").status_code == 400


def test_looking_at_the_log_is_recorded(app, admin, log):
    admin.get("/admin/audit?action=call.")
    admin.get("/admin/audit.csv?actor=li")
    views = entries(app, action="audit.view")
    assert views[-1].actor == ADMIN
    assert views[-1].details["filters"] == {"action": "call."}
    (export,) = entries(app, action="audit.export")
    assert export.details["filters"] == {"actor": "li"}


def test_the_log_pages(app, admin):
    for number in range(PER_PAGE + 5):
        add_entry(app, "system", "test.entry", NOW - timedelta(minutes=number), n=number)
    first = admin.get("/admin/audit?lang=en&action=test.entry").get_data(as_text=True)
    assert "55 entries found, newest first" in first
    assert "Page 1 of 2" in first
    assert "&#34;n&#34;:0}" in first
    second = admin.get("/admin/audit?lang=en&action=test.entry&page=2").get_data(as_text=True)
    assert "Page 2 of 2" in second
    assert "&#34;n&#34;:54}" in second
    assert "&#34;n&#34;:49}" not in second
    # Past the end: the last page, not an error.
    assert "Page 2 of 2" in admin.get("/admin/audit?action=test.entry&page=9").get_data(
        as_text=True
    )


@pytest.mark.parametrize(
    "query",
    [
        "since=2026-13-01",
        "since=2026-11-30&until=2026-11-01",
        "page=0",
        "page=abc",
        "action=no.such.action",
        "actor=" + "x" * 300,
    ],
)
def test_bad_filters_are_explained(app, admin, query):
    page = admin.get(f"/admin/audit?lang=zh_Hant_TW&{query}")
    assert page.status_code == 400
    assert "請檢查以下欄位" in page.get_data(as_text=True)
    export = admin.get(f"/admin/audit.csv?{query}")
    assert export.status_code == 303
    assert export.location.startswith("/admin/audit?")


@pytest.mark.parametrize("query", ["_method=POST", "_scheme=https", "_anchor=x&since=bad"])
def test_url_building_arguments_in_the_query_are_ignored(app, admin, query):
    # Flask's url_for reads arguments named _method, _scheme, _anchor, _external: a
    # query that carries them is filtered like any other, never a 500.
    assert admin.get(f"/admin/audit?{query}").status_code in (200, 400)
    export = admin.get(f"/admin/audit.csv?since=bad&{query}")
    assert export.status_code == 303
    assert export.location.startswith("/admin/audit?")
    assert "_" not in export.location.split("?", 1)[1].split("=", 1)[0]


def test_the_export_follows_the_filters(app, admin, log):
    first, _second = log
    rows = read_csv(admin.get(f"/admin/audit.csv?case={first.case_id}"))
    assert [r["action"] for r in rows] == ["promise.create", "call.log"]
    assert rows[0]["at_utc"] == "2026-11-28T02:00:00Z"
    assert rows[0]["at_local"] == "2026-11-28T10:00:00+08:00"
    assert rows[0]["case_id"] == str(first.case_id)
    assert rows[0]["loan_number"].startswith("LN-T-")
    response = admin.get("/admin/audit.csv")
    assert response.headers["Content-Disposition"] == 'attachment; filename="audit-2026-11-30.csv"'
    assert response.mimetype == "text/csv"


def test_a_formula_in_the_log_is_neutralised_in_the_export(app, admin):
    # Anyone can type a formula as an email at the sign-in page; it is logged as typed.
    stranger = app.test_client()
    formula = '=HYPERLINK("http://evil.example","x")'
    assert staff_sign_in(stranger, email=formula).status_code == 401
    add_entry(app, "cli", "staff.create", NOW, note="+1 call me", other="-2", at_sign="@SUM(A1)")
    rows = read_csv(admin.get("/admin/audit.csv?actor=hyperlink"))
    (row,) = rows
    assert row["actor"] == "'" + formula.lower()
    assert row["action"] == "staff.sign_in_failed"
    # Details are one JSON object: a cell that starts with "{", never a formula.
    (created,) = read_csv(admin.get("/admin/audit.csv?action=staff.create"))
    assert created["details"].startswith("{")
    assert '"note":"+1 call me"' in created["details"]
    # And the page shows it as text.
    html = admin.get("/admin/audit?lang=en&actor=hyperlink").get_data(as_text=True)
    assert "=hyperlink(&#34;http://evil.example&#34;,&#34;x&#34;)" in html


def test_only_admins_see_the_log(app):
    for role in ("agent", "supervisor", "finance"):
        client = signed_in(app, f"{role}@haohuan.example", (role,))
        assert client.get("/admin/audit").status_code == 403
        assert client.get("/admin/audit.csv").status_code == 403
    stranger = app.test_client()
    for path in ("/admin/audit", "/admin/audit.csv"):
        response = stranger.get(path)
        assert response.status_code == 303
        assert response.location.startswith("/staff/sign-in")
    # An admin lands on the log after signing in.
    add_staff(app, email=ADMIN, roles=("admin",))
    client = app.test_client()
    landing = staff_sign_in(client, email=ADMIN)
    assert client.get(landing.location).location.endswith("/admin/audit")


def test_the_admin_nav_links_to_the_log(app, admin):
    html = admin.get("/admin/audit?lang=en").get_data(as_text=True)
    assert 'href="/admin/audit" aria-current="page"' in html
