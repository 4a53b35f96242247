"""Staff accounts: Argon2 passwords (and the scrypt ones before them), sign-in within
limits, one-time codes, sessions that begin fresh,
time out and end everywhere at once, role checks, and the ``haohuan staff`` commands."""

from __future__ import annotations

import base64
from datetime import timedelta

import pytest
from click.testing import CliRunner
from flask.cli import ScriptInfo
from sqlalchemy import func, select
from werkzeug.security import generate_password_hash

from portal.cli import cli
from portal.core import db
from portal.models import StaffMember, StaffSignInAttempt
from portal.staff import accounts, passwords, totp
from portal.web.staff import auth
from portal.web.staff.auth import safe_next, staff_required

from .factories import NOW, PASSWORD, add_staff, build_case, sign_in, staff_sign_in

WRONG = "incorrect horse battery"
GENERIC = "The email or the password is wrong."


def at(app, delta):
    """Move the app's frozen clock to ``NOW + delta``."""
    app.config["HAOHUAN_NOW"] = (NOW + delta).isoformat()


def member(app, email="mei@haohuan.example"):
    with app.app_context():
        return accounts.find_member(db.session(), email)


# Passwords -------------------------------------------------------------------------------


def test_passwords_are_argon2id_hashes_at_the_configured_cost(app):
    add_staff(app)
    stored = member(app).password_hash
    assert stored.startswith("$argon2id$v=19$m=8,t=1,p=1$")  # tests lower the cost
    assert PASSWORD not in stored
    with app.app_context():
        assert passwords.password_matches(stored, PASSWORD)
        assert not passwords.password_matches(stored, WRONG)
        assert not passwords.password_matches(stored, PASSWORD + "x" * 300)


def test_the_production_cost_is_strong(app):
    for key in ("ARGON2_TIME_COST", "ARGON2_MEMORY_COST", "ARGON2_PARALLELISM"):
        app.config.pop(key)
    with app.app_context():
        assert passwords.hash_password(PASSWORD).startswith("$argon2id$v=19$m=65536,t=3,p=4$")


def scrypt_account(app, email="old@haohuan.example"):
    """An account from before Argon2: its hash made by Werkzeug's scrypt."""
    with app.app_context():
        session = db.session()
        session.add(
            StaffMember(
                email=email,
                name="舊帳號",
                password_hash=generate_password_hash(PASSWORD, method="scrypt:256:8:1"),
                roles="finance",
                active=True,
                created_at=NOW,
            )
        )
        session.commit()


def test_a_scrypt_hash_still_signs_in_and_becomes_argon2(app, client):
    scrypt_account(app)
    assert staff_sign_in(client, email="old@haohuan.example", password=WRONG).status_code == 401
    assert member(app, "old@haohuan.example").password_hash.startswith("scrypt:")
    assert staff_sign_in(client, email="old@haohuan.example").status_code == 303
    rehashed = member(app, "old@haohuan.example").password_hash
    assert rehashed.startswith("$argon2id$")
    with app.app_context():
        assert passwords.password_matches(rehashed, PASSWORD)
    client.post("/staff/sign-out")
    assert staff_sign_in(client, email="old@haohuan.example").status_code == 303
    assert member(app, "old@haohuan.example").password_hash == rehashed  # once is enough


def test_an_argon2_hash_of_another_cost_is_rehashed_at_sign_in(app, client):
    add_staff(app)
    app.config["ARGON2_TIME_COST"] = 2
    assert staff_sign_in(client).status_code == 303
    assert member(app).password_hash.startswith("$argon2id$v=19$m=8,t=2,p=1$")


def test_a_damaged_hash_matches_nothing(app):
    with app.app_context():
        assert not passwords.password_matches("$argon2id$garbage", PASSWORD)
        assert passwords.needs_rehash("$argon2id$garbage")


@pytest.mark.parametrize("weak", ["", "short", "elevenchars"])
def test_a_password_needs_twelve_characters(app, weak):
    with app.app_context(), pytest.raises(accounts.AccountError, match="at least 12"):
        accounts.add_member(db.session(), "a@haohuan.example", "A", ["finance"], weak, NOW)
    add_staff(app, email="b@haohuan.example", password="twelve chars")


