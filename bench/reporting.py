"""The reports at a million cases and two years of month-ends and activity (issue 17).

Builds a PostgreSQL database of its own (``bench_reporting_…``, dropped after the run):
``--cases`` cases seeded and settled as ``lifecycle.py`` builds them, 10 teams of 10
agents owning them (an owner per case not resolved, as ``haohuan cases assign`` would
leave it), and ``MONTHS`` month-ends of history before the settling day in
``case_month_ends``: one row per case per month-end (23.8M at 1M: resolved cases stop
before today), written set-based by one ``INSERT … SELECT`` crossing the month-ends (an
array unnested) with a table of each case's draws (``DRAWS``, ``HISTORY``). Buckets move
as a book's do: a case overdue today was overdue on the same installment at every
month-end since that day (it rolled forward), so its last row agrees with it; before
that, and for the others, about half of the cases had one episode of arrears in the two
years, one to four months long, which cured (so current cases mostly stay current, 1-30
rolls to 31-60 or cures, and so on); cases resolved today stop at a month-end of their
own (they closed).

Then the activity the other sections of the dashboard read (``write_activity``:
``OVERDUE_MONTHS``, ``ACTIVITY``), hung off each overdue case-month of the history (1.15M
at 1M cases, about 48,000 a month), each table one ``INSERT … SELECT`` with its plain
indexes built after the load: a reminder link sent by SMS, five outbound attempts and
now and then an inbound call (5.8M attempts in the two years, 3.5M in the dashboard's
year), the links answered and verified, the portal's funnel events with a device class,
plans of every kind and outcome (516,000; 350,000 accepted in the year with
``lifecycle.py``'s, 29,000 a month), a third of them an agent's offer, their payments (a
quarter by autopay), promises, gate refusals in the audit log (each its own entry, plus
a daily batch's naming 250 cases) among the everyday ``case.view`` entries, opt-outs.
Then it measures:

* **the transitions**: ``count_transitions`` for each consecutive pair of month-ends,
  committed, each timed (the rows it wrote beside it);
* **the sections' cells**: ``monthly.recount`` for each month, oldest first, committed,
  each timed (the cells of the plans, promises, contact, funnel and agents);
* **the month-end snapshot**: the month-end step (``monthly.close_month``, its two parts
  timed apart) for the next month-end (the rows of every case as it stands, the
  transitions from the last month-end, the cohorts, and the sections' cells of the
  months it counts), in a
  transaction rolled back, median of ``--runs`` (3), against its floor measured in turn
  in the same run: a bare ``INSERT … SELECT`` of the same columns from the cases, their
  loans, borrowers and owners (no installment read, no transition counted), also rolled
  back;
* **the roll rates**: ``roll_rates`` over the last 12 pairs of month-ends, unsliced and
  with each slice (a product, currency, market, stage, owner, team and arm), the p95 of
  ``--repeat`` (20) runs each; goal under 1 s;
* **the whole dashboard**: ``book_report`` as the page asks for it (every section but
  the agents', which the page loads apart and ``reporting_agents.py`` measures) over the
  same pairs and slices, p95 of ``SLOW_REPEAT`` (3) runs (at most ``--repeat``), with
  the slowest statements of each slice's first run printed; goal under 1 s;
* **the page**: ``GET /reports/portfolio`` for the same pairs, unsliced, through the
  test client with a supervisor signed in (its own app: the test configuration), p95 of
  ``SLOW_REPEAT`` runs; goal under 1 s.
* **the liquidation cohorts**: ``count_liquidation`` for each month-end, oldest first,
  committed, each timed (the month-end step's last part; the snapshot above includes it
  for its month-end), from the history's entries into arrears and the payments: each
  past episode that cured paid its arrears on the 10th of the month it cured in
  (``CURES``), besides the book's own payments; and the liquidation curves' read
  (``liquidation.of_pairs``) over the same 12 pairs and slices, p95; goal under 1 s.

    .venv/bin/python bench/reporting.py [--cases 1000000] [--runs 3] [--repeat 20]
        [--postgres-url URL] [--database bench_reporting] [--keep NAME | --reuse NAME]
        [--counted] [--build-only] [--explain]

``--keep NAME`` keeps the built database (history and activity written, transitions not
yet counted) as database ``NAME``; ``--reuse NAME`` measures a copy of it (dropped after)
without building again (``--counted``: its transitions were counted already, so only the
snapshot and the dashboard are measured; ``--runs 0`` leaves the snapshot out).
``--explain`` saves ``EXPLAIN (ANALYZE, BUFFERS)`` of the dashboard's statements under
``bench/explain/`` (``reporting_<slice>.txt`` the roll rates', ``reporting_book_<slice>.txt``
the whole report's). ``compare_rows`` gives ``make bench-compare`` its rows
(``compare.py --only reporting``). Figures and what they say: ``bench/profiles/reporting.md``.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from itertools import pairwise
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import psycopg
from _common import ROOT, postgres_database, postgres_unreachable
from _compare import Row, at_most, shown
from psycopg import sql
from sqlalchemy import Engine, event, text
from sqlalchemy.orm import Session

sys.path.insert(0, str(ROOT))  # bench/negotiation.py would otherwise be ``negotiation``

from negotiation import Policy, load_policy
from negotiation.portfolio import bucket_starts
from portal import create_app
from portal.core import migrate

BENCH = Path(__file__).resolve().parent
EXPLAIN = BENCH / "explain"
BENCH_DATABASE = "bench_reporting"
MONTHS = 24
# The dashboard's period: the last 12 pairs of month-ends.
PAIRS = 12
TEAMS, AGENTS_PER_TEAM = 10, 10
GOAL_SECONDS = 1.0
# The finance time zone the liquidation cohorts' months are counted in (the app's default).
TAIPEI = ZoneInfo("Asia/Taipei")
# The snapshot's goal against its floor: it reads each case's installments for the
# balance and counts the transitions from the month before, the floor neither.
SNAPSHOT_GOAL = 3.0


def _lifecycle() -> ModuleType:
    """``bench/lifecycle.py`` (its seeding and settling), loaded by its path."""
    spec = importlib.util.spec_from_file_location("bench_lifecycle", BENCH / "lifecycle.py")
    if spec is None or spec.loader is None:
        raise SystemExit("no bench/lifecycle.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def month_ends(before: date, count: int = MONTHS) -> list[date]:
    """The last ``count`` month-ends before ``before``'s month, oldest first."""
    ends: list[date] = []
    end = before.replace(day=1) - timedelta(days=1)
    while len(ends) < count:
        ends.append(end)
        end = end.replace(day=1) - timedelta(days=1)
    return ends[::-1]


def next_month_end(end: date) -> date:
    """The month-end after ``end``."""
    following = end + timedelta(days=1)
    return (following.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)


# Building the history ------------------------------------------------------------------


STAFF = """
INSERT INTO teams (id, name, created_at)
SELECT t, 'Bench team ' || t, now() FROM generate_series(1, :teams) AS t;
INSERT INTO staff_members (id, email, name, password_hash, roles, active, session_generation,
    created_at, capacity, away, team_id, totp_required)
SELECT i, 'agent' || i || '@bench.example', 'Agent ' || i, 'x', 'agent', true, 0, now(),
    1000000, false, 1 + (i - 1) / :per_team, false
FROM generate_series(1, :teams * :per_team) AS i;
SELECT setval(pg_get_serial_sequence('teams', 'id'), :teams);
SELECT setval(pg_get_serial_sequence('staff_members', 'id'), :teams * :per_team);
UPDATE cases SET owner_id = 1 + (hashint8(id) & 2147483647) % (:teams * :per_team)
WHERE status <> 'resolved'
"""

