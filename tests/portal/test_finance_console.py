"""The finance console: a day's money, payments found and exported, the collections
chart, and reconciliation runs; in three languages, and calm about bad input.

Payments are made real: a payment row, then the gateway's event through
``portal.payments.events.handle``, so allocations, refunds and disputes are the ledger's.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from portal.core import db
from portal.core.csv_export import safe_cell
from portal.finance import reconcile as reconciliation
from portal.finance.reports import PaymentFilters, day_overview, payment_page
from portal.models import AuditEntry, Case, Payment, ReconciliationItem, ReconciliationRun
from portal.payments.events import GatewayEvent, Outcome, handle
from portal.web.finance.chart import bar_chart, nice_step

from .factories import add_staff, build_case, staff_sign_in, unwrapped

TAIPEI = ZoneInfo("Asia/Taipei")
YESTERDAY = date(2026, 11, 29)  # the frozen clock's day before, in Taipei
LANGUAGES = ("zh_Hant_TW", "zh_Hans_CN", "en")


def taipei(day: date, hour: int) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=TAIPEI).astimezone(UTC)


def pay(app, built, amount, when, reference, *, refund=0, dispute=0, succeed=True):
    """A part payment begun and (unless ``succeed`` is false) confirmed at ``when``, then
    refunded or disputed in part; returns its id."""
    with app.test_request_context("/"):
        session = db.session()
        case = session.get(Case, built.case_id)
        payment = Payment(
            case_id=case.id,
            purpose="partial",
            amount=amount,
            currency=case.loan.currency,
            status="pending",
            gateway="stripe",
            gateway_reference=reference,
            created_at=when,
        )
        session.add(payment)
        session.commit()
        if succeed:
            handle(
                session,
                GatewayEvent("stripe", f"ok_{reference}", reference, Outcome.SUCCEEDED),
                when,
            )
        if refund:
            handle(
                session,
                GatewayEvent("stripe", f"re_{reference}", reference, Outcome.REFUNDED, refund),
                when + timedelta(hours=1),
            )
        if dispute:
            handle(
                session,
                GatewayEvent("stripe", f"dp_{reference}", reference, Outcome.DISPUTED, dispute),
                when + timedelta(hours=2),
            )
        return payment.id


@pytest.fixture
def finance(app, client):
    """A client signed in as a finance staff member."""
    add_staff(app)
    assert staff_sign_in(client).status_code == 303
    return client


@pytest.fixture
def books(app):
    """Yesterday: three TWD payments (one refunded in part, one disputed in full), one
    CNY payment, one TWD payment still open; and payments the day before and today."""
    chen = build_case(app, name="陳怡君")
    lin = build_case(app, name='=HYPERLINK("http://evil")')
    wang = build_case(app, currency="CNY", name="王伟", locale="zh_Hans_CN")
    return {
        "full": pay(app, chen, 100_000, taipei(YESTERDAY, 9), "pi_full"),
        "refunded": pay(app, lin, 50_000, taipei(YESTERDAY, 13), "pi_refunded", refund=20_000),
        "disputed": pay(app, chen, 70_000, taipei(YESTERDAY, 23), "pi_disputed", dispute=70_000),
        "cny": pay(app, wang, 30_000, taipei(YESTERDAY, 8), "pi_cny"),
        "open": pay(app, lin, 40_000, taipei(YESTERDAY, 20), "pi_open", succeed=False),
        "before": pay(app, chen, 10_000, taipei(YESTERDAY, 0) - timedelta(minutes=1), "pi_before"),
        "today": pay(app, chen, 20_000, taipei(date(2026, 11, 30), 0), "pi_today"),
    }


# The day's money ---------------------------------------------------------------------------


def test_the_overview_accounts_for_every_cent_of_the_day(app, books):
    with app.test_request_context("/"):
        view = day_overview(db.session(), YESTERDAY, TAIPEI)
    cny, twd = view.currencies  # sorted by code
    assert (cny.currency, twd.currency) == ("CNY", "TWD")
    assert twd.succeeded_count == 3
    assert twd.succeeded_total == 220_000
    assert (twd.refunded, twd.disputed) == (20_000, 70_000)
    assert twd.kept == 130_000
    assert twd.allocated_total == twd.kept
    assert twd.unallocated == 0
    # 陳怡君's NT$1,000 paid her penalty and fee, then the interest of both overdue
    # installments (NT$500 and NT$50 of the next); her disputed NT$700 was allocated, then
    # all taken back. The other borrower's NT$500 paid penalty, fee and NT$50 of interest;
    # the NT$200 refund took back the last paid first: the interest, then NT$150 of the fee.
    assert twd.allocated == {
        "penalty": 15_000 + 15_000,
        "fee": 30_000 + 15_000,
        "interest": 55_000 + 0,
        "principal": 0,
    }
    assert (twd.open_count, twd.open_total) == (1, 40_000)
    assert (cny.succeeded_count, cny.kept, cny.allocated_total) == (1, 30_000, 30_000)
    assert view.run is None


def test_the_overview_page_shows_the_day_and_its_reconciliation(app, finance, books):
    app.config["STRIPE_SECRET_KEY"] = "sk_test_haohuan"  # Stripe is set up
    with app.app_context():
        session = db.session()
        session.add(
            ReconciliationRun(
                started_at=taipei(date(2026, 11, 30), 6),
                since=taipei(YESTERDAY, 0) - timedelta(days=1),
                until=taipei(date(2026, 11, 30), 0),
                started_by="cli",
                status="completed",
                matched=4,
                missing_here=1,
            )
        )
        session.commit()
    html = unwrapped(finance.get("/finance/?lang=en").get_data(as_text=True))
    assert "Online repayments on November 29, 2026" in html
    assert "3 payments succeeded" in html
    assert "NT$2,200" in html
    assert "NT$1,300" in html
    assert "CN¥300.00" in html
    assert "1 line needs review." in html
    assert "1 payment begun this day is still open" in html
    assert "Every cent kept is allocated." in html
    other_day = finance.get("/finance/?day=2026-11-30&lang=en").get_data(as_text=True)
    assert "NT$200" in other_day
    assert "No reconciliation run covers this day yet." in other_day


@pytest.mark.parametrize("day", ["2026-02-30", "yesterday", "1899-01-01", "2026-11-29T00:00"])
def test_a_bad_day_is_explained_and_yesterday_is_shown(finance, day):
    response = finance.get(f"/finance/?day={day}&lang=en")
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "Enter a date" in html
    assert "November 29, 2026" in html


# Payments --------------------------------------------------------------------------------


def _ids(html):
    return [int(n) for n in re.findall(r'href="/finance/payments/(\d+)"', html)]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", ["today", "disputed", "open", "refunded", "full", "cny", "before"]),
        ("status=succeeded&currency=CNY", ["cny"]),
        ("status=open", ["open"]),
        ("status=refunded", ["refunded"]),
        ("status=disputed", ["disputed"]),
        (
            "dated_by=confirmed&since=2026-11-29&until=2026-11-29",
            ["disputed", "refunded", "full", "cny"],
        ),
        ("since=2026-11-30", ["today"]),
        ("q=pi_refunded", ["refunded"]),
        ("q=pi_ref", ["refunded"]),
        ("q=王", ["cny"]),
        ("q=LN-T-B-00003", ["cny"]),
        ("q=%25", []),  # a LIKE wildcard is only a character
        ("purpose=installment", []),
        ("gateway=sandbox", []),
    ],
)
def test_filters_and_search(finance, books, query, expected):
    response = finance.get(f"/finance/payments?{query}")
    assert response.status_code == 200
    assert _ids(response.get_data(as_text=True)) == [books[name] for name in expected]


def _status_of(html, payment_id):
    """The status badge on the row of ``payment_id`` in the payments list."""
    row = re.search(rf'href="/finance/payments/{payment_id}".*?</tr>', html, re.S)
    assert row is not None
    return re.search(r'class="status status-([a-z_]+)">([^<]+)<', row.group(0)).groups()


def test_refunded_and_disputed_payments_say_what_they_are(app, finance, books):
    chen = build_case(app, name="陳怡君")
    books["all_back"] = pay(app, chen, 30_000, taipei(YESTERDAY, 10), "pi_back", refund=30_000)
    html = finance.get("/finance/payments?lang=en").get_data(as_text=True)
    assert _status_of(html, books["refunded"]) == ("partly_refunded", "Partly refunded")
    assert _status_of(html, books["all_back"]) == ("refunded", "Refunded")
    assert _status_of(html, books["disputed"]) == ("disputed", "Disputed by the cardholder")
    assert _status_of(html, books["full"]) == ("succeeded", "Succeeded")
    page = finance.get(f"/finance/payments/{books['disputed']}?lang=en").get_data(as_text=True)
    assert 'class="status status-disputed">Disputed by the cardholder<' in page
    assert 'class="status status-succeeded"' not in page
    # The filter offers them, in every language.
    for lang, words in (("en", "Disputed"), ("zh_Hant_TW", "爭議"), ("zh_Hans_CN", "争议")):
        listed = finance.get(f"/finance/payments?lang={lang}").get_data(as_text=True)
        assert re.search(rf'<option value="disputed">[^<]*{words}', listed), lang
        assert '<option value="refunded">' in listed
    filtered = finance.get("/finance/payments?status=refunded").get_data(as_text=True)
    assert sorted(_ids(filtered)) == sorted([books["refunded"], books["all_back"]])


def test_the_case_page_says_a_payment_is_disputed(app, books):
    add_staff(app, "agent@haohuan.example", ("agent",))
    agent = app.test_client()
    assert staff_sign_in(agent, "agent@haohuan.example").status_code == 303
    with app.app_context():
        case_id = db.session().get(Payment, books["disputed"]).case_id
    html = agent.get(f"/agent/cases/{case_id}?section=payments&lang=en").get_data(as_text=True)
    assert 'class="status status-disputed">Disputed by the cardholder<' in html


def test_search_by_payment_number(finance, books):
    for query in (str(books["cny"]), f"%23{books['cny']}"):
        assert _ids(finance.get(f"/finance/payments?q={query}").get_data(as_text=True)) == [
            books["cny"]
        ]


def test_pages_of_payments(app, books):
    with app.test_request_context("/"):
        first = payment_page(db.session(), PaymentFilters(), TAIPEI, 1, per_page=3)
        last = payment_page(db.session(), PaymentFilters(), TAIPEI, 99, per_page=3)
    assert (first.total, first.pages, len(first.rows)) == (7, 3, 3)
    assert (last.page, len(last.rows)) == (3, 1)
    assert first.rows[0].payment.id == books["today"]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("status=bogus", "Choose one of the listed values."),
        ("currency=XXX", "Choose one of the listed values."),
        ("dated_by=%3Cscript%3E", "Choose one of the listed values."),
        ("since=2026-13-01", "Enter a date as YYYY-MM-DD"),
        ("since=2026-11-30&until=2026-11-01", "The end date is before the start date."),
        ("page=0", "No such page."),
        ("page=abc", "No such page."),
        ("q=" + "x" * 101, "Search for at most 100 characters."),
    ],
)
def test_bad_filters_are_explained(finance, books, query, message):
    response = finance.get(f"/finance/payments?{query}&lang=en")
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert message in html
    assert "<script>" not in html
    exported = finance.get(f"/finance/payments.csv?{query}")
    assert exported.status_code == 303  # back to the list, where it is explained


def test_a_payment_with_its_allocations_and_events(finance, books):
    html = finance.get(f"/finance/payments/{books['refunded']}?lang=en").get_data(as_text=True)
    assert "pi_refunded" in html
    assert "Refunded" in html
    assert "reversed" in html  # the refund's negative allocations
    assert "NT$300" in html  # kept
    assert "The gateway confirmed the payment" in html
    for missing in ("999999", str(2**64)):
        response = finance.get(f"/finance/payments/{missing}?lang=en")
        assert response.status_code == 404
        assert "No such payment" in response.get_data(as_text=True)


def test_payments_csv_follows_the_filters_and_defuses_formulas(finance, books):
    response = finance.get("/finance/payments.csv?currency=TWD&status=succeeded&lang=en")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    text = response.get_data(as_text=True)
    assert text.startswith("\ufeff")
    rows = list(csv.DictReader(io.StringIO(text.removeprefix("\ufeff"))))
    assert [int(r["payment_id"]) for r in rows] == [
        books[n] for n in ("today", "disputed", "refunded", "full", "before")
    ]
    refunded = next(r for r in rows if r["gateway_reference"] == "pi_refunded")
    assert refunded["amount_minor"] == "50000"
    assert refunded["amount"] == "NT$500"
    assert refunded["kept_minor"] == "30000"
    assert refunded["borrower_name"] == '\'=HYPERLINK("http://evil")'
    assert refunded["created_at_utc"] == "2026-11-29T05:00:00Z"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("=1+1", "'=1+1"),
        ("+886", "'+886"),
        ("-5", "'-5"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("陳怡君", "陳怡君"),
        ("a=b", "a=b"),
        (-5, -5),
        ("", ""),
    ],
)
def test_csv_cells_never_start_a_formula(value, expected):
    assert safe_cell(value) == expected


# The collections chart -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("largest", "ticks", "unit", "step"),
    [
        (0, 4, 100, 100),
        (399, 4, 1, 100),
        (401, 4, 1, 200),
        (9, 4, 1, 5),  # 2.5 is not a whole unit
        (900, 4, 1, 250),
        (1_234_567, 4, 100, 500_000),
    ],
)
def test_the_scale_steps_are_round(largest, ticks, unit, step):
    assert nice_step(largest, ticks, unit) == step


def test_bars_fill_the_plot_and_the_top_tick_clears_the_tallest():
    chart = bar_chart(
        [0, 50_000, 125_000, -1],
        width=500,
        height=300,
        left=100,
        right=0,
        top=0,
        bottom=100,
        ticks=4,
        unit=100,
    )
    assert [t.value for t in chart.ticks] == [0, 50_000, 100_000, 150_000, 200_000]
    assert chart.ticks[0].y == chart.bottom == 200
    assert chart.ticks[-1].y == 0
    tallest = chart.bars[2]
    assert tallest.height == pytest.approx(200 * 125_000 / 200_000)
    assert tallest.y + tallest.height == pytest.approx(chart.bottom)
    assert chart.bars[0].height == 0
    assert chart.bars[3].height == 0
    assert chart.bars[0].x >= 100
    assert chart.bars[-1].x + chart.bars[-1].width <= 500
    assert 3 in chart.labelled


def test_labels_are_thinned_but_the_last_day_is_labelled():
    chart = bar_chart([1] * 30, labels=8)
    assert len(chart.labelled) <= 8
    assert 29 in chart.labelled


def test_the_chart_page_has_an_svg_and_its_table(finance, books):
    response = finance.get("/finance/collections?currency=TWD&until=2026-11-30&lang=en")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert '<svg viewBox="0 0 720 280"' in html
    assert 'role="img" aria-labelledby="chart-title chart-desc"' in html
    assert '<title id="chart-title">Money kept per day, TWD</title>' in html
    assert '<desc id="chart-desc">' in html
    assert " style=" not in html
    assert "<style" not in html
    assert html.count('class="chart-bar"') == 30
    assert "NT$1,300" in html  # yesterday's kept money, in the table
    assert "NT$2,000" in html  # a round tick on the axis
    assert "<caption" in html
    bad = finance.get("/finance/collections?currency=EUR&until=someday&lang=en")
    assert bad.status_code == 400
    assert "Choose one of the listed values." in bad.get_data(as_text=True)


# Reconciliation --------------------------------------------------------------------------


@pytest.fixture
def fake_reconcile(app, monkeypatch):
    """Stand in for Stripe: a run with one matched line and one Stripe has and we lack."""
    app.config["STRIPE_SECRET_KEY"] = "sk_test_haohuan"  # Stripe is set up
    calls = []

    def reconcile(database, settings, since, until, started_by, now):
        calls.append((since, until, started_by.email))
        run = ReconciliationRun(
            started_at=now,
            since=since,
            until=until,
            started_by=started_by.email,
            status="completed",
        )
        run.items = [
            ReconciliationItem(
                kind="matched",
                currency="TWD",
                payment_intent="pi_full",
                stripe_amount=100_000,
                our_amount=100_000,
                fee=3_400,
                net=96_600,
                transaction_type="charge",
                balance_transaction="txn_1",
            ),
            ReconciliationItem(
                kind="missing_here",
                currency="TWD",
                payment_intent="pi_ghost",
                stripe_amount=5_000,
                fee=200,
                net=4_800,
                transaction_type="charge",
                balance_transaction="txn_2",
                note="=cmd|' /C calc'!A0",
            ),
        ]
        run.matched, run.missing_here = 1, 1
        database.add(run)
        database.commit()
        return run

    monkeypatch.setattr(reconciliation, "reconcile", reconcile)
    return calls


def test_starting_a_run_and_reading_it(finance, books, fake_reconcile):
    started = finance.post(
        "/finance/reconciliations", data={"since": "2026-11-28", "until": "2026-11-29"}
    )
    assert started.status_code == 303
    assert fake_reconcile == [
        (taipei(date(2026, 11, 28), 0), taipei(date(2026, 11, 30), 0), "mei@haohuan.example")
    ]
    html = finance.get(started.headers["Location"] + "?lang=en").get_data(as_text=True)
    assert "Reconciliation run 1" in html
    assert "1 line needs review: it is listed first." in html
    assert html.index("pi_ghost") < html.index("pi_full")  # unmatched first
    assert "At Stripe but not here" in html
    assert "NT$34" in html  # the fee, in the totals
    listed = finance.get("/finance/reconciliations?lang=en").get_data(as_text=True)
    assert 'href="/finance/reconciliations/1"' in listed
    overview = finance.get("/finance/?lang=en").get_data(as_text=True)
    assert 'href="/finance/reconciliations/1"' in overview
    exported = finance.get("/finance/reconciliations/1.csv")
    assert exported.mimetype == "text/csv"
    text = exported.get_data(as_text=True)
    assert "pi_ghost" in text
    assert "'=cmd" in text


class NoStripe:
    """A Stripe with nothing in the period (the real comparison runs over it)."""

    def __init__(self, *args):
        pass

    def balance_lines(self, since, until):
        return []

    def payouts(self, since, until):
        return []

    def intent_charge(self, intent_id):
        return None


def audited(app, prefix):
    """The log's entries whose action starts with ``prefix``: (actor, action, case, details)."""
    with app.app_context():
        query = select(AuditEntry).where(AuditEntry.action.startswith(prefix))
        entries = db.session().scalars(query.order_by(AuditEntry.id))
        return [(e.actor, e.action, e.case_id, e.details) for e in entries]


