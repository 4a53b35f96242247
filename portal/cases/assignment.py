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

import heapq
from dataclasses import asdict, dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    Select,
    bindparam,
    column,
    delete,
    func,
    insert,
    select,
    table,
    text,
)
from sqlalchemy.orm import Session

from portal.audit import trail
from portal.cases.facts import record_event
from portal.cases.lifecycle import LOCK_KEY
from portal.models import (
    AssignmentRule,
    AssignmentRuleAgent,
    Case,
    CaseStatus,
    StaffMember,
    Team,
)
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
        SELECT 1 FROM assign_agents ra
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
    FROM assign_agents ra
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
     FROM assign_agents ra JOIN staff_members s ON s.id = ra.staff_id
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

# Each active rule's agents: its own, and the agents of the team it feeds.
_AGENTS = """
CREATE TEMPORARY TABLE assign_agents AS
SELECT ra.rule_id AS rule_id, ra.staff_id AS staff_id
FROM assignment_rule_agents ra JOIN assignment_rules r ON r.id = ra.rule_id
WHERE r.active
UNION
SELECT r.id, s.id
FROM assignment_rules r JOIN staff_members s ON s.team_id = r.team_id
WHERE r.active AND r.team_id IS NOT NULL AND (',' || s.roles || ',') LIKE '%,agent,%'
"""
TEMPORARY_TABLES = ("assign_agents", "assign_match", "assign_change")


def assign(engine: Engine, now: datetime, actor: StaffMember | str = "system") -> AssignRun:
    """Give every open case its owner by the rules (see the module's docstring); one
    transaction, committed here. Returns what changed."""
    with engine.begin() as conn:
        postgres = conn.dialect.name == "postgresql"
        if postgres:
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK_KEY})
        for table in TEMPORARY_TABLES:
            conn.execute(text(f"DROP TABLE IF EXISTS {table}"))
        conn.execute(text(_AGENTS))
        conn.execute(text("CREATE INDEX assign_agents_rule ON assign_agents (rule_id, staff_id)"))
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
        for table in TEMPORARY_TABLES:
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
    actor: StaffMember | str,
    now: datetime,
    *,
    priority: int = 100,
    **conditions: object,
) -> AssignmentRule:
    """A supervisor's new rule (``conditions``: stage, locale, currency, timezone,
    min_amount, max_amount, team_id; unset matches any, or feeds no team), audited.
    Commits; ``assign`` applies it."""
    if not agents and conditions.get("team_id") is None:
        raise ReassignError("no_agents")
    by = actor.email if isinstance(actor, StaffMember) else actor
    rule = AssignmentRule(name=name, priority=priority, created_by=by, **conditions)
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
    actor: StaffMember | str,
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


def assignable_names(db: Session) -> list[tuple[int, str]]:
    """The id and name of each member ``assignable`` lists, in its order: plain rows, for
    a list of names (the queue's owner filter) that loads no staff member."""
    rows = db.connection().execute(
        select(StaffMember.id, StaffMember.name, StaffMember.roles)
        .where(StaffMember.active, StaffMember.away.is_(False))
        .order_by(StaffMember.name, StaffMember.id)
    )
    return [(member_id, name) for member_id, name, roles in rows if "agent" in roles.split(",")]


# The rules in the console ------------------------------------------------------------------

# The conditions a rule may set, as ``add_rule`` and ``edit_rule`` take them.
CONDITIONS = ("stage", "locale", "currency", "timezone", "min_amount", "max_amount", "team_id")


@dataclass(frozen=True)
class RuleView:
    """A rule with the agents it feeds: its own, and its team's active agents."""

    rule: AssignmentRule
    agents: list[StaffMember]
    team: Team | None
    team_agents: list[StaffMember]


