"""Stripe down or hanging never keeps a borrower waiting: one request's Stripe time is
bounded by the configured timeout and retries (STRIPE_TIMEOUT, STRIPE_RETRIES), which the
settings refuse to set beyond the budget; the borrower is then told plainly, and the
payment is left for the sweeper to follow up.

The fake Stripe accepts connections and never answers. The tests assert on the
configured timeouts and the number of attempts, not on the wall clock.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from portal import ConfigurationError, create_app
from portal.core import db
from portal.core.settings import STRIPE_REQUEST_BUDGET, from_environ, stripe_worst_case
from portal.models import Payment
from portal.payments import stripe_gateway
from portal.payments.stripe_gateway import StripeSettings

from .test_stripe_checkout import KEYS, accept_a_plan, start

TIMEOUT = 0.2


class Hanging:
    """A Stripe that takes every connection and never says a word."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.server.settimeout(0.1)
        self.held: list[socket.socket] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._hold, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.getsockname()[1]}"

    def _hold(self) -> None:
        while not self.stop.is_set():
            try:
                connection, _ = self.server.accept()
            except TimeoutError:
                continue
            self.held.append(connection)

    def close(self) -> None:
        self.stop.set()
        self.thread.join()
        for connection in self.held:
            connection.close()
        self.server.close()


@pytest.fixture
def hanging() -> Iterator[Hanging]:
    stripe_gateway.client.cache_clear()
    fake = Hanging()
    yield fake
    fake.close()
    stripe_gateway.client.cache_clear()


@pytest.fixture
def extra_config(hanging: Hanging) -> dict[str, object]:
    return {
        **KEYS,
        "STRIPE_API_BASE": hanging.url,
        "STRIPE_TIMEOUT": str(TIMEOUT),
        "STRIPE_RETRIES": "1",
    }


def test_a_hanging_stripe_is_left_after_the_configured_attempts_and_said_plainly(
    app, client, hanging
):
    with app.app_context():
        settings = StripeSettings.from_config()
    assert (settings.timeout, settings.retries) == (TIMEOUT, 1)
    accept_a_plan(app, client)
    response = start(client)
    assert response.status_code == 422, response.headers.get("Location")
    assert "無法連線到刷卡付款服務" in response.get_data(as_text=True)
    # One attempt and the one retry configured, each given up after its timeout.
    assert len(hanging.held) == 2
    with app.app_context():
        payment = db.session().scalars(select(Payment)).one()
        # Neither paid nor failed: the sweeper asks Stripe again with the same key.
        assert (payment.status, payment.gateway_reference) == ("unknown", None)


def test_the_defaults_keep_a_request_under_the_budget():
    settings = from_environ({})
    worst = stripe_worst_case(settings.get("STRIPE_TIMEOUT"), settings.get("STRIPE_RETRIES"))
    assert worst < STRIPE_REQUEST_BUDGET == 10


@pytest.mark.parametrize(
    ("timeout", "retries"),
    [("10", "2"), ("4.8", "1"), ("3", "2"), ("0", "0"), ("x", "1"), ("2", "-1"), ("2", "9")],
)
def test_timeouts_beyond_the_budget_are_refused(tmp_path, timeout, retries):
    with pytest.raises(ConfigurationError, match="STRIPE_"):
        create_app(
            {
                "DATABASE_URL": f"sqlite:///{tmp_path}/x.db",
                "STRIPE_TIMEOUT": timeout,
                "STRIPE_RETRIES": retries,
            }
        )
