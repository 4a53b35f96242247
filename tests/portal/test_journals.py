"""General-ledger journals: every day's journal balances, and the journals' sums per
account equal what the ledger's allocations and waivers post; the chart of accounts is
checked at start; the command line's CSV and Beancount exports; the finance page."""

from __future__ import annotations

import shutil
import tempfile
from collections import defaultdict
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from negotiation.accounts import AccountKind, Chart, ChartError, default_document, load_chart
from portal import create_app
from portal.core import db
from portal.finance import journals
from portal.models import Allocation, AuditEntry, Case, Payment, PaymentStatus, Plan, Waiver
from portal.payments import ledger
from portal.payments.events import GatewayEvent, Outcome, handle

from .factories import NOW, add_plan, add_staff, app_config, build_case, staff_sign_in, unwrapped

ZONE = ZoneInfo("Asia/Taipei")
CHART = load_chart(default_document())


# The chart of accounts ---------------------------------------------------------------------


def test_the_most_specific_mapping_wins():
    chart = load_chart(
        {
            **default_document(),
            "currencies": {"CNY": {"clearing": "Assets:Stripe:Clearing-CNY"}},
            "products": {
                "auto": {
                    "principal": "Assets:Loans:Auto:Principal",
                    "currencies": {"HKD": {"principal": "Assets:Loans:Auto-HKD:Principal"}},
                }
            },
        }
    )
    assert chart.account("principal", "auto", "HKD") == "Assets:Loans:Auto-HKD:Principal"
    assert chart.account("principal", "auto", "TWD") == "Assets:Loans:Auto:Principal"
    assert chart.account("principal", "personal", "TWD") == "Assets:Loans:Receivable:Principal"
    assert chart.account("clearing", "auto", "CNY") == "Assets:Stripe:Clearing-CNY"
    assert chart.account("no_such_target", "personal", "TWD") == "Assets:Suspense"


def test_a_missing_mapping_is_refused_naming_it():
    document = default_document()
    del document["accounts"]["stripe_fee"]
    document["products"] = {"auto": {"principle": "Assets:Loans:Auto", "fee": "loans:fees"}}
    with pytest.raises(ChartError) as refused:
        load_chart(document)
    assert refused.value.problems == [
        "[accounts]: no account for stripe_fee",
        "[products.auto]: 'principle' is not a kind the chart maps",
        "[products.auto]: fee = 'loans:fees' is not an account name such as "
        "Assets:Loans:Receivable:Principal",
    ]


def test_the_app_refuses_to_start_with_a_chart_missing_a_mapping(tmp_path):
    from portal import ConfigurationError

    chart = tmp_path / "accounts.toml"
    chart.write_text('[accounts]\nclearing = "Assets:Bank"\n[products.auto]\nfee = "Fees"\n')
    config = {**app_config(f"sqlite:///{tmp_path}/x.db"), "CHART_OF_ACCOUNTS": str(chart)}
    # The file is laid over the default: only the product's bad account is at fault.
    with pytest.raises(ConfigurationError, match=r"\[products.auto\]: fee = 'Fees'"):
        create_app(config)
    chart.write_text('[accounts]\nclearing = "Assets:Bank"\n')
    assert create_app(config).config["CHART_OF_ACCOUNTS"] == str(chart)


# The property: every day balances, and the journals post what the ledger holds ----------------

TEMPLATE: dict[str, Path] = {}


@pytest.fixture
def template(sqlite_template):
    TEMPLATE["path"] = sqlite_template
    return sqlite_template


STEPS = st.lists(
    st.one_of(
        st.tuples(st.just("pay"), st.integers(1, 900_000)),
        st.tuples(st.just("refund"), st.integers(0, 50), st.integers(1, 100)),
        st.tuples(st.just("dispute"), st.integers(0, 50), st.booleans()),
        st.tuples(st.just("waive"), st.integers(1, 60_000)),
        st.tuples(st.just("discount"), st.integers(1, 900_000)),
        st.tuples(st.just("reinstate"), st.integers(0, 50)),
    ),
    min_size=1,
    max_size=12,
)


