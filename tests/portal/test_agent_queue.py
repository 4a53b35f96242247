"""The agent console's case queue and case page: every filter narrows, sorting and pages,
search by loan number and by phone digits, personal data masked until revealed (and the
reveal recorded), the case page's sections, and who may see any of it."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from flask_babel import force_locale
from jinja2 import ChoiceLoader, DictLoader
from sqlalchemy import select, update

from portal.cases import arrears
from portal.cases.masking import mask_address, mask_email, mask_name, mask_phone
from portal.cases.queue import QueueFilter, matching_cases, page_of, parse_filter
from portal.core import db
from portal.models import AuditEntry, Borrower, Case, ContactAttempt, Payment, Plan
from portal.web import agent as agents
from portal.web.agent import views as agent_views
from portal.web.common import page_cache

from .factories import NOW, TODAY, add_plan, add_staff, build_case, staff_sign_in, unwrapped


def make_case(app, days=47, *, phone="+886 912 345 678", stage=None, contact=None, **kwargs):
    """A case ``days`` past due as the daily work leaves it (overdue_since and stage
    set), with its own phone number and last contact."""
    built = build_case(app, days_past_due=days, **kwargs)
    with app.app_context():
        session = db.session()
        case = session.get(Case, built.case_id)
        case.overdue_since = TODAY - timedelta(days=days) if days else None
        case.stage = stage or (
            "current" if not days else "early" if days <= 30 else "mid" if days <= 90 else "late"
        )
        case.last_contact_at = contact
        case.loan.borrower.phone = phone
        session.commit()
    return built


def ids_of(app, chosen, moment=NOW):
    with app.app_context():
        return set(db.session().scalars(matching_cases(chosen, moment)))


def page_ids(app, chosen, per_page=50):
    with app.test_request_context("/"):
        found = page_of(db.session(), chosen, NOW, per_page=per_page)
        return [row.case_id for row in found.rows], found


# Filters ---------------------------------------------------------------------------------


def test_days_past_due_bands_and_stages_narrow(app):
    cases = {days: make_case(app, days).case_id for days in (0, 5, 30, 31, 60, 61, 95, 200)}
    bands = {
        "1-30": {5, 30},
        "31-60": {31, 60},
        "61-90": {61},
        "91-180": {95},
        "181+": {200},
        "overdue": {5, 30, 31, 60, 61, 95, 200},
        "0": {0},
        "all": set(cases),
    }
    for band, expected in bands.items():
        assert ids_of(app, QueueFilter(dpd_band=band)) == {cases[d] for d in expected}, band
    assert ids_of(app, QueueFilter(stage="mid")) == {cases[d] for d in (31, 60, 61)}
    assert ids_of(app, QueueFilter(stage="late")) == {cases[95], cases[200]}
    assert ids_of(app, QueueFilter(stage="current", dpd_band="all")) == {cases[0]}


def test_currency_hold_and_balance_narrow(app):
    # One installment overdue at 20 days, two at 40.
    twd = make_case(app, 20, currency="TWD").case_id  # 550,000 + fee 30,000 + 15,000
    cny = make_case(app, 20, currency="CNY", fees=0, penalties=0).case_id  # 550,000
    held = make_case(app, 20, hold="dispute", principal_part=100_000, interest_part=0).case_id
    hardship = make_case(app, 40, hold="hardship").case_id  # 2 x 550,000 + 45,000
    assert ids_of(app, QueueFilter(currency="CNY")) == {cny}
    assert ids_of(app, QueueFilter(hold="none")) == {twd, cny}
    assert ids_of(app, QueueFilter(hold="dispute")) == {held}
    assert ids_of(app, QueueFilter(hold="hardship")) == {hardship}
    # Overdue amounts in whole units of the chosen currency: 5,950 (twd), 1,450 (held),
    # 11,450 (hardship), and 5,500 (cny) in yuan.
    ntd = {"currency": "TWD"}
    assert ids_of(app, QueueFilter(balance_min=5_500, balance_max=5_950, **ntd)) == {twd}
    assert ids_of(app, QueueFilter(balance_min=5_500, currency="CNY")) == {cny}
    assert ids_of(app, QueueFilter(balance_min=5_501, **ntd)) == {twd, hardship}
    assert ids_of(app, QueueFilter(balance_max=1_450, **ntd)) == {held}
    assert ids_of(app, QueueFilter(balance_max=1_449, **ntd)) == set()
    # No currency and no rates: each currency in turn, never NT$ against ¥.
    _, found = page_ids(app, QueueFilter(sort="balance"))
    assert [(row.case_id, row.arrears) for row in found.rows] == [
        (cny, 550_000),
        (hardship, 1_145_000),
        (twd, 595_000),
        (held, 145_000),
    ]


def test_the_arrears_agree_with_the_case_snapshot(app):
    from portal.cases.facts import snapshot_of

    built = make_case(app, 75, fees=12_300, penalties=4_500)
    with app.test_request_context("/"):
        session = db.session()
        snapshot = snapshot_of(session, session.get(Case, built.case_id), TODAY)
        row = page_of(session, QueueFilter(), NOW).rows[0]
        assert row.arrears == snapshot.arrears.total
        assert row.days_past_due == 75 == snapshot.days_past_due


def test_plan_status_is_the_latest_plans(app):
    none = make_case(app, 40).case_id
    active = make_case(app, 40).case_id
    add_plan(app, active, "broken")
    add_plan(app, active, "active")
    broken = make_case(app, 40).case_id
    add_plan(app, broken, "pending")
    with app.app_context():
        session = db.session()
        session.scalars(select(Plan).where(Plan.case_id == broken)).one().status = "broken"
        session.commit()
    assert ids_of(app, QueueFilter(plan_status="none")) == {none}
    assert ids_of(app, QueueFilter(plan_status="active")) == {active}
    assert ids_of(app, QueueFilter(plan_status="broken")) == {broken}  # not the older one
    assert ids_of(app, QueueFilter(plan_status="pending")) == set()
    _, found = page_ids(app, QueueFilter(sort="loan"))
    assert [row.plan_status for row in found.rows] == [None, "active", "broken"]


def test_last_contact_bands_count_in_the_consoles_calendar(app):
    # NOW is 10:00 in Taipei; Taipei's midnight is 16:00 UTC the day before.
    never = make_case(app, 40).case_id
    today = make_case(app, 40, contact=NOW - timedelta(hours=9)).case_id
    yesterday = make_case(app, 40, contact=NOW - timedelta(hours=11)).case_id
    old = make_case(app, 40, contact=NOW - timedelta(days=8)).case_id
    assert ids_of(app, QueueFilter(last_contact="never")) == {never}
    assert ids_of(app, QueueFilter(last_contact="today")) == {today}
    assert ids_of(app, QueueFilter(last_contact="not_today")) == {never, yesterday, old}
    assert ids_of(app, QueueFilter(last_contact="7d")) == {today, yesterday}
    assert ids_of(app, QueueFilter(last_contact="over_7d")) == {old}
    ordered, _ = page_ids(app, QueueFilter(sort="last_contact"))
    assert ordered == [never, old, yesterday, today]  # the longest without contact first
    ordered, _ = page_ids(app, QueueFilter(sort="last_contact", direction="desc"))
    assert ordered == [today, yesterday, old, never]


def test_filters_combine(app):
    wanted = make_case(app, 45, currency="CNY").case_id
    make_case(app, 45, currency="TWD")
    make_case(app, 120, currency="CNY")
    make_case(app, 45, currency="CNY", hold="hardship")
    chosen = QueueFilter(dpd_band="31-60", currency="CNY", hold="none", plan_status="none")
    assert ids_of(app, chosen) == {wanted}


# Search ----------------------------------------------------------------------------------


def loan_number(app, case_id):
    with app.app_context():
        return db.session().get(Case, case_id).loan.number


def test_search_by_loan_number_whole_start_or_end(app):
    first = make_case(app, 40).case_id
    second = make_case(app, 40).case_id
    number = loan_number(app, first)  # LN-T-B-00001
    assert ids_of(app, QueueFilter(search=number)) == {first}
    assert ids_of(app, QueueFilter(search=number.lower())) == {first}
    assert ids_of(app, QueueFilter(search="LN-T-B")) == {first, second}
    assert ids_of(app, QueueFilter(search="B-00002")) == {second}
    assert ids_of(app, QueueFilter(search="LN-X")) == set()
    assert ids_of(app, QueueFilter(search="%")) == set()  # no wildcard


def test_search_by_phone_digits_ignores_separators(app):
    taipei = make_case(app, 40, phone="+886 912-345 678").case_id
    shanghai = make_case(app, 40, phone="+86 138 0013 8000").case_id
    for typed in ("912345678", "0912 345 678", "+886-912-345-678", "(0912) 345678"):
        assert ids_of(app, QueueFilter(search=typed)) == {taipei}, typed
    assert ids_of(app, QueueFilter(search="13800138000")) == {shanghai}
    assert ids_of(app, QueueFilter(search="5678")) == {taipei}
    assert ids_of(app, QueueFilter(search="99999999")) == set()


def test_search_matches_whole_or_a_start_or_end_of_at_least_four_never_a_middle(app):
    """A loan number or phone matches whole, or by a start or an end of at least four
    characters; zeros are digits, and nothing matches in the middle."""
    ending = make_case(app, 40, phone="+886 912 000 006").case_id
    middle = make_case(app, 40, phone="+886 960 006 123").case_id
    sixes = make_case(app, 40, phone="+886 966 666 666").case_id
    ids = {ending, middle, sixes}
    assert ids_of(app, QueueFilter(search="000006")) & ids == {ending}
    assert ids_of(app, QueueFilter(search="6")) & ids == set()
    assert ids_of(app, QueueFilter(search="006")) & ids == set()  # three: too short
    assert ids_of(app, QueueFilter(search="0006")) & ids == {ending}
    assert ids_of(app, QueueFilter(search="6123")) & ids == {middle}
    assert ids_of(app, QueueFilter(search="0060")) & ids == set()  # a middle
    assert ids_of(app, QueueFilter(search="886 96")) & ids == {middle, sixes}
    assert ids_of(app, QueueFilter(search="0912 000 006")) & ids == {ending}
    number = loan_number(app, ending)  # LN-T-B-0000n
    assert ids_of(app, QueueFilter(search=number[-1:])) == set()
    assert ids_of(app, QueueFilter(search=number[-4:])) == {ending}
    assert ids_of(app, QueueFilter(search=number[2:8])) == set()  # a middle


def test_a_local_number_finds_it_after_a_country_code_of_one_to_three_digits(app):
    """Written the local way (one trunk zero), a number finds the phones that end with the
    national number after one to three digits more, and no others: the end of the
    digits, read on PostgreSQL as the start of the reversed digits."""
    phones = {
        "one": "+1 912 345 678",
        "two": "+86 912 345 678",
        "three": "+886 912 345 678",
        "four": "+1234 912 345 678",
        "local": "0912-345-678",
        "another": "+886 912 345 679",
    }
    cases = {key: make_case(app, 40, phone=phone).case_id for key, phone in phones.items()}

    def found(typed):
        return {key for key, case_id in cases.items() if case_id in ids_of(app, typed)}

    assert found(QueueFilter(search="0912 345 678")) == {"one", "two", "three", "local"}
    # Without the trunk zero, the digits' end: any country code.
    assert found(QueueFilter(search="912 345 678")) == {"one", "two", "three", "four", "local"}
    assert found(QueueFilter(search="345 679")) == {"another"}
    # The digits' start, and the whole digits.
    assert found(QueueFilter(search="1234 912")) == {"four"}
    assert found(QueueFilter(search="+1 912 345 678")) == {"one"}


# Sorting and pages -----------------------------------------------------------------------


def test_sorting_by_days_and_loan_number_both_ways(app):
    cases = [make_case(app, days).case_id for days in (10, 80, 0, 45)]
    ordered, _ = page_ids(app, QueueFilter(dpd_band="all"))
    assert ordered == [cases[1], cases[3], cases[0], cases[2]]
    ordered, _ = page_ids(app, QueueFilter(dpd_band="all", direction="asc"))
    assert ordered == [cases[2], cases[0], cases[3], cases[1]]
    ordered, _ = page_ids(app, QueueFilter(dpd_band="all", sort="loan"))
    assert ordered == cases
    ordered, _ = page_ids(app, QueueFilter(dpd_band="all", sort="loan", direction="desc"))
    assert ordered == cases[::-1]


def test_a_sort_by_amount_pages_alike_whether_amounts_are_stored_or_counted(app):
    """Cases whose stored amount does not hold, counted from their installments, sort and
    page as stored ones do: each currency in turn (never compared across), and a page
    counts only the currencies it reaches."""
    parts = ((20, 100_000), (40, 300_000), (70, 200_000))
    cases = {
        (currency, days): make_case(app, days, currency=currency, principal_part=part).case_id
        for currency in ("TWD", "HKD", "CNY")
        for days, part in parts
    }

    def pages(direction):
        shown = []
        for number in range(1, 6):
            chosen = QueueFilter(dpd_band="all", sort="balance", direction=direction, page=number)
            _, found = page_ids(app, chosen, per_page=2)
            assert (found.total, found.page) == (9, number)
            shown.append([(row.case_id, row.currency, row.arrears) for row in found.rows])
        return shown

    stored = {direction: pages(direction) for direction in (None, "asc")}
    every = [row for page in stored[None] for row in page]
    assert sorted(case_id for case_id, _, _ in every) == sorted(cases.values())
    assert [currency for _, currency, _ in every] == ["CNY"] * 3 + ["HKD"] * 3 + ["TWD"] * 3
    assert [row[2] for row in every[:3]] == sorted((row[2] for row in every[:3]), reverse=True)
    # Every CNY amount, one HKD and one TWD counted from the installments (never stored).
    never = [case_id for (currency, days), case_id in cases.items() if currency == "CNY"]
    never += [cases["HKD", 40], cases["TWD", 70]]
    with app.app_context():
        session = db.session()
        session.execute(
            update(Case.__table__)
            .where(Case.id.in_(never))
            .values(arrears=0, arrears_after=None, arrears_until=arrears.NEVER)
        )
        session.commit()
    assert {direction: pages(direction) for direction in (None, "asc")} == stored


def test_pages_cover_every_case_once(app):
    cases = [make_case(app, 30 + n).case_id for n in range(7)]
    seen = []
    for number in (1, 2, 3):
        ordered, found = page_ids(app, QueueFilter(page=number), per_page=3)
        assert (found.total, found.pages, found.page) == (7, 3, number)
        seen += ordered
    assert seen == cases[::-1]
    ordered, found = page_ids(app, QueueFilter(page=99), per_page=3)
    assert found.page == 3  # past the end: the last page
    assert ordered == [cases[0]]


# Reading a filter ------------------------------------------------------------------------


def test_parse_filter_reads_every_field_and_round_trips(app):
    args = {
        "stage": "mid",
        "dpd": "31-60",
        "min": "1,000",
        "max": "50000",
        "currency": "TWD",
        "plan": "broken",
        "hold": "none",
        "contact": "not_today",
        "q": "  0912 345  678 ",
        "sort": "balance",
        "dir": "asc",
        "page": "3",
    }
    with app.test_request_context("/"):
        chosen, problems = parse_filter(args)
        assert problems == []
        assert chosen == QueueFilter(
            stage="mid",
            dpd_band="31-60",
            balance_min=1000,
            balance_max=50000,
            currency="TWD",
            plan_status="broken",
            hold="none",
            last_contact="not_today",
            search="0912 345 678",
            sort="balance",
            direction="asc",
            page=3,
        )
        assert parse_filter(chosen.to_args()) == (chosen, [])
        assert QueueFilter().to_args() == {}
        assert parse_filter({}) == (QueueFilter(), [])


@pytest.mark.parametrize(
    ("args", "field"),
    [
        ({"stage": "<script>"}, "stage"),
        ({"dpd": "1-999"}, "dpd_band"),
        ({"currency": "EUR"}, "currency"),
        ({"plan": "x"}, "plan_status"),
        ({"hold": "yes"}, "hold"),
        ({"contact": "yesterday"}, "last_contact"),
        ({"sort": "name"}, "sort"),
        ({"dir": "up"}, "direction"),
        ({"page": "0"}, "page"),
        ({"page": "-1"}, "page"),
        ({"page": "9" * 30}, "page"),
        ({"min": "12.5"}, "balance_min"),
        ({"max": "-3"}, "balance_max"),
        ({"min": "9" * 40}, "balance_min"),
        ({"min": "5000", "max": "10"}, "balance_min"),
        ({"q": "x" * 101}, "search"),
    ],
)
def test_parse_filter_never_raises_and_says_what_it_left_out(app, args, field):
    with app.test_request_context("/"):
        chosen, problems = parse_filter(args)
        assert len(problems) == 1
        assert all(str(problem) for problem in problems)
        default = getattr(QueueFilter(), field)
        if field == "search":
            assert chosen.search == "x" * 100
        else:
            assert getattr(chosen, field) == default


# Masking ---------------------------------------------------------------------------------


def test_masking_keeps_enough_to_recognise_and_no_more():
    assert mask_name("陳怡君") == "陳**"
    assert mask_name("王伟") == "王*"
    assert mask_name("Chan Ka Yan") == "C*** K*** Y***"
    assert mask_name("  ") == ""
    assert mask_phone("+886 912 345 678") == "+886 9** *** 678"
    assert mask_phone("+86 138 0013 8000") == "+86 1** **** *000"
    assert mask_phone("0912-345-678") == "09**-***-678"
    assert mask_phone("123") == "***"
    assert mask_phone("") == ""
    assert mask_email("mei.lin@example.com") == "m***@example.com"
    assert mask_email("no-at-sign") == "n***"
    assert mask_address("台北市大安區復興南路一段 1 號\n5 樓") == "台北市******"
    assert mask_address(None) == ""


# The pages -------------------------------------------------------------------------------

AGENT = "agent@haohuan.example"


@pytest.fixture
def agent(app, client):
    """A signed-in agent."""
    add_staff(app, AGENT, ("agent",))
    assert staff_sign_in(client, AGENT).status_code == 303
    return client


def audit_entries(app, action):
    with app.app_context():
        return (
            db.session()
            .scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id))
            .all()
        )


def test_the_queue_lists_cases_masked(app, agent):
    make_case(app, 47, name="陳怡君", phone="+886 987 654 321")
    make_case(app, 12, name="Chan Ka Yan", phone="+852 9123 4567", currency="HKD")
    html = agent.get("/agent/?lang=en").get_data(as_text=True)
    assert "2 cases found" in html
    assert "陳**" in html
    assert "C*** K*** Y***" in html
    assert "+886 9** *** 321" in html
    for secret in ("陳怡君", "怡君", "Chan Ka", "987 654", "987654", "9123 4567", "9123"):
        assert secret not in html
    assert "LN-T-B-00001" in html
    assert html.index("LN-T-B-00001") < html.index("LN-T-B-00002")  # 47 days before 12


def test_the_queue_filters_searches_and_pages_over_http(app, agent):
    first = make_case(app, 47, phone="+886 912 345 678").case_id
    make_case(app, 12, phone="+886 933 111 222")
    html = agent.get("/agent/?lang=en&q=0912345678").get_data(as_text=True)
    assert "1 case found" in html
    assert f"/agent/cases/{first}" in html
    html = agent.get("/agent/?lang=en&dpd=1-30").get_data(as_text=True)
    assert "1 case found" in html
    assert "LN-T-B-00002" in html


def test_bad_filter_values_are_explained_not_errors(app, agent):
    make_case(app, 47)
    response = agent.get("/agent/?lang=en&dpd=forever&page=abc&min=lots&sort=%3Cb%3E")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Some filters were left out" in html
    assert "Days past due: “forever” is not one of the choices" in html
    assert "No such page" in html
    assert "enter a whole amount" in html
    assert "<b>" not in html  # echoed values are escaped
    assert "1 case found" in html
    zh = agent.get("/agent/?lang=zh_Hant_TW&dpd=forever").get_data(as_text=True)
    assert "forever" in zh
    assert "not one of the choices" not in zh


def test_htmx_gets_only_the_results(app, agent):
    make_case(app, 47)
    response = agent.get("/agent/?lang=en", headers={"HX-Request": "true"})
    html = response.get_data(as_text=True)
    assert "1 case found" in html
    assert "<html" not in html
    assert 'data-hx-swap-oob="true"' in html
    assert "HX-Request" in response.headers["Vary"]
    # The address bar gets the filter as understood, without the form's empty fields.
    response = agent.get(
        "/agent/?q=&dpd=31-60&stage=&hold=any&sort=dpd&dir=desc", headers={"HX-Request": "true"}
    )
    assert response.headers["HX-Push-Url"] == "/agent/?dpd=31-60"


def queue_pages(app):
    cache: page_cache.PageCache = app.extensions[page_cache.EXTENSION]
    return cache


def test_the_queue_page_is_kept_until_what_it_shows_changes(app, agent):
    # Under TESTING every kept page is rendered again and compared (conftest fails the
    # test on a difference); this checks that pages are kept at all, and that a change
    # made behind the ORM's back is a new page at once.
    make_case(app, 47, name="陳怡君")
    app.extensions[page_cache.EXTENSION] = page_cache.PageCache()
    first = agent.get("/agent/?lang=en")
    second = agent.get("/agent/?lang=en")
    assert (queue_pages(app).misses, queue_pages(app).hits) == (1, 1)
    assert first.data == second.data
    assert b"hh-page-cache-mark" not in second.data
    assert "陳**" in first.get_data(as_text=True)
    with app.app_context():
        session = db.session()
        session.execute(update(Borrower).values(full_name="林美華"))
        session.commit()
    third = agent.get("/agent/?lang=en").get_data(as_text=True)
    assert (queue_pages(app).misses, queue_pages(app).hits) == (2, 1)
    assert "林**" in third
    assert "陳**" not in third
    # Another language, the htmx fragment, another filter: each a page of its own.
    agent.get("/agent/?lang=zh_Hans_CN")
    agent.get("/agent/?lang=en", headers={"HX-Request": "true"})
    agent.get("/agent/?lang=en&dpd=31-60")
    assert (queue_pages(app).misses, queue_pages(app).hits) == (5, 1)


def test_a_kept_queue_page_gets_a_fresh_csrf_token_and_shows_a_notice_once(app, agent):
    make_case(app, 47)
    app.extensions[page_cache.EXTENSION] = page_cache.PageCache()
    for _ in range(2):
        with agent.session_transaction() as session:
            session["_flashes"] = [("segment", "Reassigned 3 cases.")]
        html = agent.get("/agent/?lang=en").get_data(as_text=True)
        # A notice is shown once, then gone, however often the same one comes again:
        # a page that shows one is rendered each time, never kept.
        assert html.count("Reassigned 3 cases.") == 1
        html = agent.get("/agent/?lang=en").get_data(as_text=True)
        assert "Reassigned 3 cases." not in html
    assert queue_pages(app).hits == 1
    # A kept page's forms carry this response's token, never a mark, and it is accepted.
    app.config["WTF_CSRF_ENABLED"] = True
    html = agent.get("/agent/?lang=en").get_data(as_text=True)
    assert queue_pages(app).hits == 2
    assert "hh-page-cache-mark" not in html
    token = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert token is not None
    answer = agent.post("/agent/next-case", data={"csrf_token": token.group(1)})
    # The agent owns no case: the page that says so, not the refusal of a bad token.
    assert answer.status_code == 200
    assert agent.post("/agent/next-case", data={"csrf_token": "forged"}).status_code == 400


@pytest.fixture
def only_a_test_section(app, monkeypatch):
    """The sections other modules register replaced by one of the test's own ("test"), so
    these tests read the case page's own parts whatever the other sections do."""
    calls = []

    def build(database, case, member, moment):
        calls.append((case.id, member.email, moment))
        return {"greeting": "hello from a section"}

    template = "<section><h2>Test section</h2><p>{{ section.greeting }} {{ case.id }}</p></section>"
    loader = ChoiceLoader([DictLoader({"agent/_test_section.html": template}), app.jinja_loader])
    monkeypatch.setattr(app, "jinja_loader", loader)
    app.jinja_env.loader = loader
    own = [s for s in agents.SECTIONS if s.build is agent_views.casefile_section]
    test = agents.CaseSection("test", "Test section", 1, "agent/_test_section.html", build)
    monkeypatch.setattr(agents, "SECTIONS", [test, *own])
    return calls


