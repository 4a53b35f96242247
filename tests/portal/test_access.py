"""Links, verification and the borrower's session."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from portal.core import db
from portal.models import Case, ReminderLink, VerificationAttempt

from .factories import NOW, build_case, sign_in


def answer(client, built, text, method="date_of_birth", address="203.0.113.7"):
    return client.post(
        f"/r/{built.token}",
        data={"method": method, "answer": text},
        environ_base={"REMOTE_ADDR": address},
    )


def test_unknown_expired_and_revoked_links_get_a_calm_page(app, client):
    built = build_case(app)
    unknown = client.get("/r/" + "x" * 43)
    assert unknown.status_code == 404
    assert "0800" in unknown.get_data(as_text=True)  # the lender's phone number
    with app.app_context():
        link = db.session().scalars(select(ReminderLink)).one()
        link.expires_at = NOW - timedelta(seconds=1)
        db.session().commit()
    expired = client.get(f"/r/{built.token}")
    assert expired.status_code == 410
    assert "Traceback" not in expired.get_data(as_text=True)
    with app.app_context():
        link = db.session().scalars(select(ReminderLink)).one()
        link.expires_at, link.revoked_at = NOW + timedelta(days=1), NOW
        db.session().commit()
    assert client.get(f"/r/{built.token}").status_code == 410
    assert answer(client, built, built.date_of_birth).status_code == 410


def test_either_fact_verifies_in_any_common_spelling(app, client):
    built = build_case(app, date_of_birth="1985-03-07", id_last4="6789")
    for method, text in [
        ("date_of_birth", "1985/3/7"),
        ("date_of_birth", "19850307"),
        ("date_of_birth", "１９８５－０３－０７"),  # full-width digits from a CJK keyboard
        ("id_last4", " 6789 "),
    ]:
        response = answer(client, built, text, method)
        assert response.status_code == 303, (method, text)
        assert response.location.endswith("/status")


def test_nothing_about_the_debt_before_verification(app, client):
    build_case(app)
    page = client.get("/status")
    assert page.status_code == 302
    assert "/session-ended" in page.location
    assert client.get("/plans").status_code == 302


def test_five_failures_disable_the_link(app, client):
    built = build_case(app)
    for attempt in range(4):
        response = answer(client, built, "1999-01-01")
        assert response.status_code == 422
        assert str(4 - attempt) in response.get_data(as_text=True)
    fifth = answer(client, built, "1999-01-01")
    assert fifth.status_code == 410
    # The right answer no longer helps: the link is locked.
    assert answer(client, built, built.date_of_birth).status_code == 410
    with app.app_context():
        assert db.session().scalars(select(ReminderLink)).one().disabled_at is not None


def test_ten_failures_a_day_hand_the_case_to_an_agent(app, client):
    built = build_case(app)
    tokens = [built.token]
    with app.test_request_context("/"):
        from portal.access.verification import issue_link

        session = db.session()
        case = session.get(Case, built.case_id)
        tokens += [issue_link(session, case, NOW) for _ in range(2)]
        session.commit()
    failures = 0
    for token in tokens:
        for _ in range(4):
            client.post(f"/r/{token}", data={"method": "id_last4", "answer": "0000"})
            failures += 1
    assert failures == 12
    with app.app_context():
        case = db.session().get(Case, built.case_id)
        assert case.needs_agent
        assert "verification_locked" in [event.kind for event in case.events]
    # Even the right answer is refused for the rest of the day, on any link.
    refused = client.post(f"/r/{tokens[-1]}", data={"method": "id_last4", "answer": built.id_last4})
    assert refused.status_code == 422


def test_twenty_attempts_an_hour_from_one_address(app, client):
    victims = [build_case(app, name=f"B{n}", id_last4=f"{n:04d}") for n in range(6)]
    for victim in victims:
        for _ in range(4):
            answer(client, victim, "1999-01-01", address="198.51.100.9")
    # 24 attempts were made; the last four were refused without being checked.
    with app.app_context():
        counted = db.session().scalars(select(VerificationAttempt)).all()
    assert len(counted) == 20
    limited = answer(client, victims[0], victims[0].date_of_birth, address="198.51.100.9")
    assert limited.status_code == 422
    assert (
        answer(client, victims[0], victims[0].date_of_birth, address="192.0.2.1").status_code == 303
    )


def test_the_address_limit_counts_an_ipv6_network_as_one_client(app, client):
    """A client picks any address in its /64: each attempt from a new one is still the
    same client, as the request limiter counts it."""
    victims = [build_case(app, name=f"B{n}", id_last4=f"{n:04d}") for n in range(6)]
    for number, victim in enumerate(victims):
        for attempt in range(4):
            answer(client, victim, "1999-01-01", address=f"2001:db8:1:2::{number}:{attempt}")
    with app.app_context():
        counted = db.session().scalars(select(VerificationAttempt)).all()
    assert len(counted) == 20
    right = victims[0].date_of_birth
    assert answer(client, victims[0], right, address="2001:db8:1:2:ffff::1").status_code == 422
    assert answer(client, victims[0], right, address="2001:db8:1:3::1").status_code == 303


def test_sessions_end_after_15_idle_minutes_and_2_hours(app, client):
    built = build_case(app)
    sign_in(client, built)
    assert client.get("/status").status_code == 200
    app.config["HAOHUAN_NOW"] = (NOW + timedelta(minutes=14)).isoformat()
    assert client.get("/status").status_code == 200
    app.config["HAOHUAN_NOW"] = (NOW + timedelta(minutes=30)).isoformat()  # 16 idle minutes
    assert client.get("/status").status_code == 302
    sign_in(client, built)  # a new session, started at minute 30
    for minutes in range(40, 151, 10):  # active every 10 minutes, up to 2 hours in
        app.config["HAOHUAN_NOW"] = (NOW + timedelta(minutes=minutes)).isoformat()
        assert client.get("/status").status_code == 200, minutes
    # 10 minutes idle is fine, but 2 hours 10 minutes since the start is not.
    app.config["HAOHUAN_NOW"] = (NOW + timedelta(minutes=160)).isoformat()
    assert client.get("/status").status_code == 302


def test_revoking_the_link_ends_its_session(app, client):
    built = build_case(app)
    sign_in(client, built)
    with app.app_context():
        db.session().scalars(select(ReminderLink)).one().revoked_at = NOW
        db.session().commit()
    assert client.get("/status").status_code == 302


def test_verification_starts_a_fresh_session(app, client):
    built = build_case(app)
    with client.session_transaction() as session:
        session["case_id"] = 999
        session["planted"] = "by an attacker"
        session["lang"] = "en"
    sign_in(client, built)
    with client.session_transaction() as session:
        assert "planted" not in session
        assert session["case_id"] == built.case_id
        assert session["lang"] == "en"  # the language choice survives


def test_sign_out(app, client):
    built = build_case(app)
    sign_in(client, built)
    assert client.post("/sign-out").status_code == 303
    assert client.get("/status").status_code == 302


def test_signing_out_ends_every_copy_of_the_session(app, client):
    built = build_case(app)
    sign_in(client, built)
    stolen = client.get_cookie("haohuan").value
    assert client.post("/sign-out").status_code == 303
    thief = app.test_client()
    thief.set_cookie("haohuan", stolen)
    assert thief.get("/status").status_code == 302
    sign_in(client, built)  # the borrower may sign in again at once
    assert client.get("/status").status_code == 200


def test_concurrent_wrong_answers_still_lock_the_link(app, client):
    import threading

    built = build_case(app)
    barrier = threading.Barrier(8)

    def guess() -> None:
        own = app.test_client()
        barrier.wait(timeout=10)
        own.post(f"/r/{built.token}", data={"method": "id_last4", "answer": "0000"})

    threads = [threading.Thread(target=guess) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    with app.app_context():
        link = db.session().scalars(select(ReminderLink)).one()
        checked = db.session().scalars(select(VerificationAttempt)).all()
        assert link.disabled_at is not None
        assert len(checked) == 5  # the rest were refused unchecked


def test_right_answers_never_use_up_the_address_limit(app, client):
    for n in range(22):
        built = build_case(app, name=f"C{n}", id_last4=f"{n:04d}")
        fresh = app.test_client()
        response = fresh.post(
            f"/r/{built.token}",
            data={"method": "id_last4", "answer": built.id_last4},
            environ_base={"REMOTE_ADDR": "100.64.0.1"},  # a carrier's shared address
        )
        assert response.status_code == 303, n


def test_an_id_typed_as_a_birthday_is_pointed_to_the_other_question(app, client):
    built = build_case(app, locale="en")
    response = answer(client, built, "6789", method="date_of_birth")
    assert response.status_code == 422
    assert "choose “Last 4 characters of your ID number” above" in response.get_data(as_text=True)
    assert answer(client, built, "1985年3月7日").status_code == 303