@pytest.mark.parametrize(
    ("weak", "problem"),
    [
        ("password1234", "common"),
        ("PASSWORD1234", "common"),
        ("!!Iloveyou2024!!", "common"),
        ("qwerty123456", "common"),
        ("aaaaaaaaaaaa", "repeated"),
        ("abababababab", "repeated"),
        ("aaaabbbbcccc", "repeated"),
        ("abcdefghijkl", "sequential"),
        ("abcdefgh1234", "sequential"),
        ("zyxwvutsrqpo", "sequential"),
        ("1234567890ab", "sequential"),
    ],
)
def test_a_guessable_password_is_refused_with_its_reason(app, weak, problem):
    with app.app_context(), pytest.raises(accounts.WeakPasswordError) as refused:
        accounts.add_member(db.session(), "a@haohuan.example", "A", ["finance"], weak, NOW)
    assert refused.value.problem == problem


def test_the_common_passwords_ship_with_the_package():
    common = passwords.common_passwords()
    assert len(common) == 30_000
    assert {"password", "123456", "iloveyou", "qwertyuiop"} <= common


@pytest.mark.parametrize(
    "good",
    [PASSWORD, "twelve chars", "Tr0ub4dor&3xy", "kjh34lk5j3h45", "月光下兩隻小貓在屋頂上跳舞"],
)
def test_a_password_nobody_would_guess_is_taken(good):
    assert passwords.password_problem(good) is None


@pytest.mark.parametrize(
    ("lang", "says"),
    [
        ("en", "one of the most common ones"),
        ("zh_Hant_TW", "最常見"),
        ("zh_Hans_CN", "最常见"),
    ],
)
def test_the_command_says_why_a_password_was_refused_in_the_language_asked(app, lang, says):
    arguments = ("staff", "create", "--role", "admin", "--email", "a@h.example", "--lang", lang)
    refused = run(app, *arguments, typed="password1234\npassword1234\n")
    assert refused.exit_code == 1
    assert says in refused.output
    with app.app_context():
        assert db.session().scalar(select(func.count(StaffMember.id))) == 0


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
    real = passwords.password_matches
    monkeypatch.setattr(
        passwords, "password_matches", lambda h, p: checked.append((h[:10], p)) or real(h, p)
    )
    staff_sign_in(client, email="nobody@haohuan.example", password=WRONG)
    assert checked == [("$argon2id$", WRONG)]  # an Argon2 check, as for a real account


def test_a_deactivated_account_cannot_sign_in(app, client):
    add_staff(app)
    with app.app_context():
        found = accounts.find_member(db.session(), "mei@haohuan.example")
        accounts.deactivate(db.session(), found, "cli", NOW)
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


def test_an_office_behind_one_address_signs_in_at_shift_start(app, client):
    """Thirty agents share the office's address; each mistypes once, then signs in. No
    one is refused: the address's limits are set for an office."""
    office = [f"agent{number}@haohuan.example" for number in range(30)]
    for email in office:
        add_staff(app, email=email)
    for email in office:
        assert staff_sign_in(client, email=email, password=WRONG).status_code == 401, email
        assert staff_sign_in(app.test_client(), email=email).status_code == 303, email


def test_one_account_is_limited_from_any_address_without_locking_out_the_office(app, client):
    """Requests to one account are counted on their own, from whichever address: past
    ten in ten minutes that account waits, and the rest of the office signs in."""
    add_staff(app)
    add_staff(app, email="colleague@haohuan.example")
    for number in range(10):
        away = {"REMOTE_ADDR": f"198.51.100.{number + 1}"}
        assert staff_sign_in(app.test_client(), environ_base=away).status_code == 303
    refused = staff_sign_in(client, environ_base={"REMOTE_ADDR": "198.51.100.99"})
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) > 0
    assert staff_sign_in(client, email="colleague@haohuan.example").status_code == 303


def test_a_hundred_failures_from_one_address_block_it_for_an_hour(app, client):
    add_staff(app)
    for number in range(100):
        staff_sign_in(client, email=f"guess{number}@haohuan.example", password=WRONG)
    blocked = staff_sign_in(client, query_string={"lang": "en"})
    assert blocked.status_code == 429
    assert "from this network" in blocked.get_data(as_text=True)
    elsewhere = staff_sign_in(client, environ_base={"REMOTE_ADDR": "198.51.100.7"})
    assert elsewhere.status_code == 303
    at(app, timedelta(minutes=61))
    assert staff_sign_in(app.test_client()).status_code == 303