# Each of the case page's own sections, and words only it shows.
OWN_SECTIONS = {
    "arrears": ("Overdue today, item by item", "Fees and penalties charged"),
    "borrower": ("Reveal the name", "Borrower's local time"),
    "loan": ("Principal lent", "Annual interest rate"),
    "schedule": ("Contractual schedule",),
    "plans": ("No plan was ever accepted on this case.",),
    "payments": ("No payments on this case.",),
    "events": ("Nothing has happened on this case yet.",),
    "contacts": ("No contact with the borrower yet.",),
}


def test_the_case_page_shows_every_section_and_records_the_view(app, agent, only_a_test_section):
    built = make_case(app, 47, fees=30_000, penalties=15_000)
    response = agent.get(f"/agent/cases/{built.case_id}?lang=en")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    # The summary above the sections, and a tab for each section, a link without JS.
    for heading in ("May I call now?", "Waiting on this case", "Overdue amount", "Days past due"):
        assert f">{heading}<" in html, heading
    for name in ("test", *OWN_SECTIONS):
        assert f'href="/agent/cases/{built.case_id}?section={name}#case-section"' in html, name
        fragment = f"/agent/cases/{built.case_id}/sections/{name}"
        assert f'data-hx-get="{fragment}"' in html, name
    # The arrears open by default: 47 days: two installments of 5,000 + 500 overdue, the
    # fee and the penalty; and what happens next.
    assert 'id="tab-arrears" href' in html
    assert 'aria-current="true">Arrears<' in html
    assert "What happens next, as the borrower is told" in html
    for label, amount in (
        ("Principal", "NT$10,000"),
        ("Interest", "NT$1,000"),
        ("Fees", "NT$300"),
        ("Penalties", "NT$150"),
        ("Total overdue", "NT$11,450"),
    ):
        row = f'<th scope="row">{label}</th><td class="num">{amount}</td>'
        assert row in unwrapped(html), label
    assert "陳**" in html
    assert "陳怡君" not in html
    # A section's data is read only when it is open: the test section's builder was not
    # called, and no other section's words are on the page.
    assert only_a_test_section == []
    for name, words in OWN_SECTIONS.items():
        if name != "arrears":
            assert not any(w in html for w in words), name
    views = audit_entries(app, "case.view")
    assert [(v.actor, v.case_id, v.details["section"]) for v in views] == [
        (AGENT, built.case_id, "arrears")
    ]
    # Each section opens by its link, the others closed; and as a fragment of its own.
    for name, words in OWN_SECTIONS.items():
        page = agent.get(f"/agent/cases/{built.case_id}?section={name}&lang=en")
        part = agent.get(f"/agent/cases/{built.case_id}/sections/{name}?lang=en")
        for response in (page, part):
            text = response.get_data(as_text=True)
            assert response.status_code == 200, name
            assert all(w in text for w in words), name
            others = [w for other, ws in OWN_SECTIONS.items() if other != name for w in ws]
            assert not any(w in text for w in others), name
        assert "<html" in page.get_data(as_text=True)
        assert "<html" not in part.get_data(as_text=True)
        assert "May I call now?" not in part.get_data(as_text=True)
    page = agent.get(f"/agent/cases/{built.case_id}?section=test").get_data(as_text=True)
    assert f"hello from a section {built.case_id}" in page
    assert only_a_test_section == [(built.case_id, AGENT, NOW)]
    # Every one of these reads was recorded, with the section it showed.
    views = audit_entries(app, "case.view")
    assert len(views) == 2 + 2 * len(OWN_SECTIONS)
    assert views[-1].details["section"] == "test"


