"""WCAG 2.2 AA on both sides (issue 12, items 45-55): what axe cannot see. Names that
start with the visible words, errors tied to their fields, languages and times marked up,
titles that say where and what went wrong, tables with captions, one heading per page,
and a session that warns before it ends and keeps what was typed."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser

import pytest

from portal.core import db
from portal.models import Case, CaseEvent

from .factories import NOW, add_staff, build_case, sign_in, staff_sign_in
from .test_journey import first_review_link, review_form

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
        "track", "wbr"}  # fmt: skip


@dataclass
class Element:
    """One element of a parsed page: enough of a DOM for these tests."""

    tag: str
    attrs: dict[str, str]
    parent: Element | None = None
    children: list[Element | str] = field(default_factory=list)

    def text(self) -> str:
        return "".join(c if isinstance(c, str) else c.text() for c in self.children)

    def visible_text(self) -> str:
        """The text a sighted person sees: without visually hidden parts."""
        return "".join(
            c
            if isinstance(c, str)
            else ("" if "visually-hidden" in c.classes() else c.visible_text())
            for c in self.children
        )

    def classes(self) -> set[str]:
        return set(self.attrs.get("class", "").split())

    def walk(self):
        for child in self.children:
            if isinstance(child, Element):
                yield child
                yield from child.walk()

    def find_all(self, tag: str | None = None, **attrs: str) -> list[Element]:
        found = []
        for element in self.walk():
            if tag and element.tag != tag:
                continue
            wanted_class = attrs.get("class_")
            if wanted_class and wanted_class not in element.classes():
                continue
            if any(element.attrs.get(k) != v for k, v in attrs.items() if k != "class_"):
                continue
            found.append(element)
        return found

    def ancestors(self):
        node = self.parent
        while node is not None:
            yield node
            node = node.parent


class _Builder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Element("#document", {})
        self.current = self.root

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, {k: v or "" for k, v in attrs}, self.current)
        self.current.children.append(element)
        if tag not in VOID:
            self.current = element

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.current.children.append(Element(tag, {k: v or "" for k, v in attrs}, self.current))

    def handle_endtag(self, tag: str) -> None:
        node: Element | None = self.current
        while node is not None and node.tag != tag:
            node = node.parent
        if node is not None and node.parent is not None:
            self.current = node.parent

    def handle_data(self, data: str) -> None:
        self.current.children.append(data)


def parse(html: str) -> Element:
    builder = _Builder()
    builder.feed(html)
    return builder.root


def squeeze(text: str) -> str:
    return " ".join(text.split())


AGENT = "agent@haohuan.example"


@pytest.fixture
def agent(app, client):
    add_staff(app, AGENT, ("agent",))
    assert staff_sign_in(client, AGENT).status_code == 303
    return client


# 45: label in name ------------------------------------------------------------------------


@pytest.mark.parametrize("locale", ["en", "zh_Hant_TW", "zh_Hans_CN"])
def test_each_plan_cards_link_name_starts_with_its_visible_words(app, client, locale):
    built = build_case(app, locale=locale)
    sign_in(client, built)
    page = parse(client.get(f"/plans?lang={locale}").get_data(as_text=True))
    links = [a for card in page.find_all("li", class_="card") for a in card.find_all("a")]
    assert links
    for link in links:
        visible = squeeze(link.visible_text())
        # The accessible name: aria-label when there is one, else the whole text.
        name = squeeze(link.attrs.get("aria-label") or link.text())
        assert visible
        assert name.startswith(visible), (visible, name)
        assert len(name) > len(visible)  # and it still says which plan it chooses


# 51: languages named in their own language are marked with it -----------------------------


def test_the_case_page_marks_the_borrowers_language(app, agent):
    built = build_case(app, locale="zh_Hans_CN")
    html = agent.get(f"/agent/cases/{built.case_id}?section=borrower&lang=en").get_data(
        as_text=True
    )
    language = parse(html).find_all("span", lang="zh-Hans-CN")
    assert [squeeze(s.text()) for s in language] == ["简体中文"]


# 53: time@datetime is a valid date and time ----------------------------------------------

VALID_DATETIME = re.compile(r"^\d{4}-\d\d-\d\d(T\d\d:\d\d(:\d\d)?Z)?$")


def test_times_carry_a_valid_machine_readable_value(app, agent):
    built = build_case(app)
    with app.app_context():
        session = db.session()
        case = session.get(Case, built.case_id)
        moment = NOW.replace(microsecond=123456)
        session.add(CaseEvent(case_id=case.id, kind="note", actor="agent", at=moment))
        session.commit()
    html = agent.get(f"/agent/cases/{built.case_id}?section=events&lang=en").get_data(as_text=True)
    times = parse(html).find_all("time")
    assert times
    for time in times:
        assert VALID_DATETIME.match(time.attrs["datetime"]), time.attrs["datetime"]
    assert any(t.attrs["datetime"] == "2026-11-30T02:00:00Z" for t in times)


# 47 and 55: every form shown with errors links each error to its field, and says so in
# the page's title -------------------------------------------------------------------------


def _errors_of_every_form(app, client):
    """Each form of both sides posted (or filtered) wrongly: (name, page) pairs."""
    built = build_case(app, locale="en")
    pages = [("verify", client.post(f"/r/{built.token}?lang=en", data={}))]
    wrong = {"method": "date_of_birth", "answer": "1999-01-01"}
    pages.append(("verify-wrong", client.post(f"/r/{built.token}?lang=en", data=wrong)))
    sign_in(client, built)
    pages.append(("help", client.post("/help?lang=en", data={})))
    pages.append(("statement", client.post("/plans?lang=en", data={"net_monthly_income": "x"})))
    pages.append(("pay", client.post("/pay?lang=en", data={"amount": "lots"})))
    review = client.get(first_review_link(client.get("/plans").get_data(True), "arrears_plan"))
    form = review_form(review.get_data(as_text=True))
    pages.append(("review", client.post("/plans/accept?lang=en", data=form)))
    # Automatic payments: the mandate's consent, and the sandbox's test card.
    client.post("/plans/accept", data={**form, "consent": "y"})
    pages.append(("autopay", client.post("/autopay?lang=en", data={})))
    card_page = client.post("/autopay", data={"consent": "y"}).location
    pages.append(("test-card", client.post(f"{card_page}?lang=en", data={})))
    client.post("/sign-out")
    pages.append(("sign-in", client.post("/staff/sign-in?lang=en", data={})))
    add_staff(app, AGENT, ("agent", "finance", "admin"))
    assert staff_sign_in(client, AGENT).status_code == 303
    case = built.case_id
    pages.append(("call", client.post(f"/agent/cases/{case}/calls?lang=en", data={})))
    pages.append(("offer", client.post(f"/agent/cases/{case}/offers/new?lang=en", data={})))
    pages.append(("overview", client.get("/finance/?lang=en&day=someday")))
    pages.append(("payments", client.get("/finance/payments?lang=en&since=someday")))
    pages.append(("collections", client.get("/finance/collections?lang=en&until=someday")))
    # The run form is offered only where Stripe is set up; an empty form never reaches it.
    app.config["STRIPE_SECRET_KEY"] = "sk_test_unused"
    pages.append(("runs", client.post("/finance/reconciliations?lang=en", data={})))
    pages.append(("audit", client.get("/admin/audit?lang=en&since=someday")))
    return pages


def test_every_error_summary_links_to_a_field_that_exists(app, client):
    for name, response in _errors_of_every_form(app, client):
        assert response.status_code < 500, name
        if name == "verify-wrong":
            continue  # a refused answer: an alert, no field in error
        page = parse(response.get_data(as_text=True))
        ids = {element.attrs["id"] for element in page.walk() if "id" in element.attrs}
        summaries = page.find_all("div", class_="summary-of-errors")
        assert len(summaries) == 1, name
        links = summaries[0].find_all("a")
        assert links, name
        for link in links:
            target = link.attrs["href"].removeprefix("#")
            assert target in ids, (name, target)
            # A group of radios or checkboxes: its errors describe the group.
            group = next(e for e in page.walk() if e.attrs.get("id") == target)
            if group.tag == "fieldset":
                assert f"{target}-errors" in group.attrs.get("aria-describedby", "").split()
                assert f"{target}-errors" in ids


def test_a_page_with_form_errors_says_error_in_its_title(app, client):
    for name, response in _errors_of_every_form(app, client):
        title = squeeze(parse(response.get_data(as_text=True)).find_all("title")[0].text())
        assert title.startswith("Error: "), (name, title)


def test_a_page_without_errors_keeps_its_title(app, client):
    built = build_case(app, locale="en")
    page = parse(client.get(f"/r/{built.token}?lang=en").get_data(as_text=True))
    assert not squeeze(page.find_all("title")[0].text()).startswith("Error")


# 55: titles name the loan, tables have captions, one h1, the queue announces its count ---

TEMPLATES = __import__("pathlib").Path(__file__).resolve().parents[2] / "templates"


@pytest.mark.parametrize("locale", ["en", "zh_Hant_TW", "zh_Hans_CN"])
def test_the_automatic_payments_pages_have_one_h1_and_a_title(app, client, locale):
    built = build_case(app, locale=locale)
    sign_in(client, built)
    plans = client.get("/plans").get_data(as_text=True)
    form = review_form(client.get(first_review_link(plans, "arrears_plan")).get_data(True))
    client.post("/plans/accept", data={**form, "consent": "y"})
    pages = [client.get(f"/autopay?lang={locale}")]
    card_page = client.post("/autopay", data={"consent": "y"}).location
    pages.append(client.get(f"{card_page}?lang={locale}"))
    for response in pages:
        assert response.status_code == 200
        document = parse(response.get_data(as_text=True))
        assert len(document.find_all("h1")) == 1
        title = squeeze(document.find_all("title")[0].text())
        assert title.split(" · ")[0] == squeeze(document.find_all("h1")[0].text())
        # Every checkbox and radio has its label.
        labelled = {label.attrs.get("for") for label in document.find_all("label")}
        for box in document.find_all("input"):
            if box.attrs.get("type") in ("checkbox", "radio"):
                assert box.attrs["id"] in labelled


def test_every_table_in_the_templates_has_a_caption():
    missing = []
    for path in sorted(TEMPLATES.rglob("*.html")):
        text = path.read_text(encoding="utf-8")
        for match in re.finditer(r"<table\b[^>]*>", text):
            after = text[match.end() :].lstrip()
            if not after.startswith("<caption"):
                missing.append(
                    f"{path.relative_to(TEMPLATES)}:{text[: match.start()].count(chr(10)) + 1}"
                )
    assert missing == []


@pytest.mark.parametrize(
    "page", ["calls", "calls/check", "messages", "offers/new"], ids=lambda p: p.replace("/", "-")
)
def test_case_sub_pages_name_the_loan_and_have_one_h1(app, agent, page):
    built = build_case(app, locale="en")
    with app.app_context():
        number = db.session().get(Case, built.case_id).loan.number
    html = agent.get(f"/agent/cases/{built.case_id}/{page}?lang=en").get_data(as_text=True)
    document = parse(html)
    assert number in document.find_all("title")[0].text()
    assert len(document.find_all("h1")) == 1


def test_the_queue_announces_its_count_not_its_table(app, agent):
    build_case(app, locale="en")
    full = parse(agent.get("/agent/?lang=en").get_data(as_text=True))
    live = [e for e in full.walk() if e.attrs.get("aria-live") or e.attrs.get("role") == "status"]
    assert [e.attrs.get("id") for e in live] == ["queue-count"]
    assert all("aria-live" not in a.attrs for a in full.find_all(id="queue-results")[0].ancestors())
    swapped = agent.get("/agent/?lang=en", headers={"HX-Request": "true"}).get_data(as_text=True)
    count = parse(swapped).find_all("p", id="queue-count")
    assert [squeeze(c.text()) for c in count] == ["0 cases found"]
    assert count[0].attrs["data-hx-swap-oob"] == "innerHTML"
    # Sorting by a heading gives the focus back to the same link (htmx matches the id).
    assert parse(swapped).find_all("a", id="sort-dpd")


# 50: the offer preview's live region stays; only its inside is swapped --------------------


def test_the_offer_preview_swaps_inside_a_live_region_that_stays(app, agent):
    built = build_case(app, locale="en")
    page = parse(agent.get(f"/agent/cases/{built.case_id}/offers/new?lang=en").get_data(True))
    live = page.find_all("div", id="offer-preview-live")
    assert len(live) == 1
    assert live[0].attrs.get("aria-live") == "polite"
    assert live[0].find_all("section", id="offer-preview")
    form = next(f for f in page.find_all("form") if "data-hx-post" in f.attrs)
    assert form.attrs["data-hx-target"] == "#offer-preview"
    fragment = agent.post(
        f"/agent/cases/{built.case_id}/offers/preview?lang=en",
        data={"kind": "arrears_plan", "installments": "6", "frequency": "monthly"},
        headers={"HX-Request": "true"},
    ).get_data(as_text=True)
    swapped = parse(fragment)
    assert swapped.find_all("section", id="offer-preview")
    assert not [e for e in swapped.walk() if "aria-live" in e.attrs]
    assert "offer-preview-live" not in fragment


# 52: a warning before the session ends, and what was typed is kept -------------------------


def _idle(client, minutes: int, *, started_hours_ago: float = 0) -> None:
    from datetime import timedelta

    with client.session_transaction() as session:
        session["seen"] = (NOW - timedelta(minutes=minutes)).isoformat()
        if started_hours_ago:
            session["started"] = (NOW - timedelta(hours=started_hours_ago)).isoformat()


def test_pages_say_how_long_the_session_lasts_and_stay_signed_in_renews_it(app, client):
    built = build_case(app, locale="en")
    sign_in(client, built)
    warning = parse(client.get("/status").get_data(as_text=True)).find_all(id="session-warning")
    assert warning[0].attrs["data-seconds"] == "900"
    assert warning[0].attrs["role"] == "alertdialog"
    assert "hidden" in warning[0].attrs  # shown by the script, two minutes before the end
    _idle(client, 14, started_hours_ago=1.5)
    renewed = client.post("/session/extend")
    assert renewed.status_code == 200
    assert renewed.get_json() == {"seconds": 15 * 60}
    _idle(client, 14, started_hours_ago=1.9)
    assert client.post("/session/extend").get_json() == {"seconds": 6 * 60}  # 2 hours in all
    with client.session_transaction() as session:
        assert session["seen"] == NOW.isoformat()
    _idle(client, 16)
    assert client.post("/session/extend").status_code == 302  # too late: ended


def test_a_help_form_posted_after_the_session_ended_is_kept_and_given_back(app, client):
    built = build_case(app, locale="en")
    sign_in(client, built)
    _idle(client, 16)
    details = "My salary comes on the 5th; 下個月才領薪水."
    posted = client.post("/help?lang=en", data={"reason": "hardship", "details": details})
    assert posted.status_code == 303
    assert posted.headers["Location"].endswith("/session-ended?kept=1")
    ended = client.get(posted.headers["Location"] + "&lang=en").get_data(as_text=True)
    assert "What you were writing is kept for you" in ended
    with app.app_context():
        assert db.session().get(Case, built.case_id).hold is None  # nothing was sent
    assert client.get("/status").status_code == 302

    again = client.post(
        f"/r/{built.token}", data={"method": "date_of_birth", "answer": built.date_of_birth}
    )
    assert again.status_code == 303
    assert again.headers["Location"] == "/help"
    page = parse(client.get("/help?lang=en").get_data(as_text=True))
    assert squeeze(page.find_all("textarea", id="details")[0].text()) == details
    assert "checked" in page.find_all("input", value="hardship")[0].attrs
    assert "We kept what you wrote" in page.text()
    # Given back once: the next visit shows an empty form.
    page = parse(client.get("/help?lang=en").get_data(as_text=True))
    assert squeeze(page.find_all("textarea", id="details")[0].text()) == ""


def test_a_kept_form_goes_back_only_to_its_own_case(app, client):
    first = build_case(app, locale="en")
    other = build_case(app, locale="en", name="Someone Else")
    sign_in(client, first)
    _idle(client, 16)
    client.post(
        "/help", data={"reason": "dispute", "dispute_reason": "not_mine", "details": "Not my loan."}
    )
    arrived = client.post(
        f"/r/{other.token}", data={"method": "date_of_birth", "answer": other.date_of_birth}
    )
    assert arrived.headers["Location"] == "/status"
    assert "Not my loan." not in client.get("/help").get_data(as_text=True)


@pytest.mark.parametrize("store", ["process", "redis", "redis-down"])
def test_kept_forms_are_given_back_once_wherever_they_are_kept(store):
    import os
    import uuid

    from flask import Flask

    from portal.core import redis_client
    from portal.web.borrower import kept_forms

    app = Flask(__name__)
    url = os.environ.get("HAOHUAN_TEST_REDIS_URL", "")
    if store == "redis" and not url:
        pytest.skip("HAOHUAN_TEST_REDIS_URL is not set (CI sets it)")
    if store == "redis-down":
        url = "redis://127.0.0.1:9/0"  # nothing listens: kept in the process instead
    app.config.update(REDIS_URL=url if store != "process" else "", REDIS_PREFIX=uuid.uuid4().hex)
    redis_client.init_app(app)
    with app.app_context():
        fields = {"reason": ["hardship"], "details": ["下個月"], "csrf_token": ["x"]}
        token = kept_forms.keep(7, "borrower.help_page", fields)
        assert token
        assert kept_forms.keep(7, "borrower.help_page", {"details": ["  "]}) is None
        assert kept_forms.keep(7, "borrower.help_page", {"details": ["x" * 30_000]}) is None
        seen = kept_forms.peek(token)
        assert seen == kept_forms.KeptForm(
            7, "borrower.help_page", {"reason": ["hardship"], "details": ["下個月"]}
        )
        assert kept_forms.take(token) == seen
        assert kept_forms.take(token) is None
        assert kept_forms.peek("not-a-token") is None