def test_the_address_limit_counts_an_ipv6_network_as_one_client(app, client, monkeypatch):
    monkeypatch.setattr(accounts, "FAILURES_PER_ADDRESS", 20)  # an office's 100, made quick
    add_staff(app)
    for number in range(20):
        staff_sign_in(
            client,
            email=f"guess{number}@haohuan.example",
            password=WRONG,
            environ_base={"REMOTE_ADDR": f"2001:db8:7:7::{number + 1:x}"},
        )
    blocked = staff_sign_in(client, environ_base={"REMOTE_ADDR": "2001:db8:7:7:abcd::1"})
    assert blocked.status_code == 429
    elsewhere = staff_sign_in(client, environ_base={"REMOTE_ADDR": "2001:db8:7:8::1"})
    assert elsewhere.status_code == 303


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
    "target",
    [
        "//evil.example/",
        "https://evil.example/",
        "/\\evil.example",
        "finance",
        "",
        # Browsers drop tabs and newlines and read a backslash as a slash.
        "/\t/evil.example/",
        "/\n/evil.example/",
        "/\r\n/evil.example/",
        "\t//evil.example/",
        "/ /evil.example/",
        "/\u00a0/evil.example/",
        "/\u200b/evil.example/",
        "/%09/evil.example/",
        "/%0a/evil.example",
        "javascript:alert(1)",
        "/\x00",
        "///evil.example",
    ],
)
def test_never_returns_to_another_site(target):
    assert safe_next(target) is None


@pytest.mark.parametrize(
    "target", ["/finance/payments", "/agent/cases/7?tab=calls", "/finance/payments?q=a%20b"]
)
def test_returns_to_a_page_of_this_site(target):
    assert safe_next(target) == target


@pytest.mark.parametrize("query", ["next=/%09/evil.example/", "next=/%5C%5Cevil.example"])
def test_signing_in_from_a_tampered_link_lands_on_this_site(app, query):
    add_staff(app, "mei@haohuan.example", ("finance",))
    client = app.test_client()
    form = client.get(f"/staff/sign-in?{query}").get_data(as_text=True)
    assert '<input id="next" name="next" type="hidden" value="">' in form
    response = client.post(
        "/staff/sign-in",
        data={"email": "mei@haohuan.example", "password": PASSWORD, "next": "/\t/evil.example/"},
    )
    assert response.status_code == 303
    assert response.headers["Location"].startswith("/")
    assert "evil.example" not in response.headers["Location"]


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


def test_the_session_cookie_is_sent_again_only_when_its_last_use_moves_a_minute(app, client):
    add_staff(app)
    staff_sign_in(client)
    client.get("/finance/")  # the new session's first page adds its CSRF secret
    at(app, timedelta(seconds=20))
    assert "Set-Cookie" not in client.get("/finance/").headers  # nothing in it moved
    at(app, timedelta(seconds=61))
    assert "Set-Cookie" in client.get("/finance/").headers  # its last use, a minute on
    # The idle limit counts from the last use written (at 61 s): it may end a session up
    # to a minute early, never late.
    at(app, timedelta(seconds=61 + 50))
    assert client.get("/finance/").status_code == 200
    at(app, timedelta(seconds=61, minutes=30))
    assert client.get("/finance/").status_code == 200
    at(app, timedelta(seconds=62, minutes=60, milliseconds=1))
    assert client.get("/finance/").status_code == 303


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
            accounts.deactivate(db.session(), found, "cli", NOW)
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
    # The landing page needs no role; an agent lands in the agent console.
    assert client.get("/staff/").headers["Location"].endswith("/agent/my-work")


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
    for path in ("/status", "/plans", "/pay", "/contact", "/callback"):
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


def test_staff_create_reads_two_lines_of_stdin_without_a_terminal(app, client):
    created = run(
        app,
        "staff",
        "create",
        "--role",
        "supervisor",
        "--email",
        "Wang@haohuan.example",
        typed=f"{PASSWORD}\n{PASSWORD}\n",
    )
    assert created.exit_code == 0, created.output
    assert "added wang@haohuan.example with the roles supervisor" in created.output
    assert PASSWORD not in created.output
    assert member(app, "wang@haohuan.example").name == "wang"  # no --name: the local part
    assert staff_sign_in(client, email="wang@haohuan.example").status_code == 303


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        (f"{PASSWORD}\n{WRONG}\n", "the two passwords on stdin differ"),
        (f"{PASSWORD}\n", "the two passwords on stdin differ"),
        ("", "no password on stdin"),
    ],
)
def test_staff_create_refuses_stdin_that_does_not_confirm(app, typed, message):
    arguments = ("staff", "create", "--role", "admin", "--email", "a@h.example")
    refused = run(app, *arguments, typed=typed)
    assert refused.exit_code == 1
    assert message in refused.output
    with app.app_context():
        assert db.session().scalar(select(func.count(StaffMember.id))) == 0


