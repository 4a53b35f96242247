"""Case ownership: the supervisors' assignment rules give every open case an owner, and a
supervisor may give one case to someone by hand.

``assign`` (``haohuan cases assign``, run by cron after ``haohuan cases advance`` and
whenever the rules change) works on the whole book in a few set-based statements, in one
transaction (on PostgreSQL under the daily work's advisory lock, so it never interleaves
with it):

1. match: each case not resolved takes the first active rule it matches (lowest
   ``priority``, then lowest id), into a temporary table;
2. release: a case loses its owner when the owner is deactivated or away, or, unless a
   supervisor pinned it, when the owner is not one of its rule's agents any more (the
   rules changed, or no rule matches it now);
3. spread, rule by rule in priority order: the rule's cases without an owner (most days
   overdue first) fill its agents' free capacity (what they own plus what earlier rules
   of this run gave them), least loaded first: each agent's free
   places are numbered by the load they would bring it to (``(load + k) / capacity``),
   and the n-th waiting case takes the n-th place (ties by staff id), so the result is
   the same on every run and on both databases;
4. record: one case event per change of owner (``owner_changed``, with from, to and why)
   and one audit entry for the run, with its counts.

Resolved cases keep whatever owner they had. A case that no rule matches, or whose
rule's agents are all full or away, stays without an owner ("unassigned" in the queue).
Re-running changes nothing: every step only touches what differs from its target.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, select, text
from sqlalchemy.orm import Session

from portal.audit import trail
from portal.cases.facts import record_event
from portal.cases.lifecycle import LOCK_KEY
from portal.models import AssignmentRule, AssignmentRuleAgent, Case, StaffMember
from portal.models.base import UtcDateTime

# Why a case changed owner, in the event's data.
REASON_RULES = "rules"
REASON_AWAY = "away"
REASON_DEACTIVATED = "deactivated"
REASON_SUPERVISOR = "supervisor"
EVENT_KIND = "owner_changed"


@dataclass
class AssignRun:
    """What one run changed: cases given a first owner, moved from one owner to another,
    left without one, and the open cases still without an owner afterwards."""

    assigned: int = 0
    reassigned: int = 0
    unassigned: int = 0
    waiting: int = 0

    @property
    def changed(self) -> int:
        """Cases whose owner changed."""
        return self.assigned + self.reassigned + self.unassigned


_MATCH = """
CREATE TEMPORARY TABLE assign_match AS
SELECT case_id, rule_id FROM (
    SELECT c.id AS case_id, r.id AS rule_id,
           row_number() OVER (PARTITION BY c.id ORDER BY r.priority, r.id) AS n
    FROM cases c
    JOIN loans l ON l.id = c.loan_id
    JOIN borrowers b ON b.id = l.borrower_id
    JOIN assignment_rules r ON r.active
        AND (r.stage IS NULL OR r.stage = c.stage)
        AND (r.locale IS NULL OR r.locale = b.locale)
        AND (r.currency IS NULL OR r.currency = l.currency)
        AND (r.timezone IS NULL OR r.timezone = b.timezone)
        AND (r.min_amount IS NULL OR l.principal >= r.min_amount)
        AND (r.max_amount IS NULL OR l.principal < r.max_amount)
    WHERE c.status <> 'resolved'
) ranked
WHERE n = 1
"""

_CHANGES = """
CREATE TEMPORARY TABLE assign_change (
    case_id BIGINT PRIMARY KEY,
    old_owner BIGINT,
    new_owner BIGINT,
    reason VARCHAR(16) NOT NULL
)
"""

# Owners who may not keep their cases: deactivated, away, or (unless pinned by a
# supervisor) no longer among the agents of the case's rule.
_RELEASE = """
INSERT INTO assign_change (case_id, old_owner, new_owner, reason)
SELECT c.id, c.owner_id, NULL,
       CASE WHEN NOT s.active THEN 'deactivated' WHEN s.away THEN 'away' ELSE 'rules' END
FROM cases c
JOIN staff_members s ON s.id = c.owner_id
LEFT JOIN assign_match m ON m.case_id = c.id
WHERE c.status <> 'resolved'
  AND (NOT s.active OR s.away OR (NOT c.owner_pinned AND NOT EXISTS (
        SELECT 1 FROM assignment_rule_agents ra
        WHERE ra.rule_id = m.rule_id AND ra.staff_id = c.owner_id)))
