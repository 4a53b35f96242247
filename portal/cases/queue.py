"""The case queue as queries: which cases a filter selects, in which order, one page of
them with what the queue shows.

Everything here is set-based SQL that works on SQLite and PostgreSQL alike. Days past due,
the overdue amount and the stage count from each borrower's own today
(``portal.cases.overdue``), as the case page, letters and messages do. Days past due are
never computed per row to filter: a band of days becomes a range of ``Case.overdue_since``
dates (indexed) below the borrower's today, as the daily work does for stages; the rows
shown count their days from the installments themselves, exactly as the case page does.
The overdue amount (the arrears: overdue principal and interest plus unpaid fees and
penalties, what an agent negotiates about) is filtered and sorted by the amount stored on
each case (``portal.cases.arrears``: counted from the installments wherever its window of
days does not hold, so the same amount at any moment), as disjoint parts (``_parts``): the
stored amounts, a currency at a time, read from their index alone, and the few cases at
the edge of their window, read once per page, each on its borrower's today by the case's
copy of the borrower's zone (``portal.cases.zones``), with no loan or borrower read. The
rows shown read the stored amount too wherever its window holds on the borrower's today,
and count it from the installments and charges only elsewhere (``arrears_at``), for the
page's own fifty cases only; ``arrears_of`` sums it by loan for the other lists that
need it. The search
reads the phone's stored digits (``Borrower.phone_digits``) and loan numbers through a
UNION of two selects.

``parse_filter`` reads a query string (or a posted segment) and never raises: a value it
cannot use falls back to the default and is reported as a translated sentence.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from decimal import Decimal
from fractions import Fraction
from functools import lru_cache
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import (
    ARRAY,
    ColumnElement,
    Select,
    String,
    and_,
    any_,
    bindparam,
    cast,
    func,
    literal_column,
    not_,
    null,
    or_,
    select,
    text,
    type_coerce,
    union_all,
)
from sqlalchemy import case as when
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import Null, Subquery
from sqlalchemy.sql.sqltypes import NullType

from negotiation import Stage
from portal.cases.arrears import STORED, arrears_at, currency_of, holds_everywhere, in_currency
from portal.cases.facts import policy
from portal.cases.masking import mask_name, mask_phone
from portal.cases.overdue import borrower_today, date_bounds, dates_moment, today_column
from portal.cases.zones import zone_of_case
from portal.core import settings
from portal.core.currency import minor_digits, minor_per_major
from portal.core.db import like_pattern, planned_for_values, without_jit
from portal.core.pagination import Window, count, placed
from portal.core.sql import array_text, ends_with, one_of
from portal.models import (
    UNPAID_INSTALLMENT,
    Agency,
    AgencyPlacement,
    Borrower,
    Case,
    Loan,
    LoanCharge,
    LoanInstallment,
    PlacementStatus,
    Plan,
    StaffMember,
)
from portal.policy import versions
from portal.wording.cases import PLAN_STATUS_NAMES
from portal.wording.engine import STAGE_NAMES

PER_PAGE = 50
MAX_PAGE = 100_000
MAX_SEARCH = 100
MAX_AMOUNT = 10**12

# The choices, in the order the form lists them; the first key of each is its default.
STAGES: dict[str, Any] = {stage.value: STAGE_NAMES[stage] for stage in Stage}

# Days past due: "overdue" (any) is the default, since the queue is for collection; a
# band is (first day, last day), None for no end.
DPD_BANDS: dict[str, Any] = {
    "overdue": _l("Overdue (1 day or more)"),
    "1-30": _l("1 to 30 days"),
    "31-60": _l("31 to 60 days"),
    "61-90": _l("61 to 90 days"),
    "91-180": _l("91 to 180 days"),
    "181+": _l("181 days or more"),
    "0": _l("Not overdue"),
    "all": _l("All cases"),
}
DPD_RANGES: dict[str, tuple[int, int | None]] = {
    "overdue": (1, None),
    "1-30": (1, 30),
    "31-60": (31, 60),
    "61-90": (61, 90),
    "91-180": (91, 180),
    "181+": (181, None),
}

CURRENCIES: dict[str, Any] = {code: code for code in ("TWD", "CNY", "HKD", "USD")}

# The status of the case's latest plan (portal.models.Plan), or "none" for never a plan.
PLAN_STATUSES: dict[str, Any] = {"none": _l("No plan ever"), **PLAN_STATUS_NAMES}

HOLDS: dict[str, Any] = {
    "any": _l("On hold or not"),
    "none": _l("Not on hold"),
    "dispute": _l("On hold: dispute"),
    "hardship": _l("On hold: hardship"),
}

LAST_CONTACTS: dict[str, Any] = {
    "never": _l("Never contacted"),
    "today": _l("Contacted today"),
    "not_today": _l("Not contacted today"),
    "7d": _l("Contacted in the last 7 days"),
    "over_7d": _l("Last contacted more than 7 days ago"),
}

# Whether a case asks for an agent (``Case.needs_agent``).
NEEDS: dict[str, Any] = {
    "yes": _l("Needs an agent"),
    "no": _l("Does not need an agent"),
}

# The owner filter's fixed choices; any other value is a staff member's id.
UNASSIGNED = "none"

SORTS: dict[str, Any] = {
    "dpd": _l("Days past due"),
    "balance": _l("Overdue amount"),
    "last_contact": _l("Last contact"),
    "loan": _l("Loan number"),
}
# The direction a column sorts in first: the most urgent (or the natural order) on top.
# Last contact ascending puts the never-contacted and longest-uncontacted first.
DEFAULT_DIRECTIONS = {"dpd": "desc", "balance": "desc", "last_contact": "asc", "loan": "asc"}
DIRECTIONS: dict[str, Any] = {"desc": _l("Descending"), "asc": _l("Ascending")}

# Labels of the fields, for the problems parse_filter reports.
FIELD_LABELS: dict[str, Any] = {
    "stage": _l("Stage"),
    "dpd": _l("Days past due"),
    "currency": _l("Currency"),
    "plan": _l("Plan"),
    "hold": _l("Hold"),
    "contact": _l("Last contact"),
    "owner": _l("Owner"),
    "needs": _l("Needs an agent"),
    "sort": _l("Sort by"),
    "dir": _l("Order"),
    "page": _l("Page"),
    "min": _l("Overdue amount from"),
    "max": _l("Overdue amount up to"),
    "q": _l("Search"),
}


@dataclass(frozen=True)
class QueueFilter:
    """What the agent asked the queue for. ``None`` (or "any"/"all") means no limit.

    ``balance_min``/``balance_max`` are whole units, both ends included, compared with
    the overdue amount in the chosen currency, or without one converted to the reporting
    currency at the configured rates (``amount_basis``). ``search`` is a loan number (or its
    start or end) or phone digits. Query-string keys: see ``to_args``.
    """

    stage: str | None = None
    dpd_band: str = "overdue"
    balance_min: int | None = None
    balance_max: int | None = None
    currency: str | None = None
    plan_status: str | None = None
    hold: str = "any"
    last_contact: str | None = None
    # "none" (no owner) or a staff member's id, as text; None for any owner.
    owner: str | None = None
    needs_agent: str | None = None
    search: str = ""
    sort: str = "dpd"
    # None: the sort's own first direction (DEFAULT_DIRECTIONS).
    direction: str | None = None
    page: int = 1
    # A partner agency's id: only the cases placed with it (set by the console for an
    # agency's member, never read from a query string).
    agency: int | None = None

    @property
    def descending(self) -> bool:
        """True when the sort runs from the highest (latest, last) down."""
        return (self.direction or DEFAULT_DIRECTIONS[self.sort]) == "desc"

    def to_args(self, **changes: Any) -> dict[str, str]:
        """The filter as query-string arguments (defaults left out), with ``changes``
        applied first: ``to_args(page=2)``, ``to_args(sort="balance", direction="desc")``.
        ``parse_filter(f.to_args()) == (f, [])`` for every valid filter."""
        chosen = replace(self, **changes) if changes else self
        keys = {
            "stage": "stage",
            "dpd_band": "dpd",
            "balance_min": "min",
            "balance_max": "max",
            "currency": "currency",
            "plan_status": "plan",
            "hold": "hold",
            "last_contact": "contact",
            "owner": "owner",
            "needs_agent": "needs",
            "search": "q",
            "sort": "sort",
            "direction": "dir",
            "page": "page",
        }
        arguments = {}
        for name, key in keys.items():
            # Read as attributes: every field is a plain value (asdict would copy each
            # deeply, a few times a page for each link).
            value = getattr(chosen, name)
            if value == getattr(_DEFAULT_FILTER, name) or value is None:
                continue
            arguments[key] = str(value)
        return arguments

    def sorted_by(self, column: str) -> QueueFilter:
        """The filter sorted by ``column``: its own first direction, or the other one when
        it is already sorted by that column; back to the first page."""
        if self.sort == column:
            flipped = "asc" if self.descending else "desc"
            direction = None if flipped == DEFAULT_DIRECTIONS[column] else flipped
            return replace(self, direction=direction, page=1)
        return replace(self, sort=column, direction=None, page=1)

    @property
    def filters_set(self) -> int:
        """How many filters (beyond the search) differ from the defaults."""
        default = QueueFilter()
        names = (
            "stage",
            "dpd_band",
            "balance_min",
            "balance_max",
            "currency",
            "plan_status",
            "hold",
            "last_contact",
            "owner",
            "needs_agent",
        )
        return sum(getattr(self, name) != getattr(default, name) for name in names)


# The default filter (what ``to_args`` leaves out).
_DEFAULT_FILTER = QueueFilter()


# Reading a filter --------------------------------------------------------------------------


def _problem(key: str, value: str) -> str:
    shown = value if len(value) <= 40 else value[:39] + "…"
    # gettext, not lazy_gettext: a lazy string counts as safe HTML in Jinja, and this one
    # carries what was typed.
    return _(
        "%(field)s: “%(value)s” is not one of the choices, so it was left out.",
        field=FIELD_LABELS[key],
        value=shown,
    )


def _amount(args: Mapping[str, str], key: str, problems: list[str]) -> int | None:
    raw = (args.get(key) or "").strip()
    if not raw:
        return None
    cleaned = raw.replace(",", "").replace(" ", "").replace("\uff0c", "")  # a full-width comma
    if not re.fullmatch(r"[0-9]{1,13}", cleaned) or int(cleaned) > MAX_AMOUNT:
        problems.append(
            _(
                "%(field)s: enter a whole amount such as 5000, without decimals.",
                field=FIELD_LABELS[key],
            )
        )
        return None
    return int(cleaned)


def scoped_to(chosen: QueueFilter, member: StaffMember) -> QueueFilter:
    """``chosen`` as ``member`` may see it: a partner agency's member, only the cases
    placed with their agency."""
    if member.agency_id is None:
        return chosen
    return replace(chosen, agency=member.agency_id)


def parse_filter(args: Mapping[str, str]) -> tuple[QueueFilter, list[str]]:
    """The filter a query string asks for, and the problems found in it (sentences in the
    request's language: call it inside a request or app context). Never raises: anything
    unusable falls back to its default."""
    problems: list[str] = []

    def choice(key: str, choices: Mapping[str, Any], default: str | None) -> str | None:
        raw = (args.get(key) or "").strip()
        if not raw:
            return default
        if raw in choices:
            return raw
        problems.append(_problem(key, raw))
        return default

    stage = choice("stage", STAGES, None)
    dpd_band = choice("dpd", DPD_BANDS, "overdue") or "overdue"
    currency = choice("currency", CURRENCIES, None)
    plan_status = choice("plan", PLAN_STATUSES, None)
    hold = choice("hold", HOLDS, "any") or "any"
    last_contact = choice("contact", LAST_CONTACTS, None)
    needs_agent = choice("needs", NEEDS, None)
    owner = (args.get("owner") or "").strip() or None
    if owner is not None and owner != UNASSIGNED and not re.fullmatch(r"[1-9][0-9]{0,17}", owner):
        problems.append(_problem("owner", owner))
        owner = None
    sort = choice("sort", SORTS, "dpd") or "dpd"
    direction = choice("dir", DIRECTIONS, None)
    if direction == DEFAULT_DIRECTIONS[sort]:
        direction = None  # one filter, one way of writing it

    balance_min = _amount(args, "min", problems)
    balance_max = _amount(args, "max", problems)
    if balance_min is not None and balance_max is not None and balance_min > balance_max:
        problems.append(_("The lowest overdue amount is above the highest, so both were left out."))
        balance_min = balance_max = None
    if (balance_min, balance_max) != (None, None) and (
        amount_basis(QueueFilter(currency=currency)).currency is None
    ):
        problems.append(
            _(
                "Choose a currency to filter by overdue amount: amounts in different "
                "currencies are not compared, so the amounts were left out."
            )
        )
        balance_min = balance_max = None

    search = " ".join((args.get("q") or "").split())
    if len(search) > MAX_SEARCH:
        problems.append(_("Search for at most 100 characters."))
        search = search[:MAX_SEARCH]

    page = 1
    raw_page = (args.get("page") or "").strip()
    if raw_page:
        if re.fullmatch(r"[1-9][0-9]{0,5}", raw_page) and int(raw_page) <= MAX_PAGE:
            page = int(raw_page)
        else:
            problems.append(_("No such page, so the first page is shown."))

    found = QueueFilter(
        stage=stage,
        dpd_band=dpd_band,
        balance_min=balance_min,
        balance_max=balance_max,
        currency=currency,
        plan_status=plan_status,
        hold=hold,
        last_contact=last_contact,
        owner=owner,
        needs_agent=needs_agent,
        search=search,
        sort=sort,
        direction=direction,
        page=page,
    )
    return found, problems


# The query ---------------------------------------------------------------------------------


def _installments_owed(
    moment: datetime, loan_ids: list[int] | None, *, edge: bool = False
) -> Subquery:
    """Overdue principal and interest per loan, and the oldest overdue due date:
    installments due before the borrower's today at ``moment`` and still owed. The
    condition is the partial index's own text, so PostgreSQL reads the index, not the
    table's paid bulk.

    Kept in two sums: the installments due before every borrower's today (the bulk, a
    plain date range the planner estimates well), and with ``edge`` those due on the day
    or two that some borrowers have reached and others not, where the borrower's zone
    decides (a correlated subquery, read for those few rows only)."""
    owed = LoanInstallment.unpaid
    earliest, latest = date_bounds(moment)
    due = LoanInstallment.due_date
    if edge:
        zone = (
            select(Borrower.timezone)
            .join(Loan, Loan.borrower_id == Borrower.id)
            .where(Loan.id == LoanInstallment.loan_id)
            .scalar_subquery()
        )
        within = [due >= earliest, due < latest, due < today_column(zone, moment)]
    else:
        within = [due < earliest]
    query = select(
        LoanInstallment.loan_id.label("loan_id"),
        func.sum(owed).label("owed"),
        func.min(due).label("since"),
    ).where(text(f"({UNPAID_INSTALLMENT})"), *within)
    if loan_ids is not None:
        query = query.where(one_of(LoanInstallment.loan_id, loan_ids))
    name = "owed_at_the_edge" if edge else "owed_installments"
    return query.group_by(LoanInstallment.loan_id).subquery(name)


def _charges_owed(loan_ids: list[int] | None) -> Subquery:
    """Unpaid fees and penalties per loan."""
    owed = LoanCharge.outstanding
    query = select(LoanCharge.loan_id.label("loan_id"), func.sum(owed).label("owed")).where(
        owed > 0
    )
    if loan_ids is not None:
        query = query.where(one_of(LoanCharge.loan_id, loan_ids))
    return query.group_by(LoanCharge.loan_id).subquery("owed_charges")


@dataclass(frozen=True)
class Arrears:
    """The overdue amount per loan, as two grouped subqueries joined to ``Loan``.

    Kept apart rather than summed through a UNION: PostgreSQL estimates a grouped union
    at 200 rows whatever its size, and then joins it in a nested loop (seconds on a
    hundred thousand cases); grouped by a real column, its statistics hold.
    """

    installments: Subquery
    charges: Subquery
    # Installments due on the day or two borrowers' todays disagree about (None when all
    # borrowers are on one date).
    edge: Subquery | None = None

    def joined(self, query: Select[Any]) -> Select[Any]:
        """``query`` (which has ``Loan``) with the amounts outer-joined."""
        query = query.outerjoin(self.installments, self.installments.c.loan_id == Loan.id)
        if self.edge is not None:
            query = query.outerjoin(self.edge, self.edge.c.loan_id == Loan.id)
        return query.outerjoin(self.charges, self.charges.c.loan_id == Loan.id)

    @property
    def since(self) -> ColumnElement[Any]:
        """The due date of the loan's oldest overdue installment (None when none is)."""
        if self.edge is None:
            return self.installments.c.since
        return func.coalesce(self.installments.c.since, self.edge.c.since)

    @property
    def amount(self) -> ColumnElement[Any]:
        """The loan's overdue amount in minor units (0 when nothing is owed)."""
        total = func.coalesce(self.installments.c.owed, 0) + func.coalesce(self.charges.c.owed, 0)
        if self.edge is None:
            return total
        return total + func.coalesce(self.edge.c.owed, 0)


