"""The portfolio page's other tables as CSV (``/reports/portfolio/<name>.csv``): each holds
the figures the page shows, of the hand-worked books of the page's tests; who reads which
follows the report's audiences; every export is audited."""

from __future__ import annotations

import csv
import io

import pytest
from flask import Flask
from flask_babel import force_locale

from negotiation.portfolio import OPEN_BUCKETS
from portal.core import db
from portal.core.i18n import money
from portal.reporting.arrangements import CHANNELS, KINDS
from portal.reporting.contact import CHANNELS as CONTACT_CHANNELS
from portal.reporting.contact import REASONS
from portal.reporting.funnel import DEVICES, STEPS
from portal.reporting.portfolio import share_text
from portal.reporting.slices import share
from portal.reporting.snapshots import count_transitions
from portal.web.reports import tables

from .factories import staff_sign_in
from .factories import unwrapped as page_html
from .test_finance_console import audited
from .test_portfolio_report import book  # noqa: F401 (a fixture, used by name)
from .test_report_agents import NOVEMBER_END, OCTOBER_END, build_book
from .test_reports_page import (
    FINANCE,
    SUPERVISOR,
    URL,
    fuller,  # noqa: F401 (a fixture, used by name)
    report_of,
    rows_of,
    signed_in,
    supervisor,  # noqa: F401 (a fixture, used by name)
)

MONEY_TABLES = {"rates", "plans-by-kind", "plans-by-channel", "discount-and-waiver"}
OTHER_TABLES = {
    "promises",
    "promises-by-agent",
    "contact-by-channel",
    "refusals",
    "funnel",
    "funnel-by-language",
    "funnel-by-device",
}
AGENT_TABLES = {"agents", "contacts-per-cure"}


def read_csv(client, name: str, query: str = "lang=en") -> tuple[list[str], list[dict[str, str]]]:
    """The table's CSV: its header, and each row by column."""
    response = client.get(f"{URL}/{name}.csv?{query}")
    assert response.status_code == 200, name
    assert response.mimetype == "text/csv"
    text = response.get_data(as_text=True)
    assert text.startswith("\ufeff")  # Excel reads the names as UTF-8
    lines = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    return lines[0], [dict(zip(lines[0], line, strict=True)) for line in lines[1:]]


def by(rows: list[dict[str, str]], key: str) -> dict[str, dict[str, str]]:
    return {row[key]: row for row in rows}


def test_the_registry_names_every_table_of_the_page_once():
    assert set(tables.NAMES) == MONEY_TABLES | OTHER_TABLES | AGENT_TABLES
    assert len(tables.NAMES) == len(set(tables.NAMES))
    money_sections = {tables.SECTION_TABLES[name].section for name in MONEY_TABLES}
    assert money_sections == {"roll_rates", "plans"}


def test_the_rates_per_bucket_are_the_pages(app, supervisor, fuller):  # noqa: F811
    report = report_of(app)
    matrix = report.roll_rates.matrix
    header, rows = read_csv(supervisor, "rates", "lang=en&currency=TWD")
    assert header == list(tables.RATE_HEADER)
    rates = by(rows, "bucket")
    assert list(rates) == ["current", "1_30", "31_60", "61_90", "91_180", "181_plus"]
    # TWD at 31 October: B current (rolled forward), A, C and D in 1-30 (A rolled
    # forward, C closed, D cured), each owing 595,000.
    assert rates["1_30"]["cured_share"] == "0.333333"
    assert rates["1_30"]["cured_amount_share"] == "0.333333"
    assert rates["1_30"]["rolled_forward_share"] == "0.333333"
    assert rates["current"]["cured_share"] == ""  # a current case cannot be cured
    assert rates["current"]["rolled_forward_share"] == "1.000000"
    assert {row["currency"] for row in rows} == {"TWD"}
    # The whole book spans two currencies: shares of cases, no amounts, no currency.
    _, whole = read_csv(supervisor, "rates")
    for row in whole:
        assert row["currency"] == ""
        assert row["rolled_forward_amount_share"] == ""
    json_forward = {b.value: share_text(matrix.roll_forward(b).cases) for b in OPEN_BUCKETS}
    assert {row["bucket"]: row["rolled_forward_share"] or None for row in whole} == json_forward