def test_finance_reads_exports_and_runs_are_audited(app, finance, books, monkeypatch):
    monkeypatch.setattr(reconciliation, "LiveStripe", NoStripe)
    app.config["STRIPE_SECRET_KEY"] = "sk_test_unused"  # runs are offered only with Stripe
    me = "mei@haohuan.example"
    assert finance.get("/finance/payments?currency=TWD").status_code == 200
    assert finance.get("/finance/payments.csv?currency=TWD").status_code == 200
    shown = finance.get(f"/finance/payments/{books['full']}")
    assert shown.status_code == 200
    started = finance.post(
        "/finance/reconciliations", data={"since": "2026-11-28", "until": "2026-11-29"}
    )
    assert started.status_code == 303
    assert finance.get(started.headers["Location"]).status_code == 200
    assert finance.get(started.headers["Location"] + ".csv").status_code == 200
    with app.app_context():
        case_id = db.session().get(Payment, books["full"]).case_id
    assert audited(app, "finance.") == [
        (me, "finance.payments.view", None, {"filters": {"currency": "TWD"}, "page": 1}),
        (me, "finance.payments.export", None, {"filters": {"currency": "TWD"}}),
        (me, "finance.payment.view", case_id, {"payment_id": books["full"]}),
    ]
    (run, view, export) = audited(app, "reconcile.")
    assert run[:2] == (me, "reconcile.run")
    assert (run[3]["run_id"], run[3]["status"]) == (1, "completed")
    assert view == (me, "reconcile.view", None, {"run_id": 1})
    assert export == (me, "reconcile.export", None, {"run_id": 1})
    # A page that could not be shown is not recorded as seen.
    assert finance.get("/finance/payments/999999").status_code == 404
    assert finance.get("/finance/reconciliations/7").status_code == 404
    assert len(audited(app, "finance.payment.")) == 1
    assert len(audited(app, "reconcile.view")) == 1


