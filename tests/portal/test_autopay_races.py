"""Two autopay runs and the borrower paying by hand, all at the same moment, make one
payment for the installment, and the installment is paid once; so does a payment by hand
made while a run is under way.

Each writer is held at the point where it has seen nothing open and is about to open a
payment (a barrier), then let go in the order under test; the automatic charge is held
open at the gateway until the borrower's request has finished, so the borrower always
meets it open. That race is PostgreSQL's only: SQLite runs one writer at a time, so it
cannot lose it."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import func, select

from portal.core import db
from portal.models import Payment, PaymentStatus
from portal.payments import autopay, service
from portal.payments.sandbox import SandboxGateway

from .test_autopay import at, attempts, count, installments, plan_on_autopay
from .test_money_paths import books

WAIT = 10  # seconds: a writer waiting longer than this has lost the race's bookkeeping


class Race:
    """The moment the three writers meet, and the order they are let go in."""

    def __init__(self, first: str) -> None:
        self.first = first
        self.ready = threading.Barrier(3)
        self.attempted = threading.Event()  # an automatic payment is open
        self.opened = threading.Event()  # the borrower's payment is open
        self.by_hand_done = threading.Event()
        self.waited: set[int] = set()

    def meet(self) -> None:
        # A writer refused before the meeting point breaks it: the others carry on.
        with contextlib.suppress(threading.BrokenBarrierError):
            self.ready.wait(timeout=WAIT)


def held(race: Race, monkeypatch: pytest.MonkeyPatch) -> None:
    """Hold each writer at its meeting point, and the automatic charge at the gateway."""
    real_attempt: Callable[..., Any] = autopay._attempt
    real_open: Callable[..., Any] = service._open
    real_start = SandboxGateway.start
    real_charge = SandboxGateway.charge_saved

    def attempt(*args: Any, **kwargs: Any) -> Any:
        race.meet()
        if race.first == "by_hand":
            race.opened.wait(timeout=WAIT)
        made = real_attempt(*args, **kwargs)
        if made is not None:
            race.attempted.set()
        return made

    def open_(*args: Any, **kwargs: Any) -> Any:
        found = real_open(*args, **kwargs)
        me = threading.get_ident()
        if me not in race.waited:
            # The borrower's first look, before opening a payment: nothing is open.
            race.waited.add(me)
            race.meet()
            if race.first == "autopay":
                race.attempted.wait(timeout=WAIT)
        return found

    def start(self: SandboxGateway, payment: Payment) -> Any:
        race.opened.set()
        return real_start(self, payment)

    def charge(
        self: SandboxGateway, payment: Payment, card: Any, key: str, resume: bool = False
    ) -> Any:
        race.by_hand_done.wait(timeout=WAIT)
        return real_charge(self, payment, card, key, resume)

    monkeypatch.setattr(autopay, "_attempt", attempt)
    monkeypatch.setattr(service, "_open", open_)
    monkeypatch.setattr(SandboxGateway, "start", start)
    monkeypatch.setattr(SandboxGateway, "charge_saved", charge)


@pytest.mark.postgres_only
@pytest.mark.parametrize("first", ["autopay", "by_hand", "together"])
def test_two_runs_and_a_payment_by_hand_make_one_payment(app, client, monkeypatch, first):
    case_id = plan_on_autopay(app, client)
    due, amount, _ = installments(app, case_id)[0]
    cookie = client.get_cookie("haohuan")
    assert cookie is not None
    race = Race(first)
    held(race, monkeypatch)
    counts: list[Any] = []
    answers: list[int] = []
    failures: list[BaseException] = []

    def a_run() -> None:
        try:
            with app.app_context():
                counts.append(autopay.run(db.session(), at(due)))
        except BaseException as error:  # reported to the main thread below
            failures.append(error)

    def by_hand() -> None:
        own = app.test_client()
        own.set_cookie("haohuan", cookie.value)
        try:
            answers.append(own.post("/pay", data={"purpose": "installment"}).status_code)
        except BaseException as error:  # reported to the main thread below
            failures.append(error)
        finally:
            race.by_hand_done.set()

    threads = [threading.Thread(target=target) for target in (a_run, a_run, by_hand)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not failures
    with app.app_context():
        payments = list(db.session().scalars(select(Payment)))
        assert len(payments) == 1, [(p.automatic, p.status) for p in payments]
        (payment,) = payments
        automatic, status = payment.automatic, payment.status
    charged = sum(c.charged for c in counts)
    if automatic:
        # The run opened it first: the borrower is told it is being charged.
        assert first != "by_hand"
        assert (charged, answers, status) == (1, [422], PaymentStatus.SUCCEEDED)
        assert [(n, o) for _, n, o in attempts(app)] == [(1, "succeeded")]
    else:
        # The borrower opened it first: both runs leave it to them.
        assert first != "autopay"
        assert (charged, answers, attempts(app)) == (0, [303], [])
        assert sum(c.skipped for c in counts) == 2
        with app.app_context():
            reference = db.session().scalars(select(Payment.gateway_reference)).one()
        client.post(f"/sandbox/checkout/{reference}", data={"outcome": "succeed"})
    assert installments(app, case_id)[0][2] == amount
    # Later the same day: nothing more.
    monkeypatch.undo()
    with app.app_context():
        assert autopay.run(db.session(), at(due, 15)).charged == 0
        assert db.session().scalar(select(func.count()).select_from(Payment)) == 1
    assert books(app) == []


def test_an_installment_paid_by_hand_while_the_run_works_is_not_charged(app, client, monkeypatch):
    case_id = plan_on_autopay(app, client)
    due, amount, _ = installments(app, case_id)[0]
    read = autopay._candidates

    def then_paid_by_hand(*args: Any) -> Any:
        found = read(*args)
        # The run has read what is due (the installment unpaid); the borrower pays it
        # by hand before the run reaches it.
        started = client.post("/pay", data={"purpose": "installment"})
        reference = started.headers["Location"].rsplit("/", 1)[-1]
        client.post(f"/sandbox/checkout/{reference}", data={"outcome": "succeed"})
        return found

    monkeypatch.setattr(autopay, "_candidates", then_paid_by_hand)
    with app.app_context():
        counts = autopay.run(db.session(), at(due))
    assert (counts.charged, counts.skipped) == (0, 1)
    assert count(app, Payment) == 1
    assert count(app, Payment, Payment.automatic.is_(True)) == 0
    assert installments(app, case_id)[0][2] == amount
    assert books(app) == []
