"""localstripe, the fake Stripe, as a real process on 127.0.0.1, for tests and benchmarks.

Imported, ``running()`` starts one and gives its base URL. Run as a script
(``python localstripe_server.py PORT``) it serves on loopback only: localstripe's own
command binds every interface. Before serving, it is taught what localstripe 1.15 lacks
and the reconciliation needs, each a documented behaviour of Stripe's API:

- the ``created`` filter (gt, gte, lt, lte) on balance transactions and payouts, newest
  first (localstripe answers 400 "Unexpected created");
- a fee on charges (localstripe's are always 0): 3.4%, rounded down, so fee totals mean
  something;
- no pickling of its whole store to /tmp after every write, which makes creating
  thousands of objects quadratic and is shared by every localstripe on the machine;
- lists by type from an index instead of a scan of the whole store: every charge is
  exported with its refunds listed, so ten thousand charges took minutes a page;
- ``allowed_payment_method_types`` on a PaymentIntent (the API version the SDK sends
  since 2026-09-30 takes that and refuses ``payment_method_types``, the only name
  localstripe knows): kept as the intent's payment method types, as Stripe reports them,
  and ``payment_method_types`` refused with a 400, as Stripe refuses it.

Still missing, and not faked here: payouts tied to balance transactions. localstripe's
payouts are all manual (``automatic`` false) and carry no transactions, and it answers
400 to the ``payout`` filter on balance transactions, as Stripe itself does for a manual
payout; so only the manual-payout path runs against it.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

FEE_PER_MILLE = 34


def free_port() -> int:
    """A loopback TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for(port: int) -> None:
    """Return once something accepts connections on the port (10 s at most)."""
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port}")


@contextmanager
def running(script: str = __file__) -> Iterator[str]:
    """A fresh localstripe process (this file's, or another ``script PORT`` that serves
    one); yields its base URL and stops it afterwards."""
    port = free_port()
    process = subprocess.Popen([sys.executable, script, str(port)])
    try:
        wait_for(port)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


def pay_at_stripe(base: str, intent_id: str, number: str = "4242424242424242") -> str:
    """What Stripe.js does in the borrower's browser: a card, then confirmation. Returns
    the intent's status (a declined card leaves it requiring a payment method)."""
    import stripe

    sdk = stripe.StripeClient("sk_test_haohuan", base_addresses={"api": base})
    card = sdk.v1.payment_methods.create(
        params={
            "type": "card",
            "card": {"number": number, "exp_month": 12, "exp_year": 2030, "cvc": "123"},
        }
    )
    sdk.v1.payment_intents.update(intent_id, params={"payment_method": card.id})
    try:
        return str(sdk.v1.payment_intents.confirm(intent_id).status)
    except stripe.CardError:
        return str(sdk.v1.payment_intents.retrieve(intent_id).status)


def _within(created: int, window: Any) -> bool:
    if not isinstance(window, dict):
        return True
    tests = {"gt": int.__gt__, "gte": int.__ge__, "lt": int.__lt__, "lte": int.__le__}
    return all(tests[op](created, int(bound)) for op, bound in window.items())


def _windowed(cls: Any) -> None:
    plain = cls._api_list_all

    def list_all(url: str, created: Any = None, **kwargs: Any) -> Any:
        found = plain(url, **kwargs)
        found._list = [item for item in found._list if _within(item.created, created)]
        found._list.sort(key=lambda item: item.created, reverse=True)
        return found

    cls._api_list_all = staticmethod(list_all)


def _charging_fees(cls: Any) -> None:
    plain = cls.__init__

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        plain(self, *args, **kwargs)
        if self.type == "charge":
            self.fee = self.amount * FEE_PER_MILLE // 1000
            self.fee_details = [
                {"amount": self.fee, "currency": self.currency, "type": "stripe_fee"}
            ]

    cls.__init__ = init


def _indexed(resources: Any) -> None:
    by_type: dict[str, dict[str, Any]] = {}
    store, plain_set, plain_clear = resources.Store, resources.Store.__setitem__, dict.clear

    def setitem(self: Any, key: str, value: Any) -> None:
        plain_set(self, key, value)
        by_type.setdefault(key.split(":", 1)[0], {})[key] = value

    def delitem(self: Any, key: str) -> None:
        dict.__delitem__(self, key)
        by_type.get(key.split(":", 1)[0], {}).pop(key, None)

    def clear(self: Any) -> None:
        plain_clear(self)
        by_type.clear()

    def list_all(
        cls: Any, url: str, limit: Any = None, starting_after: Any = None, **kw: Any
    ) -> Any:
        if kw:
            raise resources.UserError(400, "Unexpected " + ", ".join(kw.keys()))
        found = resources.List(url, limit=limit, starting_after=starting_after)
        found._list = list(by_type.get(cls.object, {}).values())
        return found

    store.__setitem__, store.__delitem__, store.clear = setitem, delitem, clear
    resources.StripeObject._api_list_all = classmethod(list_all)


def _allowing_types(cls: Any) -> None:
    plain = cls.__init__

    def init(
        self: Any, *args: Any, allowed_payment_method_types: Any = None, **kwargs: Any
    ) -> None:
        from localstripe.resources import UserError

        if kwargs.get("payment_method_types") is not None:
            # As Stripe answers on the SDK's API version: the old name is refused.
            raise UserError(400, "payment_method_types_no_longer_supported")
        kwargs["payment_method_types"] = allowed_payment_method_types
        plain(self, *args, **kwargs)
        # Stripe reports the list on the intent; localstripe keeps it to itself.
        self.payment_method_types = allowed_payment_method_types or ["card"]

    cls.__init__ = init


def serve(port: int) -> None:
    """Teach localstripe the missing pieces, then serve it on 127.0.0.1."""
    from aiohttp import web
    from localstripe import resources

    resources.Store.dump_to_disk = lambda self: None
    _indexed(resources)
    _windowed(resources.BalanceTransaction)
    _windowed(resources.Payout)
    _charging_fees(resources.BalanceTransaction)
    _allowing_types(resources.PaymentIntent)
    from localstripe.server import app

    web.run_app(app, host="127.0.0.1", port=port, print=None)


if __name__ == "__main__":
    serve(int(sys.argv[1]))
