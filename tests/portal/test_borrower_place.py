"""Issue 12, "the borrower never loses their place": receipts, the status page under a
plan, the move form's dates, the calculator's start, part payments, language switches
on re-shown forms, and dates of birth as Hong Kong writes them."""

from __future__ import annotations

import re
from datetime import date

from sqlalchemy import select

from portal.core import db
from portal.models import Payment

from .factories import build_case, sign_in, unwrapped
from .test_journey import first_review_link, review_form


def pay_in_full(client) -> str:
    """Choose "pay everything overdue", consent, pay; the receipt page's HTML."""
    plans = client.get("/plans").get_data(as_text=True)
    form = review_form(client.get(first_review_link(plans, "pay_in_full")).get_data(as_text=True))
    client.post("/plans/accept", data={**form, "consent": "y"})
    checkout = client.post("/pay", data={"purpose": "installment"}).location
    done = client.post(checkout, data={"outcome": "succeed"})
    return client.get(done.location).get_data(as_text=True)


def test_paying_everything_overdue_says_it_is_paid_not_that_a_plan_is_complete(app, client):
    built = build_case(app, locale="en")
    sign_in(client, built)
    receipt = pay_in_full(client)
    assert "plan is complete" not in receipt
    assert "Everything that was overdue is now paid" in receipt


def test_a_part_payment_that_clears_the_arrears_says_so(app, client):
    built = build_case(app, locale="en", days_past_due=40, penalties=0, fees=0)
    sign_in(client, built)
    status = unwrapped(client.get("/status").get_data(as_text=True))
    overdue = re.search(r"Overdue now: NT\$([\d,]+)", status)
    assert overdue is not None
    started = client.post("/pay", data={"purpose": "partial", "amount": overdue.group(1)})
    assert started.status_code == 303, started.get_data(as_text=True)[:2000]
    done = client.post(started.location, data={"outcome": "succeed"})
    receipt = client.get(done.location).get_data(as_text=True)
    assert "Everything that was overdue is now paid" in receipt
    assert "plan is complete" not in receipt
    with app.app_context():
        assert db.session().scalars(select(Payment)).one().purpose == "partial"


def calculator_start(html: str) -> dict[str, str]:
    """The values the calculator's form is shown with."""
    section = html[html.index('class="calculator"') :]
    selected = r'<select[^>]*name="{}".*?<option selected value="([^"]*)"'
    values = {
        name: re.search(selected.format(name), section, re.DOTALL) for name in ("kind", "frequency")
    }
    found = {name: match.group(1) for name, match in values.items() if match}
    for name in ("installments", "first_due_date"):
        match = re.search(rf'<input[^>]*name="{name}"[^>]*value="([^"]*)"', section)
        assert match is not None, name
        found[name] = match.group(1)
    return found


def test_the_calculator_starts_on_a_plan_the_policy_allows(app, client):
    # NT$4,850 overdue: at the minimum installment of NT$1,000, at most 4 payments.
    for days, principal in ((40, 200_000), (47, 500_000)):
        built = build_case(app, locale="en", days_past_due=days, principal_part=principal)
        sign_in(client, built)
        start = calculator_start(client.get("/plans").get_data(as_text=True))
        assert start["kind"] == "arrears_plan", start
        assert start["frequency"] == "monthly", start  # as the loan is paid
        fragment = client.get(
            "/plans/calculate", query_string=start, headers={"HX-Request": "true"}
        ).get_data(as_text=True)
        assert "This plan is not possible" not in fragment, (start, fragment)
        assert "Choose this plan" in fragment
        client.post("/sign-out")


def language_repost(html: str) -> tuple[str, dict[str, str]]:
    """The action and hidden fields of the page's language switch form (a re-post)."""
    nav = html[html.index('<nav class="languages"') :]
    nav = nav[: nav.index("</nav>")]
    action = re.search(r'<form method="post" action="([^"]+)"', nav)
    assert action is not None, nav
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', nav))
    fields.pop("csrf_token", None)
    return action.group(1), {k: v.replace("&amp;", "&") for k, v in fields.items()}