def test_the_plans_tables_are_the_pages(app, supervisor, fuller):  # noqa: F811
    plans = report_of(app).arrangements
    assert plans is not None
    html = page_html(supervisor.get(f"{URL}?lang=en").get_data(as_text=True))
    for name, keys, tallies, first in (
        ("plans-by-kind", KINDS, plans.by_kind, "kind"),
        ("plans-by-channel", CHANNELS, plans.by_channel, "first_payment"),
    ):
        header, rows = read_csv(supervisor, name)
        assert header == [first, "accepted", "kept", "broken", "lapsed", "live", "kept_rate"]
        assert [row[first] for row in rows] == [*keys, "all"]
        for row, tally in zip(rows, [*(tallies[k] for k in keys), plans.total], strict=True):
            counts = [tally.accepted, tally.kept, tally.broken, tally.lapsed, tally.live]
            assert [row[c] for c in header[1:6]] == [str(n) for n in counts]
            assert row["kept_rate"] == (share_text(tally.kept_rate) or "")
        assert f'href="{URL}/{name}.csv?' in html
    # Worked out from the fixture: a settlement kept, from an agent's offer.
    assert by(read_csv(supervisor, "plans-by-kind")[1], "kind")["settlement"]["kept"] == "1"
    assert (
        by(read_csv(supervisor, "plans-by-channel")[1], "first_payment")["agent_offer"]["accepted"]
        == "1"
    )
    # Discount and waiver: minor units, and the page's formatted amount beside them.
    header, rows = read_csv(supervisor, "discount-and-waiver")
    assert header == list(tables.FORGONE_HEADER)
    (twd,) = rows
    (forgone,) = plans.forgone
    with app.test_request_context("/"), force_locale("en"):
        discount, waiver = money(100_000, "TWD"), money(forgone.waiver, "TWD")
    page_row = rows_of(html, "portfolio-forgone")[0]
    assert (twd["currency"], twd["plans"], twd["discount_minor"]) == ("TWD", "2", "100000")
    assert twd["discount"] == discount == page_row[2]
    assert twd["waiver_minor"] == str(forgone.waiver)
    assert twd["waiver"] == waiver == page_row[4]
    assert twd["average_discount_minor"] == str(forgone.average_discount)


