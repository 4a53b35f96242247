"""No path in the software contacts a borrower outside the rules: a structural check
beside the behavioural tests of each path (tests/portal/test_messaging.py, test_letters.py,
test_calls_and_promises.py).

Every way a borrower can be reached (a provider's send, a link issued for them, a contact
logged) may appear only in the modules that pass ``portal.contact.gate.judge`` with the case
locked first; a new module that sends, issues links or logs contact fails here until it
is added, deliberately, with its own gate and tests."""

from __future__ import annotations

import ast
from pathlib import Path

PORTAL = Path(__file__).resolve().parents[2] / "portal"

# Who may do each thing, and why.
ALLOWED = {
    # The providers are called by the one sending path only (the scheduled sender's
    # batches through delivery.py's couriers, which only service.py uses).
    "send": {"messaging/service.py", "messaging/delivery.py"},
    # A link reaches a borrower in a message or a letter (the reminder letter, the legal
    # track's final notice); the demo prints its links to the person running it, on their
    # own machine.
    "issue_link": {
        "messaging/service.py",
        "letters/service.py",
        "letters/legal.py",
        "demo/seed.py",
    },
    "issue_links": {"messaging/service.py"},
    # The contact log: messages, letters (the legal track's final notice among them) and
    # calls.
    "record_attempt": {
        "messaging/service.py",
        "letters/service.py",
        "legal/service.py",
        "contact/calls.py",
    },
    "record_attempts": {"messaging/service.py"},
    # The Couriers (delivery.py) hand a batch to the providers: only after service.py
    # judged it through the gate (``BatchGate``) with the cases locked.
    "Couriers": {"messaging/service.py"},
}
GATED = {
    "messaging/service.py",
    "letters/service.py",
    "letters/legal.py",
    "legal/service.py",
    "contact/calls.py",
}


def _calls(tree: ast.AST) -> list[tuple[str, ast.Call]]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            function = node.func
            name = (
                function.attr
                if isinstance(function, ast.Attribute)
                else getattr(function, "id", "")
            )
            found.append((name, node))
    return found


def _modules() -> dict[str, ast.AST]:
    return {
        str(path.relative_to(PORTAL)): ast.parse(path.read_text(encoding="utf-8"))
        for path in PORTAL.rglob("*.py")
        if "migrations" not in path.parts
    }


def test_only_the_gated_modules_send_issue_links_or_log_contact():
    users: dict[str, set[str]] = {name: set() for name in ALLOWED}
    for module, tree in _modules().items():
        for name, _call in _calls(tree):
            if name == "send" and module.startswith("messaging/providers"):
                continue  # the providers' own transport (smtplib's send_message is not it)
            if name in users:
                users[name].add(module)
    for name, modules in users.items():
        assert modules <= ALLOWED[name], f"{name} called outside the gated modules: {modules}"


def test_each_gated_module_judges_with_the_case_locked():
    modules = _modules()
    for module in GATED:
        judged = [
            call
            for name, call in _calls(modules[module])
            if name == "judge"
            and any(
                k.arg == "lock" and getattr(k.value, "value", None) is True for k in call.keywords
            )
        ]
        assert judged, f"{module} logs contact without portal.contact.gate.judge(..., lock=True)"


def test_nothing_models_a_third_party_to_contact():
    # The tables hold the borrower's own phone, email and address, and nobody else's:
    # no relative, employer or reference a message could be sent to.
    from portal.models import Base

    suspicious = ("guarantor", "relative", "employer", "reference_contact", "emergency")
    columns = [f"{t.name}.{c.name}" for t in Base.metadata.sorted_tables for c in t.columns]
    assert not [c for c in columns if any(word in c for word in suspicious)]
