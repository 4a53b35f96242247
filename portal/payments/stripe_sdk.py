"""Stripe's SDK, imported on first use rather than when the app is built.

The SDK is some 14 MiB and half a second of imports in every web worker, and most
requests (a borrower's status page, the agent's queue) never touch it. Modules that use it
write ``stripe.X`` as before, importing this module as ``stripe`` at run time and the
SDK itself for the type checker::

    if TYPE_CHECKING:
        import stripe
    else:
        from portal.payments import stripe_sdk as stripe

The first attribute read (``stripe.StripeClient``, or ``stripe.StripeError`` when an
``except`` clause is matched) imports the SDK; later reads find it in ``sys.modules``.
"""

from __future__ import annotations

import importlib
from typing import Any


def __getattr__(name: str) -> Any:
    """``name`` from Stripe's SDK (imported the first time)."""
    return getattr(importlib.import_module("stripe"), name)