# Each case's draws, from hashes of its id (the same history every run): the month its
# one past episode of arrears began (about half the cases have one in the two years),
# how long it lasted, its due day, the month a resolved case closed after, and its arm.
DRAWS = """
CREATE TABLE bench_draws AS
SELECT c.id AS case_id, l.product, l.currency, b.jurisdiction AS market, c.owner_id,
    s.team_id, c.status, c.overdue_since AS since, i.n, i.amount, i.principal_part,
    i.first_due,
    CASE WHEN h.a % 100 < 52 THEN h.a / 100 % :months END AS episode,
    (ARRAY[1,1,1,1,1,1,1,1,1,1,1,1,2,2,2,2,2,2,3,3,3,4,4])[1 + h.b % 23] AS lasting,
    1 + h.b / 23 % 28 AS due_day,
    CASE WHEN c.status = 'resolved' THEN 1 + h.c % (:months - 1) END AS closed_after,
    (ARRAY['default/champion', 'default/champion', 'default/champion', 'default/plan_first',
        NULL])[1 + h.c / 31 % 5] AS arm
FROM cases c
JOIN loans l ON l.id = c.loan_id
JOIN borrowers b ON b.id = l.borrower_id
LEFT JOIN staff_members s ON s.id = c.owner_id
JOIN (SELECT loan_id, count(*) AS n, max(principal_due + interest_due) AS amount,
        max(principal_due) AS principal_part, min(due_date) AS first_due
      FROM loan_installments GROUP BY loan_id) i ON i.loan_id = c.loan_id
CROSS JOIN LATERAL (SELECT hashint8(c.id) & 2147483647 AS a,
    hashint8(c.id * 7919) & 2147483647 AS b, hashint8(c.id * 104729) & 2147483647 AS c) h
"""

# The rows: a case overdue today was so at every month-end since its oldest unpaid
# installment fell due; else, in its past episode, since the episode's due day (cured
# before the last month-end); else current. Amounts from the loan's installment: overdue,
# one installment per month behind; balance, the principal of what was not paid by then.
HISTORY = """
INSERT INTO case_month_ends (month_end, case_id, product, currency, market, stage, status,
    owner_id, team_id, arm, days_past_due, bucket, overdue, balance, overdue_since, exact)
SELECT month_end, case_id, product, currency, market, {stage}, status, owner_id, team_id,
    CASE WHEN days > 0 THEN arm END, days, {bucket},
    CASE WHEN days > 0 THEN amount * (1 + days / 31) ELSE 0 END,
    principal_part * LEAST(n, GREATEST(0, n - paid_months + CASE WHEN days > 0
        THEN 1 + days / 31 ELSE 0 END)),
    CASE WHEN days > 0 THEN overdue_since END, false
FROM (
    SELECT m.month_end, d.case_id, d.product, d.currency, d.market, d.owner_id, d.team_id,
        d.arm, d.amount, d.principal_part, d.n,
        CASE WHEN d.status = 'arranged' AND m.k > :months - 2 THEN 'arranged' ELSE 'open'
            END AS status,
        (EXTRACT(YEAR FROM m.month_end) * 12 + EXTRACT(MONTH FROM m.month_end)
            - EXTRACT(YEAR FROM d.first_due) * 12 - EXTRACT(MONTH FROM d.first_due))::int + 1
            AS paid_months,
        COALESCE(m.month_end - o.since, 0) AS days, o.since AS overdue_since
    FROM unnest(CAST(:ends AS date[])) WITH ORDINALITY AS m(month_end, k)
    CROSS JOIN bench_draws d
    CROSS JOIN LATERAL (SELECT CASE
        WHEN d.since IS NOT NULL AND d.since <= m.month_end THEN d.since
        WHEN d.episode IS NOT NULL AND m.k - 1 >= d.episode
            AND m.k - 1 < d.episode + d.lasting AND m.k < :months
            AND (d.since IS NULL OR m.month_end < d.since)
            THEN make_date(EXTRACT(YEAR FROM (CAST(:ends AS date[]))[d.episode + 1])::int,
                EXTRACT(MONTH FROM (CAST(:ends AS date[]))[d.episode + 1])::int, d.due_day)
        END AS since) o
    WHERE d.closed_after IS NULL OR m.k <= d.closed_after
) r
"""


# The money of the past episodes, for the liquidation curves: a case whose episode cured
# before the last month-end (and that was not overdue again by then) paid its arrears,
# an installment a month it was behind, on the 10th of the month it cured in (Taipei).
CURES = """
INSERT INTO payments (case_id, purpose, amount, currency, status, gateway, automatic,
    gateway_reference, created_at, confirmed_at, refunded, disputed)
SELECT case_id, 'arrears', amount * lasting, currency, 'succeeded', 'stripe', false,
    'pi_bench_cure_' || case_id, paid_at, paid_at, 0, 0
FROM (
    SELECT d.case_id, d.amount, d.lasting, d.currency,
        make_timestamptz(EXTRACT(YEAR FROM e.cured)::int, EXTRACT(MONTH FROM e.cured)::int,
            10, 12, 0, 0, 'Asia/Taipei') AS paid_at
    FROM bench_draws d
    CROSS JOIN LATERAL (SELECT (CAST(:ends AS date[]))[d.episode + d.lasting + 1] AS cured) e
    WHERE d.episode IS NOT NULL AND d.episode + d.lasting < :months
        AND (d.since IS NULL OR d.since > e.cured)
        AND (d.closed_after IS NULL OR d.episode + d.lasting < d.closed_after)
) cured
"""


def _stage_sql(policy: Policy) -> str:
    return (
        f"CASE WHEN days >= {policy.late_from_days} THEN 'late'"
        f" WHEN days >= {policy.mid_from_days} THEN 'mid'"
        f" WHEN days >= {policy.early_from_days} THEN 'early' ELSE 'current' END"
    )


def _bucket_sql() -> str:
    cases = " ".join(f"WHEN days >= {start} THEN '{b.value}'" for start, b in bucket_starts())
    return f"CASE {cases} ELSE 'current' END"


def _statements(script: str) -> list[str]:
    return [part.strip() for part in script.split(";") if part.strip()]


