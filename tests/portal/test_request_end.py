"""How a request's transaction ends (``portal.core.db._close_session``): committed when
it wrote nothing, so psycopg keeps the statements it prepared; rolled back whenever it
may have written and did not commit, or failed, so nothing half-done is ever kept."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import event, func, select, text
from sqlalchemy.exc import DBAPIError

from portal.core import db
from portal.models import Team


@pytest.fixture
def ends(app) -> list[str]:
    """How each transaction on the app's engine ended, in order."""
    engine = app.extensions["haohuan.engine"]
    seen: list[str] = []
    event.listen(engine, "commit", lambda _conn: seen.append("commit"))
    event.listen(engine, "rollback", lambda _conn: seen.append("rollback"))
    return seen


def routes(app) -> None:
    """Routes that read, write without committing, write and fail, or read and fail."""

    def reads() -> str:
        return str(db.session().scalar(select(func.count()).select_from(Team)))

    def writes() -> str:
        db.session().execute(
            text("INSERT INTO teams (name, created_at) VALUES ('left', :at)"),
            {"at": datetime.now(UTC)},
        )
        return "written, not committed"

    def adds() -> str:
        db.session().add(Team(name="pending"))  # never flushed by the view
        return "added, not flushed"

    def writes_then_fails() -> str:
        writes()
        raise RuntimeError("after a write")

    def reads_then_fails() -> str:
        reads()
        raise RuntimeError("after a read")

    def fails_in_sql() -> str:
        try:
            db.session().execute(text("SELECT * FROM no_such_table"))
        except DBAPIError:
            return "caught"
        return "not reached"

    for view in (reads, writes, adds, writes_then_fails, reads_then_fails, fails_in_sql):
        app.add_url_rule(f"/_test/{view.__name__}", view.__name__, view)


def teams(app) -> list[str]:
    with app.app_context():
        return list(db.session().scalars(select(Team.name)))


def test_a_request_that_only_read_ends_in_a_commit(app, client, ends):
    routes(app)
    assert client.get("/_test/reads").get_data(as_text=True) == "0"
    assert ends == ["commit"]


def test_a_request_that_wrote_and_did_not_commit_keeps_nothing(app, client, ends):
    routes(app)
    assert client.get("/_test/writes").status_code == 200
    assert ends == ["rollback"]
    assert teams(app) == []


def test_an_object_added_and_never_flushed_is_not_flushed_by_the_end(app, client, ends):
    routes(app)
    assert client.get("/_test/adds").status_code == 200
    assert "commit" not in ends
    assert teams(app) == []


def test_a_request_that_failed_after_a_write_is_rolled_back(app, client, ends):
    routes(app)
    app.config["PROPAGATE_EXCEPTIONS"] = False
    assert client.get("/_test/writes_then_fails").status_code == 500
    assert ends == ["rollback"]
    assert teams(app) == []


def test_a_request_that_failed_after_reading_only_keeps_nothing(app, client, ends):
    """Committing a transaction that only read is the same as rolling it back."""
    routes(app)
    app.config["PROPAGATE_EXCEPTIONS"] = False
    assert client.get("/_test/reads_then_fails").status_code == 500
    assert teams(app) == []


def test_a_failed_statement_the_view_caught_ends_the_request_quietly(app, client):
    """PostgreSQL answers a COMMIT of a transaction a statement failed in by rolling it
    back; either way the request ends without an error of its own."""
    routes(app)
    answer = client.get("/_test/fails_in_sql")
    assert (answer.status_code, answer.get_data(as_text=True)) == (200, "caught")
    # The connection is fit for the next request.
    assert client.get("/_test/reads").get_data(as_text=True) == "0"


def test_a_read_after_a_rolled_back_write_on_the_same_connection_commits(app, client, ends):
    """The mark of a write ends with its transaction: the next request on the pooled
    connection, which only reads, commits."""
    routes(app)
    client.get("/_test/writes")
    client.get("/_test/reads")
    assert ends == ["rollback", "commit"]


def test_postgresql_keeps_a_hot_statement_prepared_across_requests(app, client, backend):
    if backend != "postgres":
        pytest.skip("prepared statements are psycopg's, on PostgreSQL")
    routes(app)

    def prepared() -> int:
        return int(
            db.session().scalar(
                text("SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE :s"),
                {"s": "%FROM teams%"},
            )
        )

    app.add_url_rule("/_test/prepared", "prepared", lambda: str(prepared()))
    # psycopg prepares a statement on its sixth use on a connection (prepare_threshold):
    # only if no rollback between the requests discarded the count.
    for _ in range(8):
        client.get("/_test/reads")
    assert int(client.get("/_test/prepared").get_data(as_text=True)) >= 1


def test_a_transaction_whose_connection_was_lost_rolls_back_and_the_app_goes_on(app, client):
    """A connection invalidated mid-transaction (a lost server, or a driver error taken
    for one) is rolled back without the end of the request failing on it."""
    routes(app)

    def loses_its_connection() -> str:
        session = db.session()
        session.execute(select(func.count()).select_from(Team))
        session.connection().invalidate()
        session.rollback()
        return str(session.scalar(select(func.count()).select_from(Team)))

    app.add_url_rule("/_test/lost", "lost", loses_its_connection)
    answer = client.get("/_test/lost")
    assert (answer.status_code, answer.get_data(as_text=True)) == (200, "0")
    assert client.get("/_test/reads").get_data(as_text=True) == "0"