def test_a_language_switch_on_a_refused_consent_keeps_the_plan(app, client):
    from portal.models import Plan

    built = build_case(app, locale="zh_Hant_TW")
    sign_in(client, built)
    plans = client.get("/plans").get_data(as_text=True)
    form = review_form(client.get(first_review_link(plans, "arrears_plan")).get_data(as_text=True))
    refused = client.post("/plans/accept", data=form)
    assert refused.status_code == 422
    html = refused.get_data(as_text=True)
    assert 'href="/plans/accept?' not in html  # no link to a GET the endpoint refuses
    action, fields = language_repost(html)
    assert action == "/plans/accept"
    switched = client.post(action, data={**fields, "_lang": "en"})
    assert switched.status_code == 422
    page = switched.get_data(as_text=True)
    assert '<html lang="en">' in page
    assert "Please confirm that you agree to the terms." in page
    again = review_form(page)
    assert {k: again[k] for k in ("kind", "installments", "first_due_date")} == {
        k: form[k] for k in ("kind", "installments", "first_due_date")
    }
    # A switch with the consent ticked shows the plan again; it never accepts it.
    ticked = client.post(action, data={**again, "consent": "y", "_lang": "zh_Hans_CN"})
    assert ticked.status_code == 200
    assert 'lang="zh-Hans-CN"' in ticked.get_data(as_text=True)
    with app.app_context():
        assert db.session().scalars(select(Plan)).first() is None
    # The language stays chosen on the next page.
    assert '<html lang="zh-Hans-CN">' in client.get("/status").get_data(as_text=True)


def test_a_language_switch_on_a_refused_move_shows_the_same_refusal(app, client):
    from datetime import timedelta

    from .test_moves import installments, move, start_plan

    _built, rows = start_plan(app, client, locale="zh_Hant_TW")
    (_, _first), (second_id, second), *_ = rows
    before = installments(app)
    refused = move(client, second_id, second + timedelta(days=60))
    assert refused.status_code == 422
    action, fields = language_repost(refused.get_data(as_text=True))
    assert action == "/plan/move"
    switched = client.post(action, data={**fields, "_lang": "en"})
    assert switched.status_code == 422
    page = switched.get_data(as_text=True)
    assert '<html lang="en">' in page
    assert "Need a few more days?" in page
    assert f'value="{(second + timedelta(days=60)).isoformat()}"' in page
    # An allowed date re-posted by a switch is shown, not made.
    allowed = {**fields, "new_date": (second + timedelta(days=2)).isoformat(), "_lang": "en"}
    assert client.post(action, data=allowed).status_code == 200
    assert installments(app) == before


def test_the_calculator_keeps_its_values_across_a_language_switch(app, client):
    built = build_case(app, locale="en")
    sign_in(client, built)
    query = "kind=arrears_plan&installments=3&frequency=monthly&first_due_date=2026-12-02"
    fragment = client.get(f"/plans/calculate?{query}", headers={"HX-Request": "true"}).get_data(
        as_text=True
    )
    nav = fragment[fragment.index('<nav class="languages"') :]
    assert 'data-hx-swap-oob="true"' in nav[: nav.index(">")]
    link = re.search(r'href="([^"]*lang=zh_Hans_CN[^"]*)"', nav)
    assert link is not None
    url = link.group(1).replace("&amp;", "&")
    assert url.startswith("/plans/calculate?")
    assert "installments=3" in url
    page = client.get(url).get_data(as_text=True)
    assert calculator_start(page)["installments"] == "3"
    assert '<html lang="zh-Hans-CN">' in page


def test_a_language_switch_on_the_help_form_keeps_what_was_typed(app, client):
    from portal.models import Case

    built = build_case(app, locale="en")
    sign_in(client, built)
    refused = client.post("/help", data={"details": "lost my job in May"})
    assert refused.status_code == 422
    action, fields = language_repost(refused.get_data(as_text=True))
    assert fields["details"] == "lost my job in May"
    switched = client.post(action, data={**fields, "reason": "hardship", "_lang": "zh_Hant_TW"})
    assert switched.status_code == 200
    assert "lost my job in May" in switched.get_data(as_text=True)
    with app.app_context():
        assert db.session().get(Case, built.case_id).hold is None


def date_limits(html: str) -> tuple[str, str]:
    field = re.search(r'<input[^>]*id="new_date"[^>]*>', html)
    assert field is not None
    low = re.search(r'min="([^"]+)"', field.group(0))
    high = re.search(r'max="([^"]+)"', field.group(0))
    assert low is not None, field.group(0)
    assert high is not None
    return low.group(1), high.group(1)


def test_the_move_date_picker_allows_only_the_chosen_payments_dates(app, client):
    from datetime import timedelta

    from portal.arrangements.moves import move_choices
    from portal.models import Plan

    from .factories import TODAY
    from .test_moves import move, start_plan

    built, _rows = start_plan(app, client, locale="en")
    with app.test_request_context("/"):
        plan = db.session().scalars(select(Plan).where(Plan.case_id == built.case_id)).one()
        windows = {
            str(row.id): (w.earliest.isoformat(), w.latest.isoformat())
            for row, w in move_choices(plan, TODAY)[:3]
        }
    status = client.get("/status").get_data(as_text=True)
    radios = re.findall(
        r'<input (?:checked )?data-max="([^"]+)" data-min="([^"]+)"'
        r'[^>]*name="installment"[^>]*value="(\d+)"',
        status,
    )
    assert {value: (low, high) for high, low, value in radios} == windows
    first, second = list(windows)[:2]
    assert date_limits(status) == windows[first]
    # A refused date for the second payment: the picker now offers the second's window.
    refused = move(client, int(second), date.fromisoformat(windows[second][1]) + timedelta(1))
    assert refused.status_code == 422
    page = refused.get_data(as_text=True)
    assert date_limits(page) == windows[second]


