"""The policy's versions: maker-checker in the admin console and the command line, the
parser's refusals, the version in force read by every process, and the version recorded
on each plan and offer."""

from __future__ import annotations

import json
import re
import threading

import pytest
from click.testing import CliRunner
from flask.cli import ScriptInfo
from sqlalchemy import select, update

from negotiation import effective_table
from portal import create_app
from portal.cli import cli
from portal.core import db
from portal.models import AuditEntry, Plan, PolicyVersion, PolicyVersionStatus

from .factories import add_staff, app_config, build_case, sign_in, staff_sign_in, unwrapped
from .test_agent_offers import AGENT, BEYOND, create, offers_of
from .test_journey import first_review_link, review_form

MAKER = "maker@haohuan.example"
CHECKER = "checker@haohuan.example"
WIDER_AGENT = "[authority.agent]\nmax_penalty_waiver_pct = 100\nmax_fee_waiver_pct = 40\n"


def admins(app):
    for email in (MAKER, CHECKER):
        add_staff(app, email=email, roles=("admin",))


def signed_in(app, email):
    client = app.test_client()
    assert staff_sign_in(client, email=email).status_code == 303
    return client


def text(response):
    return unwrapped(response.get_data(as_text=True))


def rows(app):
    with app.app_context():
        found = list(db.session().scalars(select(PolicyVersion).order_by(PolicyVersion.version)))
        db.session().expunge_all()
        return found


def audit(app, action):
    with app.app_context():
        return list(db.session().scalars(select(AuditEntry).where(AuditEntry.action == action)))


def propose_file(client, toml, reason="Wider waivers for agents", lang="en"):
    return client.post(
        "/admin/policy/propose-file",
        data={"toml": toml, "reason": reason},
        query_string={"lang": lang},
    )


def run(app, *arguments):
    return CliRunner().invoke(cli, list(arguments), obj=ScriptInfo(create_app=lambda: app))


# Version 1 ---------------------------------------------------------------------------------


def test_version_one_is_the_configured_file_recorded_once(app, backend, tmp_path):
    product = tmp_path / "product.toml"
    product.write_text("[holds]\ndispute_review_days = 21\n", encoding="utf-8")
    url = app.config["DATABASE_URL"]
    configured = create_app({**app_config(url), "POLICY_FILE": str(product)})
    admins(configured)
    client = signed_in(configured, MAKER)
    for _ in range(3):
        assert client.get("/admin/policy?lang=en").status_code == 200
    [first] = rows(configured)
    assert (first.version, first.status, first.made_by) == (1, "active", "system")
    assert first.override_toml == "[holds]\ndispute_review_days = 21\n"
    assert len(first.sha256) == 64
    page = text(client.get("/admin/policy/1?lang=en"))
    assert "Dispute reviewed within (days)" in page
    assert "holds.dispute_review_days" in page
    assert re.search(r"30\s*</td>\s*<td><strong>21", client.get("/admin/policy/1").text)
    configured.extensions["haohuan.engine"].dispose()


# Maker-checker -----------------------------------------------------------------------------

SAME_PERSON = {
    "en": "You made this proposal: a different admin must approve or reject it.",
    "zh_Hant_TW": "這項提案是您提出的：必須由另一位管理員核准或退回。",
    "zh_Hans_CN": "这项提案是您提出的：必须由另一位管理员批准或退回。",
}


@pytest.mark.parametrize("lang", sorted(SAME_PERSON))
def test_the_maker_can_neither_approve_nor_reject_their_own_proposal(app, lang):
    admins(app)
    maker = signed_in(app, MAKER)
    assert propose_file(maker, WIDER_AGENT).status_code == 303
    for action, data in (("approve", {"note": "fine"}), ("reject", {"note": "no"})):
        refused = maker.post(f"/admin/policy/2/{action}", data=data, query_string={"lang": lang})
        assert refused.status_code == 409
        assert SAME_PERSON[lang] in text(refused)
    # The same admin under another spelling of their email is the same person.
    assert [row.status for row in rows(app)] == ["active", "proposed"]
    refused = run(app, "policy", "approve", "2", "--by", MAKER.upper(), "--lang", lang)
    assert refused.exit_code == 1
    assert SAME_PERSON[lang] in refused.output
    assert [row.status for row in rows(app)] == ["active", "proposed"]
    assert not audit(app, "policy.approve")
    assert not audit(app, "policy.reject")