@pytest.mark.parametrize(
    ("since", "until", "message"),
    [
        ("2026-11-29", "2026-11-01", "The end date is before the start date."),
        ("2026-01-01", "2026-11-29", "Reconcile at most 93 days at a time."),
        ("", "2026-11-29", "Enter the first day."),
        ("2026-11-29", "", "Enter the last day."),
        ("29/11/2026", "2026-11-29", "Enter a date as YYYY-MM-DD"),
    ],
)
def test_a_bad_period_is_explained(finance, fake_reconcile, since, until, message):
    response = finance.post(
        "/finance/reconciliations?lang=en", data={"since": since, "until": until}
    )
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert fake_reconcile == []


def test_without_stripe_reconciliation_says_plainly_that_it_needs_stripe(app, finance, monkeypatch):
    """Stripe chosen but not set up: no run is offered, none is started, and no page
    pretends a day was reconciled. (The sandbox reads its own books instead:
    test_sandbox_reconciliation.py.)"""
    app.config["PAYMENT_GATEWAY"] = "stripe"
    called = []
    monkeypatch.setattr(reconciliation, "reconcile", lambda *args: called.append(args))
    for lang, words in (
        ("en", "Reconciliation needs Stripe."),
        ("zh_Hant_TW", "Stripe"),
        ("zh_Hans_CN", "Stripe"),
    ):
        page = finance.get(f"/finance/reconciliations?lang={lang}").get_data(as_text=True)
        assert words in page
        assert 'action="/finance/reconciliations"' not in page
        assert words in finance.get(f"/finance/?lang={lang}").get_data(as_text=True)
    started = finance.post(
        "/finance/reconciliations?lang=en", data={"since": "2026-11-28", "until": "2026-11-29"}
    )
    assert started.status_code == 409
    assert "Reconciliation needs Stripe." in started.get_data(as_text=True)
    assert called == []
    with app.app_context():
        assert db.session().scalars(select(ReconciliationRun)).all() == []