def arrears_of(moment: datetime, loan_ids: list[int] | None = None) -> Arrears:
    """The overdue amounts at ``moment``, each on its borrower's today: overdue principal
    and interest plus unpaid fees and penalties, per loan; ``loan_ids`` limits the sums to
    those loans."""
    earliest, latest = date_bounds(moment)
    edge = _installments_owed(moment, loan_ids, edge=True) if earliest < latest else None
    return Arrears(_installments_owed(moment, loan_ids), _charges_owed(loan_ids), edge)


def _latest_plans() -> Select[Any]:
    """The id of each case's latest plan."""
    return select(func.max(Plan.id)).group_by(Plan.case_id)


def _plan_condition(status: str) -> ColumnElement[bool]:
    if status == "none":
        return Case.id.not_in(select(Plan.case_id))
    latest = select(Plan.case_id).where(Plan.id.in_(_latest_plans()), Plan.status == status)
    return Case.id.in_(latest)


def _start_of(day: date, zone: tzinfo) -> datetime:
    # In UTC, as times are stored: SQLite compares the text and ignores any offset.
    return datetime.combine(day, time.min, tzinfo=zone).astimezone(UTC)


def _contact_condition(band: str, today: date, zone: tzinfo) -> ColumnElement[bool]:
    column = Case.last_contact_at
    midnight = _start_of(today, zone)
    week = _start_of(today - timedelta(days=6), zone)
    conditions: dict[str, ColumnElement[bool]] = {
        "never": column.is_(None),
        "today": column >= midnight,
        "not_today": or_(column.is_(None), column < midnight),
        "7d": column >= week,
        "over_7d": column < week,
    }
    return conditions[band]