@pytest.mark.parametrize("name", ["bogus", "Arrears", "arrears%20", "x" * 300, "calls.html"])
def test_an_unknown_section_is_a_404_and_reads_nothing(app, agent, name):
    built = make_case(app, 47)
    for path in (
        f"/agent/cases/{built.case_id}?section={name}&lang=en",
        f"/agent/cases/{built.case_id}/sections/{name}?lang=en",
    ):
        response = agent.get(path)
        assert response.status_code == 404, path
        assert "No such part of the case" in response.get_data(as_text=True)
    assert agent.get("/agent/cases/999/sections/arrears").status_code == 404
    assert audit_entries(app, "case.view") == []


def test_every_registered_section_opens_as_a_page_and_a_fragment(app, agent):
    built = make_case(app, 47)
    for section in agents.SECTIONS:
        page = agent.get(f"/agent/cases/{built.case_id}?section={section.name}")
        part = agent.get(f"/agent/cases/{built.case_id}/sections/{section.name}")
        assert (page.status_code, part.status_code) == (200, 200), section.name
        assert 'aria-current="true"' in part.get_data(as_text=True)


def test_the_case_page_renders_every_registered_section(app, agent):
    built = make_case(app, 47)
    assert agent.get(f"/agent/cases/{built.case_id}").status_code == 200