def rules(db: Session) -> list[RuleView]:
    """Every rule, active first, in the order ``assign`` reads them, with their agents."""
    found = list(
        db.scalars(
            select(AssignmentRule).order_by(
                AssignmentRule.active.desc(), AssignmentRule.priority, AssignmentRule.id
            )
        )
    )
    links: dict[int, list[StaffMember]] = {}
    for rule_id, member in db.execute(
        select(AssignmentRuleAgent.rule_id, StaffMember)
        .join(StaffMember, StaffMember.id == AssignmentRuleAgent.staff_id)
        .order_by(StaffMember.name, StaffMember.id)
    ):
        links.setdefault(rule_id, []).append(member)
    teams = {team.id: team for team in db.scalars(select(Team))}
    members = db.scalars(
        select(StaffMember)
        .where(StaffMember.active, StaffMember.team_id.is_not(None))
        .order_by(StaffMember.name, StaffMember.id)
    )
    by_team: dict[int, list[StaffMember]] = {}
    for member in members:
        if "agent" in member.role_set and member.team_id is not None:
            by_team.setdefault(member.team_id, []).append(member)
    return [
        RuleView(
            rule,
            links.get(rule.id, []),
            teams.get(rule.team_id) if rule.team_id else None,
            by_team.get(rule.team_id, []) if rule.team_id else [],
        )
        for rule in found
    ]


def edit_rule(
    db: Session,
    rule: AssignmentRule,
    name: str,
    agents: list[StaffMember],
    actor: StaffMember | str,
    now: datetime,
    *,
    priority: int,
    **conditions: object,
) -> None:
    """Change a rule's name, priority, conditions, agents and team (all of them: unset
    conditions match any), audited with what it was. Commits; the next ``assign`` applies
    it (cases its agents no longer include move, unless a supervisor pinned them)."""
    if not agents and conditions.get("team_id") is None:
        raise ReassignError("no_agents")
    before: dict[str, Any] = {key: _plain(getattr(rule, key)) for key in CONDITIONS}
    before.update(name=rule.name, priority=rule.priority)
    old_agents = sorted(
        db.scalars(
            select(AssignmentRuleAgent.staff_id).where(AssignmentRuleAgent.rule_id == rule.id)
        )
    )
    rule.name = name
    rule.priority = priority
    for key in CONDITIONS:
        setattr(rule, key, conditions.get(key))
    db.execute(delete(AssignmentRuleAgent).where(AssignmentRuleAgent.rule_id == rule.id))
    db.add_all(AssignmentRuleAgent(rule_id=rule.id, staff_id=agent.id) for agent in agents)
    after: dict[str, Any] = {key: _plain(conditions.get(key)) for key in CONDITIONS}
    after.update(name=name, priority=priority)
    trail.record(
        db,
        actor,
        "assignment_rule.edit",
        now,
        rule=rule.id,
        before={**before, "agents": old_agents},
        after={**after, "agents": sorted(agent.id for agent in agents)},
    )
    db.commit()


def set_rule_active(
    db: Session, rule: AssignmentRule, active: bool, actor: StaffMember | str, now: datetime
) -> None:
    """Deactivate a rule (its cases keep their owners until the next ``assign`` finds
    another rule for them) or make it active again; audited. Commits."""
    if rule.active == active:
        return
    rule.active = active
    action = "assignment_rule.activate" if active else "assignment_rule.deactivate"
    trail.record(db, actor, action, now, rule=rule.id)
    db.commit()


def _plain(value: object) -> object:
    return value.value if isinstance(value, StrEnum) else value


# A supervisor reassigns a segment ----------------------------------------------------------


@dataclass(frozen=True)
class SegmentPlan:
    """What reassigning a segment would do: the cases the filter matches, those left out
    because they are resolved, those already where they would go, and those that change."""

    matching: int
    resolved: int
    unchanged: int
    changing: int


@dataclass(frozen=True)
class SegmentTarget:
    """Where a segment goes: one agent, or a team's available agents (least loaded
    first)."""

    agents: list[StaffMember]
    team: Team | None = None