def test_a_part_payment_below_the_policys_minimum_is_refused(app, client):
    from negotiation import Currency
    from portal.cases.facts import policy

    from .test_journey import count

    with app.app_context():
        least = policy().minimum_part_payment[Currency.TWD]
    assert least > 1
    built = build_case(app, locale="en")
    sign_in(client, built)
    for typed in ("0.01", "1", f"{(least - 1) / 100:.2f}"):
        refused = client.post("/pay", data={"purpose": "partial", "amount": typed})
        assert refused.status_code == 422, typed
        assert f"at least NT${least // 100:,}" in refused.get_data(as_text=True), typed
    assert count(app, Payment) == 0
    enough = client.post("/pay", data={"purpose": "partial", "amount": str(least // 100)})
    assert enough.status_code == 303


def test_overdue_below_the_minimum_part_payment_can_still_be_paid_in_part(app, client):
    from dataclasses import replace

    from negotiation import Currency

    base = app.extensions["haohuan.policy"]
    raised = dict(base.minimum_part_payment) | {Currency.TWD: 10**9}
    app.extensions["haohuan.policy"] = replace(base, minimum_part_payment=raised)
    built = build_case(app, locale="en", days_past_due=10, fees=0, penalties=0)
    sign_in(client, built)
    # All that is overdue (one installment, NT$5,500) is below the minimum: it may be
    # paid as a part payment, in whole; anything less may not.
    assert client.post("/pay", data={"purpose": "partial", "amount": "5,000"}).status_code == 422
    started = client.post("/pay", data={"purpose": "partial", "amount": "5,500"})
    assert started.status_code == 303, started.get_data(as_text=True)[:3000]


def test_dates_of_birth_with_the_year_last_read_by_the_markets_order():
    from portal.core.hashing import DateOrder, is_ambiguous_date, normalise_date_of_birth

    # One reading only: accepted in every market.
    for typed in ("25/12/1980", "25.12.1980", "25-12-1980", "12/25/1980", "２５／１２／１９８０"):
        assert normalise_date_of_birth(typed) == "1980-12-25", typed
    assert normalise_date_of_birth("03/03/1980") == "1980-03-03"
    # Two readings: by the market's order, else unreadable (and said to be ambiguous).
    assert normalise_date_of_birth("03/04/1980", DateOrder.DAY_FIRST) == "1980-04-03"
    assert normalise_date_of_birth("03/04/1980", DateOrder.MONTH_FIRST) == "1980-03-04"
    assert normalise_date_of_birth("03/04/1980") is None
    assert is_ambiguous_date("03/04/1980")
    assert not is_ambiguous_date("25/12/1980")
    # Impossible either way; the year-first forms are unchanged.
    assert normalise_date_of_birth("31/31/1980", DateOrder.DAY_FIRST) is None
    assert normalise_date_of_birth("1985-03-07") == "1985-03-07"
    assert normalise_date_of_birth("74/3/7") == "1985-03-07"


def test_a_hong_kong_borrower_verifies_with_day_first_dates(app, client):
    from portal.models import VerificationAttempt

    hong_kong = build_case(app, currency="HKD", date_of_birth="1980-04-03")
    answer = {"method": "date_of_birth", "answer": "03/04/1980"}
    assert client.post(f"/r/{hong_kong.token}", data=answer).status_code == 303
    client.post("/sign-out")
    # In Taiwan the same answer reads two ways: asked again, and not counted as a failure.
    taiwan = build_case(app, currency="TWD", date_of_birth="1980-04-03", locale="en")
    asked = client.post(f"/r/{taiwan.token}", data=answer)
    assert asked.status_code == 422
    assert "can be read two ways" in asked.get_data(as_text=True)
    with app.app_context():
        failed = db.session().scalars(
            select(VerificationAttempt).where(VerificationAttempt.succeeded.is_(False))
        )
        assert list(failed) == []
    one_way = {"method": "date_of_birth", "answer": "25/12/1980"}
    december = build_case(app, currency="TWD", date_of_birth="1980-12-25")
    assert client.post(f"/r/{december.token}", data=one_way).status_code == 303


def test_under_an_active_restructure_the_status_page_leads_with_the_plan(app, client):
    from portal.models import Plan

    from .test_money_paths import accept_first, pay_due

    built = build_case(app, locale="en", currency="HKD")
    sign_in(client, built)
    accept_first(client, "restructure")
    pay_due(client)
    status = client.get("/status").get_data(as_text=True)
    with app.app_context():
        plan = db.session().scalars(select(Plan)).one()
        assert plan.status == "active"
        following = plan.installments[1]
        covered = plan.restructured
    assert "paid in your regular installments" not in status
    assert "days overdue" not in status
    assert "Overdue now" not in status
    assert "Your plan is active" in status
    lead = status[status.index("Your plan is active") :]
    assert f"HK${covered / 100:,.2f}" in lead[: lead.index("Due next")]
    assert "It replaces your regular installments" in lead
    due_next = lead[lead.index("Due next") :]
    assert "Regular installment" not in due_next[: due_next.index("</dl>")]
    assert f"HK${following.amount / 100:,.2f}" in due_next
    assert following.due_date.strftime("%B") in due_next


def test_under_an_active_arrears_plan_the_next_total_counts_the_regular_installment(app, client):
    from portal.models import Case, Plan

    from .factories import TODAY
    from .test_money_paths import accept_first, pay_due

    built = build_case(app, locale="en")
    sign_in(client, built)
    accept_first(client, "arrears_plan")
    pay_due(client)
    status = client.get("/status").get_data(as_text=True)
    with app.app_context():
        session = db.session()
        plan = session.scalars(select(Plan)).one()
        following = plan.installments[1]
        loan = session.get(Case, built.case_id).loan
        regular = next(i for i in loan.installments if i.due_date >= TODAY and i.unpaid)
        total = following.outstanding + regular.unpaid
    assert "days overdue" not in status
    assert "Your regular installments continue beside it" in status
    due_next = status[status.index("Due next") :]
    due_next = due_next[: due_next.index("</dl>")]
    assert "Regular installment" in due_next
    assert f"NT${regular.unpaid // 100:,}" in due_next
    assert f"NT${total // 100:,}" in due_next


NOWRAP = '<span class="nowrap">'


def test_dates_and_amounts_stay_on_one_line_on_borrower_pages(app, client):
    from .test_money_paths import accept_first, pay_due

    built = build_case(app, locale="zh_Hant_TW")
    sign_in(client, built)
    status = client.get("/status").get_data(as_text=True)
    # Every long date and every amount on the page sits in a nowrap span, in a table
    # cell and inside a sentence built in code (the timeline's) alike.
    for written in re.findall(r"\d{4}年\d{1,2}月\d{1,2}日", status):
        assert f"{NOWRAP}{written}</span>" in status, written
    for written in re.findall(r"NT\$[\d,]+", status):
        assert f"{NOWRAP}{written}</span>" in status, written
    accept_first(client, "arrears_plan")
    pay_due(client)
    for language in ("zh_Hant_TW", "zh_Hans_CN", "en"):
        page = client.get(f"/status?lang={language}").get_data(as_text=True)
        sentence = re.search(r"NT\$[\d,]+", page[page.index('class="timeline"') :])
        assert sentence is not None
        assert f"{NOWRAP}{sentence.group(0)}</span>" in page
        plans = client.get("/plans").get_data(as_text=True)
        for html in (page, plans):
            # Never markup inside an attribute (the plan cards' aria-label).
            assert not re.search(r'="[^"]*<span', html), language


def test_dates_and_amounts_are_plain_text_outside_html(app):
    from negotiation import MoveWindow
    from portal.core.i18n import long_date, money
    from portal.wording.engine import move_range

    with app.test_request_context("/", headers={"Accept-Language": "en"}):
        amount = money(123_400, "TWD")
        assert amount == "NT$1,234"
        assert "<" not in f"Pay {amount} by {long_date(date(2027, 1, 6))}"
        sentence = move_range(MoveWindow(date(2027, 1, 6), date(2027, 1, 7), date(2027, 1, 20)))
        assert sentence == "Choose a date from January 7, 2027 to January 20, 2027."
        assert "<" not in f"{sentence}"
        assert f"{NOWRAP}January 7, 2027</span>" in sentence.__html__()


def test_no_template_puts_an_unbroken_value_in_an_attribute_without_plain():
    from pathlib import Path

    attribute = re.compile(r'[\w-]+="[^"]*\{\{[^"]*\}\}[^"]*"')
    found = []
    for path in Path("templates").rglob("*.html"):
        for value in attribute.findall(path.read_text(encoding="utf-8")):
            if re.search(r"\b(money|long_date)\(", value) and "|plain" not in value:
                found.append(f"{path}: {value}")
    # SVG text takes no HTML span either (the chart's labels and titles).
    value_call = re.compile(r"\b(?:money|long_date)\([^()]*\)(?!\|plain)")
    for path in Path("templates").rglob("*.html"):
        for svg in re.findall(r"<svg.*?</svg>", path.read_text(encoding="utf-8"), re.S):
            found += [f"{path}: {call}" for call in value_call.findall(svg)]
    assert found == []