def test_revealing_is_recorded_with_the_actor_and_fields(app, agent, only_a_test_section):
    built = make_case(app, 47, name="陳怡君", phone="+886 912 345 678")
    borrower_part = f"/agent/cases/{built.case_id}?section=borrower&lang=en"
    bare = agent.get(borrower_part).get_data(as_text=True)
    assert "Reveal the name" in bare
    assert "Reveal the postal address" not in bare  # nothing to reveal yet
    with app.app_context():
        session = db.session()
        borrower = session.get(Case, built.case_id).loan.borrower
        borrower.email = "yijun.chen@example.com"
        borrower.postal_address = "台北市大安區復興南路一段 100 號"
        session.commit()
    page = agent.get(borrower_part).get_data(as_text=True)
    assert "Reveal the postal address" in page
    assert "yijun.chen@example.com" not in page
    assert "y***@example.com" in page
    assert "復興南路" not in page
    response = agent.post(f"/agent/cases/{built.case_id}/reveal", data={"group": "contact"})
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "+886 912 345 678" in html
    assert "yijun.chen@example.com" in html
    assert "陳怡君" not in html  # only the group asked for
    assert "復興南路" not in html
    reveals = audit_entries(app, "borrower.reveal")
    assert len(reveals) == 1
    assert reveals[0].actor == AGENT
    assert reveals[0].case_id == built.case_id
    assert reveals[0].details["fields"] == ["email", "phone"]
    # With htmx, the borrower's part only; the address and name revealed together.
    response = agent.post(
        f"/agent/cases/{built.case_id}/reveal",
        data={"group": ["name", "address", "bogus"]},
        headers={"HX-Request": "true"},
    )
    html = response.get_data(as_text=True)
    assert "<html" not in html
    assert "陳怡君" in html
    assert "復興南路" in html
    assert "yijun.chen@example.com" not in html
    assert audit_entries(app, "borrower.reveal")[1].details["fields"] == [
        "full_name",
        "postal_address",
    ]
    # The page after is masked again (its summary and the borrower's section).
    assert "陳怡君" not in agent.get(f"/agent/cases/{built.case_id}").get_data(as_text=True)
    assert "陳怡君" not in agent.get(borrower_part).get_data(as_text=True)
    # Without JavaScript the name revealed shows in the summary too, the borrower's
    # section open.
    html = agent.post(
        f"/agent/cases/{built.case_id}/reveal?lang=en", data={"group": "name"}
    ).get_data(as_text=True)
    summary = html[: html.index('id="case-sections"')]
    assert "陳怡君" in summary
    assert 'aria-current="true">Borrower<' in html