def write_history(engine: Engine, policy: Policy, ends: list[date]) -> tuple[int, float]:
    """Owners, then the month-ends' rows (keys, index and foreign keys dropped for the
    load and built after it, as a restore does); (rows, seconds)."""
    started = time.perf_counter()
    params = {"teams": TEAMS, "per_team": AGENTS_PER_TEAM, "months": len(ends), "ends": ends}
    with engine.begin() as conn:
        for statement in _statements(STAFF):
            conn.execute(text(statement), params)
        conn.execute(text(DRAWS), params)
        conn.execute(text("ALTER TABLE case_month_ends DROP CONSTRAINT pk_case_month_ends"))
        for name in ("case_id_cases", "owner_id_staff_members", "team_id_teams"):
            conn.execute(
                text(f"ALTER TABLE case_month_ends DROP CONSTRAINT fk_case_month_ends_{name}")
            )
        conn.execute(text("DROP INDEX ix_case_month_ends_case_id"))
        history = HISTORY.format(stage=_stage_sql(policy), bucket=_bucket_sql())
        conn.execute(text(history), params)
        conn.execute(
            text(
                "ALTER TABLE case_month_ends ADD CONSTRAINT pk_case_month_ends"
                " PRIMARY KEY (month_end, case_id)"
            )
        )
        conn.execute(
            text("CREATE INDEX ix_case_month_ends_case_id ON case_month_ends (case_id, month_end)")
        )
        for column, target in (
            ("case_id", "cases"),
            ("owner_id", "staff_members"),
            ("team_id", "teams"),
        ):
            conn.execute(
                text(
                    "ALTER TABLE case_month_ends ADD CONSTRAINT"
                    f" fk_case_month_ends_{column}_{target} FOREIGN KEY ({column})"
                    f" REFERENCES {target} (id)"
                )
            )
        conn.execute(text(CURES), params)
        conn.execute(text("DROP TABLE bench_draws"))
        rows = conn.scalar(text("SELECT count(*) FROM case_month_ends")) or 0
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))
    return rows, time.perf_counter() - started


# The period's activity ------------------------------------------------------------------

# One row per overdue case-month of the history (``days_past_due > 0`` at a month-end):
# the activity of that month hangs off it, dated in the days before the month-end, with
# draws from hashes of the row (the same activity every run). ``r`` numbers the rows and
# gives the explicit ids of the links, messages, plans and offers each row writes.
OVERDUE_MONTHS = """
CREATE TABLE bench_ov AS
SELECT r, month_end, case_id, borrower_id, owner_id, currency, locale, amount, latest,
    agent, h, g, k, q,
    (month_end - h % 28)::timestamp AT TIME ZONE 'UTC'
        + make_interval(secs => 3600 + (h / 28) % 36000) AS at
FROM (
    SELECT row_number() OVER (ORDER BY e.month_end, e.case_id) AS r, e.month_end,
        e.case_id, l.borrower_id, e.owner_id, e.currency, b.locale,
        GREATEST(e.overdue, 100) AS amount, e.month_end = :last AS latest,
        COALESCE('agent' || e.owner_id || '@bench.example', 'system') AS agent,
        hashint8(e.case_id * 131 + (e.month_end - DATE '2000-01-01')) & 2147483647 AS h,
        hashint8(e.case_id * 137 + (e.month_end - DATE '2000-01-01')) & 2147483647 AS g,
        hashint8(e.case_id * 139 + (e.month_end - DATE '2000-01-01')) & 2147483647 AS k,
        hashint8(e.case_id * 149 + (e.month_end - DATE '2000-01-01')) & 2147483647 AS q
    FROM case_month_ends e
    JOIN cases c ON c.id = e.case_id
    JOIN loans l ON l.id = c.loan_id
    JOIN borrowers b ON b.id = l.borrower_id
    WHERE e.days_past_due > 0
) o;
CREATE TABLE bench_base AS SELECT
    (SELECT COALESCE(max(id), 0) FROM reminder_links) AS links,
    (SELECT COALESCE(max(id), 0) FROM messages) AS messages,
    (SELECT COALESCE(max(id), 0) FROM plans) AS plans,
    (SELECT COALESCE(max(id), 0) FROM offers) AS offers
"""

