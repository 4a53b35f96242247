"""The agents' figures on the pages: the table of every agent on the portfolio page
(supervisors and admins), an agent's own page at ``/reports/mine`` (that agent's figures
alone, whatever the query names), the audit log and the three languages. The book is
``test_report_agents``'s, its figures worked out there."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from flask.testing import FlaskClient

from portal.core import db
from portal.core.i18n import money
from portal.reporting.snapshots import count_transitions

from .factories import staff_sign_in, unwrapped
from .test_finance_console import audited
from .test_report_agents import NOVEMBER_END, OCTOBER_END, Book, build_book

PORTFOLIO = "/reports/portfolio"
AGENTS = "/reports/portfolio/agents"
MINE = "/reports/mine"
PERIOD = f"from={OCTOBER_END}&to={OCTOBER_END}"


@pytest.fixture
def book(app: Flask) -> Book:
    """The book, with its month pair's transitions counted (the periods a page offers)."""
    built = build_book(app)
    with app.app_context():
        count_transitions(db.session(), OCTOBER_END, NOVEMBER_END)
        db.session().commit()
    return built


def as_member(app: Flask, name: str) -> FlaskClient:
    client = app.test_client()
    assert staff_sign_in(client, f"{name}@haohuan.example").status_code == 303
    return client


def table_row(html: str, name: str) -> list[str]:
    """The agents' table's cells of the row headed ``name``."""
    table = html[html.index('class="list wide portfolio-agents"') :]
    table = table[: table.index("</table>")]
    row = table[table.index(f'<th scope="row">{name}</th>') :]
    row = row[: row.index("</tr>")]
    return [re.sub(r"<[^>]+>", "", cell) for cell in re.findall(r'<td class="num">(.*?)</td>', row)]


def figures(html: str) -> dict[str, str]:
    """The own page's key figures: each term with its value."""
    return dict(re.findall(r"<div><dt>([^<]*)</dt><dd>([^<]*)</dd></div>", html))


def test_supervisors_read_every_agents_figures(app: Flask, book: Book) -> None:
    boss = as_member(app, "boss")
    page = unwrapped(boss.get(f"{PORTFOLIO}?lang=en&{PERIOD}").get_data(as_text=True))
    # The portfolio page leaves the agents' section to be read apart, when asked for: its
    # link loads it in place with htmx, or opens it as a page without JavaScript.
    assert '<a href="#agents">Agents</a>' in page
    lazy = f"{AGENTS}?from={OCTOBER_END}&amp;to={OCTOBER_END}"
    assert f'<a href="{lazy}" data-hx-get="{lazy}" data-hx-target="closest section"' in page
    assert "revealed" not in page
    assert "portfolio-agents" not in page
    html = unwrapped(boss.get(f"{AGENTS}?lang=en&{PERIOD}").get_data(as_text=True))
    assert "<h1>Portfolio: agents</h1>" in html
    fragment = boss.get(f"{AGENTS}?lang=en&{PERIOD}", headers={"HX-Request": "true"})
    assert "<h1>" not in fragment.get_data(as_text=True)
    assert 'class="list wide portfolio-agents"' in fragment.get_data(as_text=True)
    with app.test_request_context("/?lang=en"):
        lings_money = f"{money(140_000, 'TWD')} ({money(80_000, 'TWD')})"
        boss_money = f"{money(70_000, 'CNY')} ({money(10_000, 'CNY')})"
    # Owned, worked, attempts, right-party contacts, promises made and kept, offers made,
    # approved of those beyond authority, plans arranged, money on them (paid so far).
    assert table_row(html, "Ling") == [
        "2",
        "4",
        "3",
        "3",
        "2",
        "1",
        "5",
        "1 of 3",
        "2",
        lings_money,
    ]
    assert table_row(html, "Wei") == ["2", "4", "3", "1", "1", "0", "1", "0 of 0", "0", "—"]
    assert table_row(html, "Boss") == ["0", "2", "0", "0", "0", "0", "1", "1 of 1", "1", boss_money]
    assert table_row(html, "Idle") == ["0"] * 7 + ["0 of 0", "0", "—"]
    assert '<th scope="row">Gone</th>' not in html
    assert '<th scope="row">Fin</th>' not in html
    # Contacts per cure: 6 attempts and 2 right-party contacts over 3 cures.
    assert "<dt>Attempts per cure</dt><dd>2.00</dd>" in html
    assert "<dt>Right-party contacts per cure</dt><dd>0.67</dd>" in html
    # A slice narrows the table: TWD cases (wei owned E at the month-end, worked E and B).
    sliced = unwrapped(boss.get(f"{AGENTS}?lang=en&{PERIOD}&currency=TWD").get_data(as_text=True))
    assert table_row(sliced, "Wei")[:3] == ["1", "2", "1"]
    # By owner, November's work follows the cases' owners at 31 October (A, B and E
    # ling's): wei worked E and B there; owned, at 30 November, A and B are ling's.
    lings = unwrapped(
        boss.get(f"{AGENTS}?lang=en&{PERIOD}&owner={book.ling}").get_data(as_text=True)
    )
    assert table_row(lings, "Wei")[:2] == ["0", "2"]
    assert table_row(lings, "Ling")[:2] == ["2", "3"]