def test_an_unknown_case_is_a_404_page(app, agent):
    make_case(app, 47)
    for path in ("/agent/cases/999", "/agent/cases/99999999999999999999999"):
        response = agent.get(path + "?lang=en")
        assert response.status_code == 404
        assert "No such case" in response.get_data(as_text=True)
    assert agent.post("/agent/cases/999/reveal", data={"group": "name"}).status_code == 404
    assert agent.get("/agent/cases/-1").status_code == 404
    assert audit_entries(app, "case.view") == []
    assert audit_entries(app, "borrower.reveal") == []


@pytest.mark.parametrize("roles", [("finance",), ("admin",)])
def test_only_agents_see_cases(app, client, roles):
    built = make_case(app, 47)
    add_staff(app, "other@haohuan.example", roles)
    staff_sign_in(client, "other@haohuan.example")
    assert client.get("/agent/").status_code == 403
    assert client.get(f"/agent/cases/{built.case_id}").status_code == 403
    response = client.post(f"/agent/cases/{built.case_id}/reveal", data={"group": "name"})
    assert response.status_code == 403
    assert audit_entries(app, "borrower.reveal") == []


def test_signed_out_goes_to_sign_in(app, client):
    built = make_case(app, 47)
    response = client.get(f"/agent/cases/{built.case_id}")
    assert response.status_code == 303
    assert "/staff/sign-in" in response.headers["Location"]