# What each overdue case-month brings (ACTIVITY's statements, in order): a reminder link
# sent by SMS (one failed in 50); five outbound attempts (the SMS, an email, three calls
# by the owner, 30% of calls reaching the borrower) and an inbound call in 20; a link
# answered in 4 (a wrong answer first in 20), verified 6 times in 7, the plans page seen
# by 70% of those verified and a plan reviewed by 40%, from a phone, desktop or tablet
# (6:2:2); a plan accepted in 45% of case-months (arrears plans 45%, deferrals 20%, pay
# in full 15%, settlements 12% with a 30% discount, restructures 8%; completed half the
# time, broken 20%, lapsed 15%, canceled 5%, the rest live when the case has no live
# plan, from the last month-end only), a third of them the agent's offer; an offer
# declined or expired for 15% of the case-months without a plan; the plans' payments
# (the first, a quarter automatic; a second for those completed); a promise in 12
# (kept 40%, partly 15%, broken 37%, superseded 8%; open for a third of the last
# month's); a contact the gate refused in
# 10 (a call, a message, a scheduled message canceled, a letter: one of the gate's
# reasons or, one time in 13, a reason not the gate's), and a case viewed by its agent
# (the audit log's everyday rows); an opt-out in 200. Besides, one batch send a day
# whose refusals name 200 cases for quiet hours and 50 opted out (the audit entry of a
# batch holds its refused cases).
ACTIVITY = """
INSERT INTO reminder_links (id, case_id, token_hash, purpose, created_at, expires_at,
    session_generation, failed_attempts)
SELECT bench_base.links + r, case_id, md5('rbench link ' || r), 'status', at,
    at + interval '30 days', 0, 0
FROM bench_ov, bench_base;
INSERT INTO messages (id, case_id, borrower_id, channel, purpose, link_id, address, locale,
    status, send_at, sent_at, provider, created_by, created_at)
SELECT bench_base.messages + r, case_id, borrower_id, 'sms', 'reminder',
    bench_base.links + r, '+886 912 345 678', locale,
    CASE WHEN h % 50 = 0 THEN 'failed' ELSE 'sent' END, at,
    CASE WHEN h % 50 <> 0 THEN at END, 'bench', 'system', at
FROM bench_ov, bench_base;
INSERT INTO contact_attempts (case_id, borrower_id, channel, at, connected, inbound, agent,
    outcome, message_id)
SELECT case_id, borrower_id, channel, at + n * interval '2 days 3 hours', reached, false,
    CASE WHEN channel = 'call' THEN agent ELSE 'system' END,
    CASE WHEN channel <> 'call' THEN 'sent' WHEN reached THEN 'reached' ELSE 'no_answer' END,
    CASE WHEN n = 0 THEN bench_base.messages + r END
FROM bench_ov, bench_base,
    LATERAL (VALUES (0, 'sms'), (1, 'email'), (2, 'call'), (3, 'call'), (4, 'call'))
        AS a(n, channel),
    LATERAL (SELECT channel = 'call' AND (g >> n) % 10 < 3 AS reached) AS c
UNION ALL
SELECT case_id, borrower_id, 'call', at + interval '1 day', true, true, agent, 'reached', NULL
FROM bench_ov WHERE h % 20 = 0;
INSERT INTO verification_attempts (borrower_id, link_id, address_hash, succeeded, at)
SELECT borrower_id, bench_base.links + r, md5('rbench address ' || case_id), false,
    at + interval '2 hours'
FROM bench_ov, bench_base WHERE h % 20 = 0
UNION ALL
SELECT borrower_id, bench_base.links + r, md5('rbench address ' || case_id),
    (h / 4) % 7 <> 0, at + interval '3 hours'
FROM bench_ov, bench_base WHERE h % 4 = 0;
INSERT INTO case_events (case_id, kind, actor, at, data)
SELECT case_id, kind, 'borrower', at + interval '3 hours' + n * interval '1 minute',
    json_build_object('device', CASE WHEN (h / 32) % 10 < 6 THEN 'phone'
        WHEN (h / 32) % 10 < 8 THEN 'desktop' ELSE 'tablet' END)
FROM bench_ov,
    LATERAL (VALUES (1, 'portal_verified', true), (2, 'options_seen', (h / 512) % 10 < 7),
        (3, 'plan_reviewed', (h / 512) % 10 < 4)) AS s(n, kind, reached)
WHERE h % 4 = 0 AND (h / 4) % 7 <> 0 AND reached
UNION ALL
SELECT case_id, 'stage_changed', 'system', at - interval '1 hour', '{}'::json FROM bench_ov;
INSERT INTO offers (id, case_id, status, terms, created_by, created_at, expires_at, authority)
SELECT bench_base.offers + r, case_id,
    CASE WHEN g % 100 < 45 AND (k / 100) % 100 < 33 THEN 'accepted'
        WHEN (k / 7) % 2 = 0 THEN 'declined' ELSE 'expired' END,
    '{}'::json, agent, at, at + interval '7 days', 'agent'
FROM bench_ov, bench_base
WHERE (g % 100 < 45 AND (k / 100) % 100 < 33) OR (g % 100 >= 45 AND k % 100 < 15);
INSERT INTO plans (id, case_id, offer_id, status, kind, frequency, currency, restructured,
    total, waived_penalties, waived_fees, discount, interest, interest_rate_pct,
    conditional_waiver, accepted_at, activated_at)
SELECT bench_base.plans + r, case_id,
    CASE WHEN (k / 100) % 100 < 33 THEN bench_base.offers + r END, status, kind, 'monthly',
    currency, amount, amount, CASE WHEN k % 10 < 3 THEN amount / 10 ELSE 0 END, 0,
    CASE WHEN kind = 'settlement' THEN amount * 3 / 10 ELSE 0 END, 0, 0, false,
    at + interval '1 day',
    CASE WHEN status IN ('completed', 'broken', 'active') THEN at + interval '3 days' END
FROM bench_ov, bench_base,
    LATERAL (SELECT CASE WHEN (g / 100) % 100 < 45 THEN 'arrears_plan'
        WHEN (g / 100) % 100 < 65 THEN 'deferral' WHEN (g / 100) % 100 < 80 THEN 'pay_in_full'
        WHEN (g / 100) % 100 < 92 THEN 'settlement' ELSE 'restructure' END AS kind,
        CASE WHEN (g / 10000) % 100 < 50 THEN 'completed'
        WHEN (g / 10000) % 100 < 70 THEN 'broken' WHEN (g / 10000) % 100 < 85 THEN 'lapsed'
        WHEN (g / 10000) % 100 < 90 THEN 'cancelled'
        WHEN latest AND NOT EXISTS (SELECT 1 FROM plans p WHERE p.case_id = bench_ov.case_id
            AND p.status IN ('pending', 'active'))
            THEN CASE WHEN (g / 10000) % 100 < 97 THEN 'active' ELSE 'pending' END
        ELSE 'completed' END AS status) AS p
WHERE g % 100 < 45;
INSERT INTO payments (case_id, plan_id, purpose, amount, currency, status, gateway,
    automatic, gateway_reference, created_at, confirmed_at, refunded, disputed)
SELECT p.case_id, p.id, 'installment', GREATEST(1, p.total / 3), p.currency, 'succeeded',
    'stripe', (hashint8(p.id) & 2147483647) % 4 = 0, 'pi_rbench_' || p.id || '_' || n,
    p.activated_at + (n - 1) * interval '30 days',
    p.activated_at + (n - 1) * interval '30 days', 0, 0
FROM plans p, bench_base, LATERAL (VALUES (1), (2)) AS s(n)
WHERE p.id > bench_base.plans AND p.activated_at IS NOT NULL
    AND (n = 1 OR p.status = 'completed');
INSERT INTO promises (case_id, made_by, made_at, due_date, amount, currency, status, paid,
    settled_on)
SELECT case_id, agent, at + interval '2 hours', due, amount, currency, status,
    CASE status WHEN 'kept' THEN amount WHEN 'partly_kept' THEN amount / 2 ELSE 0 END,
    CASE WHEN status IN ('kept', 'partly_kept', 'broken') THEN due END
FROM bench_ov,
    LATERAL (SELECT CAST(at + interval '7 days' AS date) AS due,
        CASE WHEN latest AND q % 3 = 0 THEN 'open' WHEN (q / 3) % 100 < 40 THEN 'kept'
        WHEN (q / 3) % 100 < 55 THEN 'partly_kept' WHEN (q / 3) % 100 < 92 THEN 'broken'
        ELSE 'superseded' END AS status) AS s
WHERE k % 100 >= 92;
INSERT INTO audit_entries (at, staff_id, actor, action, case_id, details)
SELECT at + interval '5 hours', CASE WHEN action LIKE 'call%' THEN owner_id END,
    CASE WHEN action LIKE 'call%' THEN agent ELSE 'system' END, action, case_id,
    CASE WHEN action = 'message.cancel'
        THEN json_build_object('message_id', bench_base.messages + r,
            'reasons', json_build_array(reason))
        ELSE json_build_object('channel',
            CASE WHEN action LIKE 'call%' THEN 'call' ELSE 'sms' END,
            'reasons', json_build_array(reason)) END
FROM bench_ov, bench_base,
    LATERAL (SELECT (ARRAY['call.refused', 'message.refused', 'message.cancel',
        'letter.refused'])[1 + (q / 1000) % 4] AS action,
        (ARRAY['third_party', 'on_hold', 'opted_out', 'quiet_hours', 'holiday_blackout',
        'connected_calls_per_day', 'call_attempts_per_7_days', 'messages_per_day',
        'messages_per_7_days', 'recent_conversation', 'borrower_hours',
        'validation_notice_pending', 'no_address'])[1 + (q / 4000) % 13] AS reason) AS a
WHERE (q / 100) % 10 = 0
UNION ALL
SELECT at + interval '4 hours', owner_id, agent, 'case.view', case_id, '{}'::json
FROM bench_ov, bench_base;
INSERT INTO audit_entries (at, staff_id, actor, action, case_id, details)
SELECT day + interval '9 hours', 1, 'agent1@bench.example', 'message.refused', NULL,
    json_build_object('batch_id', n, 'channel', 'sms', 'refused', json_build_object(
        'quiet_hours', (SELECT json_agg(1 + (hashint8(n * 1000 + j) & 2147483647) % :cases)
            FROM generate_series(1, 200) AS j),
        'opted_out', (SELECT json_agg(1 + (hashint8(n * 1000 + 500 + j) & 2147483647) % :cases)
            FROM generate_series(1, 50) AS j)))
FROM generate_series(CAST(:first AS date), CAST(:last AS date), interval '1 day')
    WITH ORDINALITY AS d(day, n);
INSERT INTO opt_outs (borrower_id, channel, at, source)
SELECT borrower_id, (ARRAY['sms', 'email', 'call', 'letter'])[1 + (h / 200) % 4],
    at + interval '6 hours', 'link'
FROM bench_ov WHERE (h / 7) % 200 = 0;
DROP TABLE bench_ov;
DROP TABLE bench_base
"""

# The tables ACTIVITY fills (their plain indexes dropped for the load, built after it).
ACTIVITY_TABLES = (
    "reminder_links",
    "messages",
    "contact_attempts",
    "verification_attempts",
    "case_events",
    "offers",
    "plans",
    "payments",
    "promises",
    "audit_entries",
    "opt_outs",
)