# The shortest start or end of a loan number or phone number that the search matches as a
# part: shorter, "6" or "0006" would match thousands of cases by accident. Four is the
# last four digits of a phone, the part people read out; anything shorter must be whole.
MIN_PARTIAL = 4


def _search_condition(search: str) -> ColumnElement[bool]:
    """A loan number or phone number, matched whole, or by its start or its end when
    what was typed is at least ``MIN_PARTIAL`` characters (digits, for a phone); never in
    the middle. Phone digits are matched as typed (zeros are digits) ignoring
    separators; a whole number written the local way (0912 345 678) also finds the
    stored international form (+886 912 345 678): the national number after a country
    code of one to three digits.

    The loans found by number and those found by their borrower's phone are a UNION of
    two selects, each on its own table: an OR across the two tables could use neither
    table's index (trigram or b-tree, on PostgreSQL)."""
    wanted = search.strip()
    upper = wanted.upper()
    by_loan: ColumnElement[bool] = Loan.number == upper
    if len(upper) >= MIN_PARTIAL:
        number = like_pattern(upper)
        by_loan = or_(
            by_loan,
            func.upper(Loan.number).like(number + "%", escape="\\"),
            func.upper(Loan.number).like("%" + number, escape="\\"),
        )
    loans: Select[Any] = select(Loan.id).where(by_loan)
    digits = re.sub(r"\D", "", wanted)
    if re.fullmatch(r"[0-9 +\-().]+", wanted) and digits:
        # Each match is a range of a b-tree index on PostgreSQL: the digits' start
        # (``ix_borrowers_phone_digits``) or the start of the reversed digits
        # (``ends_with``, ``ix_borrowers_phone_digits_reversed``). A trigram index read
        # every phone sharing the typed number's trigrams, and "_912345678" has no start.
        phone = Borrower.__table__.c.phone_digits
        matches = [phone == digits]
        if len(digits) >= MIN_PARTIAL:
            matches += [phone.like(digits + "%"), ends_with(phone, digits)]
        if re.fullmatch(r"0[1-9][0-9]{5,}", digits):
            # One trunk zero: the national number, after any one- to three-digit country
            # code: the phone ends with it and has one to three digits more.
            national = digits[1:]
            length = func.length(phone)
            matches.append(
                and_(
                    ends_with(phone, national),
                    length >= len(national) + 1,
                    length <= len(national) + 3,
                )
            )
        by_phone = select(Loan.id).join(Borrower, Borrower.id == Loan.borrower_id)
        return Case.loan_id.in_(loans.union(by_phone.where(or_(*matches))))
    return Case.loan_id.in_(loans)