def test_the_case_page_shows_plans_payments_allocations_and_events(app, agent, only_a_test_section):
    from portal.demo.seed import accept_arrears_plan
    from portal.payments.events import GatewayEvent, Outcome, handle
    from portal.payments.service import open_payment

    built = make_case(app, 47)
    with app.test_request_context("/"):
        session = db.session()
        case = session.get(Case, built.case_id)
        plan = accept_arrears_plan(session, case, TODAY, NOW)
        first = plan.installments[0].amount
        open_payment(session, case, "installment", None, TODAY, NOW)
        reference = session.scalars(
            select(Payment.gateway_reference).where(Payment.case_id == case.id)
        ).one()
        handle(session, GatewayEvent("sandbox", "evt_test", reference, Outcome.SUCCEEDED), NOW)
        session.add(
            ContactAttempt(
                case_id=case.id,
                borrower_id=built.borrower_id,
                channel="call",
                at=NOW,
                connected=True,
                agent=AGENT,
                outcome="promise",
                note="Will pay on Friday",
            )
        )
        session.commit()

    def section(name: str) -> str:
        page = agent.get(f"/agent/cases/{built.case_id}?section={name}&lang=en")
        html = page.get_data(as_text=True)
        return html[html.index('id="case-section"') :]

    assert "Under the plan, as the borrower is told" in section("arrears")
    plans = section("plans")
    assert "Spread the overdue amount" in plans  # the plan's kind
    assert "Active" in plans
    payments = section("payments")
    amount = f"NT${first // 100:,}"
    assert amount in payments
    assert "Succeeded" in payments
    assert "Installment 5, due" in payments  # allocated to the oldest overdue installment
    events = section("events")
    for words in ("The borrower accepted a plan", "Payment received", "Plan started"):
        assert words in events, words
    contacts = section("contacts")
    assert "Phone call" in contacts
    assert "Promised to pay" in contacts
    assert "Will pay on Friday" in contacts