def test_a_second_admin_approves_and_the_history_names_both(app):
    admins(app)
    maker, checker = signed_in(app, MAKER), signed_in(app, CHECKER)
    proposed = propose_file(maker, WIDER_AGENT)
    assert proposed.headers["Location"].endswith("/admin/policy/2")
    review = text(checker.get("/admin/policy/2?lang=en"))
    assert "Agent: Maximum penalties waived" in review
    assert "authority.agent.max_penalty_waiver_pct" in review
    assert "Approve: put it in force now" in review
    [seen] = [e for e in audit(app, "policy.diff_view") if e.actor == CHECKER]
    assert seen.details == {"version": 2}
    assert checker.post("/admin/policy/2/approve", data={"note": "ok"}).status_code == 303
    first, second = rows(app)
    assert (first.status, second.status) == ("superseded", "active")
    assert (second.made_by, second.checked_by, second.check_note) == (MAKER, CHECKER, "ok")
    history = text(checker.get("/admin/policy/history?lang=en"))
    assert MAKER in history
    assert CHECKER in history
    assert "In force" in history
    [made] = audit(app, "policy.propose")
    [approved] = audit(app, "policy.approve")
    assert (made.actor, approved.actor, approved.details["superseded"]) == (MAKER, CHECKER, 1)


def test_a_rejection_needs_a_note_and_changes_nothing_in_force(app):
    admins(app)
    maker, checker = signed_in(app, MAKER), signed_in(app, CHECKER)
    propose_file(maker, WIDER_AGENT)
    bare = checker.post("/admin/policy/2/reject", data={"note": "  "}, query_string={"lang": "en"})
    assert bare.status_code == 422
    assert "Say why the proposal is rejected." in text(bare)
    assert checker.post("/admin/policy/2/reject", data={"note": "too generous"}).status_code == 303
    first, second = rows(app)
    assert (first.status, second.status, second.check_note) == (
        "active",
        "rejected",
        "too generous",
    )
    # Decided once: neither can be done again.
    again = checker.post("/admin/policy/2/approve", data={}, query_string={"lang": "en"})
    assert again.status_code == 409
    assert "no longer waiting" in text(again)
    assert rows(app)[1].status == "rejected"


def test_one_proposal_at_a_time_and_a_stale_one_is_refused_on_approval(app):
    admins(app)
    maker, checker = signed_in(app, MAKER), signed_in(app, CHECKER)
    propose_file(maker, WIDER_AGENT)
    second = propose_file(checker, "[holds]\ndispute_review_days = 20\n")
    assert second.status_code == 409
    assert "Another proposal is waiting" in text(second)
    assert len(rows(app)) == 2
    # A proposal whose base is no longer in force (as after a concurrent approval).
    with app.app_context():
        db.session().execute(
            update(PolicyVersion).where(PolicyVersion.version == 2).values(based_on=7)
        )
        db.session().commit()
    stale = checker.post("/admin/policy/2/approve", data={}, query_string={"lang": "en"})
    assert stale.status_code == 409
    assert "changed after this proposal was made" in text(stale)
    # Nothing moved: version 1 is still the one in force.
    assert [row.status for row in rows(app)] == ["active", "proposed"]


# The parser's refusals ---------------------------------------------------------------------

