"""Each case's copy of its borrower's time zone (``portal.cases.zones``) follows the
borrower, and the queue reads the borrower's today at the edge of a band of days (and of a
stored amount's window) from it. (Every test's app also ends with ``zones.check``: see
conftest.py.)"""

from __future__ import annotations

from sqlalchemy import select, update

from portal.cases import zones
from portal.cases.queue import QueueFilter, page_of
from portal.core import db
from portal.models import Borrower, Case

from .factories import NOW, build_case
from .test_agent_queue import make_case

# At NOW (02:00 UTC) Taipei is on TODAY and Los Angeles still on the day before: a case 31
# days past due in Taipei is 30 in Los Angeles, at the edge of the band 31 to 60.
BAND = QueueFilter(dpd_band="31-60")
BY_AMOUNT = QueueFilter(dpd_band="31-60", currency="TWD", balance_min=1)
BY_AMOUNT_SORTED = QueueFilter(dpd_band="all", sort="balance")


def copied(app, case_id: int) -> str | None:
    with app.app_context():
        return db.session().scalar(select(zones.ZONE).where(Case.id == case_id))


def found(app, chosen: QueueFilter) -> list[tuple[int, int]]:
    """(case id, days past due) of each row ``chosen`` selects at NOW."""
    with app.test_request_context("/"):
        page = page_of(db.session(), chosen, NOW)
        return [(row.case_id, row.days_past_due) for row in page.rows]


def test_a_new_case_gets_its_borrowers_zone(app):
    built = build_case(app, timezone="America/New_York")
    assert copied(app, built.case_id) == "America/New_York"


def test_a_borrowers_new_zone_is_copied_onto_the_case_and_read_by_the_queue(app):
    built = make_case(app, 31)
    assert copied(app, built.case_id) == "Asia/Taipei"
    assert found(app, BAND) == found(app, BY_AMOUNT) == [(built.case_id, 31)]
    with app.app_context():
        session = db.session()
        session.get(Borrower, built.borrower_id).timezone = "America/Los_Angeles"
        session.commit()
    assert copied(app, built.case_id) == "America/Los_Angeles"
    assert found(app, BAND) == found(app, BY_AMOUNT) == []
    assert found(app, BY_AMOUNT_SORTED) == [(built.case_id, 30)]


def test_a_zone_written_in_sql_is_found_by_the_check_and_copied_by_copy(app):
    built = make_case(app, 31)
    with app.app_context():
        session = db.session()
        session.execute(
            update(Borrower)
            .where(Borrower.id == built.borrower_id)
            .values(timezone="America/Los_Angeles")
        )
        assert zones.check(session) == [(built.case_id, "Asia/Taipei", "America/Los_Angeles")]
        # What a bulk writer of zones must do in the same transaction.
        zones.copy(session, borrowers=[built.borrower_id])
        assert zones.check(session) == []
        session.commit()
    assert found(app, BAND) == []


def test_a_case_without_a_copy_is_read_on_its_borrowers_zone(app):
    built = make_case(app, 31, timezone="America/Los_Angeles")
    with app.app_context():
        session = db.session()
        session.execute(
            update(Case.__table__).where(Case.id == built.case_id).values(timezone=None)
        )
        session.commit()
    assert found(app, BAND) == found(app, BY_AMOUNT) == []
    assert found(app, QueueFilter(dpd_band="1-30", currency="TWD", balance_min=1)) == [
        (built.case_id, 30)
    ]
    with app.app_context():
        session = db.session()
        zones.copy(session)
        session.commit()
    assert copied(app, built.case_id) == "America/Los_Angeles"


def test_the_arrears_check_command_finds_and_fixes_a_wrong_zone(app):
    from click.testing import CliRunner
    from flask.cli import ScriptInfo

    from portal.cli import cli

    built = build_case(app)
    with app.app_context():
        session = db.session()
        session.execute(update(Case.__table__).values(timezone="Europe/London"))
        session.commit()
    runner = CliRunner()
    info = ScriptInfo(create_app=lambda: app)
    wrong = runner.invoke(cli, ["cases", "arrears-check"], obj=info)
    assert wrong.exit_code == 1
    assert f"case {built.case_id}: zone Europe/London, its borrower's Asia/Taipei" in wrong.output
    fixed = runner.invoke(cli, ["cases", "arrears-check", "--fix"], obj=info)
    assert (fixed.exit_code, fixed.output.splitlines()[-1]) == (0, "copied 1 cases' zones again")
    assert runner.invoke(cli, ["cases", "arrears-check"], obj=info).exit_code == 0