def test_the_promises_contact_and_funnel_tables_are_the_pages(app, supervisor, fuller):  # noqa: F811
    report = report_of(app)
    promised, contact, funnel = report.promises, report.contact, report.funnel
    assert promised is not None
    assert contact is not None
    assert funnel is not None
    statuses = ["made", "kept", "partly_kept", "broken", "open", "superseded"]
    header, (total,) = read_csv(supervisor, "promises")
    assert header == statuses
    assert [total[s] for s in statuses] == [str(getattr(promised.total, s)) for s in statuses]
    assert (total["kept"], total["partly_kept"]) == ("1", "1")
    header, agents = read_csv(supervisor, "promises-by-agent")
    assert header == ["made_by", "staff_id", "name", *statuses]
    # By made_by: the former agent's email (no account), then the supervisor by name.
    assert [(a["made_by"], a["name"]) for a in agents] == [
        ("former@haohuan.example", ""),
        (SUPERVISOR, "林美"),
    ]
    assert agents[1]["partly_kept"] == "1"
    assert agents[0]["staff_id"] == ""
    header, channels = read_csv(supervisor, "contact-by-channel")
    assert header == ["channel", "attempts", "opt_outs"]
    assert [row["channel"] for row in channels] == [*CONTACT_CHANNELS, "all"]
    channel = by(channels, "channel")
    assert (channel["call"]["attempts"], channel["sms"]["attempts"]) == ("1", "1")
    assert channel["email"]["opt_outs"] == "1"
    assert (channel["all"]["attempts"], channel["all"]["opt_outs"]) == ("2", "1")
    header, refusals = read_csv(supervisor, "refusals")
    assert header == ["reason", "refusals"]
    assert {r["reason"]: int(r["refusals"]) for r in refusals} == {
        reason: contact.refusals_by_reason[reason] for reason in REASONS
    }
    assert by(refusals, "reason")["quiet_hours"]["refusals"] == "1"
    steps = funnel.steps()
    assert steps == (1, 1, 1, 1, 1, 2, 0)
    header, rows = read_csv(supervisor, "funnel")
    assert header == ["step", "cases", "share_of_first_step"]
    assert [(r["step"], int(r["cases"])) for r in rows] == list(zip(STEPS, steps, strict=True))
    assert rows[0]["share_of_first_step"] == "1.000000"
    assert rows[5]["share_of_first_step"] == share_text(share(2, 1)) == "2.000000"
    header, devices = read_csv(supervisor, "funnel-by-device")
    assert header == ["device", "step", "cases"]
    assert [r["device"] for r in devices] == [d for d in DEVICES for _ in STEPS]
    # The page's phone column: the case at each step it reached.
    phone = [r["cases"] for r in devices if r["device"] == "phone"]
    assert phone == ["1", "1", "1", "1", "1", "1", "0"]
    html = page_html(supervisor.get(f"{URL}?lang=en").get_data(as_text=True))
    assert [row[1] for row in rows_of(html, "portfolio-funnel-by", 1)] == phone
    header, languages = read_csv(supervisor, "funnel-by-language")
    assert header == ["language", "step", "cases"]
    for language in funnel.languages:
        counted = [int(r["cases"]) for r in languages if r["language"] == language]
        assert counted == list(funnel.steps(language=language))
    assert funnel.languages  # not a comparison between two empties
    for name in OTHER_TABLES:
        assert f'href="{URL}/{name}.csv?' in html


def test_who_reads_which_table(app, client, supervisor, fuller):  # noqa: F811
    signed_out = client.get(f"{URL}/promises.csv")
    assert signed_out.status_code == 303
    assert signed_out.headers["Location"].startswith("/staff/sign-in")
    agent = signed_in(app, "agent@haohuan.example", ("agent",))
    finance = signed_in(app, FINANCE, ("finance",))
    admin = signed_in(app, "admin@haohuan.example", ("admin",))
    for name in tables.NAMES:
        assert supervisor.get(f"{URL}/{name}.csv").status_code == 200, name
        assert admin.get(f"{URL}/{name}.csv").status_code == 200, name
        assert agent.get(f"{URL}/{name}.csv").status_code == 403, name
        expected = 200 if name in MONEY_TABLES else 403
        assert finance.get(f"{URL}/{name}.csv").status_code == expected, name
    # A name not among the tables: not found, whoever asks.
    for reader in (supervisor, finance):
        for name in ("nope", "roll-rates", "agents!", "%3Cscript%3E"):
            assert reader.get(f"{URL}/{name}.csv").status_code == 404, name
    # The page shows finance no link to a table it may not read.
    html = finance.get(f"{URL}?lang=en").get_data(as_text=True)
    assert f'href="{URL}/plans-by-kind.csv?' in html
    for name in OTHER_TABLES:
        assert f"{URL}/{name}.csv" not in html
    # A bad filter goes back to the page to be explained there.
    bad = supervisor.get(f"{URL}/promises.csv?currency=nope&lang=en")
    assert bad.status_code == 303
    assert bad.headers["Location"] == f"{URL}?currency=nope"
    # Finance may not slice the book by owner: asked for, back to the page.
    assert finance.get(f"{URL}/rates.csv?owner=1").status_code == 303


