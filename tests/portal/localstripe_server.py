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
  and ``payment_method_types`` refused with a 400, as Stripe refuses it; the same on a
  SetupIntent (https://docs.stripe.com/api/setup_intents/create);
- ``Idempotency-Key`` on POST requests (https://docs.stripe.com/api/idempotent_requests):
  the status and body of the first request made with a key are saved once the endpoint
  has begun executing, and a request with the same key answered with them again (marked
  ``Idempotent-Replayed: true``), a 402 or a 500 as well as a success; a request with the
  same key and other parameters refused (400, ``idempotency_error``), and one made while
  the first is still executing refused with a 409. A validation error (400), a missing
  object (404) or a refused authentication (401) is not saved, as the endpoint never
  began. Keys belong to the account: emptying the store (``DELETE /_config/data``, a
  fresh account) forgets them. Stripe may prune a key once it is 24 hours old, and a
  request with it is then made anew: ``POST /_config/haohuan/prune_keys`` prunes them
  all, as a day later. localstripe has none, and a retried create made a second object;
- the ``customer`` filter on the PaymentIntent list, newest first
  (https://docs.stripe.com/api/payment_intents/list); localstripe answers 400;
- a refused payment names its PaymentIntent: the 402 of a create or confirm carries the
  intent (``error.payment_intent``), the error type ``card_error`` and a
  ``decline_code`` (https://docs.stripe.com/api/errors#errors-payment_intent,
  https://docs.stripe.com/declines/codes); localstripe's carries only the charge;
- a SetupIntent that succeeds for a Customer attaches its PaymentMethod to that Customer
  (https://docs.stripe.com/api/setup_intents/object#setup_intent_object-customer);
  localstripe leaves it unattached;
- an off-session payment (``off_session=true``) on a card that needs authentication
  (https://docs.stripe.com/testing#authentication-and-setup): refused with a 402,
  ``authentication_required``, the intent left requiring a payment method and
  ``payment_intent.payment_failed`` sent
  (https://docs.stripe.com/payments/save-and-reuse#charge-saved-payment-method); except
  4000002500003155 once set up for off-session use, which then needs none.
  localstripe asks for a 3-D Secure step (``requires_action``), which nobody can take
  with the borrower away;
- a PaymentMethod detached from its Customer is refused when used again, with the 400
  Stripe answers (no ``code``, no ``param``: only the message)
  (https://docs.stripe.com/api/payment_methods/detach: "it can no longer be used for a
  payment or re-attached to a Customer"); localstripe charges it.
- webhook deliveries retried (https://docs.stripe.com/webhooks#retries): a delivery the
  endpoint refuses or never answers (a reset connection, a non-2xx) is sent again, up to
  eight times a second or more apart, as Stripe retries. localstripe sends each event
  once, from a task the event loop holds only weakly, so a busy machine could lose one.

- disputes (https://docs.stripe.com/api/disputes), which localstripe has none of:
  ``GET /v1/disputes/{id}`` and ``GET /v1/disputes``; ``POST /v1/disputes/{id}`` with
  ``evidence[...]`` (Stripe's evidence fields only) and ``submit=true``, which moves the
  dispute to ``under_review`` (``warning_under_review`` for an inquiry), and is refused
  with a 400 once submitted, closed or past ``evidence_details.due_by``;
  ``POST /v1/disputes/{id}/close`` (accepting it: lost). For tests,
  ``POST /_config/haohuan/disputes`` (``payment_intent``, ``reason``, ``due_in``
  seconds, ``inquiry``) opens one on the intent's charge, and
  ``POST /_config/haohuan/disputes/{id}/decide`` (``outcome`` won or lost) decides it.
  Each sends the signed event Stripe would (``charge.dispute.created``,
  ``charge.dispute.updated``, ``charge.dispute.closed``). A dispute's balance
  transaction (type ``adjustment``, category ``dispute``) takes the amount back and
  carries Stripe's dispute fee, ``DISPUTE_FEE``; a won dispute's returns the amount (the
  fee is not returned).

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
# Stripe's dispute fee, in minor units of the dispute's currency (15.00 in a two-decimal
# currency: what Stripe charges in the US).
DISPUTE_FEE = 1500
# Stripe gives a week or more to answer; a test asks for any other.
EVIDENCE_SECONDS = 7 * 24 * 3600
# Stripe's evidence fields (https://docs.stripe.com/api/disputes/object#dispute_object-evidence).
EVIDENCE_KEYS = (
    "access_activity_log",
    "billing_address",
    "cancellation_policy",
    "cancellation_policy_disclosure",
    "cancellation_rebuttal",
    "customer_communication",
    "customer_email_address",
    "customer_name",
    "customer_purchase_ip",
    "customer_signature",
    "duplicate_charge_documentation",
    "duplicate_charge_explanation",
    "duplicate_charge_id",
    "product_description",
    "receipt",
    "refund_policy",
    "refund_policy_disclosure",
    "refund_refusal_explanation",
    "service_date",
    "service_documentation",
    "shipping_address",
    "shipping_carrier",
    "shipping_date",
    "shipping_documentation",
    "shipping_tracking_number",
    "uncategorized_file",
    "uncategorized_text",
)


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


def empty(base: str) -> None:
    """Empty the localstripe at ``base`` (its objects and the idempotency keys they were
    made with), as a fresh Stripe account. Tests whose databases all start their ids
    from 1 at one frozen moment make the same keys again: each such test starts with an
    empty localstripe."""
    import urllib.request

    request = urllib.request.Request(f"{base}/_config/data", method="DELETE")  # noqa: S310
    with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310 (loopback)
        assert answer.status == 200


def register_webhook(base: str, portal: str, secret: str) -> None:
    """Have the localstripe at ``base`` deliver its signed events to the portal served
    at ``portal`` (one endpoint: a later registration replaces it)."""
    import urllib.parse
    import urllib.request

    registration = urllib.parse.urlencode(
        {"url": f"{portal}/webhooks/stripe", "secret": secret}
    ).encode()
    request = urllib.request.Request(  # noqa: S310 (a loopback http URL we built)
        f"{base}/_config/webhooks/haohuan",
        data=registration,
        headers={"Authorization": "Bearer sk_test_haohuan"},
    )
    with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310 (loopback)
        assert answer.status == 200


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


# The answers saved per idempotency key (status, body, what was asked), and the keys whose
# first request is still executing.
_SAVED: dict[str, tuple[int, bytes, tuple[str, str, Any]]] = {}
_RUNNING: set[str] = set()

# What an answer with these statuses means: the endpoint never began (a validation
# error, a missing object, no authentication, a conflict), so nothing is saved.
_NOT_BEGUN = frozenset({400, 401, 404, 409})

# Stripe's answer to a PaymentMethod used again after it was detached (a 400 with no
# code and no param).
DETACHED_MESSAGE = (
    "The provided PaymentMethod was previously used with a PaymentIntent without Customer "
    "attachment, shared with a connected account without Customer attachment, or was "
    "detached from a Customer. It may not be used again. To use a PaymentMethod multiple "
    "times, you must attach it to a Customer first."
)

# The test card that needs authentication unless it was set up for off-session use.
UNLESS_SET_UP = "4000002500003155"


def _asked(method: str, path: str, body: bytes, content_type: str) -> tuple[str, str, Any]:
    """What a request asks, to compare a retry with the first: its parameters, in any
    order (the SDK encodes a form; Stripe.js sends JSON)."""
    import json
    import urllib.parse

    if content_type == "application/json":
        try:
            return method, path, json.dumps(json.loads(body or b"null"), sort_keys=True)
        except ValueError:
            return method, path, body
    fields = urllib.parse.parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
    return method, path, tuple(sorted(fields))


def _idempotency_error(status: int, message: str) -> Any:
    from aiohttp import web

    body = {"error": {"type": "idempotency_error", "message": message}}
    return web.json_response(body, status=status)


def _idempotent(user_error: type[Exception]) -> Any:
    """The middleware saving and replaying answers by ``Idempotency-Key``."""
    from aiohttp import web

    @web.middleware
    async def middleware(request: Any, handler: Any) -> Any:
        key = request.headers.get("Idempotency-Key")
        if request.method != "POST" or not key:
            return await handler(request)
        asked = _asked(request.method, request.path, await request.read(), request.content_type)
        saved = _SAVED.get(key)
        if saved is not None:
            status, body, first = saved
            if first != asked:
                return _idempotency_error(
                    400,
                    "Keys for idempotent requests can only be used with the same parameters "
                    f"they were first used with. Try using a key other than '{key}' if you "
                    "meant to execute a different request.",
                )
            return web.Response(
                body=body,
                status=status,
                content_type="application/json",
                headers={"Idempotent-Replayed": "true"},
            )
        if key in _RUNNING:
            return _idempotency_error(
                409,
                "There is currently another in-progress request using this Idempotent Key "
                f"(that probably means you submitted twice, and the other request is still "
                f"going through): {key}. Please try again later.",
            )
        _RUNNING.add(key)
        try:
            try:
                response = await handler(request)
            except user_error as error:
                response = error.to_response()  # type: ignore[attr-defined]
            if response.status not in _NOT_BEGUN and response.body is not None:
                _SAVED[key] = (response.status, bytes(response.body), asked)
            return response
        finally:
            _RUNNING.discard(key)

    return middleware


def _forgetting_keys(resources: Any) -> None:
    plain = resources.Store.clear

    def clear(self: Any) -> None:
        plain(self)
        _SAVED.clear()

    resources.Store.clear = clear


def _listing_by_customer(cls: Any) -> None:
    plain = cls._api_list_all

    def list_all(url: str, customer: Any = None, **kwargs: Any) -> Any:
        found = plain(url, **kwargs)
        if customer is not None:
            found._list = [item for item in found._list if item.customer == customer]
        found._list.sort(key=lambda item: item.created, reverse=True)
        return found

    cls._api_list_all = staticmethod(list_all)


async def _prune_keys(request: Any) -> Any:
    """A day later: every idempotency key pruned."""
    from aiohttp import web

    _SAVED.clear()
    return web.Response()


def prune_keys(base: str) -> None:
    """Have the localstripe at ``base`` prune its idempotency keys, as Stripe may once
    they are 24 hours old."""
    import urllib.request

    request = urllib.request.Request(f"{base}/_config/haohuan/prune_keys", method="POST")  # noqa: S310
    with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310 (loopback)
        assert answer.status == 200


def _status_attaching(resources: Any) -> None:
    """A SetupIntent's status as a property: when it becomes ``succeeded`` for a
    Customer, its PaymentMethod is attached to the Customer. (Both of localstripe's
    paths to success set the status: the first confirmation, and the second after the
    3-D Secure step.)"""

    def get(self: Any) -> Any:
        return self._status

    def set_(self: Any, value: Any) -> None:
        self._status = value
        if value == "succeeded" and self.customer and self.payment_method:
            method = resources.PaymentMethod._api_retrieve(self.payment_method)
            method.customer = self.customer
            method._set_up_off_session = self.usage == "off_session"

    resources.SetupIntent.status = property(get, set_)


def _detaching(resources: Any) -> None:
    """A PaymentMethod's customer as a property: once taken away (a detach), the method
    is marked detached for good."""

    def get(self: Any) -> Any:
        return self.__dict__.get("_customer")

    def set_(self: Any, value: Any) -> None:
        if value is None and self.__dict__.get("_customer") is not None:
            self._detached = True
        self._customer = value

    resources.PaymentMethod.customer = property(get, set_)


def _refusals(resources: Any) -> None:
    """Off-session payments as Stripe answers them: a detached method refused, a card
    needing authentication refused with ``authentication_required``, and every refusal
    naming its intent."""
    intent_cls, user_error = resources.PaymentIntent, resources.UserError
    plain_create = intent_cls._api_create.__func__
    plain_error = intent_cls.last_payment_error
    plain_report = intent_cls._report_failure
    plain_requires = resources.PaymentMethod._requires_authentication

    def refusal(error: Any, intent: Any, decline_code: str) -> Any:
        error.body["error"].update(
            type="card_error", decline_code=decline_code, payment_intent=intent._export()
        )
        return error

    def report(self: Any) -> None:
        try:
            plain_report(self)
        except user_error as error:
            raise refusal(error, self, "generic_decline") from None

    def last_payment_error(self: Any) -> Any:
        return getattr(self, "_refused", None) or plain_error.fget(self)

    def create(cls: Any, confirm: Any = None, off_session: Any = None, **data: Any) -> Any:
        method_id = data.get("payment_method")
        method = resources.PaymentMethod._api_retrieve(method_id) if method_id else None
        if method is not None and getattr(method, "_detached", False):
            raise user_error(400, DETACHED_MESSAGE)
        off = resources.try_convert_to_bool(off_session) is True
        if not (off and method is not None and resources.try_convert_to_bool(confirm) is True):
            return plain_create(cls, confirm=confirm, off_session=off_session, **data)
        if getattr(method, "_card_number", None) == UNLESS_SET_UP and getattr(
            method, "_set_up_off_session", False
        ):
            # Set up for off-session use: Stripe asks for nothing more, this time.
            method._exempt = True
            try:
                return plain_create(cls, confirm=confirm, off_session=off_session, **data)
            finally:
                method._exempt = False
        if not method._requires_authentication():
            return plain_create(cls, confirm=confirm, off_session=off_session, **data)
        intent = plain_create(cls, **data)  # created, not confirmed
        message = "Your card was declined. This transaction requires authentication."
        intent._refused = {
            "code": "authentication_required",
            "decline_code": "authentication_required",
            "message": message,
            "payment_method": method._export(),
            "type": "card_error",
        }
        intent.payment_method = None  # requires_payment_method, as Stripe leaves it
        resources.schedule_webhook(resources.Event("payment_intent.payment_failed", intent))
        error = user_error(402, message, {"code": "authentication_required"})
        raise refusal(error, intent, "authentication_required")

    def requires_authentication(self: Any) -> bool:
        return not getattr(self, "_exempt", False) and bool(plain_requires(self))

    intent_cls._api_create = classmethod(create)
    resources.PaymentMethod._requires_authentication = requires_authentication
    intent_cls.last_payment_error = property(last_payment_error)
    intent_cls._report_failure = report


def _disputes(resources: Any, app: Any) -> None:
    """Stripe's disputes, their events and balance transactions (see the docstring)."""
    from aiohttp import web
    from localstripe.server import api_list_all, api_retrieve, api_update, get_post_data

    user_error, schedule, event = resources.UserError, resources.schedule_webhook, resources.Event

    def adjustment(dispute: Any, amount: int, fee: int, category: str) -> Any:
        txn = resources.BalanceTransaction(
            amount=amount,
            currency=dispute.currency,
            description="Chargeback",
            reporting_category="charge",
            source=dispute.charge,
            type="charge",
        )
        txn.type, txn.reporting_category, txn.source = "adjustment", category, dispute.id
        txn.fee = fee
        txn.fee_details = (
            [{"amount": fee, "currency": dispute.currency, "type": "stripe_fee"}] if fee else []
        )
        return txn

    class Dispute(resources.StripeObject):  # type: ignore[misc,name-defined]
        object = "dispute"
        _id_prefix = "dp_"

        def __init__(self, charge: Any, reason: str, due_in: int, inquiry: bool) -> None:
            super().__init__()
            self.amount = charge.amount
            self.currency = charge.currency
            self.charge = charge.id
            self.payment_intent = charge.payment_intent
            self.reason = reason
            self.status = "warning_needs_response" if inquiry else "needs_response"
            self.evidence = dict.fromkeys(EVIDENCE_KEYS)
            self.evidence_details = {
                "due_by": int(time.time()) + due_in,
                "has_evidence": False,
                "past_due": due_in < 0,
                "submission_count": 0,
            }
            self.is_charge_refundable = False
            self.metadata: dict[str, Any] = {}
            # An inquiry takes no money; a chargeback takes it, and the fee.
            self.balance_transactions = (
                [] if inquiry else [adjustment(self, -charge.amount, DISPUTE_FEE, "dispute")]
            )

        @classmethod
        def _api_create(cls, **data: Any) -> Any:
            raise user_error(405, "Method Not Allowed")

        @classmethod
        def _api_update(
            cls, id: str, evidence: Any = None, submit: Any = None, metadata: Any = None, **kw: Any
        ) -> Any:
            if kw:
                raise user_error(400, "Received unknown parameters: " + ", ".join(kw))
            dispute = cls._api_retrieve(id)
            if evidence is not None and (
                not isinstance(evidence, dict) or set(evidence) - set(EVIDENCE_KEYS)
            ):
                raise user_error(400, "Invalid evidence")
            if dispute.status not in ("needs_response", "warning_needs_response"):
                raise user_error(400, f"This dispute is {dispute.status}: it cannot be changed.")
            if time.time() > dispute.evidence_details["due_by"]:
                dispute.evidence_details["past_due"] = True
                raise user_error(400, "The evidence for this dispute was due already.")
            dispute.evidence.update(evidence or {})
            dispute.metadata.update(metadata or {})
            if resources.try_convert_to_bool(submit) is True:
                dispute.status = dispute.status.replace("needs_response", "under_review")
                dispute.evidence_details["has_evidence"] = True
                dispute.evidence_details["submission_count"] += 1
            schedule(event("charge.dispute.updated", dispute))
            return dispute

        @classmethod
        def _api_list_all(cls, url: str, limit: Any = None, starting_after: Any = None) -> Any:
            found = resources.List(url, limit=limit, starting_after=starting_after)
            found._list = [v for k, v in resources.store.items() if k.startswith("dispute:")]
            return found

        def _close(self, outcome: str) -> None:
            inquiry = self.status.startswith("warning_")
            if self.status in ("won", "lost", "warning_closed"):
                raise user_error(400, f"This dispute is {self.status} already.")
            self.status = "warning_closed" if inquiry else outcome
            if self.status == "won":
                self.balance_transactions.append(
                    adjustment(self, self.amount, 0, "dispute_reversal")
                )
            schedule(event("charge.dispute.closed", self))

    async def close(request: Any) -> Any:
        dispute = Dispute._api_retrieve(request.match_info["id"])
        dispute._close("lost")
        return web.json_response(dispute._export())

    async def open_one(request: Any) -> Any:
        data = await get_post_data(request) or {}
        intent = resources.PaymentIntent._api_retrieve(data.get("payment_intent", ""))
        charge = intent.latest_charge
        if charge is None or charge.status != "succeeded":
            raise user_error(400, "The intent has no successful charge to dispute.")
        dispute = Dispute(
            charge,
            data.get("reason", "fraudulent"),
            int(data.get("due_in", EVIDENCE_SECONDS)),
            resources.try_convert_to_bool(data.get("inquiry")) is True,
        )
        schedule(event("charge.dispute.created", dispute))
        return web.json_response(dispute._export())

    async def decide(request: Any) -> Any:
        data = await get_post_data(request) or {}
        outcome = data.get("outcome")
        if outcome not in ("won", "lost"):
            raise user_error(400, "outcome is won or lost")
        dispute = Dispute._api_retrieve(request.match_info["id"])
        dispute._close(outcome)
        return web.json_response(dispute._export())

    url = "/v1/disputes"
    app.router.add_post(url + "/{id}/close", close)
    app.router.add_get(url + "/{id}", api_retrieve(Dispute, url + "/{id}"))
    app.router.add_post(url + "/{id}", api_update(Dispute, url + "/{id}"))
    app.router.add_get(url, api_list_all(Dispute, url))
    app.router.add_post("/_config/haohuan/disputes", open_one)
    app.router.add_post("/_config/haohuan/disputes/{id}/decide", decide)


def open_dispute(
    base: str, intent_id: str, reason: str = "fraudulent", due_in: int = EVIDENCE_SECONDS
) -> dict[str, Any]:
    """Have the cardholder's bank dispute the intent's charge at the localstripe at
    ``base`` (evidence due ``due_in`` seconds from now); returns the dispute."""
    path = "/_config/haohuan/disputes"
    return _config(base, path, payment_intent=intent_id, reason=reason, due_in=str(due_in))


def decide_dispute(base: str, dispute_id: str, outcome: str) -> dict[str, Any]:
    """Have the bank decide the dispute ``won`` or ``lost``; returns the dispute."""
    return _config(base, f"/_config/haohuan/disputes/{dispute_id}/decide", outcome=outcome)


def _config(base: str, path: str, **fields: str) -> dict[str, Any]:
    import json
    import urllib.parse
    import urllib.request

    request = urllib.request.Request(  # noqa: S310 (a loopback http URL we built)
        f"{base}{path}", data=urllib.parse.urlencode(fields).encode()
    )
    with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310 (loopback)
        found: dict[str, Any] = json.loads(answer.read())
        return found


# How often, and how far apart, an undelivered event is sent again (Stripe keeps trying
# for days; a test waits seconds).
WEBHOOK_ATTEMPTS = 8
WEBHOOK_RETRY_SECONDS = 1.0


def _retrying_webhooks(resources: Any) -> None:
    """Every event's delivery retried until its endpoint takes it (see the docstring)."""
    import asyncio
    import hashlib
    import hmac
    import json
    import logging

    import aiohttp
    from localstripe import webhooks

    pending: set[asyncio.Task[None]] = set()  # strong references: the loop holds weak ones
    logger = logging.getLogger("aiohttp.access")

    async def deliver(url: str, secret: str, event: Any, payload: bytes) -> None:
        signed = hmac.new(secret.encode(), b"%d.%s" % (event.created, payload), hashlib.sha256)
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "Stripe-Signature": f"t={event.created},v1={signed.hexdigest()}",
        }
        for attempt in range(WEBHOOK_ATTEMPTS):
            try:
                async with (
                    aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session,
                    session.post(url, data=payload, headers=headers) as answer,
                ):
                    if 200 <= answer.status < 300:
                        return
                    logger.info("webhook %s answered %d", event.type, answer.status)
            except (aiohttp.ClientError, TimeoutError) as error:
                logger.info("webhook %s failed: %s", event.type, error)
            await asyncio.sleep(WEBHOOK_RETRY_SECONDS * (attempt + 1))
        logger.warning("webhook %s given up after %d attempts", event.type, WEBHOOK_ATTEMPTS)

    async def send(event: Any) -> None:
        # Exported now, as localstripe does: the event says what was true when it happened.
        payload = json.dumps(event._export(), indent=2, sort_keys=True).encode()
        await asyncio.sleep(1)
        endpoints = [
            (hook.url, hook.secret)
            for hook in webhooks._webhooks.values()
            if hook.events is None or event.type in hook.events
        ]
        await asyncio.gather(*(deliver(url, secret, event, payload) for url, secret in endpoints))

    def schedule(event: Any) -> None:
        task = asyncio.ensure_future(send(event))
        pending.add(task)
        task.add_done_callback(pending.discard)

    resources.schedule_webhook = webhooks.schedule_webhook = schedule


def serve(port: int) -> None:
    """Teach localstripe the missing pieces, then serve it on 127.0.0.1."""
    from aiohttp import web
    from localstripe import resources

    resources.Store.dump_to_disk = lambda self: None
    _retrying_webhooks(resources)
    _indexed(resources)
    _forgetting_keys(resources)
    _windowed(resources.BalanceTransaction)
    _windowed(resources.Payout)
    _charging_fees(resources.BalanceTransaction)
    _allowing_types(resources.PaymentIntent)
    _allowing_types(resources.SetupIntent)
    _status_attaching(resources)
    _detaching(resources)
    _refusals(resources)
    _listing_by_customer(resources.PaymentIntent)
    from localstripe.server import app

    app.router.add_post("/_config/haohuan/prune_keys", _prune_keys)
    _disputes(resources, app)
    # After authentication (an unauthenticated request saves nothing), before the store.
    app.middlewares.insert(2, _idempotent(resources.UserError))
    web.run_app(app, host="127.0.0.1", port=port, print=None)


if __name__ == "__main__":
    serve(int(sys.argv[1]))
