"""localstripe with its fake Stripe.js taught the Payment Element's ``confirmPayment``
and ``confirmSetup``, for the browser tests of the Stripe checkout and card page.

Three routes are added under ``/_config/`` (the only prefix localstripe serves without an
API key): ``/_config/haohuan/stripe.js``, localstripe's fake Stripe.js followed by
``stripe_adapter.js``; ``/_config/haohuan/confirm``, which confirms an intent with the
card typed into the element, authorised by the intent's client secret as Stripe
authorises Stripe.js's own confirmation (and, as Stripe does, again after a declined
card); and ``/_config/haohuan/confirm_setup``, the same for a SetupIntent (a card saved
for automatic payments). Everything else (charges, 3-D Secure, signed webhooks) is
localstripe's own.
"""

from __future__ import annotations

import json
import sys
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent


def running() -> AbstractContextManager[str]:
    """A fresh localstripe with the adapter; yields its base URL."""
    from tests.portal.localstripe_server import running as localstripe

    return localstripe(script=__file__)


async def _stripe_js(_request: Any) -> Any:
    from aiohttp import web
    from localstripe import server

    fake = (Path(server.__file__).parent / "localstripe-v3.js").read_text()
    adapter = (HERE / "stripe_adapter.js").read_text()
    return web.Response(text=f"{fake}\n{adapter}", content_type="application/javascript")


async def _confirm(request: Any) -> Any:
    from aiohttp import web
    from localstripe.errors import UserError
    from localstripe.resources import PaymentIntent, PaymentMethod

    data = json.loads(await request.text())
    secret = str(data.get("client_secret") or "")
    try:
        intent = PaymentIntent._api_retrieve(secret.split("_secret_")[0])
        if intent.client_secret != secret:
            raise UserError(401, "Unauthorized")
        card = data.get("card") or {}
        method = PaymentMethod(
            type="card",
            card={key: card.get(key) for key in ("number", "exp_month", "exp_year", "cvc")},
        )
        intent.payment_method = method.id
        if intent.latest_charge is not None and intent.latest_charge.status == "failed":
            # Stripe lets a declined intent be confirmed again with another card;
            # localstripe does not, so the failed attempt is set aside here.
            intent.latest_charge = None
        intent._confirm(on_failure_now=intent._report_failure)
    except UserError as error:
        return web.json_response(error.body, status=error.code)
    return web.json_response(intent._export())


async def _confirm_setup(request: Any) -> Any:
    """A SetupIntent confirmed with the typed card, authorised by its client secret."""
    from aiohttp import web
    from localstripe.errors import UserError
    from localstripe.resources import SetupIntent

    data = json.loads(await request.text())
    secret = str(data.get("client_secret") or "")
    try:
        intent = SetupIntent._api_retrieve(secret.split("_secret_")[0])
        if intent.client_secret != secret:
            raise UserError(401, "Unauthorized")
        card = data.get("card") or {}
        typed = {key: card.get(key) for key in ("number", "exp_month", "exp_year", "cvc")}
        intent = SetupIntent._api_confirm(
            intent.id, payment_method_data={"type": "card", "card": typed}
        )
    except UserError as error:
        return web.json_response(error.body, status=error.code)
    return web.json_response(intent._export())


def serve(port: int) -> None:
    """localstripe (as the other tests run it) with the two routes added."""
    sys.path.insert(0, str(ROOT))
    from localstripe.server import app

    from tests.portal import localstripe_server

    app.router.add_get("/_config/haohuan/stripe.js", _stripe_js)
    app.router.add_post("/_config/haohuan/confirm", _confirm)
    app.router.add_post("/_config/haohuan/confirm_setup", _confirm_setup)
    localstripe_server.serve(port)


if __name__ == "__main__":
    serve(int(sys.argv[1]))