class Books:
    """One case's money moved by the same services the gateway events and plans use, a
    few hours apart, so that the steps fall on several days."""

    def __init__(self, app, currency: str) -> None:
        self.app = app
        self.built = build_case(app, currency=currency)
        add_plan(app, self.built.case_id, "cancelled", currency=currency)
        self.moment = NOW
        self.count = 0

    def step(self, step: tuple, hours: int) -> None:
        self.moment += timedelta(hours=hours)
        self.count += 1
        kind, *values = step
        with self.app.test_request_context("/"):
            session = db.session()
            getattr(self, kind)(session, *values)

    def pay(self, session, amount: int) -> None:
        payment = Payment(
            case_id=self.built.case_id,
            purpose="partial",
            amount=amount,
            currency=session.get(Case, self.built.case_id).loan.currency,
            status=PaymentStatus.PENDING,
            gateway="sandbox",
            gateway_reference=f"pi_{self.count}",
        )
        session.add(payment)
        session.commit()
        self._event(session, payment.gateway_reference, Outcome.SUCCEEDED, 0)

    def refund(self, session, pick: int, share: int) -> None:
        payment = self._paid(session, pick)
        if payment is not None:
            total = min(payment.amount, payment.refunded + payment.amount * share // 100)
            self._event(session, payment.gateway_reference, Outcome.REFUNDED, total)

    def dispute(self, session, pick: int, won: bool) -> None:
        payment = self._paid(session, pick)
        if payment is not None:
            held = 0 if won else payment.amount - payment.refunded
            self._event(session, payment.gateway_reference, Outcome.DISPUTED, held)

    def waive(self, session, amount: int) -> None:
        loan = session.get(Case, self.built.case_id).loan
        self._keep(session, ledger.write_off_charges(loan, penalties=amount, fees=amount))

    def discount(self, session, amount: int) -> None:
        loan = session.get(Case, self.built.case_id).loan
        self._keep(session, ledger.write_off_balance(loan, amount))

    def reinstate(self, session, pick: int) -> None:
        standing = session.scalars(
            select(Waiver).where(Waiver.reinstated_at.is_(None)).order_by(Waiver.id)
        ).all()
        if standing:
            waiver = standing[pick % len(standing)]
            ledger.reinstate(session.get(Case, self.built.case_id).loan, [waiver])
            waiver.reinstated_at = self.moment
            session.commit()

    def _keep(self, session, waivers: list[Waiver]) -> None:
        plan = session.scalars(select(Plan)).one()
        for waiver in waivers:
            waiver.plan_id, waiver.earned_by, waiver.granted_at = plan.id, "activation", self.moment
            session.add(waiver)
        session.commit()

    def _paid(self, session, pick: int) -> Payment | None:
        paid = session.scalars(
            select(Payment).where(Payment.status == PaymentStatus.SUCCEEDED).order_by(Payment.id)
        ).all()
        return paid[pick % len(paid)] if paid else None

    def _event(self, session, reference: str | None, outcome: Outcome, amount: int) -> None:
        event = GatewayEvent("sandbox", f"evt_{self.count}", reference or "", outcome, amount)
        handle(session, event, self.moment)


def posted_by_the_ledger(session, chart: Chart) -> dict[tuple[str, str], int]:
    """Debits less credits per account and currency, worked out from the ledger's own
    rows one by one (not through the journals' queries): each allocation credits its
    target and debits what its cause moved; each waiver debits the write-off and
    credits its target, and its reinstatement the other way round."""
    expected: dict[tuple[str, str], int] = defaultdict(int)
    counter = {
        "payment": AccountKind.CLEARING,
        "refund": AccountKind.REFUNDS_PAYABLE,
        "dispute": AccountKind.DISPUTE,
    }
    for share in session.scalars(select(Allocation)):
        payment = session.get(Payment, share.payment_id)
        loan = session.get(Case, payment.case_id).loan
        currency = payment.currency
        expected[(chart.account(share.target, loan.product, currency), currency)] -= share.amount
        expected[(chart.account(counter[share.cause], loan.product, currency), currency)] += (
            share.amount
        )
    for waiver in session.scalars(select(Waiver)):
        loan = session.get(Case, session.get(Plan, waiver.plan_id).case_id).loan
        standing = 0 if waiver.reinstated_at is not None else waiver.amount
        target = chart.account(waiver.target, loan.product, loan.currency)
        write_off = chart.account(AccountKind.WRITE_OFF, loan.product, loan.currency)
        expected[(target, loan.currency)] -= standing
        expected[(write_off, loan.currency)] += standing
    return {key: value for key, value in expected.items() if value}


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    steps=STEPS,
    hours=st.lists(st.integers(0, 30), min_size=12, max_size=12),
    currency=st.sampled_from(["TWD", "USD"]),
)
def test_every_day_balances_and_the_journals_post_what_the_ledger_holds(
    template, steps, hours, currency
):
    folder = Path(tempfile.mkdtemp())
    shutil.copy(TEMPLATE["path"], folder / "haohuan.db")
    app = create_app(app_config(f"sqlite:///{folder}/haohuan.db"))
    try:
        books = Books(app, currency)
        for step, gap in zip(steps, hours, strict=False):
            books.step(step, gap)
        with app.app_context():
            session = db.session()
            assert ledger.check(session) == []
            first = (NOW - timedelta(days=1)).astimezone(ZONE).date()
            last = (books.moment + timedelta(days=1)).astimezone(ZONE).date()
            posted: dict[tuple[str, str], int] = defaultdict(int)
            for journal in journals.journals_for_days(session, first, last, ZONE, CHART):
                assert journal.balanced, journal
                assert {line.currency for line in journal.lines} == {journal.currency}
                assert all(min(line.debit, line.credit) == 0 for line in journal.lines)
                for line in journal.lines:
                    posted[(line.account, line.currency)] += line.debit - line.credit
            assert {k: v for k, v in posted.items() if v} == posted_by_the_ledger(session, CHART)
            assert journals.check(session, ZONE, CHART) == []
    finally:
        app.extensions["haohuan.engine"].dispose()
        shutil.rmtree(folder, ignore_errors=True)