# The stage and the state, two facts ------------------------------------------------------


def test_held_and_arranged_cases_show_their_stage_and_their_state_apart(app, agent):
    """A case on hold or arranged keeps its days past due: its collection stage is the one
    they imply (never "Up to date" at 45 days), and its state is told beside it."""
    held = make_case(app, 45, stage="current", hold="dispute").case_id
    arranged = make_case(app, 45, stage="current").case_id
    with app.app_context():
        session = db.session()
        session.get(Case, arranged).status = "arranged"
        session.commit()
    html = agent.get("/agent/?lang=en&dpd=all").get_data(as_text=True)
    rows = {
        case_id: re.search(rf'cases/{case_id}">.*?</tr>', html, re.S).group(0)
        for case_id in (held, arranged)
    }
    for case_id, state in ((held, "On hold: dispute"), (arranged, "Arranged: plan active")):
        assert "<td>Middle stage</td>" in rows[case_id]
        assert state in rows[case_id]
        assert "Up to date" not in rows[case_id]
        page = agent.get(f"/agent/cases/{case_id}?lang=en").get_data(as_text=True)
        assert "Collection stage: Middle stage" in page
        assert state in page
        assert "Up to date" not in page
    assert ids_of(app, QueueFilter(dpd_band="all", stage="mid")) >= {held, arranged}
    assert ids_of(app, QueueFilter(dpd_band="all", stage="current")) & {held, arranged} == set()