@pytest.mark.parametrize(
    ("error", "sentence"),
    [
        ("unreachable", "Stripe did not answer"),
        ("refused", "Stripe refused our key"),
        # A run stored before errors were codes: its exception text is not shown either.
        (
            "APIConnectionError: Network error: HTTPSConnectionPool(host='api.stripe.com')",
            "Stripe could not be read.",
        ),
    ],
)
def test_a_failed_run_says_why_in_words_never_the_exception(app, finance, error, sentence):
    with app.app_context():
        session = db.session()
        run = ReconciliationRun(
            started_at=taipei(YESTERDAY, 12),
            since=taipei(YESTERDAY, 0),
            until=taipei(date(2026, 11, 30), 0),
            started_by="mei@haohuan.example",
            status="failed",
            error=error,
        )
        session.add(run)
        session.commit()
        run_id = run.id
    for path in (f"/finance/reconciliations/{run_id}", f"/finance/?day={YESTERDAY.isoformat()}"):
        html = finance.get(f"{path}&lang=en" if "?" in path else f"{path}?lang=en").get_data(
            as_text=True
        )
        assert sentence in html, path
        for shown_never in ("Error", "HTTPSConnectionPool", "need a look", "needs a look"):
            assert shown_never not in html, path
    chinese = finance.get(f"/finance/reconciliations/{run_id}?lang=zh_Hant_TW").get_data(
        as_text=True
    )
    assert "Error" not in chinese