# The command line ----------------------------------------------------------------------------


def a_month_of_money(app) -> Books:
    """A payment, a part refund, a dispute lost and then won, a discount: each on its own
    day of November 2026 (Taipei)."""
    books = Books(app, "TWD")
    for step, hours in (
        (("pay", 600_000), 0),
        (("refund", 0, 25), 24),
        (("dispute", 0, False), 24),
        (("dispute", 0, True), 24),
        (("discount", 10_000), 24),
    ):
        books.step(step, hours)
    return books


def invoke(app, *arguments: str):
    from click.testing import CliRunner
    from flask.cli import ScriptInfo

    from portal.cli import cli

    return CliRunner().invoke(cli, list(arguments), obj=ScriptInfo(create_app=lambda: app))


def test_the_command_writes_a_days_journal_as_csv(app):
    a_month_of_money(app)
    written = invoke(app, "ledger", "journal", "--date", "2026-11-30")
    assert written.exit_code == 0, written.output
    rows = [line.split(",") for line in written.output.strip().splitlines()]
    assert rows[0] == [
        "date", "journal_id", "account", "debit", "credit", "currency", "memo", "reference"
    ]  # fmt: skip
    assert {row[1] for row in rows[1:]} == {"2026-11-30-payment-TWD"}
    debits = sum(Decimal(row[3]) for row in rows[1:])
    assert debits == sum(Decimal(row[4]) for row in rows[1:])
    assert debits == Decimal("6000.00")  # 600,000 minor units of NT$
    clearing = [row for row in rows[1:] if row[2] == "Assets:Stripe:Clearing"]
    assert clearing == [
        [
            "2026-11-30",
            "2026-11-30-payment-TWD",
            "Assets:Stripe:Clearing",
            "6000.00",
            "0.00",
            "TWD",
            "payment: clearing (personal)",
            clearing[0][7],
        ]
    ]


