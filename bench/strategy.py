"""The contact strategy's day (``portal.strategy.planner.run``, ``haohuan strategy run``)
over a large book, on PostgreSQL.

Migrates a database of its own (``bench_strategy_run``, created for the run and dropped after
it, never the test database) and seeds ``--cases`` borrowers, loans and cases in a few
``INSERT … SELECT`` statements from one table of per-case random draws (``setseed``:
the same book every run). The book, as the daily work leaves it on the morning of
``AS_OF``:

* borrowers in Taiwan, China, Hong Kong and the US (Los Angeles, New York), speaking
  Traditional or Simplified Chinese or English; most with an email, nearly all with a
  postal address; a few opted out of SMS or email, a few with quiet hours at work;
* about 10% of cases overdue, 1 to 180 days past due (an exponential spread: a few
  thousand cases on each early day, tens on the late ones), each stage the one its days
  past due give, six installments a loan (the unpaid ones owed) and a late fee;
* a quarter of the overdue cases in an active plan (six monthly installments: some due
  in 3 days, some missed today, a few missed earlier), some plans broken today, some
  cases on hold, most overdue cases owned by one of 40 agents;
* open promises to pay (some due tomorrow), promises broken or partly kept today and
  older settled ones; ready offers made 2 days ago (some opened since) and older ones;
  a reminder link per overdue case, with verifications 2 days ago and older, and the
  links of cases overdue once and cured since, each opened once (the history);
* today's ``stage_changed`` and ``plan_broken`` case events (the daily work's, in its
  data shape) and older ones; call and SMS attempts within the week; reminders sent,
  a few scheduled today, and the US validation notices.

Then, on ``AS_OF`` at ``NOW`` (09:00 in Taipei, after the daily work), it times the
default strategy's first run (every step planned) and its re-run (which must plan
nothing), printing what each planned and skipped. For context it times the contact
gate's ``judge`` one case at a time on a sample of the planned messages (what a
row-by-row planner would pay for its contact decisions alone) against the planner's
time per planned step, as a ratio. ``--explain`` prints EXPLAIN ANALYZE of each step's
candidate query; ``--profile`` the first run's hottest functions (cProfile).

    .venv/bin/python bench/strategy.py [--cases 1000000] [--sample 2000] [--explain]
        [--profile] [--postgres-url postgresql://root@127.0.0.1:5432/postgres]
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import random
import sys
import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta

import psycopg
from _common import ROOT, database_name, postgres_database, postgres_unreachable
from flask import Flask
from psycopg import sql
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session

sys.path.insert(0, str(ROOT))  # bench/portal.py would otherwise be imported as ``portal``

from negotiation.contact import Channel
from negotiation.strategy import default_document, event_window, load_strategy
from portal import create_app
from portal.contact.gate import judge
from portal.core import db, migrate
from portal.models import Case, Message, PlannedStatus, PlannedStep
from portal.strategy import planner

BENCH_DATABASE = "bench_strategy_run"
AS_OF = date(2026, 12, 15)
# 09:00 in Taipei: the lender's morning, after the daily work (which ran at 08:30).
NOW = datetime(2026, 12, 15, 1, 0, tzinfo=UTC)
AGENTS = 40
# The share of cases overdue, and the mean of the exponential spread of days past due.
OVERDUE = 0.10
MEAN_DAYS = 40

# Each statement reads ``bench_spec`` (one row per case of random draws) and the bound
# parameters :n, :today (AS_OF), :now (NOW), :work (the daily work's moment, 00:30 UTC).
# Draws: rz market and zone, rl language, rx the case's situation, ry a second draw for
# it, rw addresses, rv links and contact preferences, rc contact history.
SPEC = """
CREATE UNLOGGED TABLE bench_spec AS
SELECT id, rz, rl, rx, ry, rw, rv, rc,
    CASE WHEN ro < :overdue THEN 1 + (floor(-:mean * ln(1 - rd)))::int % 180 ELSE 0 END
        AS dpd