def _days_band(
    first: int,
    last: int | None,
    moment: datetime,
    edge: bool = True,
) -> ColumnElement[bool]:
    """Cases ``first`` to ``last`` (None: no end) days past due on their borrower's today
    at ``moment``; below one day includes the cases not overdue at all. ``d`` days past due
    means overdue since the borrower's today minus ``d``: away from the edge, the earliest
    and latest today decide alone and the index on ``overdue_since`` serves; at the edge
    the borrower's own zone decides, read from the case's copy (``zone_of_case``, which
    that index carries). Without ``edge``, the cases the earliest and latest today decide
    alone (all of the band but those at its edge)."""
    since = Case.overdue_since
    earliest, latest = date_bounds(moment)
    zone = zone_of_case()
    conditions = []
    if first >= 1:
        bulk: ColumnElement[bool] = since <= earliest - timedelta(days=first)
        at_the_edge = and_(
            since <= latest - timedelta(days=first),
            since <= today_column(zone, moment, first),
        )
        conditions.append(or_(bulk, at_the_edge) if edge else bulk)
    if last is not None:
        bulk = or_(since.is_(None), since >= latest - timedelta(days=last))
        at_the_edge = and_(
            since >= earliest - timedelta(days=last),
            since >= today_column(zone, moment, last),
        )
        conditions.append(or_(bulk, at_the_edge) if edge else bulk)
    return and_(*conditions) if conditions else Case.id.is_not(None)


def _bands(chosen: QueueFilter, moment: datetime, edge: bool = True) -> list[ColumnElement[bool]]:
    """The days-past-due band's and the stage's conditions (``edge``: see
    ``_days_band``)."""
    bands: list[tuple[int, int | None]] = []
    if chosen.dpd_band == "0":
        bands.append((0, 0))
    elif chosen.dpd_band in DPD_RANGES:
        bands.append(DPD_RANGES[chosen.dpd_band])
    if chosen.stage:
        # The stage days past due imply on the borrower's today, as each row shows it; an
        # arranged or held case keeps its days (its state is another fact).
        bands.append(stage_days(Stage(chosen.stage)))
    return [_days_band(first, last, moment, edge) for first, last in bands]


def stage_days(stage: Stage) -> tuple[int, int | None]:
    """The days past due of ``stage`` under the policy in force: (first, last or None)."""
    rules = policy()
    order = list(Stage)
    first = rules.stage_starts(stage)
    later = order[order.index(stage) + 1 :]
    return first, (rules.stage_starts(later[0]) - 1 if later else None)


def _filtered(
    chosen: QueueFilter,
    moment: datetime,
    zone: tzinfo,
    currency: bool = True,
    edge: bool = True,
    few: bool = False,
) -> Select[Any]:
    """Case ids that ``chosen`` selects at ``moment`` but for the overdue amount's range
    (``_parts``), with the loan joined only when the sort reads it: counting a million
    cases should not join a million loans it never looks at (the amount, the loan's
    currency and the borrower's zone are copied on the case). Without ``currency``, any
    currency; without ``edge``, none of the cases at the edge of a band of days
    (``_days_band``); with ``few``, the currency read row by row (for the few cases at
    the edge: the loan's only for a case never counted, rather than every loan in the
    currency)."""
    query = select(Case.id)
    if chosen.sort == "loan":
        # The stored amount and the loan's currency are on the case: only the order by
        # loan number reads the loan.
        query = query.join(Loan, Loan.id == Case.loan_id)
    query = query.where(*_bands(chosen, moment, edge))
    if chosen.currency and currency:
        if few:
            # The case's copy first (the index's), then the loan's for a case without one.
            stored_currency = STORED.arrears_currency
            query = query.where(
                or_(stored_currency == chosen.currency, stored_currency.is_(None)),
                currency_of() == chosen.currency,
            )
        else:
            query = query.where(in_currency(chosen.currency))
    if chosen.hold == "none":
        query = query.where(Case.hold.is_(None))
    elif chosen.hold in ("dispute", "hardship"):
        query = query.where(Case.hold == chosen.hold)
    if chosen.owner == UNASSIGNED:
        query = query.where(Case.owner_id.is_(None))
    elif chosen.owner:
        query = query.where(Case.owner_id == int(chosen.owner))
    if chosen.needs_agent:
        query = query.where(Case.needs_agent.is_(chosen.needs_agent == "yes"))
    if chosen.plan_status:
        query = query.where(_plan_condition(chosen.plan_status))
    if chosen.last_contact:
        today = moment.astimezone(zone).date()
        query = query.where(_contact_condition(chosen.last_contact, today, zone))
    if chosen.search:
        query = query.where(_search_condition(chosen.search))
    if chosen.agency is not None:
        # As portal.agencies.access.may_reach decides a case: live, inside its period,
        # with an active agency (a placement past its end leaves the queue at once, not
        # at the daily work's recall).
        placed = (
            select(AgencyPlacement.case_id)
            .join(Agency, Agency.id == AgencyPlacement.agency_id)
            .where(
                Agency.active,
                AgencyPlacement.agency_id == chosen.agency,
                AgencyPlacement.status == PlacementStatus.PLACED,
                AgencyPlacement.ends_at > moment,
            )
        )
        query = query.where(Case.id.in_(placed))
    return query


@dataclass(frozen=True)
class _Part:
    """One of the disjoint selects of case ids whose union is what the queue selects:
    either every case the filter selects (``stored`` False, ``currency`` None, no amount
    read), or the cases whose stored amount holds at the moment (``stored``), in one
    ``currency`` (None: in none the queue reads by index), or the few whose amount is
    counted (neither)."""

    query: Select[Any]
    stored: bool = False
    currency: str | None = None


