"""The layers' rules that import contracts cannot see.

"Views parse, check access, call one service and render. Services commit at one
boundary, documented; views never do." So no module of the web layer ends, undoes or
flushes a transaction: each ``.commit()``, ``.rollback()`` and ``.flush()`` belongs to the
capability function that owns the change.
"""

from __future__ import annotations

import ast
from pathlib import Path

WEB = Path(__file__).resolve().parents[2] / "portal" / "web"
TRANSACTION_CALLS = frozenset({"commit", "rollback", "flush"})


def transaction_calls(source: str) -> list[tuple[int, str]]:
    """The line and name of each ``<anything>.commit()``, ``.rollback()`` or ``.flush()``
    call in ``source``."""
    return [
        (node.lineno, node.func.attr)
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in TRANSACTION_CALLS
    ]


def test_the_check_finds_every_form_of_the_calls() -> None:
    source = (
        "def view():\n"
        "    database.commit()\n"
        "    db.session().rollback()\n"
        "    session.flush(objects=None)\n"
        "    committed = database.commit\n"  # named, not called: not a call
        "    record(database, commit=True)\n"
    )
    assert transaction_calls(source) == [(2, "commit"), (3, "rollback"), (4, "flush")]


def test_the_web_layer_never_commits_rolls_back_or_flushes() -> None:
    modules = sorted(WEB.rglob("*.py"))
    assert len(modules) > 20  # the web layer is where it is
    found = [
        f"{module.relative_to(WEB.parent.parent)}:{line}: .{name}()"
        for module in modules
        for line, name in transaction_calls(module.read_text(encoding="utf-8"))
    ]
    assert found == [], "the service the view calls commits, not the view:\n" + "\n".join(found)