def test_an_agent_reads_their_own_figures_and_nobody_elses(app: Flask, book: Book) -> None:
    wei = as_member(app, "wei")
    assert wei.get(PORTFOLIO).status_code == 403
    assert wei.get(f"{AGENTS}?{PERIOD}").status_code == 403
    assert as_member(app, "fin").get(f"{AGENTS}?{PERIOD}").status_code == 403
    page = unwrapped(wei.get(f"{MINE}?lang=en&{PERIOD}").get_data(as_text=True))
    own = figures(page)
    assert own == {
        "Cases owned": "2",
        "Cases worked": "4",
        "Attempts": "3",
        "Right-party contacts": "1",
        "Calls taken": "0",
    }
    assert "Ling" not in page
    assert "ling@" not in page
    # A query naming another agent, a team or a slice still shows wei's own figures.
    for forged in (
        f"owner={book.ling}",
        f"staff={book.ling}",
        f"only={book.ling}",
        f"agent={book.ling}&team={book.north}",
        "currency=CNY",
        "owner=not-a-number&from=2026-13-45",
    ):
        response = wei.get(f"{MINE}?lang=en&{PERIOD}&{forged}")
        assert response.status_code == 200, forged
        shown = unwrapped(response.get_data(as_text=True))
        assert figures(shown) == own, forged
        assert "Ling" not in shown, forged
    # ling's own page: ling's figures (the same service, ling alone).
    lings = figures(
        unwrapped(as_member(app, "ling").get(f"{MINE}?lang=en&{PERIOD}").get_data(as_text=True))
    )
    assert lings == {
        "Cases owned": "2",
        "Cases worked": "4",
        "Attempts": "3",
        "Right-party contacts": "3",
        "Calls taken": "1",
    }


def test_the_own_page_shows_the_agents_promises_offers_and_plans(app: Flask, book: Book) -> None:
    html = unwrapped(as_member(app, "ling").get(f"{MINE}?lang=en&{PERIOD}").get_data(as_text=True))
    promises = html[html.index('id="mine-promises-caption"') :]
    assert re.findall(r'<td class="num">([^<]*)</td>', promises)[:6] == [
        "2", "1", "1", "0", "0", "0"
    ]  # fmt: skip
    offers = html[html.index('id="mine-offers-caption"') :]
    assert re.findall(r'<td class="num">([^<]*)</td>', offers)[:6] == [
        "5", "2", "3", "1", "1", "2"
    ]  # fmt: skip
    plans = html[html.index('id="mine-plans-caption"') :]
    assert re.findall(r'<td class="num">([^<]*)</td>', plans)[:5] == ["2", "1", "0", "0", "1"]
    with app.test_request_context("/?lang=en"):
        assert money(140_000, "TWD") in html
        assert money(80_000, "TWD") in html


@pytest.mark.usefixtures("book")
def test_only_agents_have_an_own_page(app: Flask) -> None:
    assert app.test_client().get(MINE).status_code == 303
    assert as_member(app, "boss").get(MINE).status_code == 403
    assert as_member(app, "fin").get(MINE).status_code == 403
    agent = as_member(app, "wei")
    assert f'href="{MINE}"' in agent.get("/agent/my-work?lang=en").get_data(as_text=True)
    assert f'href="{MINE}"' not in as_member(app, "boss").get(f"{PORTFOLIO}?lang=en").get_data(
        as_text=True
    )


def test_the_own_page_and_the_agents_are_audited(app: Flask, book: Book) -> None:
    as_member(app, "boss").get(f"{AGENTS}?{PERIOD}&currency=TWD")
    assert audited(app, "reports.agents") == [
        (
            "boss@haohuan.example",
            "reports.agents.view",
            None,
            {"filters": {"from": "2026-10-31", "to": "2026-10-31", "currency": "TWD"}},
        )
    ]
    as_member(app, "wei").get(f"{MINE}?{PERIOD}&owner={book.ling}")
    assert audited(app, "reports.mine") == [
        (
            "wei@haohuan.example",
            "reports.mine.view",
            None,
            {"filters": {"from": "2026-10-31", "to": "2026-10-31"}},
        )
    ]


def test_without_history_the_own_page_says_so(app: Flask) -> None:
    build_book(app)  # month-end rows, but no month pair counted yet
    html = as_member(app, "wei").get(f"{MINE}?lang=en").get_data(as_text=True)
    assert "There is no month-end history yet" in html


@pytest.mark.parametrize(
    ("lang", "words"),
    [
        ("en", ["My figures", "Cases worked", "Offers you made in the period"]),
        ("zh_Hant_TW", ["我的績效", "處理的案件", "您在期間內提出的方案"]),
        ("zh_Hans_CN", ["我的业绩", "处理的案件", "您在期间内提出的方案"]),
    ],
)
def test_the_agents_pages_speak_three_languages(
    app: Flask, book: Book, lang: str, words: list[str]
) -> None:
    mine = unwrapped(
        as_member(app, "ling").get(f"{MINE}?lang={lang}&{PERIOD}").get_data(as_text=True)
    )
    for word in words:
        assert word in mine, word
    team = unwrapped(
        as_member(app, "boss").get(f"{AGENTS}?lang={lang}&{PERIOD}").get_data(as_text=True)
    )
    assert 'id="agents"' in team
    assert 'class="list wide portfolio-agents"' in team


def test_a_left_out_filter_is_said_once_by_the_page_around_the_agents(
    app: Flask, book: Book
) -> None:
    """The agents' section says nothing of the filters itself: loaded into the portfolio
    page (htmx), the page has said it already; as a page of its own, the page says it."""
    boss = as_member(app, "boss")
    asked = f"{AGENTS}?lang=en&{PERIOD}&product=no-such-product"
    fragment = boss.get(asked, headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "Some filters were left out:" not in fragment
    assert 'class="list wide portfolio-agents"' in fragment
    page = unwrapped(boss.get(asked).get_data(as_text=True))
    assert page.count("Some filters were left out:") == 1