# Amounts across currencies ---------------------------------------------------------------


def _amounts_case(app, currency, interest, charges):
    # One installment overdue: NT$30,000 of principal, the interest and the charges.
    return make_case(
        app,
        20,
        currency=currency,
        principal_part=3_000_000,
        interest_part=interest,
        fees=charges,
        penalties=charges,
    ).case_id


def test_amounts_across_currencies_are_converted_at_the_configured_rates(app):
    """NT$41,966 against CN¥37,105: at 4.45 NT$ to the yuan the yuan case is the larger,
    and a filter with no currency chosen compares both in NT$, at exact rates."""
    taiwan = _amounts_case(app, "TWD", 196_600, 500_000)  # NT$41,966
    china = _amounts_case(app, "CNY", 210_500, 250_000)  # CN¥37,105 = NT$165,117.25
    app.config["REPORTING_RATES"] = "CNY=4.45,HKD=4.1,USD=32"
    ids, _found = page_ids(app, QueueFilter(dpd_band="all", sort="balance"))
    assert ids == [china, taiwan]
    assert ids_of(app, QueueFilter(dpd_band="all", balance_min=50_000)) == {china}
    assert ids_of(app, QueueFilter(dpd_band="all", balance_max=165_117)) == {taiwan}
    assert ids_of(app, QueueFilter(dpd_band="all", balance_max=165_118)) == {taiwan, china}
    # Within a chosen currency, amounts are that currency's own.
    chosen = QueueFilter(dpd_band="all", currency="CNY", balance_min=37_105)
    assert ids_of(app, chosen) == {china}


def test_without_rates_amounts_are_not_compared_across_currencies(app):
    taiwan = _amounts_case(app, "TWD", 196_600, 500_000)
    china = _amounts_case(app, "CNY", 210_500, 250_000)
    ids, _found = page_ids(app, QueueFilter(dpd_band="all", sort="balance"))
    assert ids == [china, taiwan]  # each currency in turn, never NT$ against ¥
    with app.test_request_context("/"), force_locale("en"):
        chosen, problems = parse_filter({"min": "40000"})
        assert chosen.balance_min is None
        assert any("Choose a currency" in str(problem) for problem in problems)
        chosen, problems = parse_filter({"min": "40000", "currency": "TWD"})
        assert (chosen.balance_min, problems) == (40_000, [])


def test_the_queue_says_what_amounts_are_compared_in(app, agent):
    make_case(app, 20)
    html = agent.get("/agent/?lang=en&currency=CNY").get_data(as_text=True)
    assert "Overdue amounts are compared in CNY." in html
    html = agent.get("/agent/?lang=en").get_data(as_text=True)
    assert "Overdue amounts are not compared across currencies" in html
    app.config["REPORTING_RATES"] = "CNY=4.45,HKD=4.1,USD=32"
    html = agent.get("/agent/?lang=en").get_data(as_text=True)
    assert "compared in TWD, each loan's converted at the configured rates" in html
    assert "1 CNY = 4.45 TWD" in html
    # The bulk page chooses its segment with the same filters, and says the same.
    bulk = agent.get("/agent/bulk?lang=en&currency=CNY&min=100").get_data(as_text=True)
    assert "Overdue amounts are compared in CNY." in bulk


@pytest.mark.parametrize(
    "bad", ["CNY", "CNY=0", "CNY=-1", "CNY=4,45", "YUAN=1", "cny=1", "CNY=1e3"]
)
def test_reporting_rates_are_checked(bad):
    from portal.core.currency import parse_rates

    with pytest.raises(ValueError, match=r"currency|rate"):
        parse_rates(bad)