# An index that backs no constraint (those stay: dropping them would drop the key).
PLAIN_INDEXES = """
SELECT i.indexname, i.indexdef FROM pg_indexes i
WHERE i.schemaname = 'public' AND i.tablename = :table AND NOT EXISTS (
    SELECT 1 FROM pg_constraint c WHERE c.conindid = CAST(quote_ident(i.indexname) AS regclass))
"""


def write_activity(engine: Engine, ends: list[date]) -> tuple[dict[str, int], float]:
    """The period's plans, promises, contact, refusals and funnel steps (``ACTIVITY``),
    hung off the overdue case-months of the history; (rows by table, seconds)."""
    started = time.perf_counter()
    params: dict[str, Any] = {"first": ends[0].replace(day=1), "last": ends[-1]}
    with engine.begin() as conn:
        params["cases"] = conn.scalar(text("SELECT max(id) FROM cases")) or 1
        before = {t: _count(conn, t) for t in ACTIVITY_TABLES}
        dropped = [
            (name, definition)
            for table in ACTIVITY_TABLES
            for name, definition in conn.execute(text(PLAIN_INDEXES), {"table": table})
        ]
        for name, _definition in dropped:
            conn.execute(text(f'DROP INDEX "{name}"'))
        for statement in _statements(OVERDUE_MONTHS):
            conn.execute(text(statement), params)
        for statement in _statements(ACTIVITY):
            conn.execute(text(statement), params)
        for _name, definition in dropped:
            conn.execute(text(definition))
        for table in ACTIVITY_TABLES:
            conn.execute(
                text(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"  # noqa: S608
                    f" (SELECT COALESCE(max(id), 1) FROM {table}))"
                )
            )
        added = {t: _count(conn, t) - before[t] for t in ACTIVITY_TABLES}
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))
    return added, time.perf_counter() - started


def _count(conn: Any, table: str) -> int:
    return int(conn.scalar(text(f"SELECT count(*) FROM {table}")) or 0)  # noqa: S608


def build(url: str, count: int, policy: Policy) -> Engine:
    """The book of ``count`` cases with its history; its engine."""
    lifecycle = _lifecycle()
    started = time.perf_counter()
    engine: Engine = lifecycle.prepared(url, count, policy, quiet=True)
    print(
        f"book         {count:,} cases seeded and settled in {time.perf_counter() - started:.0f} s"
    )
    ends = month_ends(lifecycle.SETTLE)
    rows, seconds = write_history(engine, policy, ends)
    print(
        f"history      {rows:,} case_month_ends rows, {ends[0]} to {ends[-1]}, in {seconds:.0f} s"
        " (owners, the INSERT … SELECT, keys and index, VACUUM ANALYZE)"
    )
    added, seconds = write_activity(engine, ends)
    print(
        "activity     "
        + ", ".join(f"{rows:,} {table}" for table, rows in added.items() if rows)
        + f" in {seconds:.0f} s (indexes built after, VACUUM ANALYZE)"
    )
    return engine


# Measuring ------------------------------------------------------------------------------


def _liquidation() -> ModuleType:
    """The liquidation curves' read service (imported late, as ``_reporting``)."""
    from portal.reporting import liquidation

    return liquidation


def _reporting() -> tuple[ModuleType, ModuleType]:
    """The integrator's reporting services (imported late: the build needs none)."""
    from portal.reporting import portfolio, snapshots

    return snapshots, portfolio


def stored_month_ends(engine: Engine) -> list[date]:
    """The month-ends the history holds, oldest first."""
    with engine.connect() as conn:
        return list(conn.scalars(text("SELECT DISTINCT month_end FROM case_month_ends ORDER BY 1")))


def count_pairs(engine: Engine, ends: list[date]) -> list[tuple[date, float, int]]:
    """``count_transitions`` for each consecutive pair, committed: (first month-end,
    seconds, transition rows written)."""
    snapshots, _ = _reporting()
    counted = []
    for first, then in pairwise(ends):
        with Session(engine) as db:
            started = time.perf_counter()
            snapshots.count_transitions(db, first, then)
            db.commit()
            seconds = time.perf_counter() - started
            written = db.scalar(
                text("SELECT count(*) FROM portfolio_transitions WHERE month_end = :m"),
                {"m": first},
            )
        counted.append((first, seconds, written or 0))
        print(f"transitions  {first} → {then}  {seconds:6.2f} s  {written:,} rows", flush=True)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE portfolio_transitions"))
    return counted


def count_cohorts(engine: Engine, ends: list[date]) -> list[tuple[date, float, int]]:
    """``count_liquidation`` for each month-end, oldest first, committed, as the daily
    work counts it after the month-end's rows: (month-end, seconds, cells written)."""
    snapshots, _ = _reporting()
    counted = []
    for month_end in ends:
        with Session(engine) as db:
            started = time.perf_counter()
            cells = snapshots.count_liquidation(db, month_end, TAIPEI)
            db.commit()
            seconds = time.perf_counter() - started
        counted.append((month_end, seconds, cells))
        print(f"cohorts      {month_end}  {seconds:6.2f} s  {cells:,} cells", flush=True)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE arrears_entries"))
        conn.execute(text("VACUUM ANALYZE liquidation_cells"))
    return counted


def count_sections(engine: Engine, ends: list[date]) -> list[tuple[date, float, int]]:
    """Each report section's cells of every month of ``ends`` (``monthly.recount``, as
    the month-end step counts a month), oldest first, committed: (month-end, seconds,
    cells written)."""
    from portal.reporting import monthly

    counted = []
    for month_end in ends:
        with Session(engine) as db:
            started = time.perf_counter()
            written = monthly.recount(db, month_end, month_end, TAIPEI)
            db.commit()
            seconds = time.perf_counter() - started
        cells = sum(written.values())
        counted.append((month_end, seconds, cells))
        each = ", ".join(f"{name} {number:,}" for name, number in written.items())
        print(f"sections     {month_end}  {seconds:6.2f} s  {cells:,} cells ({each})", flush=True)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("ANALYZE"))
    return counted


FLOOR = """
INSERT INTO case_month_ends (month_end, case_id, product, currency, market, stage, status,
    owner_id, team_id, arm, days_past_due, bucket, overdue, balance, overdue_since, exact)
SELECT :month_end, c.id, l.product, l.currency, b.jurisdiction, c.stage, c.status,
    c.owner_id, s.team_id, NULL, COALESCE(:month_end - c.overdue_since, 0), {bucket},
    COALESCE(c.arrears, 0), l.principal, c.overdue_since, true
FROM cases c
JOIN loans l ON l.id = c.loan_id
JOIN borrowers b ON b.id = l.borrower_id
LEFT JOIN staff_members s ON s.id = c.owner_id
WHERE c.status <> 'resolved'
"""


def _rolled_back(
    engine: Engine, month_end: date, work: Callable[[Session], object]
) -> tuple[float, int]:
    """``work`` in a transaction that is rolled back: (seconds, the rows of ``month_end``
    it wrote)."""
    with Session(engine) as db:
        started = time.perf_counter()
        work(db)
        db.flush()
        seconds = time.perf_counter() - started
        written = db.scalar(
            text("SELECT count(*) FROM case_month_ends WHERE month_end = :m"), {"m": month_end}
        )
        db.rollback()
    return seconds, written or 0