def _stored_holds(moment: datetime) -> ColumnElement[bool]:
    """The cases whose stored amount (and currency) holds on every borrower's today at
    ``moment``: the amount is then the column itself, readable through its index."""
    return and_(holds_everywhere(moment), STORED.arrears_currency.is_not(None))


def _parts(chosen: QueueFilter, moment: datetime, zone: tzinfo, by_currency: bool) -> list[_Part]:
    """What ``chosen`` selects at ``moment`` as disjoint selects (their UNION ALL is the
    selection, so their counts add up): the whole selection in one when no amount is
    filtered (nor ``by_currency``, for the order by amount); else the cases whose stored
    amount holds (per currency when ``by_currency`` or the amounts are converted), each
    a range of the index on (currency, amount), and the few cases at the edge of their
    window, whose amount is counted (``arrears_at``).

    An OR of the two could read neither through an index: PostgreSQL then reads every
    matching row from the table (a bitmap heap scan of the whole range)."""
    query = _filtered(chosen, moment, zone)
    basis = amount_basis(chosen)
    low, high = chosen.balance_min, chosen.balance_max
    filtering = _filters_amount(chosen)
    if not filtering and not by_currency:
        return [_Part(query)]
    # The stored parts name their currency on the case's own copy, which is the loan's
    # wherever the stored amount holds, and leave the cases at the edge of a band of days
    # (whose borrower's zone decides, a subquery per row) to the counted part: with only
    # the index's columns read, PostgreSQL reads them from the index alone.
    any_currency = _filtered(chosen, moment, zone, currency=False, edge=False)
    holds = _stored_holds(moment)
    parts: list[_Part] = []
    low_minor = None if low is None or not filtering else basis.threshold(low)
    high_minor = None if high is None or not filtering else basis.threshold(high)
    currencies = basis.currencies(chosen.currency)
    for code in currencies:
        conditions = basis.stored_range(code, low_minor, high_minor)
        if conditions is not None:
            stored = any_currency.where(holds, STORED.arrears_currency == code, *conditions)
            parts.append(_Part(stored, stored=True, currency=code))
    if not chosen.currency:
        # Loans in a currency the queue does not list (none in practice): compared as the
        # counted amounts are, without the index's order.
        others = any_currency.where(holds, _none_of(currencies))
        owed = basis.amount(STORED.arrears)
        if low_minor is not None:
            others = others.where(owed >= low_minor)
        if high_minor is not None:
            others = others.where(owed <= high_minor)
        parts.append(_Part(others, stored=True))
    counted = _filtered(chosen, moment, zone, few=True)
    counted = counted.where(not_(and_(holds, *_bands(chosen, moment, edge=False))))
    if (low_minor, high_minor) != (None, None):
        # Built only to filter: the expression is large (every zone's today), and a sort
        # builds its own.
        owed = basis.amount(arrears_at(moment, zone_of_case()))
        if low_minor is not None:
            counted = counted.where(owed >= low_minor)
        if high_minor is not None:
            counted = counted.where(owed <= high_minor)
    parts.append(_Part(counted))
    return parts


def _filters_amount(chosen: QueueFilter) -> bool:
    """Whether ``chosen`` limits the overdue amount (in a currency it can compare in)."""
    limits = (chosen.balance_min, chosen.balance_max)
    return amount_basis(chosen).currency is not None and limits != (None, None)


def _none_of(currencies: tuple[str, ...]) -> ColumnElement[bool]:
    """A stored currency (not NULL) that is none of ``currencies`` (sorted), as ranges
    of the index between them rather than a NOT IN, which no index reads."""
    column = STORED.arrears_currency
    ranges = [column < currencies[0], column > currencies[-1]]
    ranges += [and_(column > below, column < above) for below, above in pairwise(currencies)]
    return or_(*ranges)


def _union(parts: list[_Part]) -> Select[Any]:
    """The ids of every part, as one select."""
    if len(parts) == 1:
        return parts[0].query
    every = union_all(*(part.query for part in parts)).subquery("selected")
    return select(every.c.id)


@dataclass(frozen=True)
class AmountBasis:
    """What overdue amounts are compared and sorted in: ``currency`` (None: amounts of
    different currencies are not compared), each loan's own amount when it is the chosen
    currency, or converted at ``rates`` (one unit of each currency in ``currency``)."""

    currency: str | None
    rates: Mapping[str, Decimal] | None = None

    @property
    def converted(self) -> bool:
        """True when each loan's amount is converted at the configured rates."""
        return self.rates is not None

    @property
    def factors(self) -> dict[str, Decimal]:
        """What one minor unit of each currency with a rate is in minor units of
        ``currency`` (empty when amounts are not converted)."""
        if self.rates is None or self.currency is None:
            return {}
        target = minor_digits(self.currency)
        return {code: rate.scaleb(target - minor_digits(code)) for code, rate in self.rates.items()}

    def amount(self, owed: ColumnElement[Any]) -> ColumnElement[Any]:
        """``owed`` (minor units of each loan's currency) in minor units of ``currency``."""
        if self.rates is None or self.currency is None:
            return owed
        # Exact decimals the settings checked (digits and a point only): written into the
        # statement as numeric literals, so PostgreSQL multiplies exactly.
        factor = when(
            {code: literal_column(f"{value:f}") for code, value in self.factors.items()},
            value=currency_of(),
        )
        # A loan in a currency without a rate has no converted amount (NULL): no amount
        # filter selects it, and sorting by amount puts it last.
        return owed * factor

    @property
    def rates_text(self) -> str:
        """The rates used, as people read them: "1 CNY = 4.45 TWD, 1 HKD = 4.1 TWD"."""
        return ", ".join(
            f"1 {code} = {rate:f} {self.currency}"
            for code, rate in sorted((self.rates or {}).items())
            if code != self.currency
        )

    def threshold(self, whole: int) -> int:
        """``whole`` units of ``currency`` in its minor units."""
        return whole * minor_per_major(self.currency or "TWD")

    def currencies(self, chosen: str | None) -> tuple[str, ...]:
        """The loans' currencies the stored amounts are read in, one index range each:
        the chosen one, or every one the queue lists and every one with a rate."""
        if chosen:
            return (chosen,)
        return tuple(sorted({*CURRENCIES, *self.factors}))

    def stored_amount(self, code: str) -> ColumnElement[Any]:
        """The stored amount of a loan in ``code`` as ``amount`` gives it: itself, times
        the currency's factor, or NULL (converted, and ``code`` has no rate)."""
        if not self.converted:
            return STORED.arrears
        factor = self.factors.get(code)
        if factor is None:
            return null()
        return STORED.arrears * literal_column(f"{factor:f}")

    def stored_range(
        self, code: str, low: int | None, high: int | None
    ) -> list[ColumnElement[bool]] | None:
        """The stored amount of a loan in ``code`` (minor units of that currency) whose
        ``amount`` is from ``low`` to ``high`` minor units of ``currency`` (None: no limit),
        as a range of the column itself (what its index reads); None when no amount of
        ``code`` is in it (converted, and ``code`` has no rate)."""
        if not self.converted:
            factor = Fraction(1)
        elif code in self.factors:
            factor = Fraction(self.factors[code])
        else:
            return None if (low, high) != (None, None) else []
        conditions = []
        # owed * factor >= low, for a whole owed and a positive exact factor: owed at least
        # the ceiling of low / factor (and at most the floor of high / factor).
        if low is not None:
            conditions.append(STORED.arrears >= math.ceil(low / factor))
        if high is not None:
            conditions.append(STORED.arrears <= math.floor(high / factor))
        return conditions