# One event per case moved, as a one-case reassignment writes it (the JSON function is the
# dialect's own name for it; nothing else is put into the text).
_SEGMENT_EVENTS = """
INSERT INTO case_events (case_id, kind, actor, at, data)
SELECT case_id, :kind, 'agent', :at,
       {function}('from', old_owner, 'to', new_owner, 'reason', :reason,
                  'note', CAST(:note AS VARCHAR(500)))
FROM segment_change
"""

_SEGMENT = table(
    "segment_change", column("case_id"), column("old_owner"), column("new_owner"), column("n")
)


def _candidates(segment: Select[Any], target: SegmentTarget) -> Select[int, int | None]:
    """The cases of the segment the reassignment changes: open ones, not already with
    the agent (pinned), nor, for a team, with one of its agents."""
    ids = [agent.id for agent in target.agents]
    query = select(Case.id, Case.owner_id).where(
        Case.id.in_(segment), Case.status != CaseStatus.RESOLVED
    )
    if target.team is None:
        query = query.where(~((Case.owner_id == ids[0]) & Case.owner_pinned.is_(True)))
    else:
        query = query.where((Case.owner_id.is_(None)) | (Case.owner_id.not_in(ids)))
    return query


def plan_segment(db: Session, segment: Select[Any], target: SegmentTarget) -> SegmentPlan:
    """How many cases of ``segment`` (a select of case ids) would change hands. Reads
    only."""
    matching = int(db.scalar(select(func.count()).select_from(segment.subquery())) or 0)
    resolved = int(
        db.scalar(
            select(func.count(Case.id)).where(
                Case.id.in_(segment), Case.status == CaseStatus.RESOLVED
            )
        )
        or 0
    )
    changing = 0
    if target.agents:
        changing = int(
            db.scalar(select(func.count()).select_from(_candidates(segment, target).subquery()))
            or 0
        )
    return SegmentPlan(matching, resolved, matching - resolved - changing, changing)


def _loads(db: Session, agents: list[StaffMember]) -> dict[int, int]:
    ids = [agent.id for agent in agents]
    query = (
        select(Case.owner_id, func.count(Case.id))
        .where(Case.owner_id.in_(ids), Case.status != CaseStatus.RESOLVED)
        .group_by(Case.owner_id)
    )
    return {int(owner or 0): int(count) for owner, count in db.execute(query)}


def _shares(agents: list[StaffMember], loads: dict[int, int], cases: int) -> list[tuple[int, int]]:
    """How many of ``cases`` each agent takes, least loaded first (load over capacity,
    as ``assign`` spreads; ties by id): (staff id, count) in id order. A supervisor's
    choice is not held to capacity, so a full team still takes the cases."""
    taken = {agent.id: 0 for agent in agents}
    places = [
        ((loads.get(agent.id, 0) + 1) / max(agent.capacity, 1), agent.id, agent.capacity)
        for agent in agents
    ]
    heapq.heapify(places)
    for _ in range(cases):
        _load, staff_id, capacity = heapq.heappop(places)
        taken[staff_id] += 1
        after = loads.get(staff_id, 0) + taken[staff_id] + 1
        heapq.heappush(places, (after / max(capacity, 1), staff_id, capacity))
    return sorted(taken.items())