BAD_FILES = {
    "[authority.agent]\nmax_instalments = 18\n": "authority.agent.max_instalments",
    "[authority.agent]\nmax_installments = 1\n": "authority.agent.max_installments",
    "[authority.agent]\nmax_installments = 601\n": "authority.agent.max_installments",
    '[authority.agent]\nmax_installments = "12"\n': "authority.agent.max_installments",
    "[authority.supervisor]\nmax_fee_waiver_pct = 101\n": "authority.supervisor.max_fee_waiver_pct",
    "[authority.supervisor]\nmax_fee_waiver_pct = -1\n": "authority.supervisor.max_fee_waiver_pct",
    '[authority.agent]\nplan_kinds = ["loan_shark"]\n': "authority.agent.plan_kinds",
    "[authority.agent]\nplan_kinds = []\n": "authority.agent.plan_kinds",
    "[holds]\nhardship_breathing_space_days = 0\n": "holds.hardship_breathing_space_days",
    "[stage.mid]\nself_service = 1\n": "stage.mid.self_service",
    "[stages]\nmid_from_days = 100\n": "stages",
    "authority = 3\n": "authority",
    "surprise = true\n": "surprise",
    '[contact.jurisdiction.SG]\nallowed_from = "08:00"\nfoo = 1\n': "contact.jurisdiction.SG.foo",
    "[holds\n": "TOML",
    "x = \n": "TOML",
}


@pytest.mark.parametrize(("toml", "key"), BAD_FILES.items(), ids=list(BAD_FILES.values()))
def test_a_file_the_parser_refuses_is_never_proposed_and_the_key_is_named(app, toml, key, tmp_path):
    admins(app)
    maker = signed_in(app, MAKER)
    refused = propose_file(maker, toml)
    assert refused.status_code == 422
    page = text(refused)
    assert "The policy file is not valid." in page
    assert key in page
    assert len(rows(app)) == 1
    # The command line refuses it the same way.
    # A file of this test's own (the instance folder is shared by the test workers).
    path = tmp_path / "bad.toml"
    path.write_text(toml, encoding="utf-8")
    cli_refused = run(app, "policy", "propose", "--file", str(path), "--reason", "x", "--by", MAKER)
    assert cli_refused.exit_code == 1
    assert key in cli_refused.output
    assert len(rows(app)) == 1


@pytest.mark.parametrize(
    ("lang", "words"),
    [
        ("zh_Hant_TW", "必須是 2 到 600 的整數"),
        ("zh_Hans_CN", "必须是 2 到 600 的整数"),
        ("en", "must be a whole number from 2 to 600"),
    ],
)
def test_parser_errors_are_translated(app, lang, words):
    admins(app)
    refused = propose_file(
        signed_in(app, MAKER), "[authority.agent]\nmax_installments = 1\n", lang=lang
    )
    assert refused.status_code == 422
    assert words in text(refused)
    assert "authority.agent.max_installments" in text(refused)


def test_a_file_that_changes_nothing_or_has_no_reason_is_refused(app):
    admins(app)
    maker = signed_in(app, MAKER)
    same = propose_file(maker, "[authority.agent]\nmax_installments = 12\n")  # the default
    assert same.status_code == 422
    assert "changes nothing" in text(same)
    assert propose_file(maker, WIDER_AGENT, reason=" ").status_code == 422
    assert len(rows(app)) == 1


# The structured form -----------------------------------------------------------------------


def form_values(app):
    """The structured form as the page fills it: every key at its value in force."""
    values = effective_table("")
    data = {}
    for key, value in values.items():
        if key.split(".")[0] in ("authority", "holds", "stages"):
            name = key.replace(".", "__")
            data[name] = [str(item) for item in value] if isinstance(value, list) else str(value)
    return data


