"""How the queue's statements reach PostgreSQL: the statements that choose a page's cases
are planned for their own values every time (never prepared, so never given a generic
plan), the page's rows by case id are prepared as any other statement; and JIT
compilation is off for the page, by the connection's own setting where the engine gives
one (gunicorn's workers, ``HAOHUAN_DB_JIT``), else by a statement in the transaction."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import event

from portal.cases.queue import QueueFilter, page_of
from portal.core import db, settings

from .factories import NOW, TODAY, build_case


def overdue_cases(app, count=3):
    """``count`` cases 10 to 30 days past due, as the daily work leaves them."""
    from portal.models import Case

    for number in range(count):
        built = build_case(app, days_past_due=10 + 10 * number)
        with app.app_context():
            session = db.session()
            case = session.get(Case, built.case_id)
            case.overdue_since = TODAY - timedelta(days=10 + 10 * number)
            session.commit()


def statements_of(app, run):
    """The statements ``run`` sends, as the driver got them."""
    sent: list[str] = []
    engine = app.extensions["haohuan.engine"]

    def note(_conn, _cursor, statement, *_):
        sent.append(statement)

    event.listen(engine, "before_cursor_execute", note)
    try:
        run()
    finally:
        event.remove(engine, "before_cursor_execute", note)
    return sent


@pytest.mark.postgres_only
def test_the_pages_cases_are_planned_each_time_and_its_rows_are_prepared(app):
    overdue_cases(app)
    chosen_pages = [
        QueueFilter(),
        QueueFilter(sort="balance"),
        QueueFilter(stage="early"),
        QueueFilter(balance_min=1),
    ]
    with app.test_request_context("/"):
        session = db.session()
        for chosen in chosen_pages:
            for _ in range(7):  # past psycopg's five uses before it prepares
                assert len(page_of(session, chosen, NOW).rows) >= 1
        raw = session.connection().connection.driver_connection
        assert raw.prepare_threshold == 5  # put back once the page is chosen
        prepared = session.connection().exec_driver_sql(
            "SELECT statement FROM pg_prepared_statements WHERE NOT from_sql"
        )
        statements = [row[0] for row in prepared]
    rows = [s for s in statements if s.lstrip().startswith("SELECT cases.id, cases.status")]
    assert len(rows) == 1
    # Nothing that counts, orders or filters the cases was prepared: only the rows by id,
    # and the session check's and settings' own small statements.
    for statement in statements:
        assert "count(" not in statement
        assert "overdue_since <=" not in statement


@pytest.mark.postgres_only
@pytest.mark.parametrize("extra_config", [{"DB_JIT": "off"}])
def test_a_connection_started_without_jit_needs_no_statement_to_turn_it_off(app):
    overdue_cases(app, 1)
    with app.test_request_context("/"):
        session = db.session()
        assert session.connection().exec_driver_sql("SHOW jit").scalar_one() == "off"
        page_of(session, QueueFilter(), NOW)  # the policy in force recorded, once
        sent = statements_of(app, lambda: page_of(session, QueueFilter(), NOW))
    assert not [s for s in sent if "set_config" in s]
    assert len(sent) == 2  # the page's ids with their count, then its rows


def test_without_the_setting_the_page_turns_jit_off_for_its_own_transaction(app, backend):
    overdue_cases(app, 1)
    with app.test_request_context("/"):
        session = db.session()
        if backend == "sqlite":  # nothing to turn off, nothing sent
            sent = statements_of(app, lambda: page_of(session, QueueFilter(), NOW))
            assert not [s for s in sent if "set_config" in s]
            return
        server_default = session.connection().exec_driver_sql("SHOW jit").scalar_one()
        sent = statements_of(app, lambda: page_of(session, QueueFilter(), NOW))
        assert [s for s in sent if "set_config('jit', 'off', true)" in s]
        assert session.connection().exec_driver_sql("SHOW jit").scalar_one() == "off"
        session.commit()
        # SET LOCAL: the next transaction on the connection has the server's setting.
        assert session.connection().exec_driver_sql("SHOW jit").scalar_one() == server_default


def test_the_jit_setting_is_on_off_or_the_servers():
    assert settings.from_environ({}, {"DB_JIT": " OFF "}).get("DB_JIT") == "off"
    assert settings.from_environ({}, {}).get("DB_JIT") == ""
    with pytest.raises(settings.ConfigurationError, match="HAOHUAN_DB_JIT"):
        settings.from_environ({"HAOHUAN_DB_JIT": "sometimes"})


def test_web_workers_start_without_jit_unless_the_environment_says_otherwise():
    environ: dict[str, str] = {}
    settings.default_web_workers(environ)
    assert environ == {"HAOHUAN_DB_JIT": "off"}
    chosen = {"HAOHUAN_DB_JIT": "on"}
    settings.default_web_workers(chosen)
    assert chosen == {"HAOHUAN_DB_JIT": "on"}
