"""Staff accounts: scrypt passwords, sign-in within limits, sessions that begin fresh,
time out and end everywhere at once, role checks, and the ``haohuan staff`` commands."""

from __future__ import annotations

from datetime import timedelta

import pytest
from click.testing import CliRunner
from flask.cli import ScriptInfo
from sqlalchemy import func, select

from portal import db
from portal.cli import cli
from portal.models import StaffMember, StaffSignInAttempt
from portal.staff import accounts, passwords
from portal.staff.auth import safe_next

from .conftest import NOW, build_case, sign_in

PASSWORD = "correct horse battery"
WRONG = "incorrect horse battery"
GENERIC = "The email or the password is wrong."


def add_staff(app, email="mei@haohuan.example", roles=("finance",), password=PASSWORD):
    """A staff account, created through the service the CLI uses."""
    with app.app_context():
        member = accounts.add_member(db.session(), email, "林美", roles, password, NOW)
        return member.id


def staff_sign_in(client, email="mei@haohuan.example", password=PASSWORD, **kwargs):
    """Post the sign-in form (tests run without CSRF unless they turn it on)."""
    return client.post("/staff/sign-in", data={"email": email, "password": password}, **kwargs)


def at(app, delta):
    """Move the app's frozen clock to ``NOW + delta``."""
    app.config["HAOHUAN_NOW"] = (NOW + delta).isoformat()


def member(app, email="mei@haohuan.example"):
    with app.app_context():
        return accounts.find_member(db.session(), email)


# Passwords -------------------------------------------------------------------------------


def test_passwords_are_scrypt_hashes_at_the_configured_cost(app):
    add_staff(app)
    stored = member(app).password_hash
    assert stored.startswith("scrypt:256:8:1$")  # tests lower the cost (SCRYPT_COST)
    assert PASSWORD not in stored
    with app.app_context():
        assert passwords.password_matches(stored, PASSWORD)
        assert not passwords.password_matches(stored, WRONG)
        assert not passwords.password_matches(stored, PASSWORD + "x" * 300)


def test_the_production_cost_is_strong(app):
    app.config.pop("SCRYPT_COST")
    with app.app_context():
        assert passwords.hash_password(PASSWORD).startswith("scrypt:32768:8:1$")


@pytest.mark.parametrize("weak", ["", "short", "elevenchars"])
def test_a_password_needs_twelve_characters(app, weak):
    with app.app_context(), pytest.raises(accounts.AccountError, match="at least 12"):
        accounts.add_member(db.session(), "a@haohuan.example", "A", ["finance"], weak, NOW)
    add_staff(app, email="b@haohuan.example", password="twelve chars")


def test_an_email_has_one_account_and_roles_are_known(app):
    add_staff(app)
    with app.app_context():
        with pytest.raises(accounts.AccountError, match="already has an account"):
            accounts.add_member(
                db.session(), " MEI@haohuan.example ", "M", ["finance"], PASSWORD, NOW
            )
        with pytest.raises(accounts.AccountError, match="roles"):
            accounts.add_member(db.session(), "x@haohuan.example", "X", ["root"], PASSWORD, NOW)


# Signing in ------------------------------------------------------------------------------


def test_signing_in_opens_the_finance_console(app, client):
    add_staff(app)
    response = staff_sign_in(client, email="  Mei@HAOHUAN.example ")
    assert response.status_code == 303
    assert response.headers["Location"] == "/staff/"
    assert client.get("/staff/").headers["Location"] == "/finance/"
    page = client.get("/finance/")
    assert page.status_code == 200
    assert "林美" in page.get_data(as_text=True)
    assert member(app).last_sign_in_at is not None


def test_the_sign_in_page_renders_with_labels(app, client):
    html = client.get("/staff/sign-in?lang=en").get_data(as_text=True)
    assert '<label for="email">Email</label>' in html
    assert 'autocomplete="current-password"' in html
    assert 'type="password"' in html