def test_a_runs_notes_are_worded_in_the_readers_language(app, finance):
    with app.app_context():
        session = db.session()
        run = ReconciliationRun(
            started_at=taipei(YESTERDAY, 12),
            since=taipei(YESTERDAY, 0),
            until=taipei(date(2026, 11, 30), 0),
            started_by="mei@haohuan.example",
            status="completed",
        )
        run.items = [
            ReconciliationItem(
                kind="amount_mismatch",
                currency="TWD",
                stripe_amount=40_000,
                our_amount=45_000,
                note_code="stripe_charged",
                note_values={"amount": 40_000, "currency": "TWD"},
            ),
            ReconciliationItem(
                kind="missing_at_stripe",
                currency="CNY",
                our_amount=12_345,
                note_code="no_charge_at_stripe",
                note_values={},
            ),
        ]
        run.amount_mismatches = run.missing_at_stripe = 1
        session.add(run)
        session.commit()
        run_id = run.id
    wanted = {
        "en": ("Stripe charged NT$400.", "Stripe has no successful charge for this PaymentIntent."),
        "zh_Hant_TW": ("NT$400", "沒有"),
        "zh_Hans_CN": ("NT$400", "没有"),
    }
    for lang, phrases in wanted.items():
        html = finance.get(f"/finance/reconciliations/{run_id}?lang={lang}").get_data(as_text=True)
        for phrase in phrases:
            assert phrase in html, (lang, phrase)
        assert "40000" not in html
        if lang != "en":
            assert "Stripe charged" not in html
            assert "successful charge" not in html
    exported = finance.get(f"/finance/reconciliations/{run_id}.csv?lang=en").get_data(as_text=True)
    rows = list(csv.DictReader(io.StringIO(exported.lstrip("\ufeff"))))
    assert next((r["note_code"], r["note"]) for r in rows) == (
        "stripe_charged",
        "Stripe charged NT$400.",
    )