"""

_APPLY_RELEASE = """
UPDATE cases SET owner_id = NULL, owner_pinned = false
WHERE id IN (SELECT case_id FROM assign_change)
"""

# One rule's waiting cases fill its agents' free places, least loaded first. ``numbers``
# counts 1..:places (the most places any agent has free, at most the cases waiting).
_SPREAD = """
WITH RECURSIVE numbers(k) AS (
    SELECT 1 WHERE :places > 0
    UNION ALL
    SELECT k + 1 FROM numbers WHERE k < :places
),
pending AS MATERIALIZED (
    SELECT new_owner AS staff_id, count(*) AS given
    FROM assign_change WHERE new_owner IS NOT NULL GROUP BY new_owner
),
agents AS MATERIALIZED (
    SELECT s.id AS staff_id, s.capacity AS capacity,
           (SELECT count(*) FROM cases o
            WHERE o.owner_id = s.id AND o.status <> 'resolved')
           + coalesce(p.given, 0) AS load
    FROM assignment_rule_agents ra
    JOIN staff_members s ON s.id = ra.staff_id
    LEFT JOIN pending p ON p.staff_id = s.id
    WHERE ra.rule_id = :rule AND s.active AND NOT s.away AND s.capacity > 0
),
places AS (
    SELECT a.staff_id,
           row_number() OVER (
               ORDER BY (a.load + n.k) * 1.0 / a.capacity, a.staff_id
           ) AS place
    FROM agents a JOIN numbers n ON n.k <= a.capacity - a.load
),
waiting AS (
    SELECT c.id AS case_id,
           row_number() OVER (ORDER BY c.overdue_since ASC NULLS LAST, c.id) AS place
    FROM assign_match m JOIN cases c ON c.id = m.case_id
    WHERE m.rule_id = :rule AND c.owner_id IS NULL
)
INSERT INTO assign_change (case_id, old_owner, new_owner, reason)
SELECT w.case_id, NULL, p.staff_id, 'rules'
FROM waiting w JOIN places p ON p.place = w.place
WHERE true
ON CONFLICT (case_id) DO UPDATE SET new_owner = excluded.new_owner
"""

# How many places a rule needs numbered: its waiting cases, at most the largest capacity
# among its agents.
_PLACES_NEEDED = """
SELECT
    (SELECT count(*) FROM assign_match m JOIN cases c ON c.id = m.case_id
     WHERE m.rule_id = :rule AND c.owner_id IS NULL),
    (SELECT max(s.capacity)
     FROM assignment_rule_agents ra JOIN staff_members s ON s.id = ra.staff_id
     WHERE ra.rule_id = :rule AND s.active AND NOT s.away)
"""

_APPLY_SPREAD = """
UPDATE cases SET owner_id = ch.new_owner
FROM assign_change ch
WHERE ch.case_id = cases.id AND ch.new_owner IS NOT NULL
"""

_EVENTS = """
INSERT INTO case_events (case_id, kind, actor, at, data)
SELECT case_id, :kind, 'system', :at, {data}
FROM assign_change
"""

_COUNTS = """
SELECT
    coalesce(sum(CASE WHEN old_owner IS NULL AND new_owner IS NOT NULL THEN 1 ELSE 0 END), 0),
    coalesce(sum(CASE WHEN old_owner IS NOT NULL AND new_owner IS NOT NULL THEN 1 ELSE 0 END), 0),
    coalesce(sum(CASE WHEN old_owner IS NOT NULL AND new_owner IS NULL THEN 1 ELSE 0 END), 0)