@dataclass(frozen=True)
class Snapshot:
    """The month-end step's runs (``write_month_end``, and the sections' cells counted
    after it: ``count_month``) and the floor's, in seconds."""

    month_end: date
    rows: int
    runs: list[float]
    floors: list[float]
    counts: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.runs)

    @property
    def floor(self) -> float:
        return statistics.median(self.floors)

    @property
    def counted(self) -> float:
        return statistics.median(self.counts)


def snapshot(engine: Engine, last: date, runs: int) -> Snapshot:
    """The month-end step (``monthly.close_month``) for the month-end after ``last``, its
    two parts timed apart in one transaction: ``write_month_end`` (the rows, the
    transitions and the cohorts), then ``count_month`` (the sections' cells of the month,
    the month before and the unsettled months); and its floor, in turn, each rolled back;
    the floor first (both read the same pages)."""
    from portal.reporting import monthly

    snapshots, _ = _reporting()
    month_end = next_month_end(last)
    floor_sql = text(
        FLOOR.format(
            bucket=_bucket_sql().replace("days", "COALESCE(:month_end - c.overdue_since, 0)")
        )
    )
    mine, counts, floors, rows = [], [], [], 0
    for _ in range(runs):
        seconds, _written = _rolled_back(
            engine, month_end, lambda db: db.execute(floor_sql, {"month_end": month_end})
        )
        floors.append(seconds)
        with Session(engine) as db:
            started = time.perf_counter()
            snapshots.write_month_end(db, month_end, exact=True, zone=TAIPEI)
            db.flush()
            mine.append(time.perf_counter() - started)
            started = time.perf_counter()
            monthly.count_month(db, month_end, TAIPEI)
            counts.append(time.perf_counter() - started)
            rows = db.scalar(
                text("SELECT count(*) FROM case_month_ends WHERE month_end = :m"),
                {"m": month_end},
            )
            db.rollback()
        print(
            f"snapshot     {month_end}  write_month_end {mine[-1]:6.2f} s ({rows:,} rows)"
            f"   count_month {counts[-1]:6.2f} s   floor {floors[-1]:6.2f} s",
            flush=True,
        )
    return Snapshot(month_end, rows or 0, mine, floors, counts)