def test_an_unknown_run_is_explained(finance):
    for path in ("/finance/reconciliations/7", "/finance/reconciliations/7.csv"):
        response = finance.get(path + "?lang=en")
        assert response.status_code == 404
        assert "No such reconciliation run" in response.get_data(as_text=True)


# Every page, every language --------------------------------------------------------------


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_page_renders_in_every_language(app, finance, books, fake_reconcile, lang):
    finance.post("/finance/reconciliations", data={"since": "2026-11-29", "until": "2026-11-29"})
    with app.app_context():
        run_id = db.session().scalars(select(ReconciliationRun.id)).one()
    html_lang = {"zh_Hant_TW": "zh-Hant-TW", "zh_Hans_CN": "zh-Hans-CN", "en": "en"}[lang]
    for path in (
        "/finance/",
        "/finance/payments",
        f"/finance/payments/{books['refunded']}",
        "/finance/collections",
        "/finance/reconciliations",
        f"/finance/reconciliations/{run_id}",
        "/staff/sign-in",
    ):
        response = finance.get(f"{path}?lang={lang}")
        assert response.status_code == 200, path
        html = response.get_data(as_text=True)
        assert f'<html lang="{html_lang}">' in html, path
        assert " style=" not in html, path
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), path


def test_taiwan_wording_in_the_console(finance, books):
    html = finance.get("/finance/payments?lang=zh_Hant_TW").get_data(as_text=True)
    assert "匯出" in html
    assert "退款" in finance.get(f"/finance/payments/{books['refunded']}").get_data(as_text=True)
    assert "對帳" in finance.get("/finance/reconciliations").get_data(as_text=True)
    assert "日期" in finance.get("/finance/payments?since=bad").get_data(as_text=True)


