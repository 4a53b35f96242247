"""The webhook's baseline for ``bench/webhooks.py``: the least a Stripe webhook can do.

A minimal Flask app (served by gunicorn with the portal's own configuration) that
verifies the Stripe signature as the portal does (``stripe.WebhookSignature``, 300 s
tolerance), parses the event, inserts one row (the event's id, under a unique index, so
a redelivery is answered as a duplicate) and commits: one statement and a commit on a
pooled connection. It reads ``DATABASE_URL`` and ``STRIPE_WEBHOOK_SECRET``; the bench
creates its table (``create_table``) before serving ``_webhook_baseline:build()``.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime

import stripe
from flask import Flask, request
from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Engine,
    MetaData,
    String,
    Table,
    create_engine,
)
from sqlalchemy.dialects.postgresql import insert

metadata = MetaData()
events = Table(
    "baseline_webhook_events",
    metadata,
    Column("id", BigInteger, primary_key=True),
    Column("event_id", String(255), nullable=False, unique=True),
    Column("received_at", DateTime(timezone=True), nullable=False),
)


def engine_for(url: str) -> Engine:
    """A pooled psycopg engine on ``url`` (a plain ``postgresql://`` URL)."""
    return create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))


def create_table(url: str) -> None:
    """The baseline's one table, empty."""
    engine = engine_for(url)
    metadata.drop_all(engine)
    metadata.create_all(engine)
    engine.dispose()


def build() -> Flask:
    """The baseline app."""
    flask_app = Flask(__name__)
    engine = engine_for(os.environ["DATABASE_URL"])
    secret = os.environ["STRIPE_WEBHOOK_SECRET"]

    @flask_app.post("/webhooks/stripe")
    def webhook() -> tuple[dict[str, object], int]:
        payload = request.get_data().decode("utf-8")
        try:
            stripe.WebhookSignature.verify_header(
                payload, request.headers.get("Stripe-Signature", ""), secret, 300
            )
        except stripe.SignatureVerificationError:
            return {"error": "bad signature"}, 400
        event = json.loads(payload)
        with engine.begin() as connection:
            inserted = connection.execute(
                insert(events)
                .values(event_id=event["id"], received_at=datetime.now(UTC))
                .on_conflict_do_nothing()
                .returning(events.c.id)
            ).first()
        return {"received": True, "duplicate": inserted is None}, 200

    return flask_app
