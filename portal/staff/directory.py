"""The staff as the admin console lists them, and their teams. Team changes are audited
and commit once each; the listing only reads."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal.audit import trail
from portal.models import Case, CaseStatus, StaffMember, Team
from portal.staff.accounts import ROLES, AccountError

TEAM_NAME_LENGTH = 80
TEAM_TAKEN = "team_taken"
TEAM_NAME = "team_name"


@dataclass(frozen=True)
class StaffFilter:
    """Who the list shows: a role, a team (0: no team), active or not; None for any."""

    role: str | None = None
    team_id: int | None = None
    active: bool | None = None


@dataclass(frozen=True)
class StaffRow:
    """One member as the list shows them, with the open cases they own."""

    member: StaffMember
    team: str | None
    open_cases: int


def staff_list(db: Session, chosen: StaffFilter) -> list[StaffRow]:
    """Every member the filter selects, by name, with their team and open cases."""
    owned = (
        select(Case.owner_id, func.count(Case.id).label("owned"))
        .where(Case.status != CaseStatus.RESOLVED, Case.owner_id.is_not(None))
        .group_by(Case.owner_id)
        .subquery("owned")
    )
    query = (
        select(StaffMember, Team.name, owned.c.owned)
        .outerjoin(Team, Team.id == StaffMember.team_id)
        .outerjoin(owned, owned.c.owner_id == StaffMember.id)
        .order_by(StaffMember.active.desc(), StaffMember.name, StaffMember.id)
    )
    if chosen.team_id == 0:
        query = query.where(StaffMember.team_id.is_(None))
    elif chosen.team_id is not None:
        query = query.where(StaffMember.team_id == chosen.team_id)
    if chosen.active is not None:
        query = query.where(StaffMember.active.is_(chosen.active))
    rows = [StaffRow(member, team, int(count or 0)) for member, team, count in db.execute(query)]
    if chosen.role in ROLES:
        rows = [row for row in rows if chosen.role in row.member.role_set]
    return rows


def teams(db: Session) -> list[Team]:
    """Every team, by name."""
    return list(db.scalars(select(Team).order_by(Team.name, Team.id)))


def team_sizes(db: Session) -> dict[int, int]:
    """Active members per team id."""
    query = (
        select(StaffMember.team_id, func.count(StaffMember.id))
        .where(StaffMember.active, StaffMember.team_id.is_not(None))
        .group_by(StaffMember.team_id)
    )
    return {int(team or 0): int(count) for team, count in db.execute(query)}


def _team_name(name: str) -> str:
    cleaned = " ".join(unicodedata.normalize("NFC", name).split())
    if not cleaned or len(cleaned) > TEAM_NAME_LENGTH:
        raise AccountError(TEAM_NAME)
    return cleaned


def _taken(db: Session, name: str, other_than: int | None = None) -> bool:
    query = select(Team.id).where(func.lower(Team.name) == name.lower())
    if other_than is not None:
        query = query.where(Team.id != other_than)
    return db.scalar(query) is not None


def add_team(db: Session, name: str, by: StaffMember | str, now: datetime) -> Team:
    """A new team (names are unique, ignoring case); audited. Commits."""
    cleaned = _team_name(name)
    if _taken(db, cleaned):
        raise AccountError(TEAM_TAKEN)
    team = Team(name=cleaned, created_at=now)
    db.add(team)
    db.flush()
    trail.record(db, by, "team.create", now, team=team.id, name=cleaned)
    db.commit()
    return team


def rename_team(db: Session, team: Team, name: str, by: StaffMember | str, now: datetime) -> None:
    """Rename a team; audited with the old and new names. Commits."""
    cleaned = _team_name(name)
    if cleaned == team.name:
        return
    if _taken(db, cleaned, other_than=team.id):
        raise AccountError(TEAM_TAKEN)
    before = team.name
    team.name = cleaned
    trail.record(db, by, "team.rename", now, team=team.id, before=before, after=cleaned)
    db.commit()


def team_agents(db: Session, team_id: int) -> list[StaffMember]:
    """A team's active agents who are not away (the ones a segment is spread over)."""
    members = db.scalars(
        select(StaffMember)
        .where(StaffMember.team_id == team_id, StaffMember.active, StaffMember.away.is_(False))
        .order_by(StaffMember.id)
    )
    return [member for member in members if "agent" in member.role_set]