FROM (
    SELECT i AS id, random() AS rz, random() AS rl, random() AS ro, random() AS rd,
        random() AS rx, random() AS ry, random() AS rw, random() AS rv, random() AS rc
    FROM generate_series(1, :n) AS i
) AS draws
"""
MARKET = "CASE WHEN s.rz < 0.55 THEN 'TW' WHEN s.rz < 0.75 THEN 'CN' WHEN s.rz < 0.90 THEN 'HK' ELSE 'US' END"  # noqa: E501
ZONE = (
    "CASE WHEN s.rz < 0.55 THEN 'Asia/Taipei' WHEN s.rz < 0.75 THEN 'Asia/Shanghai'"
    " WHEN s.rz < 0.90 THEN 'Asia/Hong_Kong' WHEN s.rz < 0.95 THEN 'America/Los_Angeles'"
    " ELSE 'America/New_York' END"
)
JURISDICTION = (
    "CASE WHEN s.rz < 0.55 THEN 'TW' WHEN s.rz < 0.75 THEN 'CN' WHEN s.rz < 0.90 THEN 'HK'"
    " WHEN s.rz < 0.95 THEN 'US-CA' ELSE 'US-NY' END"
)
CURRENCY = (
    "CASE WHEN s.rz < 0.55 THEN 'TWD' WHEN s.rz < 0.75 THEN 'CNY' WHEN s.rz < 0.90 THEN 'HKD'"
    " ELSE 'USD' END"
)
LOCALE = (
    "CASE WHEN s.rz < 0.55 THEN (CASE WHEN s.rl < 0.9 THEN 'zh_Hant_TW' ELSE 'en' END)"
    " WHEN s.rz < 0.75 THEN (CASE WHEN s.rl < 0.95 THEN 'zh_Hans_CN' ELSE 'en' END)"
    " WHEN s.rz < 0.90 THEN (CASE WHEN s.rl < 0.7 THEN 'zh_Hant_TW' ELSE 'en' END)"
    " ELSE (CASE WHEN s.rl < 0.7 THEN 'en' WHEN s.rl < 0.85 THEN 'zh_Hant_TW'"
    " ELSE 'zh_Hans_CN' END) END"
)
STAGE = (
    "CASE WHEN s.dpd = 0 THEN 'current' WHEN s.dpd <= 30 THEN 'early' WHEN s.dpd <= 90"
    " THEN 'mid' ELSE 'late' END"
)
# A loan's size, 100 to 999 (its installments are multiples of it).
SIZE = "(100 + (CAST(s.id AS bigint) * 7919) % 900)"
# One unit of each currency's minor unit an installment is a multiple of.
UNIT = "CASE WHEN s.rz < 0.55 THEN 100 ELSE 1 END"
# The situations, by ranges of rx (overdue cases only, save "resolved").
ARRANGED = "s.dpd > 0 AND s.rx < 0.25"
HELD = "s.dpd > 0 AND s.rx >= 0.25 AND s.rx < 0.27"
PLAN_BROKE = "s.dpd > 0 AND s.rx >= 0.27 AND s.rx < 0.275"
PROMISED = "s.dpd > 0 AND s.rx >= 0.30 AND s.rx < 0.33"
PROMISE_BROKE = "s.dpd > 0 AND s.rx >= 0.33 AND s.rx < 0.335"
PROMISE_KEPT = "s.dpd > 0 AND s.rx >= 0.335 AND s.rx < 0.40"
OFFERED = "s.dpd > 0 AND s.rx >= 0.40 AND s.rx < 0.405"
OLD_OFFER = "s.dpd > 0 AND s.rx >= 0.405 AND s.rx < 0.45"
RESOLVED = "s.dpd = 0 AND s.rx < 0.03"
# Paused cases keep their stage: the daily work writes them no stage change.
PAUSED = f"(({ARRANGED}) OR ({HELD}))"

SEED = [
    f"""
    INSERT INTO staff_members (id, email, name, password_hash, roles, active,
        session_generation, created_at, capacity, away)
    SELECT i, 'agent' || i || '@bench.example', 'Agent ' || i, 'x', 'agent', true, 0, :now,
        50000, false
    FROM generate_series(1, {AGENTS}) AS i
    """,  # noqa: S608
    f"""
    INSERT INTO borrowers (id, reference, full_name, locale, timezone, jurisdiction, phone,
        email, postal_address, verification_salt, date_of_birth_hash, id_last4_hash,
        created_at)
    SELECT s.id, 'B' || lpad(s.id::text, 9, '0'), 'Bench Borrower ' || s.id, {LOCALE},
        {ZONE}, {JURISDICTION}, '+886 912 ' || lpad((s.id % 1000000)::text, 6, '0'),
        CASE WHEN s.rw < 0.7 THEN 'b' || s.id || '@bench.example' END,
        CASE WHEN s.rw < 0.95 THEN 'No. ' || s.id || ', Bench Road' END,
        'salt', 'dob-hash', 'id-hash', :now - interval '400 days'
    FROM bench_spec s ORDER BY s.id
    """,  # noqa: S608 (this module's constants)
    f"""
    INSERT INTO loans (id, borrower_id, number, product, currency, principal,
        annual_rate_pct, frequency, start_date)
    SELECT s.id, s.id, 'LN-' || lpad(s.id::text, 9, '0'), 'personal', {CURRENCY},
        6 * 50 * {SIZE} * {UNIT}, 12, 'monthly', DATE '2026-01-01'
    FROM bench_spec s ORDER BY s.id
    """,  # noqa: S608
    f"""
    INSERT INTO cases (id, loan_id, status, stage, hold, hold_since, overdue_since,
        needs_agent, updated_at, owner_id, owner_pinned)
    SELECT s.id, s.id,
        CASE WHEN {ARRANGED} THEN 'arranged' WHEN {RESOLVED} THEN 'resolved' ELSE 'open' END,
        {STAGE},
        CASE WHEN {HELD} THEN (CASE WHEN s.ry < 0.5 THEN 'dispute' ELSE 'hardship' END) END,
        CASE WHEN {HELD} THEN :now - interval '10 days' END,
        CASE WHEN s.dpd > 0 THEN :today - s.dpd END,
        false, :now,
        CASE WHEN s.dpd > 0 AND s.ry < 0.9 THEN 1 + s.id % {AGENTS} END, false
    FROM bench_spec s ORDER BY s.id
    """,  # noqa: S608
    # Six monthly installments. Overdue: the third is the first unpaid, due the day it
    # went overdue. Current: the fourth is the next, due within four weeks.
    f"""
    INSERT INTO loan_installments (loan_id, sequence, due_date, principal_due,
        interest_due, principal_paid, interest_paid, principal_waived, interest_waived)
    SELECT s.id, k,
        CASE WHEN s.dpd > 0 THEN (:today - s.dpd) + (k - 3) * interval '1 month'
            ELSE (:today + 1 + s.id % 28) + (k - 4) * interval '1 month' END,
        50 * {SIZE} * {UNIT},
        5 * {SIZE} * {UNIT},
        CASE WHEN k < (CASE WHEN s.dpd > 0 THEN 3 ELSE 4 END)
            THEN 50 * {SIZE} * {UNIT} ELSE 0 END,
        CASE WHEN k < (CASE WHEN s.dpd > 0 THEN 3 ELSE 4 END)
            THEN 5 * {SIZE} * {UNIT} ELSE 0 END,
        0, 0
    FROM bench_spec s CROSS JOIN generate_series(1, 6) AS k ORDER BY s.id, k
    """,  # noqa: S608
    f"""
    INSERT INTO loan_charges (loan_id, kind, description, amount, paid, waived, charged_on)
    SELECT s.id, 'fee', 'late_fee', 300 * {UNIT}, 0, 0, :today - s.dpd
    FROM bench_spec s WHERE s.dpd > 0 ORDER BY s.id
    """,  # noqa: S608
    # Active plans (one per arranged case, its id the case's), and plans broken today.
    f"""
    INSERT INTO plans (id, case_id, status, kind, frequency, currency, restructured,
        total, waived_penalties, waived_fees, discount, interest, interest_rate_pct,
        conditional_waiver, accepted_at, activated_at)
    SELECT s.id, s.id, CASE WHEN {ARRANGED} THEN 'active' ELSE 'broken' END,
        'arrears_plan', 'monthly', {CURRENCY}, 0, 6 * 20 * (100 + s.id % 900) * {UNIT},
        0, 0, 0, 0, 0, false, TIMESTAMPTZ '2026-09-20 02:00+00',
        TIMESTAMPTZ '2026-09-20 02:00+00'
    FROM bench_spec s WHERE ({ARRANGED}) OR ({PLAN_BROKE}) ORDER BY s.id
    """,  # noqa: S608
    # Due monthly on day 1..28 from October. Grace is 5 days, and ``missed_on`` the last
    # day of it: the daily work finds a miss the day after, so one due on the 9th unpaid
    # is found missed today (some); earlier ones paid (a few missed then); those due
    # within the grace paid by half; the rest to come. A broken plan: two missed.
    f"""
    INSERT INTO plan_installments (plan_id, sequence, due_date, amount, paid, missed_on)
    SELECT s.id, k, d.due, 20 * (100 + s.id % 900) * {UNIT},
        CASE
            WHEN {PLAN_BROKE} THEN (CASE WHEN k >= 2 THEN 0 ELSE 20 * (100 + s.id % 900) * {UNIT} END)
            WHEN d.due < :today - 6 THEN (CASE WHEN k = 1 AND s.ry < 0.05 THEN 0
                ELSE 20 * (100 + s.id % 900) * {UNIT} END)
            WHEN d.due = :today - 6 THEN (CASE WHEN s.ry >= 0.05 AND s.ry < 0.20 THEN 0
                ELSE 20 * (100 + s.id % 900) * {UNIT} END)
            WHEN d.due < :today AND s.ry > 0.5 THEN 20 * (100 + s.id % 900) * {UNIT}
            ELSE 0 END,
        CASE
            WHEN {PLAN_BROKE} THEN (CASE WHEN k >= 2 AND d.due <= :today - 6 THEN d.due + 5 END)
            WHEN d.due < :today - 6 AND k = 1 AND s.ry < 0.05 THEN d.due + 5
            WHEN d.due = :today - 6 AND s.ry >= 0.05 AND s.ry < 0.20 THEN :today - 1
            END
    FROM bench_spec s CROSS JOIN generate_series(1, 6) AS k
    CROSS JOIN LATERAL (SELECT CAST(make_date(2026, 10, 1 + s.id % 28)
        + (k - 1) * interval '1 month' AS date) AS due) AS d
    WHERE ({ARRANGED}) OR ({PLAN_BROKE}) ORDER BY s.id, k
    """,  # noqa: S608, E501
    f"""
    INSERT INTO promises (case_id, made_by, made_at, due_date, amount, currency, status,
        paid, settled_on)
    SELECT s.id, 'agent' || (1 + s.id % {AGENTS}) || '@bench.example',
        :now - interval '3 days', :today + 1 + s.id % 14, 1000 * {UNIT}, {CURRENCY}, 'open',
        0, NULL
    FROM bench_spec s WHERE {PROMISED}
    UNION ALL
    SELECT s.id, 'agent' || (1 + s.id % {AGENTS}) || '@bench.example',
        :now - interval '8 days', :today - 1, 1000 * {UNIT}, {CURRENCY},
        CASE WHEN s.ry < 0.7 THEN 'broken' ELSE 'partly_kept' END,
        CASE WHEN s.ry < 0.7 THEN 0 ELSE 400 * {UNIT} END, :today
    FROM bench_spec s WHERE {PROMISE_BROKE}
    UNION ALL
    SELECT s.id, 'agent' || (1 + s.id % {AGENTS}) || '@bench.example',
        :now - (20 + s.id % 60) * interval '1 day', :today - (10 + s.id % 60),
        1000 * {UNIT}, {CURRENCY}, CASE WHEN s.ry < 0.6 THEN 'kept' ELSE 'broken' END,
        CASE WHEN s.ry < 0.6 THEN 1000 * {UNIT} ELSE 0 END, :today - (9 + s.id % 60)
    FROM bench_spec s WHERE {PROMISE_KEPT}
    """,  # noqa: S608
    # Ready offers made 2 days ago (in the lender's day), and older settled ones.
    f"""
    INSERT INTO offers (case_id, status, terms, created_by, created_at, expires_at,
        authority)
    SELECT s.id, 'ready', CAST('{{}}' AS json),
        'agent' || (1 + s.id % {AGENTS}) || '@bench.example',
        TIMESTAMPTZ '2026-12-13 01:00+00' + (s.id % 480) * interval '1 minute',
        TIMESTAMPTZ '2026-12-20 01:00+00', 'agent'
    FROM bench_spec s WHERE {OFFERED}
    UNION ALL
    SELECT s.id, CASE WHEN s.ry < 0.5 THEN 'expired' ELSE 'declined' END, CAST('{{}}' AS json),
        'agent' || (1 + s.id % {AGENTS}) || '@bench.example',
        :now - (30 + s.id % 90) * interval '1 day',
        :now - (23 + s.id % 90) * interval '1 day', 'agent'
    FROM bench_spec s WHERE {OLD_OFFER}
    """,  # noqa: S608
    # A reminder link per overdue case (its id the case's), made the day after it fell due.
    """
    INSERT INTO reminder_links (id, case_id, token_hash, purpose, created_at, expires_at,
        session_generation, failed_attempts)
    SELECT s.id, s.id, md5(s.id::text), 'status',
        (:today - s.dpd + 1) + time '02:00', (:today - s.dpd + 31) + time '02:00', 0, 0
    FROM bench_spec s WHERE s.dpd > 0 ORDER BY s.id
    """,
    # The links of cases overdue once and cured since (a third of the current ones): a
    # book's history, which the planner's reads by link must not scan.
    """
    INSERT INTO reminder_links (id, case_id, token_hash, purpose, created_at, expires_at,
        session_generation, failed_attempts)
    SELECT :n + s.id, s.id, md5('old' || s.id), 'status',
        (:today - (60 + s.id % 300)) + time '02:00', (:today - (30 + s.id % 300)) + time '02:00',
        0, 0
    FROM bench_spec s WHERE s.dpd = 0 AND s.id % 3 = 0 ORDER BY s.id
    """,
    # Verifications: opened 2 days ago (some failed), opened an offer since it was
    # made (a third of them), and older openings the day after a link was made.
    f"""
    INSERT INTO verification_attempts (borrower_id, link_id, address_hash, succeeded, at)
    SELECT s.id, s.id, 'h', s.rv < 0.02,
        TIMESTAMPTZ '2026-12-13 00:00+00' + (s.id % 720) * interval '1 minute'
    FROM bench_spec s WHERE s.dpd > 0 AND s.rv < 0.025
    UNION ALL
    SELECT s.id, s.id, 'h', true, TIMESTAMPTZ '2026-12-13 13:00+00'
    FROM bench_spec s WHERE ({OFFERED}) AND s.id % 3 = 0
    UNION ALL
    SELECT s.id, s.id, 'h', true,
        (:today - s.dpd + 1) + time '03:00' + (s.id % 10) * interval '1 hour'
    FROM bench_spec s WHERE s.dpd > 3 AND s.rv >= 0.1 AND s.rv < 0.4
    UNION ALL
    SELECT s.id, :n + s.id, 'h', k = 1,
        (:today - (60 + s.id % 300)) + time '03:00' + k * interval '1 hour'
    FROM bench_spec s CROSS JOIN generate_series(1, 2) AS k
    WHERE s.dpd = 0 AND s.id % 3 = 0
    """,  # noqa: S608
    """
    INSERT INTO opt_outs (borrower_id, channel, at, source)
    SELECT s.id, 'sms', :now - interval '30 days', 'borrower'
    FROM bench_spec s WHERE s.rv >= 0.5 AND s.rv < 0.525
    UNION ALL
    SELECT s.id, 'email', :now - interval '30 days', 'borrower'
    FROM bench_spec s WHERE s.rv >= 0.52 AND s.rv < 0.535
    """,
    # At work on weekdays, 09:00 to 18:00 (their local time).
    """
    INSERT INTO quiet_hours (borrower_id, days, start_minute, end_minute, set_at)
    SELECT s.id, 31, 540, 1080, :now - interval '60 days'
    FROM bench_spec s WHERE s.rv >= 0.6 AND s.rv < 0.62
    """,
    # Calls within the week, an SMS 2 days ago for some, older calls.
    f"""
    INSERT INTO contact_attempts (case_id, borrower_id, channel, at, connected, inbound,
        agent, outcome)
    SELECT s.id, s.id, 'call', :now - (1 + s.id % 6) * interval '1 day' + interval '2 hours',
        s.ry < 0.3, false, 'agent' || (1 + s.id % {AGENTS}) || '@bench.example', NULL
    FROM bench_spec s WHERE s.dpd > 0 AND s.rc < 0.3
    UNION ALL
    SELECT s.id, s.id, 'sms', :now - interval '2 days', false, false, 'system', NULL
    FROM bench_spec s WHERE s.dpd > 0 AND s.rc < 0.1
    UNION ALL
    SELECT s.id, s.id, 'call', :now - (20 + s.id % 20) * interval '1 day', s.ry < 0.3, false,
        'agent' || (1 + s.id % {AGENTS}) || '@bench.example', NULL
    FROM bench_spec s WHERE s.dpd > 20 AND s.rc < 0.5
    """,  # noqa: S608
    # Reminders sent the day after each case fell due, a few scheduled for today by an
    # agent's bulk send, and the US validation notices (most sent).
    f"""
    INSERT INTO messages (case_id, borrower_id, channel, purpose, address, locale, status,
        send_at, sent_at, created_by, created_at)
    SELECT s.id, s.id, 'sms', 'reminder', '+886 912 000 000', {LOCALE}, 'sent',
        (:today - s.dpd + 1) + time '02:00', (:today - s.dpd + 1) + time '02:00', 'system',
        (:today - s.dpd + 1) + time '01:00'
    FROM bench_spec s WHERE s.dpd > 1 AND s.rc < 0.5
    UNION ALL
    SELECT s.id, s.id, 'sms', 'reminder', '+886 912 000 000', {LOCALE}, 'scheduled',
        :now + interval '4 hours', NULL, 'agent1@bench.example', :now - interval '1 hour'
    FROM bench_spec s WHERE s.dpd > 0 AND s.rc >= 0.5 AND s.rc < 0.52
    UNION ALL
    SELECT s.id, s.id, 'email', 'validation', 'v@bench.example', {LOCALE}, 'sent',
        (:today - s.dpd) + time '16:00', (:today - s.dpd) + time '16:00', 'system',
        (:today - s.dpd) + time '15:00'
    FROM bench_spec s WHERE s.dpd > 0 AND s.rz >= 0.90 AND s.rw < 0.8
    """,  # noqa: S608
    # The daily work's events: today's stage changes (cases crossing day 1, 31 and 91,
    # unless paused) and broken plans at its moment; older ones on the days they were.
    f"""
    INSERT INTO case_events (case_id, kind, actor, at, data)
    SELECT s.id, 'stage_changed', 'system', :work,
        json_build_object('as_of', CAST(:today AS text), 'from',
            CASE s.dpd WHEN 1 THEN 'current' WHEN 31 THEN 'early' ELSE 'mid' END,
            'to', CASE s.dpd WHEN 1 THEN 'early' WHEN 31 THEN 'mid' ELSE 'late' END)
    FROM bench_spec s WHERE s.dpd IN (1, 31, 91) AND NOT {PAUSED}
    UNION ALL
    SELECT s.id, 'plan_broken', 'system', :work,
        json_build_object('as_of', CAST(:today AS text), 'plan_id', s.id,
            'waiver_reinstated', 0)
    FROM bench_spec s WHERE {PLAN_BROKE}
    UNION ALL
    SELECT s.id, 'became_overdue', 'system', :work - s.dpd * interval '1 day',
        json_build_object('as_of', CAST(:today - s.dpd AS text), 'since',
            CAST(:today - s.dpd AS text))
    FROM bench_spec s WHERE s.dpd > 1
    UNION ALL
    SELECT s.id, 'stage_changed', 'system', :work - (s.dpd - 1) * interval '1 day',
        json_build_object('as_of', CAST(:today - s.dpd + 1 AS text), 'from', 'current',
            'to', 'early')
    FROM bench_spec s WHERE s.dpd > 1
    UNION ALL
    SELECT s.id, 'stage_changed', 'system', :work - (s.dpd - 31) * interval '1 day',
        json_build_object('as_of', CAST(:today - s.dpd + 31 AS text), 'from', 'early',
            'to', 'mid')
    FROM bench_spec s WHERE s.dpd > 31
    """,  # noqa: S608
]
# The tables whose ids the seed gave: their sequences must start after them.
GIVEN_IDS = ("borrowers", "loans", "cases", "plans", "reminder_links", "staff_members")


def load() -> str:
    """The load averages, to read beside each figure (others share the machine)."""
    one, five, fifteen = os.getloadavg()
    return f"load {one:.2f} {five:.2f} {fifteen:.2f}"


def seeded(url: str, count: int) -> Engine:
    """A migrated, seeded, vacuumed and analysed database of ``count`` cases."""
    app = create_app({"DATABASE_URL": url})
    with app.app_context():
        migrate.upgrade(app)
    engine: Engine = app.extensions["haohuan.engine"]
    params = {
        "n": count,
        "today": AS_OF,
        "now": NOW,
        "work": NOW - timedelta(minutes=30),
        "overdue": OVERDUE,
        "mean": MEAN_DAYS,
    }
    try:
        _seed(engine, params)
    except BaseException:
        engine.dispose()  # the database is dropped next: no connection may stay open
        raise
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))
    return engine


def _seed(engine: Engine, params: dict[str, object]) -> None:
    with engine.begin() as conn:
        # One process draws every number: the same book on every run.
        conn.execute(text("SET LOCAL max_parallel_workers_per_gather = 0"))
        conn.execute(text("SET LOCAL TimeZone = 'UTC'"))  # dates + times below are UTC
        conn.execute(text("SELECT setseed(0.2026)"))
        conn.execute(text(SPEC), params)
        for statement in SEED:
            conn.execute(text(statement), params)
        conn.execute(text("DROP TABLE bench_spec"))
        for table in GIVEN_IDS:
            # The table names are this module's constants.
            conn.execute(text(f"SELECT setval('{table}_id_seq', (SELECT max(id) FROM {table}))"))  # noqa: S608


def book(engine: Engine) -> str:
    """What was seeded, in one line."""
    tables = (
        "cases", "loan_installments", "plans", "plan_installments", "promises", "offers",
        "reminder_links", "verification_attempts", "case_events", "contact_attempts",
        "messages", "opt_outs", "quiet_hours",
    )  # fmt: skip
    with engine.connect() as conn:
        counts = {t: conn.scalar(text(f"SELECT count(*) FROM {t}")) or 0 for t in tables}  # noqa: S608
        overdue = conn.scalar(select(func.count()).where(Case.overdue_since.is_not(None)))
        day1 = conn.scalar(
            select(func.count()).where(Case.overdue_since == AS_OF - timedelta(days=1))
        )
        day180 = conn.scalar(
            select(func.count()).where(Case.overdue_since == AS_OF - timedelta(days=180))
        )
    return (
        ", ".join(f"{name} {n:,}" for name, n in counts.items())
        + f"; overdue {overdue:,} ({(overdue or 0) / counts['cases']:.1%}): day 1 {day1:,},"
        f" day 180 {day180:,}"
    )


def timed_run(app: Flask, label: str, profile: bool) -> planner.RunSummary:
    """One ``planner.run`` of the default strategy, under an app context, printed."""
    profiler = cProfile.Profile() if profile else None
    with app.app_context():
        session = db.session()
        started = time.perf_counter()
        if profiler is not None:
            profiler.enable()
        summary = planner.run(session, default_document(), AS_OF, NOW)
        if profiler is not None:
            profiler.disable()
        seconds = time.perf_counter() - started
        session.close()
    print(
        f"{label:<10} {seconds:7.2f} s  {summary.planned:,} planned"
        f" ({summary.scheduled_later:,} for a later allowed time),"
        f" {sum(summary.skipped.values()):,} skipped   [{load()}]"
    )
    for title, counts in (
        ("by step", summary.by_step),
        ("by channel", summary.by_channel),
        ("by variant", summary.by_variant),
        ("skipped", summary.skipped),
    ):
        if counts:
            shown = ", ".join(f"{k} {v:,}" for k, v in sorted(counts.items()))
            print(f"           {title}: {shown}")
    if profiler is not None:
        stats = pstats.Stats(profiler)
        stats.sort_stats("cumulative").print_stats(35)
    return summary


def explain(app: Flask, engine: Engine) -> None:
    """EXPLAIN ANALYZE of each step's candidate query (the first run's windows)."""
    strategy = load_strategy(default_document())
    with app.app_context():
        zone = planner.settings.current().lender_zone
        with engine.connect() as conn:
            for step in strategy.steps:
                first, last = event_window(step, AS_OF, 0)
                query = planner._EVENT_QUERIES[step.event](first, last, zone)
                compiled = query.compile(engine, compile_kwargs={"literal_binds": True})
                plan = conn.execute(text(f"EXPLAIN (ANALYZE, BUFFERS) {compiled}")).scalars()
                lines = list(plan)
                print(f"--- {step.name} ({step.event}): {lines[-1].strip()}")
                for line in lines[:-2]:
                    print("    " + line)


def naive_judge(
    app: Flask, engine: Engine, sample: int, first_seconds: float, planned: int
) -> None:
    """The contact gate one case at a time (``judge``: the case and its borrower read,
    then six statements) for ``sample`` of the planned messages, against the planner's
    seconds per planned step; the ratio."""
    with Session(engine) as session:
        rows = session.execute(
            select(PlannedStep.case_id, PlannedStep.channel, PlannedStep.send_at)
            .join(Message, Message.id == PlannedStep.message_id)
            .where(PlannedStep.status.in_((PlannedStatus.QUEUED, PlannedStatus.DEFERRED)))
            .order_by(PlannedStep.id)
        ).all()
    picked = random.Random(2026).sample(rows, min(sample, len(rows)))
    with app.app_context():
        session = db.session()
        decisions: Counter[bool] = Counter()
        started = time.perf_counter()
        for case_id, channel, send_at in picked:
            case = session.get_one(Case, case_id)
            decisions[judge(session, case, Channel(channel), send_at).allowed] += 1
        seconds = time.perf_counter() - started
        session.rollback()
    per_judge = seconds / max(1, len(picked))
    per_step = first_seconds / max(1, planned)
    print(
        f"row by row judge() on {len(picked):,} planned messages: {seconds:.2f} s,"
        f" {per_judge * 1000:.2f} ms each; the planner {per_step * 1000:.2f} ms per planned"
        f" step, everything included (ratio {per_judge / per_step:.1f}x)   [{load()}]"
    )


def main() -> None:
    """Parse the command line, seed the book, time the first run and the re-run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--sample", type=int, default=2_000, help="judge() calls, row by row")
    parser.add_argument("--explain", action="store_true", help="EXPLAIN ANALYZE each step")
    parser.add_argument("--profile", action="store_true", help="cProfile the first run")
    parser.add_argument(
        "--postgres-url",
        default="postgresql://root@127.0.0.1:5432/postgres",
        help="a server's maintenance database; the benchmark creates and drops its own",
    )
    parser.add_argument("--database", default=BENCH_DATABASE, help="the name of its own")
    parser.add_argument(
        "--keep-template",
        metavar="NAME",
        help="also keep a copy of the seeded book as database NAME (to plan it again by hand)",
    )
    args = parser.parse_args()
    if why := postgres_unreachable(args.postgres_url):
        raise SystemExit(f"postgres unreachable ({why}): this benchmark needs PostgreSQL")
    print(f"postgres, {args.cases:,} cases, as of {AS_OF} at {NOW:%H:%M} UTC; {load()}")
    with postgres_database(args.postgres_url, args.database) as url:
        started = time.perf_counter()
        engine = seeded(url, args.cases)
        print(f"seeded     {time.perf_counter() - started:.1f} s: {book(engine)}")
        if args.keep_template:
            engine.dispose()
            with psycopg.connect(args.postgres_url, autocommit=True) as admin:
                admin.execute(
                    sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                        sql.Identifier(args.keep_template), sql.Identifier(database_name(url))
                    )
                )
        app = create_app({"DATABASE_URL": url})
        try:
            if args.explain:
                explain(app, engine)
            started = time.perf_counter()
            first = timed_run(app, "first run", args.profile)
            first_seconds = time.perf_counter() - started
            again = timed_run(app, "re-run", False)
            if args.sample and first.planned:
                naive_judge(app, engine, args.sample, first_seconds, first.planned)
        finally:
            app.extensions["haohuan.engine"].dispose()
            engine.dispose()  # the database is dropped next: no connection may stay open
    if again.planned or sum(again.skipped.values()):
        raise SystemExit("the re-run planned steps: it must plan none")


if __name__ == "__main__":
    main()
