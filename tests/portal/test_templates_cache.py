"""Templates compiled once per server: every template compiles, a second app loads the
compiled code instead of compiling again, and an edited template is compiled afresh."""

from __future__ import annotations

from pathlib import Path

from flask import Flask

from portal import create_app
from portal.web import templates


def test_every_template_compiles_and_a_second_app_reuses_the_code(tmp_path: Path) -> None:
    templates.BYTECODE.clear()
    first = create_app({"DATABASE_URL": f"sqlite:///{tmp_path}/a.db"})
    count = templates.precompile(first)
    assert count > 50
    assert len(templates.BYTECODE.compiled) == count
    compiled = dict(templates.BYTECODE.compiled)
    second = create_app({"DATABASE_URL": f"sqlite:///{tmp_path}/b.db"})
    assert templates.precompile(second) == count
    # Nothing compiled again: the same entries, byte for byte.
    assert templates.BYTECODE.compiled == compiled
    for app in (first, second):
        app.extensions["haohuan.engine"].dispose()


def test_an_edited_template_is_compiled_afresh_not_served_stale(tmp_path: Path) -> None:
    folder = tmp_path / "templates"
    folder.mkdir()
    page = folder / "page.html"
    page.write_text("one {{ value }}")
    app = Flask(__name__, template_folder=str(folder))
    templates.init_app(app)
    with app.app_context():
        assert app.jinja_env.get_template("page.html").render(value=1) == "one 1"
        page.write_text("two {{ value }}")
        # A new environment (a new worker) checks the cached code against the source.
        fresh = Flask(__name__, template_folder=str(folder))
        templates.init_app(fresh)
        assert fresh.jinja_env.get_template("page.html").render(value=2) == "two 2"