def amount_basis(chosen: QueueFilter) -> AmountBasis:
    """The chosen currency; without one, the reporting currency when a rate is configured
    for every lending currency; else none (amounts across currencies are not compared)."""
    if chosen.currency:
        return AmountBasis(chosen.currency)
    config = settings.current()
    rates = config.reporting_rates
    if all(code in rates for code in CURRENCIES):
        return AmountBasis(config.reporting_currency, rates)
    return AmountBasis(None)


def console_zone() -> ZoneInfo:
    """The agent console's time zone (``HAOHUAN_CONSOLE_TIMEZONE``): its "today", the
    days of the last-contact filter, and the times it shows."""
    return settings.current().console_zone


def console_today(moment: datetime) -> date:
    """The agent console's "today" at ``moment``: the calendar the last-contact filter
    ("contacted today", "the last 7 days") counts in. Days past due and amounts count in
    each borrower's own today (``portal.cases.overdue.borrower_today``)."""
    return moment.astimezone(console_zone()).date()


def matching_cases(
    chosen: QueueFilter, moment: datetime, zone: tzinfo | None = None
) -> Select[Any]:
    """A select of the ids of every case ``chosen`` selects at ``moment`` (unordered,
    every page): the segment a bulk send works through, on the same definition of each
    borrower's today as the queue, the case page and the letter. ``zone`` (the console's
    unless given) is the calendar "today" and "the last 7 days" of the last-contact
    filter are counted in."""
    return _union(_parts(chosen, moment, zone or console_zone(), by_currency=False))


# The order of a sort: a key (an expression) and how it orders.
Order = tuple[Any, Callable[[Any], ColumnElement[Any]]]


def _asc(key: ColumnElement[Any]) -> ColumnElement[Any]:
    return key.asc()


def _desc(key: ColumnElement[Any]) -> ColumnElement[Any]:
    return key.desc()


def _asc_nulls_first(key: ColumnElement[Any]) -> ColumnElement[Any]:
    return key.asc().nulls_first()


def _asc_nulls_last(key: ColumnElement[Any]) -> ColumnElement[Any]:
    return key.asc().nulls_last()


def _desc_nulls_last(key: ColumnElement[Any]) -> ColumnElement[Any]:
    return key.desc().nulls_last()


def _desc_nulls_first(key: ColumnElement[Any]) -> ColumnElement[Any]:
    return key.desc().nulls_first()


def _orders(chosen: QueueFilter, part: _Part, moment: datetime) -> list[Order]:
    """The sort's keys, before the case id that breaks ties, read in ``part`` (the
    stored amount in a part of stored amounts, else the amount at ``moment``)."""
    descending = chosen.descending
    if chosen.sort == "balance":
        basis = amount_basis(chosen)
        if part.stored and part.currency is not None:
            owed = basis.stored_amount(part.currency)
            currency: ColumnElement[Any] = STORED.arrears_currency
        else:
            owed = basis.amount(
                STORED.arrears if part.stored else arrears_at(moment, zone_of_case())
            )
            currency = STORED.arrears_currency if part.stored else currency_of()
        key: Order = (owed, _desc_nulls_last if descending else _asc_nulls_last)
        if basis.currency is None:
            # Amounts of different currencies are not compared: each currency in turn.
            return [(currency, _asc), key]
        return [key]
    if chosen.sort == "last_contact":
        return [(Case.last_contact_at, _desc_nulls_last if descending else _asc_nulls_first)]
    if chosen.sort == "loan":
        return [(Loan.number, _desc if descending else _asc)]
    # Most days past due is the oldest overdue_since; not overdue counts as 0 days.
    return [(Case.overdue_since, _asc_nulls_last if descending else _desc_nulls_first)]


def _index_order(chosen: QueueFilter, part: _Part) -> list[ColumnElement[Any]] | None:
    """The order of the part of one currency's stored amounts by amount, as the index on
    (currency, amount) reads it (the amount column itself, without NULLS: it has none),
    or None when the part is ordered by its keys. Converted at a positive rate, the order
    of the amounts is the stored amounts' own; with no rate, every amount is NULL and
    the case id alone orders."""
    if chosen.sort != "balance" or not part.stored or part.currency is None:
        return None
    if isinstance(amount_basis(chosen).stored_amount(part.currency), Null):
        return []
    return [STORED.arrears.desc() if chosen.descending else STORED.arrears.asc()]


def _ordered(query: Select[Any], chosen: QueueFilter, moment: datetime) -> Select[Any]:
    orders = _orders(chosen, _Part(query), moment)
    return query.order_by(*(order(key) for key, order in orders), Case.id.asc())


def _sorted(part: _Part, chosen: QueueFilter, moment: datetime) -> Select[Any]:
    """``part``'s ids in the order ``chosen`` asks for."""
    orders = _orders(chosen, part, moment)
    return part.query.order_by(*(order(key) for key, order in orders), Case.id.asc())


def _page_ids(
    stored: list[_Part],
    counted: _Part,
    first_counted: list[int],
    chosen: QueueFilter,
    moment: datetime,
    span: Window,
) -> Select[Any]:
    """The ids of ``span``'s page in the order ``chosen`` asks for, from the ``stored``
    parts, each sorted and cut to the rows up to the page's end (through the index, for
    an order by amount), and the ``counted`` part's cases up to the page's end (in
    order, ``first_counted``), then the page from those."""
    end = span.page * span.per_page
    pieces = []
    parts = [*stored, counted] if first_counted else stored
    orders: list[Order] = []
    for part in parts:
        orders = _orders(chosen, part, moment)
        keys = [key.label(f"key_{n}") for n, (key, _order) in enumerate(orders)]
        inner = _index_order(chosen, part)
        if inner is None:
            inner = [order(key) for key, order in orders]
        query = part.query if part is not counted else part.query.where(Case.id.in_(first_counted))
        piece = query.add_columns(*keys).order_by(*inner, Case.id.asc()).limit(end).subquery()
        pieces.append(select(*piece.c))
    every = union_all(*pieces).subquery("candidates")
    outer = [order(every.c[f"key_{n}"]) for n, (_key, order) in enumerate(orders)]
    return span.of(select(every.c.id).order_by(*outer, every.c.id.asc()))


