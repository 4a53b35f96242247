"""RQ stores a job as its function's dotted path, and a worker imports that path when the
job runs: a job queued before a deploy (or delayed, like a payment's follow-up) runs on
the new code only if the path it was queued under still imports. So every function
passed to ``portal.core.jobs.enqueue`` must be importable by its own path, and every path
a release has queued jobs under must keep importing (an alias at the old path when a job
function moves)."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path
from typing import Any

from rq.utils import import_attribute, resolve_function_reference

PORTAL = Path(__file__).resolve().parents[2] / "portal"

# Every path jobs have been queued under, by any release (RQ's ``func_name``). The
# layout of issue 11 (commit 1ea00d5) moved neither job function: these are also the
# paths a queue filled before it may still hold. Keep every entry; when a job function
# moves, leave an alias at its old path and add the new path here.
QUEUED_PATHS = {
    # A bulk send's due messages (portal.web.agent.message_views.queue_bulk).
    "portal.messaging.service.dispatch_batch_job",
    # An unknown payment's follow-up, delayed up to minutes (portal.payments.sweeper).
    "portal.payments.sweeper.follow_up",
    # A webhook event's settlement, after its acknowledgement (portal.web.payments.webhooks),
    # and again later for one that overtook its payment's success.
    "portal.payments.inbox.settle_job",
    # The morning's due messages after `haohuan strategy run` (portal/cli.py), with Redis.
    "portal.messaging.service.dispatch_due_job",
    # An automatic charge the gateway did not answer, asked again (portal.payments.autopay).
    "portal.payments.autopay.resume_job",
}


def _enqueued() -> dict[str, Any]:
    """Each function passed to ``jobs.enqueue`` in ``portal/``, by where it is written."""
    found: dict[str, Any] = {}
    for path in sorted(PORTAL.rglob("*.py")):
        if "migrations" in path.parts or path == PORTAL / "core" / "jobs.py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        calls = [
            node
            for node in ast.walk(tree)
            if isinstance(node, ast.Call)
            and (
                (isinstance(node.func, ast.Attribute) and node.func.attr == "enqueue")
                or (isinstance(node.func, ast.Name) and node.func.id == "enqueue")
            )
        ]
        if not calls:
            continue
        relative = path.relative_to(PORTAL.parent).with_suffix("")
        module = importlib.import_module(".".join(relative.parts))
        for call in calls:
            written = ast.unparse(call.args[0])
            function: Any = module
            for name in written.split("."):
                function = getattr(function, name)
            found[f"{relative}.py: {written}"] = function
    return found


def test_every_enqueued_job_imports_by_the_path_rq_stores():
    enqueued = _enqueued()
    # The scan finds the jobs it is meant to (and any new one).
    assert {where.split(":")[0] for where in enqueued} >= {
        "portal/web/agent/message_views.py",
        "portal/payments/sweeper.py",
        "portal/web/payments/webhooks.py",
        "portal/payments/inbox.py",
    }
    for where, function in enqueued.items():
        # What RQ stores: f"{function.__module__}.{function.__qualname__}" for a function.
        instance, path = resolve_function_reference(function)
        assert instance is None, f"{where}: a job is a module-level function"
        assert path == f"{function.__module__}.{function.__qualname__}"
        assert import_attribute(path) is function, where
        assert path in QUEUED_PATHS, f"{where}: list {path} in QUEUED_PATHS"


def test_every_path_jobs_were_queued_under_still_imports():
    for path in sorted(QUEUED_PATHS):
        assert callable(import_attribute(path)), path