@pytest.mark.parametrize("email", ["mei@haohuan.example", "nobody@haohuan.example"])
def test_a_wrong_password_and_an_unknown_email_get_the_same_answer(app, client, email):
    add_staff(app)
    response = staff_sign_in(client, email=email, password=WRONG, query_string={"lang": "en"})
    assert response.status_code == 401
    assert GENERIC in response.get_data(as_text=True)
    with client.session_transaction() as session:
        assert "staff_id" not in session
    with app.app_context():
        attempts = db.session().scalars(select(StaffSignInAttempt)).all()
        assert [(a.email, a.succeeded) for a in attempts] == [(email, False)]
        assert len(attempts[0].address) == 64  # hashed, not the address itself


def test_an_unknown_email_spends_a_password_check(app, client, monkeypatch):
    checked = []
    real = passwords.check_password_hash
    monkeypatch.setattr(
        passwords, "check_password_hash", lambda h, p: checked.append(p) or real(h, p)
    )
    staff_sign_in(client, email="nobody@haohuan.example", password=WRONG)
    assert checked == [WRONG]


def test_a_deactivated_account_cannot_sign_in(app, client):
    add_staff(app)
    with app.app_context():
        accounts.deactivate(db.session(), accounts.find_member(db.session(), "mei@haohuan.example"))
    response = staff_sign_in(client, query_string={"lang": "en"})
    assert response.status_code == 401
    assert GENERIC in response.get_data(as_text=True)


def test_five_failures_lock_the_email_for_fifteen_minutes(app, client):
    add_staff(app)
    for _ in range(5):
        assert staff_sign_in(client, password=WRONG).status_code == 401
    locked = staff_sign_in(client, query_string={"lang": "en"})
    assert locked.status_code == 429
    assert "Too many failed attempts for this email" in locked.get_data(as_text=True)
    # From another address too: the limit is the account's.
    other = staff_sign_in(client, environ_base={"REMOTE_ADDR": "203.0.113.9"})
    assert other.status_code == 429
    at(app, timedelta(minutes=16))
    assert staff_sign_in(client).status_code == 303


def test_an_unknown_email_is_limited_the_same_way(app, client):
    for _ in range(5):
        staff_sign_in(client, email="nobody@haohuan.example", password=WRONG)
    assert staff_sign_in(client, email="nobody@haohuan.example").status_code == 429


def test_a_successful_sign_in_forgives_earlier_mistakes(app, client):
    add_staff(app)
    for _ in range(4):
        staff_sign_in(client, password=WRONG)
    assert staff_sign_in(client).status_code == 303
    at(app, timedelta(minutes=1))
    assert staff_sign_in(client, password=WRONG).status_code == 401
    assert staff_sign_in(client).status_code == 303


def test_twenty_failures_from_one_address_block_it_for_an_hour(app, client):
    add_staff(app)
    for number in range(20):
        staff_sign_in(client, email=f"guess{number}@haohuan.example", password=WRONG)
    blocked = staff_sign_in(client, query_string={"lang": "en"})
    assert blocked.status_code == 429
    assert "from this network" in blocked.get_data(as_text=True)
    elsewhere = staff_sign_in(client, environ_base={"REMOTE_ADDR": "198.51.100.7"})
    assert elsewhere.status_code == 303
    at(app, timedelta(minutes=61))
    assert staff_sign_in(app.test_client()).status_code == 303


def test_a_blank_form_is_explained(app, client):
    response = client.post("/staff/sign-in?lang=en", data={"email": "", "password": ""})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "Enter your email address." in html
    assert "Enter your password." in html
    with app.app_context():
        assert db.session().scalar(select(func.count(StaffSignInAttempt.id))) == 0