def p95(values: list[float]) -> float:
    """The 95th percentile (nearest rank)."""
    ordered = sorted(values)
    return ordered[max(0, -(-len(ordered) * 95 // 100) - 1)]


def slices(engine: Engine) -> list[tuple[str, dict[str, Any]]]:
    """Unsliced, then one value of each slice: the commonest in the last month-end."""
    chosen: list[tuple[str, dict[str, Any]]] = [("unsliced", {})]
    with engine.connect() as conn:
        last = conn.scalar(text("SELECT max(month_end) FROM case_month_ends"))
        for column in ("product", "currency", "market", "stage", "owner_id", "team_id", "arm"):
            value = conn.scalar(
                text(
                    f"SELECT {column} FROM case_month_ends WHERE month_end = :m"  # noqa: S608
                    f" AND {column} IS NOT NULL GROUP BY 1 ORDER BY count(*) DESC LIMIT 1"
                ),
                {"m": last},
            )
            chosen.append((f"{column} = {value}", {column: value}))
    return chosen


@contextmanager
def statements_of(engine: Engine) -> Iterator[list[tuple[str, Any]]]:
    """The statements run on ``engine`` meanwhile, with their parameters."""
    seen: list[tuple[str, Any]] = []

    def listener(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", listener)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", listener)


def dashboard(
    engine: Engine, ends: list[date], repeat: int, explain: bool
) -> list[tuple[str, float, float, int]]:
    """``roll_rates`` over the last ``PAIRS`` pairs of ``ends`` (the month-ends written),
    per slice: (slice, p95, median, cases counted)."""
    _, portfolio = _reporting()
    # A pair is named by its first month-end: the last month-end starts none.
    first, last = ends[-PAIRS - 1], ends[-2]
    results = []
    for label, values in slices(engine):
        chosen = portfolio.Slice(**values)
        times: list[float] = []
        counted = 0
        for attempt in range(repeat):
            with Session(engine) as db:
                if explain and attempt == 0:
                    with statements_of(engine) as seen:
                        rates = portfolio.roll_rates(db, first, last, chosen)
                    save_plans(engine, label, seen)
                started = time.perf_counter()
                rates = portfolio.roll_rates(db, first, last, chosen)
                times.append(time.perf_counter() - started)
                counted = _cases_counted(rates)
        results.append((label, p95(times), statistics.median(times), counted))
        print(
            f"dashboard    {label:<28} p95 {results[-1][1]:6.3f} s   median"
            f" {results[-1][2]:6.3f} s   {counted:,} case-months",
            flush=True,
        )
    return results


def dashboard_liquidation(
    engine: Engine, ends: list[date], repeat: int
) -> list[tuple[str, float, float, int]]:
    """The liquidation curves over the same last ``PAIRS`` pairs as ``dashboard`` (the
    cohorts that entered at their month-ends, as of the last), per slice: (slice, p95,
    median, cohort cells read)."""
    liquidation = _liquidation()
    _, portfolio = _reporting()
    first, last = ends[-PAIRS - 1], ends[-2]
    results = []
    for label, values in slices(engine):
        chosen = portfolio.Slice(**values)
        times: list[float] = []
        points = 0
        for _ in range(repeat):
            with Session(engine) as db:
                started = time.perf_counter()
                found = liquidation.of_pairs(db, first, last, chosen)
                times.append(time.perf_counter() - started)
                points = sum(len(c.points) for cs in found.by_currency.values() for c in cs)
        results.append((label, p95(times), statistics.median(times), points))
        print(
            f"liquidation  {label:<28} p95 {results[-1][1]:6.3f} s   median"
            f" {results[-1][2]:6.3f} s   {points:,} cohort-months",
            flush=True,
        )
    return results


def _cases_counted(rates: Any) -> int:
    """The cases the roll rates counted (the matrix's total), whatever shape holds it."""
    matrix = getattr(rates, "matrix", rates)
    total = getattr(matrix, "total", None)
    return int(getattr(total, "cases", 0) or 0)


def save_plans(engine: Engine, label: str, seen: list[tuple[str, Any]]) -> None:
    """``EXPLAIN (ANALYZE, BUFFERS)`` of each statement seen, under ``bench/explain/``."""
    EXPLAIN.mkdir(exist_ok=True)
    name = "".join(ch if ch.isalnum() else "_" for ch in label).strip("_")
    lines: list[str] = []
    with engine.connect() as conn:
        raw = conn.connection.driver_connection
        for statement, parameters in seen:
            if not statement.lstrip().upper().startswith("SELECT"):
                continue
            with raw.cursor() as cursor:
                cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters)
                lines += [statement, str(parameters), ""] + [row[0] for row in cursor.fetchall()]
                lines.append("")
        conn.rollback()
    (EXPLAIN / f"reporting_{name}.txt").write_text("\n".join(lines) + "\n")


def _book() -> ModuleType:
    """The dashboard's service (imported late, as ``_reporting``)."""
    from portal.reporting import book

    return book


@contextmanager
def timed_statements(engine: Engine) -> Iterator[list[tuple[float, str]]]:
    """Each statement run on ``engine`` meanwhile, with its seconds."""
    timed: list[tuple[float, str]] = []
    started: list[float] = []

    def before(*_: Any) -> None:
        started.append(time.perf_counter())

    def after(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        timed.append((time.perf_counter() - started.pop(), statement))

    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "after_cursor_execute", after)
    try:
        yield timed
    finally:
        event.remove(engine, "before_cursor_execute", before)
        event.remove(engine, "after_cursor_execute", after)


def _slowest(timed: list[tuple[float, str]], count: int = 4) -> str:
    """The slowest statements, each as its seconds and its first words."""
    return "; ".join(
        f"{seconds:.3f} s {' '.join(statement.split())[:60]}…"
        for seconds, statement in sorted(timed, reverse=True)[:count]
    )


def whole_dashboard(
    engine: Engine, ends: list[date], repeat: int, explain: bool
) -> list[tuple[str, float, float]]:
    """``book_report`` as the page asks for it (every section but the agents', which the
    page loads apart: ``agents``) over the last ``PAIRS`` pairs, per slice: (slice, p95,
    median). Prints the slowest statements of each slice's first run; with ``explain``
    saves the plans of every statement under ``bench/explain/``."""
    book = _book()
    page_sections = [section for section in book.SECTIONS if section != book.AGENTS]
    first, last = ends[-PAIRS - 1], ends[-2]
    results = []
    for label, values in slices(engine):
        chosen = _reporting()[1].Slice(**values)
        times: list[float] = []
        for attempt in range(repeat):
            with Session(engine) as db:
                if explain and attempt == 0:
                    with statements_of(engine) as seen:
                        book.book_report(db, first, last, chosen, page_sections)
                    save_plans(engine, f"book {label}", seen)
                with timed_statements(engine) as timed:
                    started = time.perf_counter()
                    book.book_report(db, first, last, chosen, page_sections)
                    times.append(time.perf_counter() - started)
                if attempt == 0:
                    print(f"  slowest    {_slowest(timed)}", flush=True)
        results.append((label, p95(times), statistics.median(times)))
        print(
            f"whole report {label:<28} p95 {results[-1][1]:6.3f} s   median"
            f" {results[-1][2]:6.3f} s",
            flush=True,
        )
    return results


def agents_dashboard(
    engine: Engine, ends: list[date], repeat: int
) -> list[tuple[str, float, float]]:
    """The agents' section as the page loads it apart (``agents_report``: every agent and
    contacts per cure) over the last ``PAIRS`` pairs and over the last pair, and one
    agent's own figures (``agents(..., only=)``, "My figures") over the year: (what,
    p95, median)."""
    book = _book()
    from portal.reporting import agents

    _, portfolio = _reporting()
    whole = portfolio.Slice()
    year, month = (ends[-PAIRS - 1], ends[-2]), (ends[-2], ends[-2])
    with engine.connect() as conn:
        busiest = conn.scalar(
            text(
                "SELECT owner_id FROM case_month_ends WHERE month_end = :m"
                " AND owner_id IS NOT NULL GROUP BY 1 ORDER BY count(*) DESC LIMIT 1"
            ),
            {"m": ends[-1]},
        )
    runs: list[tuple[str, Callable[[Session], object]]] = [
        (
            f"agents_report, last {PAIRS} pairs",
            lambda db: book.agents_report(db, *year, whole),
        ),
        ("agents_report, the last pair", lambda db: book.agents_report(db, *month, whole)),
        (
            f"one agent's own figures, last {PAIRS} pairs",
            lambda db: agents.agents(db, *year, whole, only=busiest),
        ),
    ]
    results = []
    for label, work in runs:
        times: list[float] = []
        for _ in range(repeat):
            with Session(engine) as db:
                started = time.perf_counter()
                work(db)
                times.append(time.perf_counter() - started)
        results.append((label, p95(times), statistics.median(times)))
        print(
            f"agents       {label:<36} p95 {results[-1][1]:6.3f} s   median"
            f" {results[-1][2]:6.3f} s",
            flush=True,
        )
    return results


SUPERVISOR = "supervisor@bench.example"
# Runs of the whole report and the page per slice (see ``measure``).
SLOW_REPEAT = 3


def page(url: str, ends: list[date], repeat: int) -> tuple[float, float]:
    """``GET /reports/portfolio`` for the last ``PAIRS`` pairs, unsliced, through the
    test client with a supervisor signed in (the view: reading the choices, the whole
    report, rendering, the audit entry): (p95, median)."""
    from tests.portal.factories import add_staff, app_config, staff_sign_in

    app = create_app(app_config(url))
    try:
        add_staff(app, SUPERVISOR, ("agent", "supervisor"))
        client = app.test_client()
        if staff_sign_in(client, SUPERVISOR).status_code != 303:
            raise SystemExit("the bench's supervisor could not sign in")
        path = f"/reports/portfolio?lang=en&from={ends[-PAIRS - 1]}&to={ends[-2]}"
        times: list[float] = []
        for _ in range(repeat):
            started = time.perf_counter()
            response = client.get(path)
            times.append(time.perf_counter() - started)
            if response.status_code != 200:
                raise SystemExit(f"GET {path}: {response.status_code}")
    finally:
        app.extensions["haohuan.engine"].dispose()
    print(
        f"page         GET {path}  p95 {p95(times):6.3f} s"
        f"   median {statistics.median(times):6.3f} s"
    )
    return p95(times), statistics.median(times)


@dataclass(frozen=True)
class Figures:
    """One run's figures."""

    cases: int
    history_rows: int
    month_ends: int
    pairs: list[tuple[date, float, int]]
    snapshot: Snapshot | None
    dashboard: list[tuple[str, float, float, int]]
    whole: list[tuple[str, float, float]]
    page: tuple[float, float]
    cohorts: list[tuple[date, float, int]] = field(default_factory=list)
    liquidation: list[tuple[str, float, float, int]] = field(default_factory=list)
    sections: list[tuple[date, float, int]] = field(default_factory=list)
    agents: list[tuple[str, float, float]] = field(default_factory=list)


def measure(
    url: str, engine: Engine, runs: int, repeat: int, explain: bool, counted: bool = False
) -> Figures:
    """Transitions (unless ``counted``: already), snapshot (unless ``runs`` is 0), the roll
    rates, the whole report and the page on the built database at ``url`` (``engine``)."""
    with engine.connect() as conn:
        cases = conn.scalar(text("SELECT count(*) FROM cases")) or 0
        history_rows = conn.scalar(text("SELECT count(*) FROM case_month_ends")) or 0
    ends = stored_month_ends(engine)
    pairs = [] if counted else count_pairs(engine, ends)
    cohorts = [] if counted else count_cohorts(engine, ends)
    sections = [] if counted else count_sections(engine, ends)
    taken = snapshot(engine, ends[-1], runs) if runs else None
    board = dashboard(engine, ends, repeat, explain)
    curves = dashboard_liquidation(engine, ends, repeat)
    # A few runs of what takes seconds each at a million cases (the 20 of the roll rates'
    # milliseconds would take an hour): the p95 of three is their slowest.
    slow_repeat = min(repeat, SLOW_REPEAT)
    whole = whole_dashboard(engine, ends, slow_repeat, explain)
    return Figures(
        cases,
        history_rows,
        len(ends),
        pairs,
        taken,
        board,
        whole,
        page(url, ends, slow_repeat),
        cohorts,
        curves,
        sections,
        agents_dashboard(engine, ends, repeat),
    )


def within_goal(path: str, worst: float, median: float) -> Row:
    """A read's row: its p95 and median against the dashboard's goal, ``GOAL_SECONDS``."""
    return Row(
        path,
        f"p95 {worst * 1000:.0f} ms (median {median * 1000:.0f} ms)",
        "-",
        None,
        f"p95 < {GOAL_SECONDS:g} s",
        worst < GOAL_SECONDS,
    )


def rows_of(figures: Figures) -> list[Row]:
    """``make bench-compare``'s rows."""
    millions = f"{figures.cases / 1_000_000:g}M cases, {figures.month_ends} month-ends"
    snap = figures.snapshot
    rows: list[Row] = []
    if snap is not None:
        rows.append(
            at_most(
                f"month-end snapshot, {millions}",
                f"write_month_end {snap.median:.2f} s (median of {len(snap.runs)},"
                f" {snap.rows:,} rows)",
                f"bare INSERT … SELECT of the same columns: {snap.floor:.2f} s",
                snap.median / snap.floor,
                SNAPSHOT_GOAL,
            )
        )
        rows.append(
            shown(
                f"month-end step's sections' cells (count_month), {millions}",
                f"count_month {snap.counted:.2f} s (the month, the one before and the"
                " unsettled ones)",
                f"the snapshot's floor: {snap.floor:.2f} s",
                snap.counted / snap.floor,
                "context: in the month-end step, after write_month_end",
            )
        )
    if snap is not None and figures.pairs:
        seconds = [spent for _, spent, _ in figures.pairs]
        written = [rows for *_, rows in figures.pairs]
        rows.append(
            shown(
                f"transitions counted per pair, {millions}",
                f"median {statistics.median(seconds):.2f} s, max {max(seconds):.2f} s"
                f" ({statistics.median(written):,.0f} rows a pair)",
                f"the snapshot's floor: {snap.floor:.2f} s",
                statistics.median(seconds) / snap.floor,
                "context: the daily work's second step",
            )
        )
    for label, worst, median in figures.whole:
        rows.append(
            within_goal(
                f"dashboard, the whole report (book_report), last {PAIRS} pairs, {label}",
                worst,
                median,
            )
        )
    worst, median = figures.page
    rows.append(
        within_goal(
            f"dashboard page GET /reports/portfolio, last {PAIRS} pairs, unsliced", worst, median
        )
    )
    for label, worst, median, _counted in figures.dashboard:
        rows.append(
            within_goal(f"dashboard roll rates, last {PAIRS} pairs, {label}", worst, median)
        )
    if figures.cohorts:
        spent = [seconds for _, seconds, _ in figures.cohorts]
        cells = [count for *_, count in figures.cohorts]
        rows.append(
            shown(
                f"liquidation cohorts counted per month-end, {millions}",
                f"median {statistics.median(spent):.2f} s, max {max(spent):.2f} s"
                f" ({statistics.median(cells):,.0f} cells a month-end)",
                f"the snapshot's floor: {snap.floor:.2f} s",
                statistics.median(spent) / snap.floor,
                "context: in the month-end step, after the transitions",
            )
        )
    if figures.sections and snap is not None:
        spent = [seconds for _, seconds, _ in figures.sections]
        cells = [count for *_, count in figures.sections]
        rows.append(
            shown(
                f"the sections' cells counted per month, {millions}",
                f"median {statistics.median(spent):.2f} s, max {max(spent):.2f} s"
                f" ({statistics.median(cells):,.0f} cells a month)",
                f"the snapshot's floor: {snap.floor:.2f} s",
                statistics.median(spent) / snap.floor,
                "context: in the month-end step, after the cohorts",
            )
        )
    for label, worst, median in figures.agents:
        rows.append(within_goal(f"dashboard agents: {label}", worst, median))
    for label, worst, median, _counted in figures.liquidation:
        rows.append(
            within_goal(
                f"dashboard liquidation curves, last {PAIRS} cohorts, {label}", worst, median
            )
        )
    return rows


def compare_rows(
    admin_url: str, cases: int = 1_000_000, runs: int = 3, repeat: int = 20
) -> list[Row]:
    """The rows of ``make bench-compare``'s ``reporting`` section, on a database of its
    own built for them and dropped after."""
    policy = load_policy()
    with postgres_database(admin_url, BENCH_DATABASE) as url:
        engine = build(url, cases, policy)
        try:
            return rows_of(measure(url, engine, runs, repeat, explain=False))
        finally:
            engine.dispose()


@contextmanager
def copy_of(admin_url: str, kept: str, name: str) -> Iterator[str]:
    """A copy of the database ``kept`` (``CREATE DATABASE … TEMPLATE``), dropped after."""
    with postgres_database(admin_url, name) as url:
        unique = urlsplit(url).path[1:]
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE {}").format(sql.Identifier(unique)))
            admin.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                    sql.Identifier(unique), sql.Identifier(kept)
                )
            )
        yield url