def test_staff_create_knows_only_the_five_roles(app):
    # An agency's member needs their agency (tests/portal/test_agencies.py makes one).
    for role in (r for r in accounts.ROLES if r != accounts.AGENCY):
        created = run(
            app, "staff", "create", "--role", role, "--email", f"{role}@h.example",
            typed=f"{PASSWORD}\n{PASSWORD}\n",
        )  # fmt: skip
        assert created.exit_code == 0, created.output
    unknown = run(app, "staff", "create", "--role", "root", "--email", "r@h.example")
    assert unknown.exit_code == 2
    assert "'agent', 'supervisor', 'finance', 'admin', 'field', 'agency'" in unknown.output
    with pytest.raises(ValueError, match="unknown staff roles: root"):
        staff_required("root")


# Every staff route, every role ---------------------------------------------------------

# A value for each URL converter Werkzeug has (by class name): unknown ids give 404s.
SAMPLE_ARGUMENTS = {
    "integer": 1,
    "float": 1.0,
    "unicode": "x",
    "any": None,
    "path": "x",
    "uuid": "0" * 32,
}


def staff_endpoints(app):
    """Every route of a staff blueprint, from the URL map: a blueprint is staff when it was
    made with ``staff_blueprint`` or any of its views wears ``staff_required``."""
    views = app.view_functions

    def blueprint_of(endpoint):
        return endpoint.rsplit(".", 1)[0] if "." in endpoint else None

    guarded = {blueprint_of(e) for e, v in views.items() if hasattr(v, auth.STAFF_ROLES_ATTRIBUTE)}
    marked = {n for n, b in app.blueprints.items() if getattr(b, "is_staff", False)}
    # A blueprint guarding its views but not marked would hide its unguarded routes.
    assert guarded <= marked, guarded - marked
    # Anything else is a borrower's or a machine's: listed here, so a new blueprint has to
    # be put on one side or the other before it passes.
    assert set(app.blueprints) - marked <= {
        "health", "home", "borrower", "autopay", "optout", "webhooks", "sandbox", "checkout",
        "chat", "sms_inbound",
    }  # fmt: skip
    found = []
    for rule in app.url_map.iter_rules():
        if blueprint_of(rule.endpoint) not in marked:
            continue
        values = {
            name: SAMPLE_ARGUMENTS[type(converter).__name__.removesuffix("Converter").lower()]
            or converter.items[0]  # an AnyConverter: its first choice
            for name, converter in rule._converters.items()
        }
        path = rule.build(values)[1]
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            found.append((rule.endpoint, method, path))
    return found