@pytest.mark.parametrize("query", ["_method=POST", "_scheme=javascript", "_external=1"])
def test_url_building_arguments_in_the_query_are_ignored(finance, books, query):
    # url_for reads _method, _scheme, _external as its own: never passed on to it.
    page = finance.get(f"/finance/payments?status=succeeded&{query}")
    assert page.status_code == 200
    links = re.findall(r'href="(/finance/payments\.csv[^"]*)"', page.get_data(as_text=True))
    assert links
    assert not [link for link in links if "_" in link.split("?", 1)[-1].split("=", 1)[0]]
    export = finance.get(f"/finance/payments.csv?since=bad&{query}")
    assert export.status_code == 303
    assert "_" not in export.location.split("?", 1)[1].split("=", 1)[0]


def test_a_payments_story_is_dated_when_the_gateway_told_us_not_when_it_was_stored(app):
    # Found walking the demo: a payment confirmed on 3 December whose "What happened"
    # said the gateway confirmed it on 6 December (the moment the seed ran).
    from portal.models import CaseEvent

    built = build_case(app, currency="CNY")
    when = datetime(2026, 11, 3, 7, 9, tzinfo=UTC)
    number = pay(app, built, 50_000, when, "pi_story_dated", dispute=50_000)
    with app.app_context():
        payment = db.session().get(Payment, number)
        confirmed = payment.confirmed_at.replace(tzinfo=UTC)
        events = db.session().scalars(select(CaseEvent).filter_by(case_id=built.case_id)).all()
        stamped = {e.kind: e.at.replace(tzinfo=UTC) for e in events if e.data.get("payment_id")}
    assert stamped["payment_succeeded"] == confirmed
    assert all(at < datetime(2026, 11, 10, tzinfo=UTC) for at in stamped.values()), stamped