def test_the_form_proposes_only_the_keys_changed(app):
    admins(app)
    maker = signed_in(app, MAKER)
    page = maker.get("/admin/policy?lang=en").text
    assert 'name="authority__agent__max_installments"' in page
    assert 'value="12"' in page
    data = {
        **form_values(app),
        "authority__agent__max_installments": "18",
        "authority__supervisor__frequencies": ["weekly", "monthly", "biweekly"],  # reordered
        "holds__hardship_breathing_space_days": "45",
        "reason": "Longer plans",
    }
    bad = maker.post(
        "/admin/policy/propose",
        data={**data, "authority__agent__max_fee_waiver_pct": "150", "stages__mid_from_days": "x"},
        query_string={"lang": "en"},
    )
    assert bad.status_code == 422
    assert "Enter a percentage from 0 to 100." in text(bad)
    assert "Enter a whole number from 2 to 36500." in text(bad)
    assert 'value="150"' in bad.text  # what was typed is shown back
    assert len(rows(app)) == 1
    assert maker.post("/admin/policy/propose", data=data).status_code == 303
    proposal = rows(app)[1]
    assert proposal.override_toml == (
        "[authority.agent]\nmax_installments = 18\n\n[holds]\nhardship_breathing_space_days = 45\n"
    )
    # While it waits, no other proposal is taken, however it is sent.
    again = maker.post("/admin/policy/propose", data=data, query_string={"lang": "en"})
    assert again.status_code == 409
    assert "Another proposal is waiting" in text(again)


def test_the_form_names_the_broken_rule_across_keys(app):
    admins(app)
    maker = signed_in(app, MAKER)
    data = {**form_values(app), "stages__mid_from_days": "200", "reason": "x"}
    refused = maker.post("/admin/policy/propose", data=data, query_string={"lang": "en"})
    assert refused.status_code == 422
    assert "early_from_days &lt; mid_from_days" in refused.text or "early_from_days < mid" in text(
        refused
    )


# In force everywhere -----------------------------------------------------------------------


def test_approval_changes_decisions_in_every_process(app):
    admins(app)
    add_staff(app, email=AGENT, roles=("agent",))
    built = build_case(app)
    agent = signed_in(app, AGENT)
    # Another process (a second gunicorn worker) on the same database.
    other = create_app(app_config(app.config["DATABASE_URL"]))
    other_agent = other.test_client()
    assert staff_sign_in(other_agent, email=AGENT).status_code == 303
    assert create(agent, built.case_id, BEYOND).status_code == 303
    [before] = offers_of(app, built.case_id)
    assert (before.status, before.policy_version) == ("needs_approval", 1)

    propose_file(signed_in(app, MAKER), WIDER_AGENT)
    # Proposed is not in force.
    assert create(other_agent, built.case_id, BEYOND).status_code == 303
    assert offers_of(app, built.case_id)[-1].status == "needs_approval"
    signed_in(app, CHECKER).post("/admin/policy/2/approve", data={})
    for client in (agent, other_agent):
        assert create(client, built.case_id, BEYOND).status_code == 303
        latest = offers_of(app, built.case_id)[-1]
        assert (latest.status, latest.authority, latest.policy_version) == ("ready", "agent", 2)
    case_page = text(agent.get(f"/agent/cases/{built.case_id}?section=offers&lang=en"))
    assert "Policy version 2" in case_page
    assert "Policy version 1" in case_page
    other.extensions["haohuan.engine"].dispose()


def test_a_plan_records_the_version_that_decided_it(app, client):
    admins(app)
    add_staff(app, email=AGENT, roles=("agent",))
    maker, checker = signed_in(app, MAKER), signed_in(app, CHECKER)
    propose_file(maker, "[holds]\ndispute_review_days = 20\n")
    checker.post("/admin/policy/2/approve", data={})
    built = build_case(app)
    sign_in(client, built)
    review = client.get(first_review_link(client.get("/plans").text, "arrears_plan"))
    form = review_form(review.text)
    assert client.post("/plans/accept", data={**form, "consent": "y"}).status_code == 303
    with app.app_context():
        plan = db.session().scalars(select(Plan)).one()
        assert plan.policy_version == 2
        event = (
            db.session()
            .scalars(select(AuditEntry).where(AuditEntry.action == "policy.approve"))
            .one()
        )
        assert event.details["version"] == 2
    page = text(signed_in(app, AGENT).get(f"/agent/cases/{built.case_id}?section=plans&lang=en"))
    assert "Policy version 2" in page


# The command line --------------------------------------------------------------------------