FROM assign_change
"""

_WAITING = "SELECT count(*) FROM cases WHERE status <> 'resolved' AND owner_id IS NULL"


def assign(engine: Engine, now: datetime, actor: str = "system") -> AssignRun:
    """Give every open case its owner by the rules (see the module's docstring); one
    transaction, committed here. Returns what changed."""
    with engine.begin() as conn:
        postgres = conn.dialect.name == "postgresql"
        if postgres:
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK_KEY})
        for table in ("assign_match", "assign_change"):
            conn.execute(text(f"DROP TABLE IF EXISTS {table}"))
        conn.execute(text(_MATCH))
        conn.execute(text("CREATE INDEX assign_match_case ON assign_match (case_id)"))
        conn.execute(text("CREATE INDEX assign_match_rule ON assign_match (rule_id)"))
        if postgres:
            conn.execute(text("ANALYZE assign_match"))
        conn.execute(text(_CHANGES))
        conn.execute(text(_RELEASE))
        conn.execute(text(_APPLY_RELEASE))
        rules = conn.scalars(
            text("SELECT id FROM assignment_rules WHERE active ORDER BY priority, id")
        ).all()
        for rule in rules:
            _spread(conn, rule)
        # Each case matches one rule, so the rules' places never overlap; the owners are
        # written once, after every rule has counted what it gave (``pending``).
        conn.execute(text(_APPLY_SPREAD))
        data = _json(conn)
        conn.execute(
            text(_EVENTS.format(data=data)).bindparams(
                bindparam("kind", EVENT_KIND), bindparam("at", now, type_=UtcDateTime())
            )
        )
        assigned, reassigned, unassigned = conn.execute(text(_COUNTS)).one()
        run = AssignRun(int(assigned), int(reassigned), int(unassigned))
        run.waiting = int(conn.scalar(text(_WAITING)) or 0)
        for table in ("assign_match", "assign_change"):
            conn.execute(text(f"DROP TABLE {table}"))
        with Session(bind=conn) as session:
            trail.record(session, actor, "cases.assign", now, **asdict(run))
            session.flush()
    return run


def _spread(conn: Connection, rule: int) -> None:
    waiting, free = conn.execute(text(_PLACES_NEEDED), {"rule": rule}).one()
    places = min(int(waiting or 0), int(free or 0))
    if places <= 0:
        return
    conn.execute(text(_SPREAD), {"rule": rule, "places": places})


def _json(conn: Connection) -> str:
    """The event's data as a JSON object built in SQL (each dialect names it its way)."""
    function = "json_build_object" if conn.dialect.name == "postgresql" else "json_object"
    return f"{function}('from', old_owner, 'to', new_owner, 'reason', reason)"


class ReassignError(ValueError):
    """A case cannot be given to this member; ``reason`` is a stable code."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def reassign(
    db: Session, case: Case, owner: StaffMember, note: str, by: StaffMember, now: datetime
) -> None:
    """A supervisor gives one case to ``owner``, with a note: the owner is pinned (the
    rules leave it until the owner is away or deactivated), the case's timeline and the
    audit log say who, to whom and why. Commits."""
    if not owner.active or owner.away:
        raise ReassignError("owner_unavailable")
    if case.owner_id == owner.id and case.owner_pinned:
        raise ReassignError("already_owner")
    previous = case.owner_id
    case.owner_id = owner.id
    case.owner_pinned = True
    record_event(
        db,
        case,
        EVENT_KIND,
        "agent",
        at=now,
        **{"from": previous, "to": owner.id, "reason": REASON_SUPERVISOR, "note": note[:500]},
    )
    trail.record(
        db, by, "case.reassign", now, case_id=case.id, owner=owner.id, previous=previous, note=note
    )
    db.commit()


def add_rule(
    db: Session,
    name: str,
    agents: list[StaffMember],
    actor: str,
    now: datetime,
    *,
    priority: int = 100,
    **conditions: object,
) -> AssignmentRule:
    """A supervisor's new rule (``conditions``: stage, locale, currency, timezone,
    min_amount, max_amount; unset matches any), audited. Commits; ``assign`` applies it."""
    if not agents:
        raise ReassignError("no_agents")
    rule = AssignmentRule(name=name, priority=priority, created_by=actor, **conditions)
    db.add(rule)
    db.flush()
    db.add_all(AssignmentRuleAgent(rule_id=rule.id, staff_id=agent.id) for agent in agents)
    details: dict[str, Any] = {key: value for key, value in conditions.items() if value is not None}
    details.update(rule=rule.id, agents=[agent.id for agent in agents])
    trail.record(
        db,
        actor,
        "assignment_rule.add",
        now,
        **details,
    )
    db.commit()
    return rule


def set_availability(
    db: Session,
    member: StaffMember,
    actor: str,
    now: datetime,
    *,
    away: bool | None = None,
    capacity: int | None = None,
) -> None:
    """Mark a member away or back, or change their capacity (audited; the next ``assign``
    moves their cases). Commits."""
    if away is not None:
        member.away = away
    if capacity is not None:
        if capacity < 0:
            raise ReassignError("capacity_negative")
        member.capacity = capacity
    trail.record(
        db,
        actor,
        "staff.availability",
        now,
        member=member.id,
        away=member.away,
        capacity=member.capacity,
    )
    db.commit()


def assignable(db: Session) -> list[StaffMember]:
    """The members a case may be given to: active, not away, with the agent role; by name."""
    members = db.scalars(
        select(StaffMember)
        .where(StaffMember.active, StaffMember.away.is_(False))
        .order_by(StaffMember.name, StaffMember.id)
    )
    return [member for member in members if "agent" in member.role_set]