def test_the_month_as_beancount_is_read_by_beancounts_own_loader(app, tmp_path):
    from beancount import loader

    a_month_of_money(app)
    target = tmp_path / "november.beancount"
    written = invoke(
        app, "ledger", "journal", "--month", "2026-12", "--format", "beancount",
        "--output", str(target),
    )  # fmt: skip
    assert written.exit_code == 0, written.output
    entries, errors, _options = loader.load_file(str(target))
    assert errors == []
    transactions = [entry for entry in entries if type(entry).__name__ == "Transaction"]
    # Refund on Dec 1, dispute lost Dec 2 and won Dec 3, waiver Dec 4 (Taipei days).
    assert [(t.date.isoformat(), t.narration) for t in transactions] == [
        ("2026-12-01", "refund TWD"),
        ("2026-12-02", "dispute TWD"),
        ("2026-12-03", "dispute TWD"),
        ("2026-12-04", "waiver TWD"),
    ]
    for entry in transactions:
        assert sum(posting.units.number for posting in entry.postings) == 0


def test_the_check_proves_every_days_journal_and_finds_a_row_out_of_step(app):
    a_month_of_money(app)
    checked = invoke(app, "ledger", "check")
    assert checked.exit_code == 0, checked.output
    assert "so does every day's journal" in checked.output
    with app.app_context():
        session = db.session()
        # Money taken back at the payment with no allocation to match: the journals
        # still post what the allocations say, which is no longer what was kept.
        payment = session.scalars(select(Payment)).one()
        payment.refunded += 100
        session.commit()
    drifted = invoke(app, "ledger", "check")
    assert drifted.exit_code == 1
    assert "TWD: the journals post 450000 received, the succeeded payments kept 449900" in (
        drifted.output
    )


def test_the_command_needs_a_date_or_a_month(app):
    refused = invoke(app, "ledger", "journal")
    assert refused.exit_code == 2
    assert "give one of --date YYYY-MM-DD or --month YYYY-MM" in refused.output
    both = invoke(app, "ledger", "journal", "--date", "2026-11-30", "--month", "2026-11")
    assert both.exit_code == 2
    bad = invoke(app, "ledger", "journal", "--date", "2026-13-01")
    assert bad.exit_code == 2


# The finance console's page ----------------------------------------------------------------

PAGE_WORDS = {
    "en": ("General-ledger journals", "Download the month's journals", "Refunds payable"),
    "zh_Hant_TW": ("總帳分錄", "下載該月分錄", "應付退款"),
    "zh_Hans_CN": ("总账分录", "下载该月分录", "应付退款"),
}


@pytest.fixture
def finance(app, client):
    """A client signed in as a finance staff member."""
    add_staff(app)
    assert staff_sign_in(client).status_code == 303
    return client


@pytest.mark.parametrize("lang", list(PAGE_WORDS))
def test_the_journals_page_in_each_language(finance, lang):
    page = finance.get(f"/finance/journals?lang={lang}")
    assert page.status_code == 200
    html = unwrapped(page.get_data(as_text=True))
    for words in PAGE_WORDS[lang]:
        assert words in html
    assert 'aria-current="page"' in html
    # Each account as it reads, a line break allowed after each colon on a phone.
    assert "Assets:<wbr>Loans:<wbr>Receivable:<wbr>Principal" in html
    assert 'value="2026-10"' in html  # last month, in Taipei on 2026-11-30


def audited(app):
    with app.app_context():
        entries = db.session().scalars(
            select(AuditEntry).where(AuditEntry.action == "finance.journals.export")
        )
        return [(e.actor, e.details) for e in entries]