def test_every_staff_route_checks_its_roles_for_every_role(app):
    routes = staff_endpoints(app)
    endpoints = {endpoint for endpoint, _, _ in routes}

    def any_role(endpoint):
        # Views open to any one of their roles (the assignment rules: supervisors, admins).
        return getattr(app.view_functions[endpoint], auth.ANY_ROLE_ATTRIBUTE, False)

    def roles_on(endpoint):
        return getattr(app.view_functions[endpoint], auth.STAFF_ROLES_ATTRIBUTE, None)

    assert {"staff.home", "finance.overview", "finance.start_run"} <= endpoints
    # Chargebacks: the disputes, one dispute, and its evidence submitted.
    assert {"finance.disputes_list", "finance.dispute", "finance.submit_evidence"} <= endpoints
    # Refunds from the finance console: finance only.
    assert {
        "finance.request_refund",
        "finance.open_refunds",
        "finance.approve_refund",
        "finance.cancel_refund",
        "finance.send_refund_again",
    } <= endpoints
    # Reconciliation exceptions and the month's close: finance; reopening: admins.
    assert {
        "finance.exceptions",
        "finance.exception",
        "finance.take_exception",
        "finance.investigate_exception",
        "finance.approve_write_off",
        "finance.assign_exception",
        "finance.note_exception",
        "finance.resolve_exception",
        "finance.month_close",
        "finance.close_month",
        "finance.reopen_month",
    } <= endpoints
    # The general-ledger journals' page and its audited export: finance only.
    assert {"finance.journals_page", "finance.journals_export"} <= endpoints
    # Partner agencies' commission: statements (page, CSV, PDF) and booking, finance
    # only; the agencies side by side: supervisors, finance and admins.
    assert {
        "finance.commission_statements",
        "finance.book_commission",
        "finance.commission_statement",
        "finance.commission_csv",
        "finance.commission_pdf",
        "finance.agencies_compared",
    } <= endpoints
    # Payouts to the bank: finance only.
    assert {
        "finance.payouts_list",
        "finance.import_statement",
        "finance.payout",
        "finance.tick_off",
        "finance.choose_deposit",
    } <= endpoints
    # The legal track's documents: the final notice (agents) and the draft payment order
    # application (supervisors), each audited.
    assert {"agent.legal_final_notice", "agent.legal_payment_order_application"} <= endpoints
    # Home visits: proposed, noticed, scheduled and withdrawn by agents, approved by a
    # supervisor; recorded by field visitors on their own pages, which are all they see.
    assert {
        "agent.propose_visit",
        "agent.approve_visit",
        "agent.send_visit_notice",
        "agent.schedule_visit",
        "agent.cancel_visit",
        "agent.visit_photo",
        "field.visits",
        "field.visit",
        "field.record_visit",
    } <= endpoints
    assert {e for e in endpoints if e.startswith("field.")} == {
        e for e in endpoints if roles_on(e) == frozenset({"field"})
    }
    # The policy's versions (maker-checker): admins only.
    assert {
        "admin.policy_overview",
        "admin.propose_values",
        "admin.propose_file",
        "admin.policy_version",
        "admin.approve_version",
        "admin.reject_version",
        "admin.policy_history",
    } <= endpoints
    # The admin console's staff, teams and rules, the segment reassignment, and the new
    # member's set-up and enrolment steps (open: the link or the password is the key).
    assert {
        "admin.staff",
        "admin.new_member",
        "admin.create_member",
        "admin.member",
        "admin.member_roles",
        "admin.member_team",
        "admin.member_availability",
        "admin.member_deactivate",
        "admin.member_reactivate",
        "admin.member_totp_reset",
        "admin.member_set_up_link",
        "admin.teams",
        "admin.create_team",
        "admin.rename_team",
        "admin.rules",
        "admin.run_assignment",
        "admin.new_rule",
        "admin.create_rule",
        "admin.rule",
        "admin.edit_rule",
        "admin.deactivate_rule",
        "admin.activate_rule",
        "agent.reassign_segment",
        "agent.reassign_segment_submit",
        # Partner agencies: supervisors make them, place segments and recall them.
        "agent.agencies",
        "agent.create_agency",
        "agent.place_segment",
        "agent.recall_agency",
        "agent.recall_case",
        "agent.strategy",
        "agent.strategy_switch",
        "agent.strategy_promote",
        # The legal track (issue 19): an agent refers, a supervisor decides.
        "agent.legal_refer",
        "agent.legal_decide",
        "agent.legal_notice",
        "agent.legal_milestone",
        "agent.legal_stop",
        "agent.legal_close",
        "agent.legal_approvals",
        "staff.set_up",
        "staff.set_up_submit",
        "staff.enrol",
        "staff.enrol_submit",
    } <= endpoints
    assert {e for e in endpoints if any_role(e)} == {
        "admin.rules",
        "admin.run_assignment",
        "admin.new_rule",
        "admin.create_rule",
        "admin.rule",
        "admin.edit_rule",
        "admin.deactivate_rule",
        "admin.activate_rule",
        # The contact strategy's page: supervisors, and admins reading it (its pause and
        # promotion are supervisors' alone).
        "agent.strategy",
        # The portfolio report and its CSVs: supervisors, admins and (its money figures)
        # finance; its agents: supervisors and admins.
        "reports.portfolio",
        "reports.portfolio_csv",
        "reports.portfolio_agents",
        "reports.liquidation_csv",
        "reports.table_csv",
        # Partner agencies side by side: supervisors, finance and admins.
        "finance.agencies_compared",
    }
    # Staff member 1, whom the walk's /admin/staff/1/... routes change (deactivated, codes
    # reset): nobody the walk signs in as.
    assert add_staff(app, email="walked@haohuan.example", roles=("agent",)) == 1
    # The agency role is walked with its agency and its placed cases in
    # tests/portal/test_agencies.py (its reach depends on the case, not the route alone).
    walked_roles = [role for role in accounts.ROLES if role != accounts.AGENCY]
    for role in walked_roles:
        add_staff(app, email=f"{role}@haohuan.example", roles=(role,))
    built = build_case(app)
    # One browser per kind of visitor, signed in once (sign-ins are rate-limited).
    clients = {"signed out": app.test_client(), "borrower": app.test_client()}
    sign_in(clients["borrower"], built)
    for role in walked_roles:
        clients[role] = app.test_client()
        assert staff_sign_in(clients[role], email=f"{role}@haohuan.example").status_code == 303

    def roles_of(endpoint):
        return getattr(app.view_functions[endpoint], auth.STAFF_ROLES_ATTRIBUTE, None)

    # The open routes (signing in and out) last: signing out would end the sessions.
    routes.sort(key=lambda route: roles_of(route[0]) is None)
    checked = 0
    for endpoint, method, path in routes:
        roles = roles_of(endpoint)
        if roles is None:
            # Only signing in and out may skip the role check, and must say so.
            open_view = getattr(app.view_functions[endpoint], auth.OPEN_ATTRIBUTE, False)
            assert open_view, f"{endpoint} checks no role"
        for who, client in clients.items():
            response = client.open(path, method=method)
            status = response.status_code
            label = f"{method} {path} ({endpoint}) as {who}: {status}"
            assert status != 500, label
            if roles is None:
                continue
            if who in ("signed out", "borrower"):
                assert status == 303, label
                assert response.headers["Location"].startswith("/staff/sign-in"), label
            elif roles <= {who} or (any_role(endpoint) and who in roles):
                assert status not in (401, 403), label
            else:
                assert status == 403, label
            checked += 1
    assert checked >= len(clients) * len({e for e in endpoints if e.startswith("finance.")})