def test_signing_in_returns_to_the_page_asked_for(app, client):
    add_staff(app)
    asked = client.get("/finance/payments?status=succeeded")
    assert asked.status_code == 303
    assert asked.headers["Location"].startswith("/staff/sign-in?next=")
    form = client.get(asked.headers["Location"]).get_data(as_text=True)
    assert 'value="/finance/payments?status=succeeded"' in form
    response = client.post(
        "/staff/sign-in",
        data={"email": "mei@haohuan.example", "password": PASSWORD, "next": "/finance/payments"},
    )
    assert response.headers["Location"] == "/finance/payments"


@pytest.mark.parametrize(
    "target", ["//evil.example/", "https://evil.example/", "/\\evil.example", "finance", ""]
)
def test_never_returns_to_another_site(target):
    assert safe_next(target) is None


# Sessions --------------------------------------------------------------------------------


def test_signing_in_starts_a_new_session(app, client):
    add_staff(app)
    with client.session_transaction() as session:
        session.update(planted="attacker", case_id=1, link_id=1, lang="en")
    staff_sign_in(client)
    with client.session_transaction() as session:
        assert "planted" not in session
        assert "case_id" not in session
        assert session["lang"] == "en"  # only the language choice survives
        assert isinstance(session["staff_id"], int)


def test_thirty_idle_minutes_end_the_session(app, client):
    add_staff(app)
    staff_sign_in(client)
    at(app, timedelta(minutes=29))
    assert client.get("/finance/").status_code == 200
    at(app, timedelta(minutes=58))  # 29 idle minutes again: still alive
    assert client.get("/finance/").status_code == 200
    at(app, timedelta(minutes=89))
    ended = client.get("/finance/")
    assert ended.status_code == 303
    assert "ended=1" in ended.headers["Location"]
    page = client.get(ended.headers["Location"] + "&lang=en").get_data(as_text=True)
    assert "Your session has ended" in page


def test_twelve_hours_end_the_session_however_busy(app, client):
    add_staff(app)
    staff_sign_in(client)
    for minutes in range(20, 12 * 60, 20):
        at(app, timedelta(minutes=minutes))
        assert client.get("/finance/").status_code == 200, minutes
    at(app, timedelta(hours=12, minutes=1))
    assert client.get("/finance/").status_code == 303


@pytest.mark.parametrize("change", ["password", "deactivate"])
def test_a_password_change_or_deactivation_ends_every_session(app, change):
    add_staff(app)
    laptop, phone = app.test_client(), app.test_client()
    staff_sign_in(laptop)
    staff_sign_in(phone)
    with app.app_context():
        found = accounts.find_member(db.session(), "mei@haohuan.example")
        if change == "password":
            accounts.change_password(db.session(), found, "a brand new passphrase")
        else:
            accounts.deactivate(db.session(), found)
    assert laptop.get("/finance/").status_code == 303
    assert phone.get("/finance/").status_code == 303


def test_signing_out_ends_every_copy_of_the_session(app, client):
    add_staff(app)
    staff_sign_in(client)
    with client.session_transaction() as session:
        copied = dict(session)
    out = client.post("/staff/sign-out")
    assert out.status_code == 303
    assert "signed_out=1" in out.headers["Location"]
    thief = app.test_client()
    with thief.session_transaction() as session:
        session.update(copied)
    assert thief.get("/finance/").status_code == 303


# Roles, and the borrower's side ---------------------------------------------------------


def test_a_missing_role_gets_403(app, client):
    add_staff(app, roles=("agent",))
    staff_sign_in(client)
    response = client.get("/finance/?lang=en")
    assert response.status_code == 403
    assert "Your account cannot open this page" in response.get_data(as_text=True)
    assert client.get("/finance/payments").status_code == 403
    assert client.post("/finance/reconciliations").status_code == 403
    assert client.get("/staff/").status_code == 200  # the landing page needs no role