# One page ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class QueueRow:
    """One case as the queue shows it. The name and phone are masked here, so the full
    ones never reach the page."""

    case_id: int
    loan_number: str
    name: str
    phone: str
    currency: str
    days_past_due: int
    # The collection stage days past due imply; the case's state (arranged, on hold) is
    # told apart in ``status`` and ``hold``.
    stage: str
    status: str
    hold: str | None
    plan_status: str | None
    arrears: int
    last_contact_at: datetime | None
    needs_agent: bool
    # The owner's name, None when the case has none.
    owner: str | None = None


@dataclass(frozen=True)
class QueuePage:
    """One page of the queue, with the filter that made it (its page clamped to what
    exists) and the count of every matching case."""

    rows: list[QueueRow]
    total: int
    page: int
    pages: int
    filter: QueueFilter


def page_of(
    db: Session,
    chosen: QueueFilter,
    moment: datetime,
    per_page: int = PER_PAGE,
    zone: tzinfo | None = None,
) -> QueuePage:
    """The page of the queue ``chosen`` asks for at ``moment`` (the last one if it asks
    for more), sorted as it asks: the count with the page's case ids (one statement
    when the page asked for has cases, ``_counted_page``), then their rows with their
    arrears and latest plans; with an amount filtered or sorted, first the cases whose
    amount is counted (``_parts``; for a sort, their currencies first:
    ``_first_counted``)."""
    zone = zone or console_zone()
    without_jit(db)
    # Only the statements that choose the page's cases: the page's rows, read by case id
    # after it, are prepared as any other, and their generic plan, the same for any 50
    # ids, spares planning them each request (``bench/profiles/pages.md``).
    with planned_for_values(db):
        ids, span = _page_ids_of(db, chosen, moment, per_page, zone)
    rows = _rows(db, ids, moment)
    return QueuePage(rows, span.total, span.page, span.pages, replace(chosen, page=span.page))


def _page_ids_of(
    db: Session, chosen: QueueFilter, moment: datetime, per_page: int, zone: tzinfo
) -> tuple[list[int], Window]:
    """``page_of``'s case ids in order, and where its page falls."""
    if chosen.sort != "balance" and not chosen.stage and not _filters_amount(chosen):
        # Every case in one part, whose statement reads neither the settings nor the
        # policy: built once for the moments that share the zones' dates.
        same = dates_moment(moment)
        part = _whole_part(replace(chosen, page=1), same, zone)
        span, ids = _counted_page(db, part, chosen, same, per_page, whole=True)
        return ids, span
    parts = _parts(chosen, moment, zone, by_currency=chosen.sort == "balance")
    if len(parts) == 1:
        span, ids = _counted_page(db, parts[0], chosen, moment, per_page)
        return ids, span
    *stored, counted = parts
    # The cases whose amount is counted (a few thousand at 1M) read once, in order:
    # each is read from the table (its window, its overdue date and its zone), which
    # costs more than reading the index.
    if _filters_amount(chosen):
        in_order = list(db.scalars(_sorted(counted, chosen, moment)))
        total = count(db, _union(stored)) + len(in_order)
        span = placed(total, chosen.page, per_page)
        first = in_order[: span.page * per_page]
    else:
        total = count(db, _filtered(chosen, moment, zone))
        span = placed(total, chosen.page, per_page)
        first = _first_counted(db, counted, chosen, moment, span.page * per_page)
    return list(db.scalars(_page_ids(stored, counted, first, chosen, moment, span))), span


def _first_counted(
    db: Session, counted: _Part, chosen: QueueFilter, moment: datetime, end: int
) -> list[int]:
    """The first ``end`` of the ``counted`` part's cases in ``chosen``'s order by amount,
    counting the amounts of as few as that order allows. Amounts of different currencies
    are not compared, so the currency orders first (ascending, whatever the direction):
    the cases of the currencies after the first ones that hold ``end`` cases between them
    cannot be among the first ``end``, and their amounts (each counted from the loan's
    installments, the costly part) are not counted. The currencies come first, read from
    the case's copy (or its loan, for a case never counted), with no amount."""
    if amount_basis(chosen).currency is not None:
        return list(db.scalars(_sorted(counted, chosen, moment).limit(end)))
    currency = currency_of()
    per_currency = counted.query.add_columns(currency.label("currency")).subquery()
    tally = db.execute(
        select(per_currency.c.currency, func.count()).group_by(per_currency.c.currency)
    )
    needed: list[str] = []
    seen = 0
    for code, cases in sorted((code, cases) for code, cases in tally):
        if seen >= end:
            break
        needed.append(code)
        seen += cases
    if not needed:
        return []
    first = replace(counted, query=counted.query.where(currency.in_(needed)))
    return list(db.scalars(_sorted(first, chosen, moment).limit(end)))


@lru_cache(maxsize=64)
def _whole_part(chosen: QueueFilter, moment: datetime, zone: tzinfo) -> _Part:
    """``_parts``'s one part for a filter on no stage and no amount, not sorted by amount,
    at ``moment`` (a ``dates_moment``): what it reads of the moment is the zones' dates
    and the console's today, the same for every moment that shares them."""
    parts = _parts(chosen, moment, zone, by_currency=False)
    assert len(parts) == 1  # no amount filtered, not by currency  # noqa: S101
    return parts[0]


def _page_with_count(
    part: _Part, chosen: QueueFilter, moment: datetime, per_page: int
) -> Select[tuple[int, int]]:
    """The statement of ``_counted_page``: the page's case ids in order, each with the
    count of every case ``part`` selects."""
    orders = _orders(chosen, part, moment)
    keys = [key.label(f"key_{n}") for n, (key, _order) in enumerate(orders)]
    asked = placed(chosen.page * per_page, chosen.page, per_page)
    page = asked.of(
        part.query.add_columns(*keys).order_by(
            *(order(key) for key, order in orders), Case.id.asc()
        )
    ).subquery("page")
    total = select(func.count()).select_from(part.query.subquery()).scalar_subquery()
    # The page's rows in the sort's order again (a subquery's order is not kept).
    outer = [order(page.c[f"key_{n}"]) for n, (_key, order) in enumerate(orders)]
    return select(page.c.id, total.label("total")).order_by(*outer, page.c.id.asc())


# For the part ``_whole_part`` keeps, at a ``dates_moment``: built once for them too.
_whole_page_with_count = lru_cache(maxsize=64)(_page_with_count)