def test_the_command_line_follows_the_same_rules(app, tmp_path):
    admins(app)
    add_staff(app, email=AGENT, roles=("agent",))
    wider = tmp_path / "wider.toml"
    wider.write_text(WIDER_AGENT, encoding="utf-8")
    shown = run(app, "policy", "show", "--json")
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.output)["version"] == 1
    not_admin = run(app, "policy", "propose", "--file", str(wider), "--reason", "r", "--by", AGENT)
    assert not_admin.exit_code == 1
    assert "Only an active admin" in not_admin.output
    made = run(
        app, "policy", "propose", "--file", str(wider), "--reason", "r", "--by", MAKER, "--json"
    )
    assert made.exit_code == 0, made.output
    assert json.loads(made.output)["status"] == "proposed"
    no_note = run(app, "policy", "reject", "2", "--by", CHECKER, "--note", " ")
    assert no_note.exit_code == 1
    assert "Say why the proposal is rejected." in no_note.output
    approved = run(app, "policy", "approve", "2", "--by", CHECKER, "--note", "ok")
    assert approved.exit_code == 0, approved.output
    history = json.loads(run(app, "policy", "history", "--json").output)
    assert [(v["version"], v["status"], v["made_by"], v["checked_by"]) for v in history] == [
        (2, "active", MAKER, CHECKER),
        (1, "superseded", "system", "system"),
    ]
    current = run(app, "policy", "show")
    assert "version 2: active" in current.output
    assert "max_fee_waiver_pct = 40" in current.output
    old = json.loads(run(app, "policy", "show", "--version", "1", "--json").output)
    assert old["override_toml"] == ""
    assert old["status"] == "superseded"
    assert run(app, "policy", "show", "--version", "9").exit_code == 2
    with app.app_context():
        assert [
            e.actor
            for e in db.session().scalars(
                select(AuditEntry).where(AuditEntry.action.like("policy.%")).order_by(AuditEntry.id)
            )
        ] == [MAKER, CHECKER]


def test_only_admins_reach_the_policy_pages(app):
    add_staff(app, email=AGENT, roles=("agent", "supervisor", "finance"))
    agent = signed_in(app, AGENT)
    for path in ("/admin/policy", "/admin/policy/history", "/admin/policy/1"):
        assert agent.get(path).status_code == 403
    assert (
        agent.post(
            "/admin/policy/propose-file", data={"toml": WIDER_AGENT, "reason": "x"}
        ).status_code
        == 403
    )
    assert PolicyVersionStatus.PROPOSED not in [row.status for row in rows(app)]


@pytest.mark.postgres_only
def test_concurrent_proposals_and_approvals_leave_one_each(app, backend):
    checkers = [f"checker{n}@haohuan.example" for n in range(4)]
    admins(app)
    for email in checkers:
        add_staff(app, email=email, roles=("admin",))
    clients = [signed_in(app, email) for email in checkers]

    def race(send):
        barrier = threading.Barrier(len(clients))
        statuses: list[int] = []
        failures: list[BaseException] = []

        def one(client, number):
            try:
                barrier.wait(timeout=10)
                statuses.append(send(client, number).status_code)
            except BaseException as error:  # reported to the main thread below
                failures.append(error)

        threads = [threading.Thread(target=one, args=(c, n)) for n, c in enumerate(clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert not failures
        return sorted(statuses)

    # Four admins propose at once: one proposal is taken, the others are told one waits.
    made = race(
        lambda client, n: propose_file(client, f"[holds]\ndispute_review_days = {20 + n}\n")
    )
    assert made == [303, 409, 409, 409]
    assert [row.status for row in rows(app)] == ["active", "proposed"]
    # Four admins approve it at once: it is approved once, by one of them.
    approved = race(lambda client, n: client.post("/admin/policy/2/approve", data={}))
    assert approved == [303, 409, 409, 409]
    assert [row.status for row in rows(app)] == ["superseded", "active"]
    assert len(audit(app, "policy.approve")) == 1