def main() -> None:
    """Build (or reuse), measure, print the figures and the rows."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument(
        "--runs", type=int, default=3, help="snapshot runs (median); 0: no snapshot"
    )
    parser.add_argument("--repeat", type=int, default=20, help="dashboard runs per slice (p95)")
    parser.add_argument("--postgres-url", default="postgresql://root@127.0.0.1:5432/postgres")
    parser.add_argument("--database", default=BENCH_DATABASE, help="the run's database's prefix")
    parser.add_argument("--keep", metavar="NAME", help="keep the built database as NAME")
    parser.add_argument("--reuse", metavar="NAME", help="measure a copy of NAME (from --keep)")
    parser.add_argument("--build-only", action="store_true", help="with --keep: build, keep, stop")
    parser.add_argument("--explain", action="store_true", help="save the dashboard's plans")
    parser.add_argument(
        "--counted",
        action="store_true",
        help="with --reuse: its transitions are counted already (measure the dashboard)",
    )
    args = parser.parse_args()
    if why := postgres_unreachable(args.postgres_url):
        raise SystemExit(f"postgres unreachable ({why})")
    from _compare import table

    policy = load_policy()
    if args.reuse:
        with copy_of(args.postgres_url, args.reuse, args.database) as url:
            app = create_app({"DATABASE_URL": url})
            # A book kept before the newest tables: brought to the code's schema.
            migrate.upgrade(app)
            engine: Engine = app.extensions["haohuan.engine"]
            try:
                figures = measure(url, engine, args.runs, args.repeat, args.explain, args.counted)
            finally:
                engine.dispose()
    else:
        with postgres_database(args.postgres_url, args.database) as url:
            engine = build(url, args.cases, policy)
            if args.keep:
                engine.dispose()  # a template must have no connections
                with psycopg.connect(args.postgres_url, autocommit=True) as admin:
                    admin.execute(
                        sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                            sql.Identifier(args.keep), sql.Identifier(urlsplit(url).path[1:])
                        )
                    )
                print(f"kept         the built database as {args.keep} (--reuse {args.keep})")
                if args.build_only:
                    return
            try:
                figures = measure(url, engine, args.runs, args.repeat, args.explain)
            finally:
                engine.dispose()
    print(table(rows_of(figures)))


if __name__ == "__main__":
    main()