# One-time codes ----------------------------------------------------------------------------

RFC_SECRET = base64.b32encode(b"12345678901234567890").decode()


@pytest.mark.parametrize(
    ("seconds", "code"),
    [(59, "287082"), (1111111109, "081804"), (1234567890, "005924"), (2000000000, "279037")],
)
def test_totp_codes_match_rfc_6238(seconds, code):
    # Appendix B's SHA-1 vectors, whose last six digits are the 6-digit codes.
    assert totp.code_for(RFC_SECRET, seconds // 30) == code


def test_totp_accepts_one_step_either_side_and_never_twice():
    step = totp.step_at(NOW)
    for offset in (-1, 0, 1):
        assert totp.matching_step(RFC_SECRET, totp.code_for(RFC_SECRET, step + offset), NOW, None)
    for offset in (-2, 2):
        code = totp.code_for(RFC_SECRET, step + offset)
        assert totp.matching_step(RFC_SECRET, code, NOW, None) is None
    current = totp.code_for(RFC_SECRET, step)
    assert totp.matching_step(RFC_SECRET, current, NOW, step) is None
    assert totp.matching_step(RFC_SECRET, current, NOW, step - 1) == step
    assert totp.matching_step(RFC_SECRET, "12345", NOW, None) is None
    # Six characters that are digits to str.isdigit, but not ASCII: no code, no error.
    assert totp.matching_step(RFC_SECRET, "²" * 6, NOW, None) is None
    assert totp.matching_step(RFC_SECRET, "٣" * 6, NOW, None) is None
    assert totp.matching_step(RFC_SECRET, "abcdef", NOW, None) is None


def enable_totp(app, email="mei@haohuan.example"):
    """Turn codes on through the command; returns the secret it printed."""
    shown = run(app, "staff", "totp", "--email", email)
    assert shown.exit_code == 0, shown.output
    uri = next(line for line in shown.output.splitlines() if line.startswith("otpauth://"))
    secret = shown.output.split("secret: ")[1].split()[0]
    assert uri.startswith(f"otpauth://totp/Haohuan:{email}?secret={secret}&issuer=Haohuan")
    assert "digits=6&period=30" in uri
    with app.app_context():
        assert accounts.find_member(db.session(), email).totp_secret == secret
    return secret


def send_code(client, code, **kwargs):
    return client.post("/staff/sign-in/code", data={"code": code}, **kwargs)


def test_with_totp_the_password_leads_to_the_code(app, client):
    add_staff(app)
    secret = enable_totp(app)
    asked = staff_sign_in(client, query_string={"lang": "en"})
    assert asked.status_code == 200
    page = asked.get_data(as_text=True)
    assert 'autocomplete="one-time-code"' in page
    assert 'inputmode="numeric"' in page
    assert client.get("/finance/").status_code == 303  # not signed in yet
    assert client.get("/staff/sign-in/code").status_code == 200
    code = totp.code_for(secret, totp.step_at(NOW))
    signed_in = send_code(client, code)
    assert signed_in.status_code == 303
    assert client.get("/finance/").status_code == 200
    # The same code, again, in another browser: refused.
    other = app.test_client()
    assert staff_sign_in(other).status_code == 200
    refused = send_code(other, code, query_string={"lang": "en"})
    assert refused.status_code == 401
    assert "The code is wrong or has already been used." in refused.get_data(as_text=True)
    # The next step's code still works (the app may be a step ahead).
    assert send_code(other, totp.code_for(secret, totp.step_at(NOW) + 1)).status_code == 303


def test_the_code_step_needs_the_password_first_and_expires(app, client):
    add_staff(app)
    secret = enable_totp(app)
    code = totp.code_for(secret, totp.step_at(NOW))
    assert send_code(client, code).status_code == 401  # no password yet
    assert client.get("/staff/sign-in/code").status_code == 303
    staff_sign_in(client)
    at(app, timedelta(minutes=6))
    late = totp.code_for(secret, totp.step_at(NOW + timedelta(minutes=6)))
    expired = send_code(client, late, query_string={"lang": "en"})
    assert expired.status_code == 401
    assert "took too long" in expired.get_data(as_text=True)


def test_wrong_codes_count_toward_the_limits(app, client):
    add_staff(app)
    secret = enable_totp(app)
    staff_sign_in(client)
    for _ in range(accounts.FAILURES_PER_ACCOUNT):
        assert send_code(client, "000000").status_code == 401
    limited = send_code(client, totp.code_for(secret, totp.step_at(NOW)))
    assert limited.status_code == 429
    assert staff_sign_in(client).status_code == 429  # the password step is locked too
    at(app, accounts.ACCOUNT_WINDOW + timedelta(seconds=1))
    assert staff_sign_in(client).status_code == 200


def test_enabling_totp_ends_sessions_and_disable_turns_it_off(app, client):
    add_staff(app)
    staff_sign_in(client)
    enable_totp(app)
    assert client.get("/finance/").status_code == 303
    off = run(app, "staff", "totp", "--email", "mei@haohuan.example", "--disable")
    assert off.exit_code == 0
    assert staff_sign_in(client).status_code == 303


def test_an_htmx_request_after_the_session_ended_leaves_the_page_whole(app, client):
    # A live preview or a filter must not get the sign-in page swapped into a corner.
    built = build_case(app)
    headers = {
        "HX-Request": "true",
        "HX-Current-URL": f"http://localhost/agent/cases/{built.case_id}/offers/new",
    }
    response = client.post(f"/agent/cases/{built.case_id}/offers/preview", headers=headers)
    assert response.status_code == 200
    assert response.get_data() == b""
    target = response.headers["HX-Redirect"]
    assert target.startswith("/staff/sign-in?next=")
    assert target.endswith(f"next=/agent/cases/{built.case_id}/offers/new")
    # Another site's page is never where sign-in leads back to.
    headers["HX-Current-URL"] = "https://evil.example/agent/"
    response = client.get("/agent/", headers=headers)
    assert response.headers["HX-Redirect"] == "/staff/sign-in"
    # Without htmx, the plain redirect as before.
    assert client.get("/agent/").status_code == 303


def test_an_error_on_a_staff_page_leads_back_to_the_console(app, client):
    # Staff have no reminder link to start again from.
    add_staff(app, roles=("agent",))
    staff_sign_in(client)
    page = client.get("/agent/cases/notanumber?lang=en")
    assert page.status_code == 404
    html = page.get_data(as_text=True)
    assert "Back to the console" in html
    assert "open the link in your reminder" not in html
    assert "open the link in your reminder" in client.get("/nowhere?lang=en").get_data(as_text=True)