def _counted_page(
    db: Session,
    part: _Part,
    chosen: QueueFilter,
    moment: datetime,
    per_page: int,
    *,
    whole: bool = False,
) -> tuple[Window, list[int]]:
    """The page ``chosen`` asks for of the cases ``part`` selects, and its case ids in
    order: one statement that reads the page's ids with the count of every case beside
    each, read on the session's connection (no object is loaded). Only when that page
    has no case (past the last page, or none at all) is the count read alone, and the
    last page's ids after it. A ``whole`` part (``_whole_part``'s, at a
    ``dates_moment``) has its statement built once."""
    connection = db.connection()
    statement = (_whole_page_with_count if whole else _page_with_count)(
        part, chosen, moment, per_page
    )
    found = connection.execute(statement).all()
    if found:
        return placed(found[0].total, chosen.page, per_page), [row.id for row in found]
    counted = int(
        connection.execute(select(func.count()).select_from(part.query.subquery())).scalar_one()
    )
    span = placed(counted, chosen.page, per_page)
    if counted == 0:
        return span, []
    return span, list(connection.execute(span.of(_ordered(part.query, chosen, moment))).scalars())


def rows_of(db: Session, ids: list[int], moment: datetime) -> list[QueueRow]:
    """The queue's row (masked) for each of ``ids`` in that order, in one statement
    whatever their number: for other lists of cases (My work) shown as the queue shows
    them."""
    return _rows(db, ids, moment)


def owned_overdue(owner_id: int) -> QueueFilter:
    """The queue's filter for one owner's overdue cases in its first order (most days
    past due first): what My work calls the cases the strategy ranks highest."""
    return QueueFilter(owner=str(owner_id))


@lru_cache(maxsize=8)
def _rows_statement(moment: datetime, dialect: str) -> Select[*tuple[Any, ...]]:
    """The statement of ``_rows`` at ``moment`` (a ``dates_moment``: it reads the moment
    only through the zones' dates, so it is built once for all the moments that share
    them) for ``dialect``, the page's ids a parameter (``page_ids``: PostgreSQL's array
    text, as ``one_of`` sends it, or a list elsewhere). The amount is the case's stored
    amount wherever its window holds on the borrower's today, else counted from the
    installments and charges (``arrears_at``: the same amount at any moment); the days
    count from the oldest installment still owed that fell due before that today."""
    borrower_zone = Borrower.timezone
    # The oldest installment still owed that fell due before the latest borrower's today
    # (a literal date, not the zone's CASE for each installment): when it is not before
    # this borrower's own today (at the edge of the day), none owed is, so it is
    # compared in Python with the today the row is counted on.
    _earliest, latest_today = date_bounds(moment)
    oldest = (
        select(func.min(LoanInstallment.due_date))
        .where(
            LoanInstallment.loan_id == Case.loan_id,
            text(f"({UNPAID_INSTALLMENT})"),
            LoanInstallment.due_date < latest_today,
        )
        .correlate(Case)
        .scalar_subquery()
    )
    # The status of the case's latest plan (the highest id), read through the plans'
    # case index for the page's cases only.
    latest = (
        select(type_coerce(Plan.status, String()))
        .where(Plan.case_id == Case.id)
        .order_by(Plan.id.desc())
        .limit(1)
        .correlate(Case)
        .scalar_subquery()
    )
    if dialect == "postgresql":
        # One array parameter, as ``one_of`` writes it: the same text on every page.
        chosen = Case.id == any_(cast(bindparam("page_ids", type_=NullType()), ARRAY(Case.id.type)))
    else:
        chosen = Case.id.in_(bindparam("page_ids", expanding=True))
    return (
        select(
            Case.id,
            # The stored codes as they are (a row holds text, as ``QueueRow`` says): no
            # enum made for each of 50 rows' three codes.
            type_coerce(Case.status, String()),
            type_coerce(Case.hold, String()),
            Case.last_contact_at,
            Case.needs_agent,
            Loan.number,
            Loan.currency,
            Borrower.full_name,
            Borrower.phone,
            borrower_zone,
            arrears_at(moment, borrower_zone),
            oldest,
            latest,
            StaffMember.name,
            # The policy in force, for the stages, read with the rows (not in a round
            # trip of its own).
            *versions.active_head_columns(),
        )
        .select_from(Case)
        .join(Loan, Loan.id == Case.loan_id)
        .join(Borrower, Borrower.id == Loan.borrower_id)
        .outerjoin(StaffMember, StaffMember.id == Case.owner_id)
        .where(chosen)
    )


def _rows(db: Session, ids: list[int], moment: datetime) -> list[QueueRow]:
    """The queue's columns for ``ids``, in that order: days past due, the overdue amount
    and the stage each on the borrower's today, as the case page counts them, in one
    statement (``_rows_statement``). Plain rows (no ``Case`` objects: a page reads each
    once and never writes), read on the session's connection, past the ORM's execution
    (no object is loaded)."""
    if not ids:
        return []
    connection = db.connection()
    dialect = connection.dialect.name
    query = _rows_statement(dates_moment(moment), dialect)
    chosen: list[int] | str = array_text(ids) if dialect == "postgresql" else ids
    found_rows = connection.execute(query, {"page_ids": chosen}).all()
    if not found_rows:
        return []
    version, sha256 = found_rows[0][-2:]
    rules = policy(versions.head_of(version, sha256))
    found: dict[int, QueueRow] = {}
    # A page's borrowers live in a few zones: each zone's today worked out once.
    todays: dict[str, date] = {}
    for row in found_rows:
        case_id, status, hold, last_contact_at, needs_agent, number, currency = row[:7]
        name, phone, zone, arrears, oldest_due, plan_status, owner = row[7:14]
        if zone not in todays:
            todays[zone] = borrower_today(zone, moment)
        today = todays[zone]
        days = (today - oldest_due).days if oldest_due is not None and oldest_due < today else 0
        found[case_id] = QueueRow(
            case_id=case_id,
            loan_number=number,
            name=mask_name(name),
            phone=mask_phone(phone),
            currency=currency,
            days_past_due=days,
            stage=rules.stage_for(days).value,
            status=status,
            hold=hold,
            plan_status=plan_status,
            arrears=int(arrears or 0),
            last_contact_at=last_contact_at,
            needs_agent=needs_agent,
            owner=owner,
        )
    return [found[case_id] for case_id in ids if case_id in found]


__all__ = [
    "CURRENCIES",
    "DPD_BANDS",
    "HOLDS",
    "LAST_CONTACTS",
    "NEEDS",
    "PLAN_STATUSES",
    "SORTS",
    "STAGES",
    "UNASSIGNED",
    "Arrears",
    "QueueFilter",
    "QueuePage",
    "QueueRow",
    "arrears_of",
    "console_today",
    "console_zone",
    "matching_cases",
    "owned_overdue",
    "page_of",
    "parse_filter",
    "rows_of",
]
