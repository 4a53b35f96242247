"""The portfolio page (``/reports/portfolio``) and its CSV: who may read it, what its
filters accept, that its figures are the service's (``portal.reporting.portfolio``) for a
small book written at two month-ends, that every view and export is in the audit log, the
htmx fragment, and the three languages. The heat map's geometry is tested alone."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, date, datetime
from fractions import Fraction

import pytest
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import func, select, update

from negotiation.portfolio import DESTINATIONS, OPEN_BUCKETS, Bucket
from portal.contact.gate import REFUSAL_TEXT
from portal.core import db
from portal.core.i18n import money
from portal.models import (
    AuditEntry,
    Case,
    CaseEvent,
    ContactAttempt,
    Message,
    Offer,
    OfferStatus,
    OptOut,
    Plan,
    PortfolioTransition,
    Promise,
    ReminderLink,
    StaffMember,
    VerificationAttempt,
)
from portal.reporting import book as report_book
from portal.reporting.arrangements import CHANNELS, KINDS, PlanTally
from portal.reporting.book import BookReport, book_report
from portal.reporting.contact import CHANNELS as CONTACT_CHANNELS
from portal.reporting.contact import REASONS
from portal.reporting.funnel import STEPS
from portal.reporting.portfolio import RollRates, Slice, month_ends, roll_rates
from portal.reporting.slices import share
from portal.reporting.snapshots import write_month_end
from portal.web.reports.figures import funnel_chart
from portal.web.reports.heatmap import LEVELS, heat_map, level
from portal.web.reports.words import (
    FIRST_PAYMENT_CHANNELS,
    FUNNEL_STEPS,
    per_case,
    percent,
    whole,
)
from portal.wording.cases import CHANNEL_NAMES, PLAN_KIND_NAMES

from .factories import add_staff, count_cells, staff_sign_in, unwrapped
from .test_finance_console import audited

# Five cases written at two month-ends, each worked out by hand there.
from .test_portfolio_report import book  # noqa: F401 (a fixture, used by name)

SUPERVISOR = "kuo@haohuan.example"
ADMIN = "lin@haohuan.example"
FINANCE = "finance@haohuan.example"
SEPTEMBER, OCTOBER, NOVEMBER = date(2026, 9, 30), date(2026, 10, 31), date(2026, 11, 30)
URL = "/reports/portfolio"


# The heat map's geometry ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("share", "expected"),
    [
        (None, 0),
        (Fraction(0), 0),
        (Fraction(1, 1000), 1),
        (Fraction(1, 5), 1),
        (Fraction(201, 1000), 2),
        (Fraction(1, 2), 3),
        (Fraction(4, 5), 4),
        (Fraction(81, 100), 5),
        (Fraction(1), 5),
    ],
)
def test_a_cells_shade_is_its_fifth_of_the_row_rounded_up(share, expected):
    assert level(share) == expected


def test_the_heat_map_lays_out_a_cell_per_pair_and_a_legend_under_the_grid():
    shares = [[Fraction(1, 4), Fraction(3, 4), None], [None, None, None]]
    chart = heat_map(shares, cell_width=80, cell_height=40, left=100, top=50, right=10)
    assert [(c.row, c.column, c.x, c.y, c.level) for c in chart.cells] == [
        (0, 0, 100, 50, 2),
        (0, 1, 180, 50, 4),
        (0, 2, 260, 50, 0),
        (1, 0, 100, 90, 0),
        (1, 1, 180, 90, 0),
        (1, 2, 260, 90, 0),
    ]
    assert chart.cells[0].middle_x == 140
    assert chart.cells[0].middle_y == 70
    assert chart.row_middles == (70, 110)
    assert chart.column_middles == (140, 220, 300)
    assert (chart.grid_right, chart.grid_bottom) == (340, 130)
    # The legend is wider than three columns: one swatch per level, 0 to LEVELS.
    assert [key.level for key in chart.legend] == list(range(LEVELS + 1))
    assert chart.width == 100 + 80 * (LEVELS + 1) + 10
    assert chart.legend_y > chart.grid_bottom
    assert chart.legend[-1].high == 1
    assert chart.legend[1].low == 0
    with pytest.raises(ValueError, match="every row"):
        heat_map([[Fraction(1)], []])


def test_shares_are_written_as_percentages_to_a_tenth_in_the_pages_language(app):
    with app.test_request_context("/"):
        for locale in ("en", "zh_Hant_TW", "zh_Hans_CN"):
            with force_locale(locale):
                shown = [percent(Fraction(n, d)) for n, d in ((1, 3), (2, 3), (1, 2000), (3, 2000))]
                # Exact halves round to even, as Decimal does (0.05% to 0.0%, 0.15% to 0.2%).
                assert shown == ["33.3%", "66.7%", "0.0%", "0.2%"]
                assert percent(None) == "—"


# The page -----------------------------------------------------------------------------------


def signed_in(app, email, roles):
    client = app.test_client()
    add_staff(app, email, roles)
    assert staff_sign_in(client, email).status_code == 303
    return client


@pytest.fixture
def supervisor(app):
    """A signed-in supervisor (agents' supervisors hold both roles)."""
    return signed_in(app, SUPERVISOR, ("agent", "supervisor"))


def service(app, first=OCTOBER, last=OCTOBER, chosen: Slice | None = None) -> RollRates:
    """What the service says of the period and the slice (the whole book by default)."""
    with app.app_context():
        return roll_rates(db.session(), first, last, chosen or Slice())


@pytest.mark.parametrize("path", [URL, URL + ".csv"])
@pytest.mark.usefixtures("book")
def test_supervisors_admins_and_finance_read_it_agents_do_not(app, client, path):
    signed_out = client.get(path)
    assert signed_out.status_code == 303
    assert signed_out.headers["Location"].startswith("/staff/sign-in")
    for email, roles, status in (
        ("agent@haohuan.example", ("agent",), 403),
        (FINANCE, ("finance",), 200),  # the money figures only (below)
        (SUPERVISOR, ("agent", "supervisor"), 200),
        (ADMIN, ("admin",), 200),
    ):
        assert signed_in(app, email, roles).get(path).status_code == status, email


def test_the_staff_navigation_leads_supervisors_and_admins_to_it(app):
    supervisor = signed_in(app, SUPERVISOR, ("agent", "supervisor"))
    agent = signed_in(app, "agent@haohuan.example", ("agent",))
    admin = signed_in(app, ADMIN, ("admin",))
    link = f'href="{URL}"'
    assert link in supervisor.get("/agent/my-work?lang=en").get_data(as_text=True)
    assert link in admin.get("/admin/audit?lang=en").get_data(as_text=True)
    assert link not in agent.get("/agent/my-work?lang=en").get_data(as_text=True)
    page = supervisor.get(URL + "?lang=en").get_data(as_text=True)
    assert f'<a href="{URL}" aria-current="page">Portfolio</a>' in page


def cells_on_page(html: str) -> list[tuple[str, str]]:
    """The matrix table's cells, row by row: (count, share of the row)."""
    table = html[html.index('class="list wide portfolio-matrix"') :]
    body = table[table.index("<tbody>") : table.index("</tbody>")]
    return re.findall(
        r'<span class="portfolio-count">([^<]*)</span> '
        r'<span class="portfolio-share">([^<]*)</span>',
        body,
    )


@pytest.mark.usefixtures("book")
def test_the_page_shows_the_services_figures_for_a_book_of_two_month_ends(app, supervisor):
    found = service(app, chosen=Slice(currency="TWD"))
    assert found.amounts_in == "TWD"
    assert found.matrix.total.cases == 4
    response = supervisor.get(URL + "?lang=en&currency=TWD")
    assert response.status_code == 200
    html = unwrapped(response.get_data(as_text=True))
    matrix = found.matrix
    with app.test_request_context("/?lang=en"):
        expected = [
            (str(matrix.cell(a, b).cases), percent(matrix.rate(a, b).cases))
            for a in OPEN_BUCKETS
            for b in DESTINATIONS
        ]
        cure = percent(matrix.cure_rate.cases)
        amount = money(matrix.row_total(Bucket.D1_30).amount, "TWD")
        per_bucket = [
            percent(matrix.rate(Bucket.D1_30, Bucket.CURRENT).cases),
            percent(matrix.roll_forward(Bucket.D1_30).cases),
            percent(matrix.roll_back(Bucket.D1_30).cases),
        ]
    assert cells_on_page(html) == expected
    # A third of 1-30 rolled to 31-60, a third closed, a third cured (worked out in
    # test_portfolio_report).
    assert expected[OPEN_BUCKETS.index(Bucket.D1_30) * len(DESTINATIONS) + 2] == ("1", "33.3%")
    assert f"<dt>Cure rate</dt><dd>{cure}</dd>" in html
    assert cure == "33.3%"
    assert amount in html  # the 1-30 row's overdue amount, three times 595,000
    assert "NT$17,850" in amount
    # Cured, rolled forward and rolled back from 1-30: a third each way (one case each).
    rates = html[html.index('class="list portfolio-rates"') :]
    row = rates[rates.index('<th scope="row">1 to 30 days</th>') :]
    assert re.findall(r'<td class="num">([^<]*)', row)[:3] == per_bucket
    assert per_bucket == ["33.3%", "33.3%", "33.3%"]
    assert "From October 31, 2026 to November 30, 2026: 1 month pair." in html
    # The heat map: one shaded cell per pair of buckets, its share written in it.
    assert html.count('<rect class="heat heat-') == len(OPEN_BUCKETS) * len(DESTINATIONS) + 6
    assert "Counts only" not in html


@pytest.mark.usefixtures("book")
def test_across_currencies_the_page_shows_counts_and_says_why(app, supervisor):
    found = service(app)
    assert found.amounts_in is None
    html = unwrapped(supervisor.get(URL + "?lang=en").get_data(as_text=True))
    with app.test_request_context("/?lang=en"):
        expected = [
            (str(found.matrix.cell(a, b).cases), percent(found.matrix.rate(a, b).cases))
            for a in OPEN_BUCKETS
            for b in DESTINATIONS
        ]
    assert cells_on_page(html) == expected
    assert "Counts only: this slice holds loans in more than one currency" in html
    assert "portfolio-amount" not in html
    assert "Cure rate by amount" not in html


def csv_rows(response) -> list[dict[str, str]]:
    text = response.get_data(as_text=True)
    assert text.startswith("\ufeff")
    return list(csv.DictReader(io.StringIO(text[1:])))


@pytest.mark.usefixtures("book")
def test_the_csv_holds_the_same_figures(app, supervisor):
    found = service(app, chosen=Slice(currency="TWD"))
    response = supervisor.get(URL + ".csv?currency=TWD&lang=en")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert (
        'filename="portfolio-roll-rates-2026-10-31-2026-11-30.csv"'
        in (response.headers["Content-Disposition"])
    )
    rows = csv_rows(response)
    assert len(rows) == len(OPEN_BUCKETS) * len(DESTINATIONS)
    matrix = found.matrix
    for line in rows:
        first, then = Bucket(line["from_bucket"]), Bucket(line["to_bucket"])
        cell, rate = matrix.cell(first, then), matrix.rate(first, then)
        assert int(line["cases"]) == cell.cases
        assert int(line["amount_minor"]) == cell.amount
        assert line["currency"] == "TWD"
        assert (line["from_month_end"], line["to_month_end"], line["month_pairs"]) == (
            "2026-10-31",
            "2026-11-30",
            "1",
        )
        if rate.cases is None:
            assert line["cases_share"] == ""
        else:
            assert abs(Fraction(line["cases_share"]) - rate.cases) <= Fraction(1, 2_000_000)
    cured = next(r for r in rows if (r["from_bucket"], r["to_bucket"]) == ("1_30", "current"))
    assert (cured["cases"], cured["cases_share"], cured["amount_share"]) == (
        "1",
        "0.333333",
        "0.333333",
    )
    # Across currencies: counts, no amounts.
    mixed = csv_rows(supervisor.get(URL + ".csv"))
    assert {(r["currency"], r["amount_minor"], r["amount"]) for r in mixed} == {("", "", "")}
    assert sum(int(r["cases"]) for r in mixed) == service(app).matrix.total.cases


@pytest.mark.usefixtures("book")
def test_valid_filters_narrow_the_book_and_stay_chosen(app, supervisor):
    html = supervisor.get(
        URL + f"?lang=en&from={OCTOBER}&to={OCTOBER}&currency=USD&product=personal&market=TW"
    ).get_data(as_text=True)
    assert "Some filters were left out" not in html
    assert '<option value="USD" selected>' in html
    assert f'<option value="{OCTOBER}" selected>' in html
    assert "Slice of the book (3 filters set)" in html
    dollars = service(app, chosen=Slice(currency="USD", product="personal", market="TW"))
    assert dollars.matrix.total.cases == 1
    assert cells_on_page(unwrapped(html))[OPEN_BUCKETS.index(Bucket.D1_30) * 7 + 2] == (
        "1",
        "100.0%",
    )


@pytest.mark.parametrize(
    "query",
    [
        "currency=%3Cscript%3Ealert(1)%3C%2Fscript%3E",
        "owner=1%20OR%201%3D1",
        "owner=99999999999999999999999",
        "team=-1",
        "stage=late%E2%80%8B",
        "arm=" + "x" * 5000,
        "from=2026-02-30",
        "from=2026-10-31T00:00",
        "to=..%2F..%2Fetc%2Fpasswd",
        "to=2026-09-30",
        "product=%F0%9F%92%A3",
        "market=TW%27--",
    ],
)
@pytest.mark.usefixtures("book")
def test_hostile_filters_are_left_out_with_a_message_never_a_500(app, supervisor, query):
    response = supervisor.get(f"{URL}?lang=en&{query}")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "Some filters were left out:" in html
    assert "is not one of the choices, so it was left out." in html
    assert "<script>alert" not in html
    told = re.findall(r"<li>(.*?) is not one of the choices", html)
    assert len(told) == 1  # what was typed, echoed back cut short
    assert len(told[0]) < 80
    # The whole book is shown instead, for the default period.
    assert f'<option value="{OCTOBER}" selected>' in html
    # The CSV does not export a filter it did not understand: back to the page.
    exported = supervisor.get(f"{URL}.csv?{query}&_scheme=javascript")
    assert exported.status_code == 303
    assert exported.headers["Location"].startswith(URL + "?")
    assert "_scheme" not in exported.headers["Location"]


@pytest.mark.usefixtures("book")
def test_a_first_pair_after_the_last_falls_back_to_the_default_period(app, supervisor):
    with app.app_context():
        session = db.session()
        write_month_end(session, SEPTEMBER)  # now two pairs: September and October
        session.commit()
        assert month_ends(db.session()) == [SEPTEMBER, OCTOBER]
    html = supervisor.get(f"{URL}?lang=en&from={OCTOBER}&to={SEPTEMBER}").get_data(as_text=True)
    assert "The first month pair comes after the last" in html
    assert f'<option value="{SEPTEMBER}" selected>' in html
    both = service(app, SEPTEMBER, SEPTEMBER)
    assert both.pairs == 1
    whole = supervisor.get(f"{URL}?lang=en").get_data(as_text=True)
    assert "From September 30, 2026 to November 30, 2026: 2 month pairs." in unwrapped(whole)
    assert "Sep 2026 to Oct 2026" in whole
    assert "Oct 2026 to Nov 2026" in whole


def test_without_history_the_page_says_so_and_the_csv_goes_back_to_it(app, supervisor):
    html = supervisor.get(URL + "?lang=en").get_data(as_text=True)
    assert "There is no month-end history yet" in html
    assert "<svg" not in html
    assert supervisor.get(URL + ".csv").status_code == 303


@pytest.mark.usefixtures("book")
def test_every_view_and_export_is_audited(app, supervisor):
    assert supervisor.get(URL + "?currency=TWD").status_code == 200
    assert supervisor.get(URL + ".csv?currency=TWD&from=2026-10-31").status_code == 200
    assert supervisor.get(URL, headers={"HX-Request": "true"}).status_code == 200
    assert supervisor.get(URL + ".csv?currency=nope").status_code == 303  # nothing exported
    period = {"from": "2026-10-31", "to": "2026-10-31"}
    assert audited(app, "reports.") == [
        (SUPERVISOR, "reports.portfolio.view", None, {"filters": {**period, "currency": "TWD"}}),
        (SUPERVISOR, "reports.portfolio.export", None, {"filters": {**period, "currency": "TWD"}}),
        (SUPERVISOR, "reports.portfolio.view", None, {"filters": period}),
    ]


@pytest.mark.usefixtures("book")
def test_htmx_gets_only_the_results_and_the_address_follows(app, supervisor):
    response = supervisor.get(
        URL + "?lang=en&currency=TWD&product=&stage=", headers={"HX-Request": "true"}
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "<html" not in html
    assert "<form" not in html
    assert 'class="list wide portfolio-matrix"' in html
    assert "<svg" in html
    assert "HX-Request" in response.headers["Vary"]
    assert response.headers["HX-Push-Url"] == f"{URL}?from={OCTOBER}&to={OCTOBER}&currency=TWD"
    # The CSV link in the fragment exports what it shows.
    assert f'href="{URL}.csv?from={OCTOBER}&amp;to={OCTOBER}&amp;currency=TWD"' in html
    whole = supervisor.get(URL + "?lang=en").get_data(as_text=True)
    assert 'data-hx-get="/reports/portfolio"' in whole
    assert 'id="portfolio-results"' in whole


@pytest.mark.parametrize(
    ("lang", "words"),
    [
        ("en", ["How the book is doing", "Cure rate", "Rolled forward", "181 days or more"]),
        ("zh_Hant_TW", ["帳款回收成效", "回復正常率", "惡化", "已結案"]),
        ("zh_Hans_CN", ["账款回收成效", "恢复正常率", "恶化", "已结案"]),
    ],
)
@pytest.mark.usefixtures("book")
def test_the_page_speaks_three_languages(app, supervisor, lang, words):
    html = unwrapped(supervisor.get(f"{URL}?lang={lang}&currency=TWD").get_data(as_text=True))
    for word in words:
        assert word in html, word
    # The heading names the whole page, the window's title too (no longer "roll rates").
    assert f"<h1>{words[0]}</h1>" in html
    assert re.search(f"<title>[^<]*{words[0]}", html), words[0]
    assert "33.3%" in html
    csv_text = supervisor.get(f"{URL}.csv?lang={lang}&currency=TWD").get_data(as_text=True)
    # The 1-30 to 31-60 cell: A, 595,000 overdue, formatted as the language writes it.
    assert ",1_30,31_60,1,0.333333,TWD,595000," in csv_text
    assert "5,950" in csv_text


# The sections beside the roll rates ---------------------------------------------------------

AT = datetime(2026, 11, 10, 4, 0, tzinfo=UTC)  # noon in Taipei, 10 November: in the period


@pytest.fixture
def fuller(app, request, supervisor):
    """The book of two month-ends, with what the other sections count in November (the
    pair's days): two plans (a settlement kept from an agent's offer, an arrears plan
    still live), a promise the supervisor took and one by a former agent, two attempts
    (one answered), a call the gate refused, an opt-out, and a reminder whose link was
    opened and verified, the plans seen and one reviewed on a phone."""
    cases = request.getfixturevalue("book")
    a, d = cases["A"], cases["D"]
    with app.app_context():
        s = db.session()
        borrower = {i: s.get_one(Case, i).loan.borrower_id for i in (a, d)}
        offer = Offer(
            case_id=d, status=OfferStatus.ACCEPTED, terms={}, created_by=SUPERVISOR, expires_at=AT
        )
        s.add(offer)
        s.flush()
        settled = Plan(
            case_id=d, kind="settlement", status="completed", currency="TWD",
            restructured=500_000, total=400_000, discount=100_000, waived_fees=2_500,
            accepted_at=AT, offer_id=offer.id,
        )  # fmt: skip
        spread = Plan(
            case_id=a, kind="arrears_plan", status="active", currency="TWD",
            restructured=595_000, total=595_000, waived_penalties=45_000, accepted_at=AT,
        )  # fmt: skip
        s.add_all([settled, spread])
        s.add_all(
            [
                Promise(
                    case_id=a, made_by=SUPERVISOR, made_at=AT, due_date=date(2026, 11, 17),
                    amount=30_000, currency="TWD", status="partly_kept", paid=10_000,
                ),
                Promise(
                    case_id=d, made_by="former@haohuan.example", made_at=AT,
                    due_date=date(2026, 11, 12), amount=20_000, currency="TWD",
                    status="kept", paid=20_000,
                ),
                ContactAttempt(
                    case_id=a, borrower_id=borrower[a], channel="call", at=AT,
                    agent=SUPERVISOR, connected=True, outcome="reached",
                ),
                ContactAttempt(
                    case_id=d, borrower_id=borrower[d], channel="sms", at=AT,
                    agent="system", outcome="sent",
                ),
                AuditEntry(
                    at=AT, actor=SUPERVISOR, action="call.refused", case_id=a,
                    details={"reasons": ["quiet_hours"]},
                ),
                OptOut(borrower_id=borrower[d], channel="email", at=AT, source="link"),
            ]
        )  # fmt: skip
        link = s.scalars(select(ReminderLink).where(ReminderLink.case_id == a)).first()
        assert link is not None
        s.add_all(
            [
                Message(
                    case_id=a, borrower_id=borrower[a], channel="sms", purpose="reminder",
                    link_id=link.id, locale="zh_Hant_TW", status="sent", send_at=AT,
                    sent_at=AT, created_by="system", created_at=AT,
                ),
                VerificationAttempt(
                    borrower_id=borrower[a], link_id=link.id, address_hash="x",
                    succeeded=True, at=AT,
                ),
            ]
        )  # fmt: skip
        for kind in ("portal_verified", "options_seen", "plan_reviewed"):
            s.add(
                CaseEvent(case_id=a, kind=kind, actor="borrower", at=AT, data={"device": "phone"})
            )
        s.commit()
    # November's cells, as the month-end step counts them.
    count_cells(app, NOVEMBER, NOVEMBER)
    return cases


def report_of(app) -> BookReport:
    """The service's whole report of the default period (October to November)."""
    with app.app_context():
        return book_report(db.session(), OCTOBER, OCTOBER, Slice())


def rows_of(html: str, marker: str, nth: int = 0) -> list[list[str]]:
    """The body and foot rows of the ``nth`` table whose class has ``marker``: each row's
    cells as text."""
    starts = [m.start() for m in re.finditer(f'<table class="[^"]*{marker}[^"]*"', html)]
    table = html[starts[nth] : html.index("</table>", starts[nth])]
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", table[table.index("</thead>") :], re.S)
    return [
        [
            re.sub(r"<[^>]+>", "", cell).strip()
            for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)
        ]
        for row in rows
    ]


@pytest.mark.parametrize("lang", ["en", "zh_Hant_TW", "zh_Hans_CN"])
def test_the_sections_show_the_services_figures_in_three_languages(app, supervisor, fuller, lang):
    report = report_of(app)
    plans, promised, contact, steps = (
        report.arrangements, report.promises, report.contact, report.funnel.steps()
    )  # fmt: skip
    # Worked out from the fixture, so the comparison below is not between two empties.
    assert (plans.by_kind["settlement"].kept, plans.by_kind["arrears_plan"].live) == (1, 1)
    assert plans.by_channel["agent_offer"].accepted == 1
    assert (promised.total.partly_kept, promised.total.kept) == (1, 1)
    assert (contact.attempts, contact.right_party_contacts, contact.refusals) == (2, 1, 1)
    assert steps == (1, 1, 1, 1, 1, 2, 0)  # accepted: both plans' cases
    html = unwrapped(supervisor.get(f"{URL}?lang={lang}").get_data(as_text=True))
    outcomes = ("accepted", "kept", "broken", "lapsed", "live")
    with app.test_request_context("/"), force_locale(lang):

        def tally_row(name, tally):
            counts = [whole(getattr(tally, outcome)) for outcome in outcomes]
            return [str(name), *counts, percent(tally.kept_rate)]

        by_kind = [tally_row(PLAN_KIND_NAMES[k], plans.by_kind[k]) for k in KINDS]
        by_kind.append(tally_row(_("All"), plans.total))
        by_channel = [tally_row(FIRST_PAYMENT_CHANNELS[c], plans.by_channel[c]) for c in CHANNELS]
        forgone = [
            [r.currency, whole(r.plans), money(r.discount, "TWD"),
             money(r.average_discount, "TWD"), money(r.waiver, "TWD"),
             money(r.average_waiver, "TWD")]
            for r in plans.forgone
        ]  # fmt: skip
        statuses = ("made", "kept", "partly_kept", "broken", "open", "superseded")
        total = [_("Everyone"), *(whole(getattr(promised.total, s)) for s in statuses)]
        agents = [
            [a.name or _("%(who)s (no staff account)", who=a.made_by),
             *(whole(getattr(a.tally, s)) for s in statuses)]
            for a in promised.by_agent
        ]  # fmt: skip
        attempts = [
            [str(CHANNEL_NAMES[c]), whole(contact.attempts_by_channel[c]),
             whole(contact.opt_outs_by_channel[c])]
            for c in CONTACT_CHANNELS
        ]  # fmt: skip
        refusals = [[str(REFUSAL_TEXT[r]), whole(contact.refusals_by_reason[r])] for r in REASONS]
        funnel_rows = [
            [str(FUNNEL_STEPS[step]), whole(n), percent(share(n, steps[0]))]
            for step, n in zip(STEPS, steps, strict=True)
        ]
        settlement = percent(plans.settlement_rate)
        per_case_rpc = per_case(contact.right_party_contacts_per_case)
    assert rows_of(html, "portfolio-plans", 0) == by_kind
    assert rows_of(html, "portfolio-plans", 1)[:-1] == by_channel
    assert rows_of(html, "portfolio-forgone") == forgone
    assert forgone[0][2] == money_in(app, lang, 100_000)
    assert rows_of(html, "portfolio-promises", 0) == [total]
    assert rows_of(html, "portfolio-by-agent") == agents
    # By made_by: the former agent's email (no account), then the supervisor by name.
    assert "former@haohuan.example" in agents[0][0]
    assert agents[1][0] == "林美"
    assert rows_of(html, "portfolio-contact")[:-1] == attempts
    assert rows_of(html, "portfolio-refusals") == refusals
    assert rows_of(html, "portfolio-funnel") == funnel_rows
    assert funnel_rows[0][2] == "100.0%"
    assert settlement == "50.0%"
    assert settlement in html
    assert per_case_rpc == "0.50"
    assert html.count('<rect class="funnel-bar"') == 6  # the step no case reached: no bar
    # The funnel by device: the phone column counts the case at each step it reached.
    device = rows_of(html, "portfolio-funnel-by", 1)
    assert [row[1] for row in device] == ["1", "1", "1", "1", "1", "1", "0"]
    # The in-page links lead to each section's heading.
    for anchor in ("roll-rates", "plans", "promises", "contact", "funnel"):
        assert f'href="#{anchor}"' in html
        assert f'<h2 id="{anchor}">' in html


def money_in(app, lang: str, amount: int) -> str:
    with app.test_request_context("/"), force_locale(lang):
        return money(amount, "TWD")


def test_the_kept_rate_counts_only_the_plans_decided():
    assert PlanTally(kept=3, broken=1, lapsed=0, live=6).kept_rate == Fraction(3, 4)
    assert PlanTally(live=2).kept_rate is None


def test_the_funnels_bars_are_as_long_as_their_share_of_the_first_step():
    chart = funnel_chart([200, 100, 3, 0], width=208, left=4, right=4)
    assert chart.plot_width == 200
    assert [bar.width for bar in chart.bars] == [200, 100, 3, 0]
    assert [bar.share for bar in chart.bars] == [1, Fraction(1, 2), Fraction(3, 200), 0]
    assert chart.bars[1].y > chart.bars[0].y + chart.bars[0].height
    # A first step with no case: bars against the largest step, no share.
    empty_first = funnel_chart([0, 4, 2], width=108, left=4, right=4)
    assert [bar.width for bar in empty_first.bars] == [0, 100, 50]
    assert {bar.share for bar in empty_first.bars} == {None}


# Finance: the money figures ----------------------------------------------------------------

# Each section's heading, and a table only that section has.
MONEY_SECTIONS = {"roll-rates": "portfolio-matrix", "plans": "portfolio-plans"}
OTHER_SECTIONS = {
    "promises": "portfolio-promises",
    "contact": "portfolio-contact",
    "funnel": "portfolio-funnel",
}


def sections_in(html: str) -> set[str]:
    """The sections whose heading and own table are on the page (each both or neither)."""
    shown = set()
    for anchor, table in {**MONEY_SECTIONS, **OTHER_SECTIONS}.items():
        heading, has_table = f'<h2 id="{anchor}">' in html, f'class="list wide {table}' in html
        if not has_table:
            has_table = f'class="list {table}' in html
        assert heading == has_table, anchor
        if heading:
            shown.add(anchor)
    return shown


def test_finance_reads_the_money_figures_alone_in_its_own_console(app, supervisor, fuller):
    finance = signed_in(app, FINANCE, ("finance",))
    html = unwrapped(finance.get(f"{URL}?lang=en&currency=TWD").get_data(as_text=True))
    assert sections_in(html) == set(MONEY_SECTIONS)
    # The roll rates with their amounts, and the plans' money: discount, waiver, settlement.
    assert 'class="portfolio-amount"' in html
    assert rows_of(html, "portfolio-forgone")[0][0] == "TWD"
    assert "Settlement rate" in html
    # Nothing of the others: not a name of an agent, not a contact, not the funnel's steps.
    absent_words = ("portfolio-by-agent", "former@haohuan.example", "Right-party contacts")
    for absent in (*absent_words, "funnel-bar"):
        assert absent not in html, absent
    for anchor in OTHER_SECTIONS:
        assert f'href="#{anchor}"' not in html
    assert "Plans count what happened from" in html
    # In the finance console, its navigation marking the page.
    assert 'aria-label="Finance console"' in html
    assert 'aria-label="Agent console"' not in html
    assert f'<a href="{URL}" aria-current="page">Portfolio</a>' in html
    # The htmx fragment holds no more than the page.
    fragment = finance.get(f"{URL}?lang=en", headers={"HX-Request": "true"})
    part = unwrapped(fragment.get_data(as_text=True))
    assert fragment.status_code == 200
    assert "<html" not in part
    assert sections_in(part) == set(MONEY_SECTIONS)
    assert "former@haohuan.example" not in part
    # Not the book by the people who work it: no owner or team to choose, and asked for,
    # left out with a sentence saying so.
    assert 'id="portfolio-owner"' not in html
    assert 'id="portfolio-team"' not in html
    with app.app_context():
        # A case of the book owned by the supervisor when it rolled.
        session = db.session()
        owner = session.scalars(select(StaffMember.id).where(StaffMember.email == SUPERVISOR)).one()
        first_row = select(func.min(PortfolioTransition.id)).scalar_subquery()
        session.execute(
            update(PortfolioTransition)
            .where(PortfolioTransition.id == first_row)
            .values(owner_id=owner)
        )
        session.commit()
    # The supervisor reads the book by that owner; finance may not.
    assert 'id="portfolio-owner"' in supervisor.get(f"{URL}?lang=en").get_data(as_text=True)
    assert "is not one of the choices" not in supervisor.get(f"{URL}?owner={owner}").get_data(
        as_text=True
    )
    by_owner = unwrapped(finance.get(f"{URL}?lang=en&owner={owner}").get_data(as_text=True))
    assert f"Owner: “{owner}” is not one of the choices, so it was left out." in by_owner
    # The roll rates' CSV is a money figure: finance exports it.
    assert finance.get(f"{URL}.csv?currency=TWD").status_code == 200
    # Audited as any reader's views and exports.
    assert [row[:2] for row in audited(app, "reports.") if row[0] == FINANCE] == [
        (FINANCE, "reports.portfolio.view"),
        (FINANCE, "reports.portfolio.view"),
        (FINANCE, "reports.portfolio.view"),
        (FINANCE, "reports.portfolio.export"),
    ]


@pytest.mark.parametrize("lang", ["en", "zh_Hant_TW", "zh_Hans_CN"])
def test_supervisors_and_finance_supervisors_read_every_section(app, supervisor, fuller, lang):
    both = signed_in(app, "both@haohuan.example", ("finance", "supervisor"))
    for client in (supervisor, both):
        html = client.get(f"{URL}?lang={lang}").get_data(as_text=True)
        assert sections_in(html) == set(MONEY_SECTIONS) | set(OTHER_SECTIONS)
        fragment = client.get(f"{URL}?lang={lang}", headers={"HX-Request": "true"})
        assert sections_in(fragment.get_data(as_text=True)) == sections_in(html)


@pytest.mark.parametrize(
    ("lang", "label"), [("en", "Portfolio"), ("zh_Hant_TW", "放款組合"), ("zh_Hans_CN", "贷款组合")]
)
def test_the_finance_console_leads_finance_to_it(app, lang, label):
    finance = signed_in(app, FINANCE, ("finance",))
    html = finance.get(f"/finance/?lang={lang}").get_data(as_text=True)
    assert f'<a href="{URL}">{label}</a>' in html
    page = finance.get(f"{URL}?lang={lang}").get_data(as_text=True)
    assert f'<a href="{URL}" aria-current="page">{label}</a>' in page


def test_the_audiences_are_decided_in_one_place(app, fuller):
    assert report_book.audience_for(["agent"]) is None
    assert report_book.audience_for(["finance"]) is report_book.MONEY_ONLY
    assert report_book.audience_for(["finance", "supervisor"]) is report_book.EVERYTHING
    assert report_book.audience_for(["admin"]) is report_book.EVERYTHING
    assert set(report_book.SECTIONS) >= report_book.MONEY
    assert not report_book.MONEY_ONLY.sees("promises")
    with app.app_context():
        session = db.session()
        money = report_book.MONEY_ONLY.sections
        money_only = report_book.book_report(session, OCTOBER, OCTOBER, Slice(), money)
        whole = report_book.book_report(session, OCTOBER, OCTOBER, Slice())
        with pytest.raises(ValueError, match="unknown report sections"):
            report_book.book_report(session, OCTOBER, OCTOBER, Slice(), ["agents!"])
    # The sections finance does not read are never computed.
    assert (money_only.promises, money_only.contact, money_only.funnel) == (None, None, None)
    # Nor the agents' figures (the supervisors' only).
    assert (money_only.agents, money_only.contacts_per_cure) == (None, None)
    assert money_only.arrangements == whole.arrangements
    assert money_only.roll_rates == whole.roll_rates
    # The liquidation curves are a money figure.
    assert money_only.liquidation is not None
    assert money_only.liquidation == whole.liquidation
    assert set(report_book.as_json(money_only)) == set(report_book.as_json(whole)) - {
        "promises",
        "contact",
        "funnel",
        "agents",
        "contacts_per_cure",
    }
