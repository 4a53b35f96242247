"""Odd input never makes a 500: a property test over every route of the app.

The routes come from the app's URL map, so a new route is fuzzed without being listed
here. For each route a probe request finds who is let in (nobody signed in, a verified
borrower, each staff role) and which parameters the view reads: every key it looks up in
the query string or the form body, which covers the fields of the WTForms forms it builds
(a field asks ``name in formdata``) as well as the values it reads by hand. Hypothesis
then sends bounded, derandomized examples of those parameters, odd and plain, as each
admitted client, and every answer must be below 500.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask, has_request_context, request, url_for
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from werkzeug.datastructures import MultiDict
from werkzeug.routing import Rule
from wtforms import Field, SelectFieldBase
from wtforms.form import BaseForm

from negotiation import effective_table
from portal import create_app
from portal.access.verification import issue_link
from portal.cases import assignment
from portal.core import db
from portal.models import Case, Message, MessageBatch, Offer, Payment, ReconciliationRun
from portal.staff import accounts, directory
from portal.staff.accounts import AGENCY, ROLES

from .factories import NOW, add_staff, app_config, build_case, sign_in, staff_sign_in
from .test_agencies import add_agency_member, make_agency, place
from .test_agent_offers import WITHIN

# Generous request limits: the fuzz is one address sending many requests on purpose.
FUZZ_CONFIG = {
    "RATE_LIMITS": "link=100000/600,verify=100000/600,staff_sign_in=100000/600,webhook=100000/60",
    "STRIPE_WEBHOOK_SECRET": "whsec_fuzz",
}

# Inputs that once made 500s, and their neighbours: huge and signed numbers, blank and
# space-only values, digits no int() reads, dates that are not days, control characters.
ODD = [
    "",
    " ",
    "   ",
    "\t",
    "+",
    "-",
    "-1",
    "0",
    "00",
    "1",
    "1" * 309,
    "9" * 4301,
    "1e309",
    "NaN",
    "inf",
    "1_000",
    "1,5,0,0",
    "²",
    "١٢",
    "１２",
    "0x10",
    "2026-02-30",
    "2026-13-01",
    "0000-00-00",
    "9999-12-31",
    " 2026-12-15 ",
    "２０２６－１２－１５",
    "12/15/2026",
    "\x00",
    "a\x00b",
    "\ud7ff",
    "🙂",
    "<script>alert(1)</script>",
    "' OR 1=1 --",
    "%",
    "_",
    "x" * 5000,
]
# The values of every input the issue's testers found a 500 with, and their nearest kin:
# each is sent in turn to every parameter of every route, on top of a plain submission.
CORE = ["", " ", "+", "-1", "0", "1" * 309, "9" * 4301, "²", "１２", "2026-02-30", "\x00", "NaN"]

# A submission that passes, for the forms whose fields depend on each other (a promise
# needs its date and amount...), so that spoiling one field reaches that field's handling
# rather than stopping at another's error. A route not listed here is fuzzed all the same.
OFFER = WITHIN  # the offer builder's own passing terms (test_agent_offers)
PLAN = {"kind": "arrears_plan", "installments": "6", "frequency": "monthly"}
BASELINES: dict[str, dict[str, str]] = {
    "agent.log_call": {
        "direction": "outbound",
        "answered": "borrower",
        "outcome": "promise",
        "started": "0",
        "promise_date": "2026-12-10",
        "promise_amount": "100",
    },
    "agent.new_offer": OFFER,
    "agent.preview_offer": OFFER,
    "agent.send_message": {"channel": "sms"},
    "agent.record_opt_out": {"channel": "sms", "action": "record"},
    "agent.queue_bulk": {"channel": "sms", "dpd": "all"},
    "agent.bulk": {"channel": "sms", "dpd": "all", "preview": "1"},
    "agent.clear_flag": {"note": "called them"},
    "agent.cancel_callback": {"note": "paid already"},
    "borrower.calculate": {**PLAN, "first_due_date": "2026-12-05"},
    "borrower.review": PLAN,
    "borrower.accept_plan": {**PLAN, "first_due_date": "2026-12-05", "consent": "y"},
    "borrower.plans": {
        "net_monthly_income": "40000",
        "household_size": "2",
        "housing": "10000",
        "utilities": "2000",
        "food": "8000",
        "transport": "1000",
        "other_debt_payments": "0",
        "other": "0",
    },
    "borrower.help_page": {"reason": "hardship", "details": "lost my job"},
    "borrower.contact_choices": {
        "channels": "email",
        "days_1": "weekdays",
        "from_1": "09:00",
        "until_1": "18:00",
    },
    # 10:30 in Taipei on the fuzz's first day, a time the rules allow.
    "borrower.ask_callback": {"slot": "2026-11-30T02:30Z"},
    "borrower.verify_link": {"method": "date_of_birth", "answer": "1985-03-07"},
    "borrower.start_payment": {"purpose": "partial", "amount": "100"},
    "finance.start_run": {"since": "2026-11-28", "until": "2026-11-29"},
    "finance.payments": {"since": "2026-11-01", "until": "2026-11-29"},
    "finance.collections": {"currency": "TWD", "until": "2026-11-29"},
    "admin.propose_file": {"toml": "[holds]\ndispute_review_days = 20\n", "reason": "shorter"},
    "admin.propose_values": {
        **{
            key.replace(".", "__"): [str(item) for item in value]
            if isinstance(value, list)
            else str(value)
            for key, value in effective_table("").items()
            if key.split(".")[0] in ("authority", "holds", "stages")
        },
        "reason": "wider",
    },
    "admin.approve_version": {"note": "ok"},
    "admin.reject_version": {"note": "too wide"},
    # The admin console and the segment reassignment (their ids: _world's member, team,
    # rule and set-up link).
    "admin.create_member": {"email": "new@haohuan.example", "roles": "agent", "team": "0"},
    "admin.member_roles": {"roles": "agent"},
    "admin.member_team": {"team": "0"},
    "admin.member_availability": {"capacity": "12", "away": "y"},
    "admin.create_team": {"name": "East"},
    "admin.rename_team": {"name": "West"},
    "admin.staff": {"role": "agent", "team": "0", "active": "yes"},
    "admin.create_rule": {"name": "All", "priority": "5", "agents": "1", "currency": "TWD"},
    "admin.edit_rule": {"name": "All", "priority": "5", "agents": "1", "min_amount": "10"},
    "agent.reassign_segment": {"target": "agent:1", "dpd": "all"},
    "agent.reassign_segment_submit": {"target": "agent:1", "dpd": "all", "note": "cover"},
    "staff.set_up_submit": {
        "password": "a brand new passphrase",
        "confirm": "a brand new passphrase",
    },
    "staff.enrol_submit": {"code": "123456"},
}

PLAIN = ["1", "2", "12", "1500", "2026-12-15", "2026-12-01", "y", "on", "1985-03-07", "6789"]


def _app_for_listing() -> Flask:
    """An app built only to read its URL map (no database is opened)."""
    return create_app({**app_config("sqlite:///:memory:"), **FUZZ_CONFIG})


def _routes() -> list[tuple[str, str]]:
    """Every (endpoint, method) the app serves, but static files."""
    found = []
    for rule in _app_for_listing().url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            found.append((rule.endpoint, method))
    return sorted(set(found))


ROUTES = _routes()


@dataclass
class Reads:
    """What a view read during a probe: query and form keys, and the fields of its forms."""

    args: set[str] = field(default_factory=set)
    form: set[str] = field(default_factory=set)
    fields: dict[str, Field] = field(default_factory=dict)


@contextmanager
def recording() -> Iterator[Reads]:
    """Record the keys read from ``request.args`` and ``request.form``, and the fields of
    every form processed, while the block runs."""
    reads = Reads()
    originals = {name: getattr(MultiDict, name) for name in ("__contains__", "get", "getlist")}
    originals["__getitem__"] = MultiDict.__getitem__
    process = BaseForm.process

    def spy(name: str) -> Any:
        original = originals[name]

        def wrapper(self: MultiDict[str, Any], key: Any, *args: Any, **kwargs: Any) -> Any:
            if has_request_context() and isinstance(key, str):
                if self is request.args:
                    reads.args.add(key)
                elif self is request.form:
                    reads.form.add(key)
            return original(self, key, *args, **kwargs)

        return wrapper

    def process_spy(self: BaseForm, *args: Any, **kwargs: Any) -> Any:
        for form_field in self:
            reads.fields[form_field.name] = form_field
        return process(self, *args, **kwargs)

    try:
        for name in originals:
            setattr(MultiDict, name, spy(name))
        BaseForm.process = process_spy  # type: ignore[method-assign]
        yield reads
    finally:
        for name, original in originals.items():
            setattr(MultiDict, name, original)
        BaseForm.process = process  # type: ignore[method-assign]


@dataclass
class World:
    """The app with a case, an open offer, staff of every role, and a client for each."""

    app: Flask
    clients: dict[str, FlaskClient]
    path_values: dict[str, object]


def _world(app: Flask) -> World:
    built = build_case(app, locale="zh_Hant_TW")
    with app.test_request_context("/"):
        session = db.session()
        offer = Offer(
            case_id=built.case_id,
            status="ready",
            terms={
                "kind": "arrears_plan",
                "installments": 3,
                "frequency": "monthly",
                "first_due_date": "2026-12-15",
            },
            created_by="agent@haohuan.example",
            created_at=NOW,
            expires_at=NOW + timedelta(days=7),
        )
        session.add(offer)
        session.flush()
        offer_token = issue_link(session, session.get(Case, built.case_id), NOW, offer=offer)
        session.commit()
        offer_id = offer.id
    clients = {"anonymous": app.test_client()}
    borrower = app.test_client()
    sign_in(borrower, built)
    clients["borrower"] = borrower
    for role in ROLES:
        email = f"{role}@haohuan.example"
        if role == AGENCY:
            # A partner agency's member, with the fuzzed case placed with their agency.
            agency_id = make_agency(app)
            add_agency_member(app, agency_id, email=email)
            place(app, agency_id, built.case_id)
        else:
            add_staff(app, email=email, roles=(role,))
        staff = app.test_client()
        assert staff_sign_in(staff, email=email).status_code in (302, 303)
        clients[role] = staff
    values: dict[str, object] = {
        "case_id": built.case_id,
        "offer_id": offer_id,
        "token": offer_token,
        # A section of the case page that exists (the one with a form), not only a 404.
        "section_name": "calls",
    }
    # One of each thing a path names, made the way the pages make it, so that the pages
    # of a payment, a message, a bulk send and a reconciliation are fuzzed, not their 404s.
    paying = borrower.post("/pay", data={"purpose": "partial", "amount": "100"})
    values["reference"] = paying.headers.get("Location", "x").rstrip("/").rsplit("/", 1)[-1]
    clients["agent"].post(f"/agent/cases/{built.case_id}/messages", data={"channel": "sms"})
    clients["agent"].post("/agent/bulk", data={"channel": "sms", "dpd": "all"})
    clients["finance"].post(
        "/finance/reconciliations", data={"since": "2026-11-28", "until": "2026-11-29"}
    )
    # A policy proposal by a second admin, waiting for the fuzzing admin (version 2).
    add_staff(app, email="maker@haohuan.example", roles=("admin",))
    maker = app.test_client()
    assert staff_sign_in(maker, email="maker@haohuan.example").status_code in (302, 303)
    maker.post(
        "/admin/policy/propose-file",
        data={"toml": "[holds]\ndispute_review_days = 29\n", "reason": "fuzz"},
    )
    values["number"] = 2
    with app.test_request_context("/"):
        # A member the admin pages change, a team, a rule, and a set-up link.
        session = db.session()
        walked, set_up_token = accounts.invite_member(
            session, "walked@haohuan.example", None, ("agent",), None, "test", NOW
        )
        team = directory.add_team(session, "North", "test", NOW)
        rule = assignment.add_rule(session, "North", [walked], "test", NOW, team_id=team.id)
        values.update(
            member_id=walked.id, team_id=team.id, rule_id=rule.id, set_up_token=set_up_token
        )
    with app.app_context():
        session = db.session()
        for name, model in (
            ("payment_id", Payment),
            ("message_id", Message),
            ("batch_id", MessageBatch),
            ("run_id", ReconciliationRun),
        ):
            values[name] = session.scalars(select(model.id)).first() or 1
    return World(app, clients, values)


def _path(app: Flask, endpoint: str, values: dict[str, object]) -> str:
    rule: Rule = next(iter(app.url_map.iter_rules(endpoint)))
    arguments = {}
    for name in rule.arguments:
        converter = rule._converters[name]
        is_int = type(converter).__name__ == "IntegerConverter"
        arguments[name] = values.get(name, 1 if is_int else "x")
    with app.test_request_context("/"):
        return url_for(endpoint, **arguments)


def _admitted(response: Any) -> bool:
    """Whether a probe got past the sign-in wall."""
    if response.status_code in (401, 403):
        return False
    location = response.headers.get("Location", "") + response.headers.get("HX-Redirect", "")
    return not re.search(r"sign-in|session-ended|/r/", location)


def _send(
    client: FlaskClient,
    method: str,
    path: str,
    query: dict[str, list[str]],
    body: dict[str, list[str]],
    htmx: bool,
) -> Any:
    headers = {"HX-Request": "true"} if htmx else {}
    response = client.open(
        path,
        method=method,
        query_string=MultiDict([(k, v) for k, vs in query.items() for v in vs]),
        data=MultiDict([(k, v) for k, vs in body.items() for v in vs]) if method != "GET" else None,
        headers=headers,
    )
    # Read a streamed body (the CSV downloads) to its end: its error counts too, and its
    # request context is let go before the next request.
    response.get_data()
    response.close()
    return response


def _plain(form_field: Field | None, known: str | None) -> st.SearchStrategy[str]:
    """A value the field (or a parameter read by hand) would take from a real page, so an
    example gets past the other fields to the one it spoils."""
    if known is not None:
        return st.just(known)
    own: list[str] = []
    if isinstance(form_field, SelectFieldBase):
        try:
            own = [str(choice[0]) for choice in form_field.iter_choices() if choice[0]]
        except (TypeError, ValueError):  # choices the view sets later
            own = []
    if own:
        return st.sampled_from(own)
    return st.one_of(st.just(""), _typed(form_field))


def _typed(form_field: Field | None) -> st.SearchStrategy[str]:
    kind = type(form_field).__name__ if form_field is not None else ""
    if "Date" in kind or "Day" in kind:
        return st.sampled_from(["2026-12-15", "2026-12-01", "2027-01-31"])
    if any(word in kind for word in ("Amount", "Number", "Integer", "Decimal", "Percent")):
        return st.sampled_from(["1", "3", "1500", "100"])
    if "Boolean" in kind:
        return st.just("y")
    return st.sampled_from(PLAIN)


ODD_VALUE = st.one_of(st.sampled_from(ODD), st.text(max_size=12))


@st.composite
def _parameters(
    draw: st.DrawFn, keys: set[str], fields: dict[str, Field], base: dict[str, str]
) -> dict[str, list[str]]:
    """Every key with a plain value but for one or two spoiled (odd, or missing, or given
    twice): the other fields pass, so the spoiled one reaches its own handling."""
    ordered = sorted(keys)
    if not ordered:
        return {}
    values = {key: [draw(_plain(fields.get(key), base.get(key)))] for key in ordered}
    for key in draw(st.lists(st.sampled_from(ordered), max_size=2, unique=True)):
        spoil = draw(st.sampled_from(["odd", "odd", "odd", "missing", "twice"]))
        if spoil == "missing":
            del values[key]
        elif spoil == "twice":
            values[key] = [draw(ODD_VALUE), draw(ODD_VALUE)]
        else:
            values[key] = [draw(ODD_VALUE)]
    return values


@pytest.fixture
def extra_config() -> dict[str, object]:
    return dict(FUZZ_CONFIG)


# Once, on PostgreSQL when it is configured (the stricter: NUL in text, integer widths).
@pytest.mark.one_backend
@pytest.mark.parametrize(("endpoint", "method"), ROUTES, ids=[f"{e}-{m}" for e, m in ROUTES])
def test_no_input_to_any_route_answers_with_a_5xx(app, endpoint, method):
    world = _world(app)
    path = _path(app, endpoint, world.path_values)
    probe = {"_probe": ["1"]}
    admitted: list[str] = []
    reads = Reads()
    for name, client in world.clients.items():
        with recording() as seen:
            response = _send(client, method, path, probe, probe, htmx=False)
        assert response.status_code < 500, (name, response.status_code)
        if _admitted(response):
            admitted.append(name)
            reads.args |= seen.args
            reads.form |= seen.form
            reads.fields.update(seen.fields)
    for key in ("_probe", "csrf_token"):
        reads.args.discard(key)
        reads.form.discard(key)
    # Whoever is admitted gets the examples; a route nobody passes is fuzzed at its wall.
    who = admitted or list(world.clients)
    base = BASELINES.get(endpoint, {})
    # The body's keys go in the body, the rest of a GET's in the query string.
    in_body = reads.form if method != "GET" else set()
    in_query = reads.args | (set(base) - in_body if method == "GET" else set())

    def plain(keys: set[str]) -> dict[str, list[str]]:
        return {key: [base[key]] for key in keys if key in base}

    # Every core odd value in every parameter, one at a time, on a plain submission; but
    # ``lang``, which every route reads through the same code, is left to Hypothesis.
    for key in sorted((in_query | in_body) - {"lang"}):
        for odd in CORE:
            query, body = plain(in_query), plain(in_body)
            (body if key in in_body else query)[key] = [odd]
            response = _send(world.clients[who[0]], method, path, query, body, htmx=False)
            assert response.status_code < 500, (who[0], key, odd[:20], response.status_code)

    # Then Hypothesis: one or two parameters spoiled at once, any client admitted.
    @settings(
        max_examples=min(30, 4 + 2 * len(in_query | in_body)),
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(
        name=st.sampled_from(who),
        query=_parameters(in_query, reads.fields, base),
        body=_parameters(in_body, reads.fields, base),
        htmx=st.booleans(),
    )
    def fuzz(name: str, query: dict[str, list[str]], body: dict[str, list[str]], htmx: bool):
        response = _send(world.clients[name], method, path, query, body, htmx)
        assert response.status_code < 500, (name, query, body, response.status_code)

    fuzz()