def test_a_months_export_is_an_audited_download(app, finance):
    a_month_of_money(app)
    csv_download = finance.get("/finance/journals/export?month=2026-12&form=csv")
    assert csv_download.status_code == 200
    assert csv_download.headers["Content-Disposition"] == (
        'attachment; filename="journals-2026-12.csv"'
    )
    text = csv_download.get_data(as_text=True)
    assert text.startswith("\ufeffdate,journal_id,account,debit,credit")
    assert "2026-12-01-refund-TWD" in text
    ledger_download = finance.get("/finance/journals/export?month=2026-11&form=beancount")
    assert ledger_download.status_code == 200
    assert '2026-11-30 * "payment TWD"' in ledger_download.get_data(as_text=True)
    assert audited(app) == [
        ("mei@haohuan.example", {"month": "2026-12", "format": "csv"}),
        ("mei@haohuan.example", {"month": "2026-11", "format": "beancount"}),
    ]


@pytest.mark.parametrize(
    "query", ["month=2026-13", "month=november", "month=", "month=2026-11&form=xlsx"]
)
def test_a_bad_month_or_format_is_explained_not_exported(app, finance, query):
    refused = finance.get(f"/finance/journals/export?lang=en&{query}")
    assert refused.status_code == 400
    html = refused.get_data(as_text=True)
    assert (
        "Enter a month as YYYY-MM, like 2026-11." in html
        or "Choose one of the listed values." in html
    )
    assert audited(app) == []


def test_the_journals_are_finance_only(app, client):
    add_staff(app, email="agent@haohuan.example", roles=("agent",))
    assert staff_sign_in(client, email="agent@haohuan.example").status_code == 303
    assert client.get("/finance/journals").status_code == 403
    assert client.get("/finance/journals/export?month=2026-11").status_code == 403


def test_stripes_fee_posts_once_however_many_runs_listed_it(app):
    from portal.models import ReconciliationItem, ReconciliationRun

    books = Books(app, "TWD")
    books.step(("pay", 600_000), 0)
    with app.app_context():
        session = db.session()
        payment = session.scalars(select(Payment)).one()
        for run_id in (1, 2):  # two runs over overlapping periods list the same charge
            session.add(
                ReconciliationRun(
                    id=run_id,
                    started_at=NOW,
                    since=NOW - timedelta(days=1),
                    until=NOW + timedelta(days=1),
                    started_by="cli",
                    status="completed",
                )
            )
            session.flush()
            session.add(
                ReconciliationItem(
                    run_id=run_id,
                    kind="matched",
                    currency="twd",
                    transaction_type="charge",
                    payment_id=payment.id,
                    balance_transaction="txn_1",
                    fee=18_400,
                    occurred_at=NOW,
                )
            )
            # A chargeback's adjustment: its fee is the dispute fee, an account of its own.
            session.add(
                ReconciliationItem(
                    run_id=run_id,
                    kind="matched",
                    currency="twd",
                    transaction_type="adjustment",
                    balance_transaction="txn_dp",
                    fee=150_000,
                    occurred_at=NOW,
                )
            )
        session.commit()
        found = journals.journal_for_day(session, NOW.astimezone(ZONE).date(), ZONE, CHART)
        fees = [j for j in found if j.source == "stripe_fee"]
        assert [(j.journal_id, j.debits, j.credits) for j in fees] == [
            ("2026-11-30-stripe_fee-TWD", 168_400, 168_400)
        ]
        assert sorted((line.account, line.debit, line.credit) for line in fees[0].lines) == [
            ("Assets:Stripe:Clearing", 0, 168_400),
            ("Expenses:Stripe:DisputeFees", 150_000, 0),
            ("Expenses:Stripe:Fees", 18_400, 0),
        ]
        assert journals.check(session, ZONE, CHART) == []