def test_every_table_export_is_audited_with_its_name(app, supervisor, fuller):  # noqa: F811
    finance = signed_in(app, FINANCE, ("finance",))
    assert supervisor.get(f"{URL}/refusals.csv?currency=TWD").status_code == 200
    assert supervisor.get(f"{URL}/nope.csv").status_code == 404
    assert supervisor.get(f"{URL}/funnel.csv?currency=nope").status_code == 303
    assert finance.get(f"{URL}/promises.csv").status_code == 403
    assert finance.get(f"{URL}/discount-and-waiver.csv").status_code == 200
    period = {"from": "2026-10-31", "to": "2026-10-31"}
    assert audited(app, "reports.table") == [
        (
            SUPERVISOR,
            "reports.table.export",
            None,
            {"table": "refusals", "filters": {**period, "currency": "TWD"}},
        ),
        (
            FINANCE,
            "reports.table.export",
            None,
            {"table": "discount-and-waiver", "filters": period},
        ),
    ]
    response = supervisor.get(f"{URL}/refusals.csv")
    name = "portfolio-refusals-2026-10-31-2026-11-30.csv"
    assert response.headers["Content-Disposition"] == f'attachment; filename="{name}"'


# The agents' tables: the agents' book of their page's tests ------------------------------


@pytest.fixture
def agents_book(app: Flask):
    """The agents' book, with its month pair's transitions counted."""
    built = build_book(app)
    with app.app_context():
        count_transitions(db.session(), OCTOBER_END, NOVEMBER_END)
        db.session().commit()
    return built


def as_member(app: Flask, name: str):
    client = app.test_client()
    assert staff_sign_in(client, f"{name}@haohuan.example").status_code == 303
    return client


@pytest.mark.usefixtures("agents_book")
def test_the_agents_tables_are_their_pages(app):
    boss = as_member(app, "boss")
    query = f"lang=en&from={OCTOBER_END}&to={OCTOBER_END}"
    header, rows = read_csv(boss, "agents", query)
    assert header == list(tables.AGENT_HEADER)
    ling = [row for row in rows if row["name"] == "Ling"]
    with app.test_request_context("/"), force_locale("en"):
        total, paid = money(140_000, "TWD"), money(80_000, "TWD")
    # As the page's row: owned, worked, attempts, right-party contacts, promises made and
    # kept, offers made, approved of those beyond authority, plans, money (paid so far).
    assert [
        (r["cases_owned"], r["cases_worked"], r["attempts"], r["right_party_contacts"])
        for r in ling
    ] == [("2", "4", "3", "3")]
    (row,) = ling
    assert (row["promises_made"], row["promises_kept"], row["offers_made"]) == ("2", "1", "5")
    assert (row["offers_approved"], row["offers_beyond_authority"]) == ("1", "3")
    assert (row["plans_accepted"], row["currency"]) == ("2", "TWD")
    assert (row["plans_total_minor"], row["plans_total"]) == ("140000", total)
    assert (row["paid_minor"], row["paid"]) == ("80000", paid)
    assert row["email"] == "ling@haohuan.example"
    # An agent who arranged nothing: one row, no currency.
    (wei,) = [r for r in rows if r["name"] == "Wei"]
    assert (wei["currency"], wei["plans_total_minor"]) == ("", "")
    assert not [r for r in rows if r["name"] in ("Gone", "Fin")]
    # Contacts per cure: 6 attempts and 2 right-party contacts over 3 cures.
    header, (cured,) = read_csv(boss, "contacts-per-cure", query)
    assert cured == {
        "cures": "3",
        "attempts": "6",
        "right_party_contacts": "2",
        "attempts_per_cure": "2.000000",
        "right_party_contacts_per_cure": "0.666667",
    }
    # The agents' page links to both.
    html = boss.get(f"{URL}/agents?{query}").get_data(as_text=True)
    assert f'href="{URL}/agents.csv?' in html
    assert f'href="{URL}/contacts-per-cure.csv?' in html
    # Finance and agents read neither.
    for member in ("fin", "wei"):
        client = as_member(app, member)
        for name in AGENT_TABLES:
            assert client.get(f"{URL}/{name}.csv?{query}").status_code == 403
    assert [row[3]["table"] for row in audited(app, "reports.table")] == [
        "agents",
        "contacts-per-cure",
    ]