def test_a_borrower_session_never_opens_the_console(app, client):
    built = build_case(app)
    add_staff(app)
    sign_in(client, built)
    for path in ("/finance/", "/finance/payments", "/staff/"):
        response = client.get(path)
        assert response.status_code == 303
        assert response.headers["Location"].startswith("/staff/sign-in")
    # And the borrower was not signed out by being refused.
    assert client.get("/status").status_code == 200


def test_a_staff_session_never_opens_a_borrowers_pages(app, client):
    build_case(app)
    add_staff(app)
    staff_sign_in(client)
    for path in ("/status", "/plans", "/pay"):
        response = client.get(path)
        assert response.status_code == 302
        assert "session-ended" in response.headers["Location"]


def test_a_borrower_signing_in_ends_the_staff_session(app, client):
    built = build_case(app)
    add_staff(app)
    staff_sign_in(client)
    sign_in(client, built)
    assert client.get("/finance/").status_code == 303


# CSRF ------------------------------------------------------------------------------------


@pytest.fixture
def csrf_client(app):
    app.config["WTF_CSRF_ENABLED"] = True
    return app.test_client()


def test_every_staff_post_needs_the_csrf_token(app, csrf_client):
    add_staff(app)
    assert staff_sign_in(csrf_client).status_code == 400
    page = csrf_client.get("/staff/sign-in").get_data(as_text=True)
    token = page.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
    signed_in = csrf_client.post(
        "/staff/sign-in",
        data={"email": "mei@haohuan.example", "password": PASSWORD, "csrf_token": token},
    )
    assert signed_in.status_code == 303
    assert csrf_client.post("/staff/sign-out").status_code == 400
    assert csrf_client.post("/finance/reconciliations", data={}).status_code == 400
    assert csrf_client.get("/finance/").status_code == 200  # still signed in


# The haohuan staff commands --------------------------------------------------------------


def run(app, *arguments, typed=""):
    return CliRunner().invoke(
        cli, list(arguments), obj=ScriptInfo(create_app=lambda: app), input=typed
    )


def test_staff_add_asks_for_the_password_twice(app, client):
    added = run(
        app,
        "staff",
        "add",
        "--email",
        "Li@haohuan.example",
        "--name",
        "李會計",
        "--role",
        "finance",
        "--role",
        "agent",
        typed=f"{PASSWORD}\n{PASSWORD}\n",
    )
    assert added.exit_code == 0, added.output
    assert "added li@haohuan.example with the roles agent,finance" in added.output
    assert PASSWORD not in added.output
    assert staff_sign_in(client, email="li@haohuan.example").status_code == 303


def test_staff_add_refuses_a_short_password_and_an_unknown_role(app):
    short = run(
        app,
        "staff",
        "add",
        "--email",
        "a@h.example",
        "--name",
        "A",
        "--role",
        "finance",
        typed="short\nshort\n",
    )
    assert short.exit_code == 1
    assert "at least 12 characters" in short.output
    unknown = run(app, "staff", "add", "--email", "a@h.example", "--name", "A", "--role", "root")
    assert unknown.exit_code == 2
    with app.app_context():
        assert db.session().scalar(select(func.count(StaffMember.id))) == 0


def test_staff_password_and_deactivate(app, client):
    add_staff(app)
    staff_sign_in(client)
    changed = run(
        app,
        "staff",
        "password",
        "--email",
        "mei@haohuan.example",
        typed="another long passphrase\nanother long passphrase\n",
    )
    assert changed.exit_code == 0, changed.output
    assert client.get("/finance/").status_code == 303  # the old session ended
    assert staff_sign_in(client).status_code == 401
    assert staff_sign_in(client, password="another long passphrase").status_code == 303
    gone = run(app, "staff", "deactivate", "--email", "mei@haohuan.example")
    assert gone.exit_code == 0
    assert client.get("/finance/").status_code == 303
    missing = run(app, "staff", "deactivate", "--email", "nobody@haohuan.example")
    assert missing.exit_code == 1
    assert "no staff account" in missing.output