def test_an_upheld_disputes_forgiveness_is_written_off_on_the_day_applied(app):
    from portal.models import CaseHold, HoldAdjustment, LoanCharge

    built = build_case(app)
    member = add_staff(app)
    applied = NOW + timedelta(days=1)
    with app.app_context():
        session = db.session()
        hold = CaseHold(
            case_id=built.case_id,
            kind="dispute",
            status="ended",
            placed_at=NOW,
            placed_by="borrower",
            outcome="upheld",
        )
        session.add(hold)
        session.flush()
        penalty = session.scalars(select(LoanCharge).where(LoanCharge.kind == "penalty")).one()
        ledger.forgive("penalty", penalty, None, 5_000)
        session.add(
            HoldAdjustment(
                hold_id=hold.id,
                case_id=built.case_id,
                kind="waive_charge",
                target="penalty",
                charge_id=penalty.id,
                amount=5_000,
                status="applied",
                proposed_by_id=member,
                proposed_at=NOW,
                applied_by_id=member,
                applied_at=applied,
            )
        )
        session.commit()
        assert ledger.check(session) == []
        found = journals.journal_for_day(session, applied.astimezone(ZONE).date(), ZONE, CHART)
        assert [
            (j.journal_id, [(x.account, x.debit, x.credit) for x in j.lines]) for j in found
        ] == [
            (
                "2026-12-01-forgiveness-TWD",
                [
                    ("Expenses:Loans:WriteOffs", 5_000, 0),
                    ("Assets:Loans:Receivable:Penalties", 0, 5_000),
                ],
            )
        ]
        assert journals.check(session, ZONE, CHART) == []


def test_the_configured_chart_maps_a_product_to_its_own_accounts(app, tmp_path):
    chart = tmp_path / "accounts.toml"
    chart.write_text(
        '[products.personal]\nprincipal = "Assets:Loans:Personal:Principal"\n'
        '[currencies.TWD]\nclearing = "Assets:Stripe:Clearing-TWD"\n'
    )
    app.config["CHART_OF_ACCOUNTS"] = str(chart)
    a_month_of_money(app)
    written = invoke(app, "ledger", "journal", "--date", "2026-11-30")
    assert written.exit_code == 0, written.output
    accounts = {line.split(",")[2] for line in written.output.strip().splitlines()[1:]}
    assert "Assets:Loans:Personal:Principal" in accounts
    assert "Assets:Stripe:Clearing-TWD" in accounts
    assert "Assets:Loans:Receivable:Principal" not in accounts
    assert "Assets:Loans:Receivable:Interest" in accounts  # the default, not overridden


# The migration that dates allocations -------------------------------------------------------


def test_the_migration_dates_older_allocations_by_their_payment_and_names_their_cause(app):
    from alembic import command
    from sqlalchemy import text

    from portal.core import migrate

    built = build_case(app)
    config = migrate.alembic_config(app)
    command.downgrade(config, "0025_contact_cells")
    confirmed = NOW - timedelta(days=3)
    with app.app_context():
        session = db.session()
        for number, disputed in ((1, 0), (2, 40_000)):
            session.execute(
                text(
                    "INSERT INTO payments (id, case_id, purpose, amount, currency, status, "
                    "gateway, gateway_reference, created_at, confirmed_at, refunded, disputed) "
                    "VALUES (:id, :case, 'partial', 100000, 'TWD', 'succeeded', 'sandbox', "
                    ":ref, :at, :at, :refunded, :disputed)"
                ),
                {
                    "id": number,
                    "case": built.case_id,
                    "ref": f"pi_old_{number}",
                    "at": confirmed,
                    "refunded": 0 if disputed else 40_000,
                    "disputed": disputed,
                },
            )
            for amount in (100_000, -40_000):
                session.execute(
                    text(
                        "INSERT INTO allocations (payment_id, target, amount) "
                        "VALUES (:payment, 'principal', :amount)"
                    ),
                    {"payment": number, "amount": amount},
                )
        session.commit()
        db.engine().dispose()
    migrate.upgrade(app)
    with app.app_context():
        rows = db.session().scalars(select(Allocation).order_by(Allocation.id)).all()
        assert [(row.payment_id, row.amount, row.cause) for row in rows] == [
            (1, 100_000, "payment"),
            (1, -40_000, "refund"),
            (2, 100_000, "payment"),
            (2, -40_000, "dispute"),
        ]
        assert {row.booked_at for row in rows} == {confirmed}
