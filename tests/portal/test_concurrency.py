"""A double submit, or many concurrent submits, of one acceptance create one plan."""

from __future__ import annotations

import threading

from sqlalchemy import func, select

from portal.core import db
from portal.models import Consent, Plan

from .factories import build_case, sign_in
from .test_journey import first_review_link, review_form

SUBMITS = 8


def test_concurrent_acceptances_create_exactly_one_plan(app, client):
    built = build_case(app)
    sign_in(client, built)
    plans = client.get("/plans").get_data(as_text=True)
    form = review_form(client.get(first_review_link(plans, "arrears_plan")).get_data(as_text=True))
    cookie = client.get_cookie("haohuan")
    assert cookie is not None

    barrier = threading.Barrier(SUBMITS)
    statuses: list[int] = []
    failures: list[BaseException] = []

    def submit() -> None:
        own = app.test_client()
        own.set_cookie("haohuan", cookie.value)
        try:
            barrier.wait(timeout=10)
            response = own.post("/plans/accept", data={**form, "consent": "y"})
            statuses.append(response.status_code)
        except BaseException as error:  # reported to the main thread below
            failures.append(error)

    threads = [threading.Thread(target=submit) for _ in range(SUBMITS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not failures
    # Every submit lands on the payment page of the one plan.
    assert statuses == [303] * SUBMITS
    with app.app_context():
        session = db.session()
        assert session.scalar(select(func.count()).select_from(Plan)) == 1
        assert session.scalar(select(func.count()).select_from(Consent)) == 1