def reassign_segment(
    db: Session,
    segment: Select[Any],
    target: SegmentTarget,
    note: str,
    by: StaffMember,
    now: datetime,
    filters: dict[str, str],
) -> SegmentPlan:
    """A supervisor gives every open case of ``segment`` (a select of case ids, worked out
    now) to one agent or spreads it over a team's available agents, least loaded first,
    with a note. Pinned, as a one-case reassignment is; set-based: a temporary table of
    the changes, one UPDATE, one INSERT of a case event per case, and one audit entry
    with the counts and the filter. Commits once (on PostgreSQL under the daily work's
    advisory lock, so ``assign`` never interleaves)."""
    if not target.agents:
        raise ReassignError("team_empty" if target.team is not None else "owner_unavailable")
    if any(not agent.active or agent.away for agent in target.agents):
        raise ReassignError("owner_unavailable")
    postgres = db.get_bind().dialect.name == "postgresql"
    if postgres:
        db.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK_KEY})
    plan = plan_segment(db, segment, target)
    db.execute(text("DROP TABLE IF EXISTS segment_change"))
    db.execute(
        text(
            "CREATE TEMPORARY TABLE segment_change (case_id BIGINT PRIMARY KEY, "
            "old_owner BIGINT, new_owner BIGINT, n BIGINT)"
        )
    )
    candidates = _candidates(segment, target).subquery("candidates")
    numbered = select(
        candidates.c.id,
        candidates.c.owner_id,
        func.row_number().over(order_by=candidates.c.id),
    )
    db.execute(insert(_SEGMENT).from_select(["case_id", "old_owner", "n"], numbered))
    moved = int(db.scalar(text("SELECT count(*) FROM segment_change")) or 0)
    shares = _shares(target.agents, _loads(db, target.agents), moved)
    # Consecutive numbers to each agent: the first share's cases, then the next's.
    end = 0
    for staff_id, count in shares:
        if count:
            db.execute(
                text("UPDATE segment_change SET new_owner = :owner WHERE n > :start AND n <= :end"),
                {"owner": staff_id, "start": end, "end": end + count},
            )
        end += count
    db.execute(
        text(
            "UPDATE cases SET owner_id = (SELECT new_owner FROM segment_change sc "
            "WHERE sc.case_id = cases.id), owner_pinned = true "
            "WHERE id IN (SELECT case_id FROM segment_change)"
        )
    )
    db.execute(
        text(
            _SEGMENT_EVENTS.format(function="json_build_object" if postgres else "json_object")
        ).bindparams(
            bindparam("kind", EVENT_KIND),
            bindparam("at", now, type_=UtcDateTime()),
            bindparam("reason", REASON_SUPERVISOR),
            bindparam("note", note[:500]),
        )
    )
    db.execute(text("DROP TABLE segment_change"))
    trail.record(
        db,
        by,
        "cases.reassign_segment",
        now,
        filters=filters,
        team=target.team.id if target.team else None,
        owners={str(staff_id): count for staff_id, count in shares if count},
        matching=plan.matching,
        resolved=plan.resolved,
        unchanged=plan.matching - plan.resolved - moved,
        moved=moved,
        note=note,
    )
    db.commit()
    return SegmentPlan(plan.matching, plan.resolved, plan.matching - plan.resolved - moved, moved)


def reassign_to_team(
    db: Session, case: Case, target: SegmentTarget, note: str, by: StaffMember, now: datetime
) -> SegmentPlan:
    """A supervisor gives one case to a team: to its least loaded available agent, as a
    segment of one (pinned, its event, one audit entry). Nothing moves when the case is
    already with one of the team's agents. Commits."""
    one = select(Case.id).where(Case.id == case.id)
    return reassign_segment(db, one, target, note, by, now, {"case": str(case.id)})


def rule_agents(db: Session, rule: AssignmentRule) -> list[StaffMember]:
    """A rule's own agents (active or not), by name."""
    return list(
        db.scalars(
            select(StaffMember)
            .join(AssignmentRuleAgent, AssignmentRuleAgent.staff_id == StaffMember.id)
            .where(AssignmentRuleAgent.rule_id == rule.id)
            .order_by(StaffMember.name, StaffMember.id)
        )
    )


def members_with_ids(db: Session, ids: list[int]) -> list[StaffMember]:
    """The staff members of these ids (unknown ones left out)."""
    if not ids:
        return []
    return list(db.scalars(select(StaffMember).where(StaffMember.id.in_(ids))))
