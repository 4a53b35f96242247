"""Where a dispute's evidence files are kept: ``<instance>/evidence``, beside the
portal's other private files and outside ``static``, so no URL serves it."""

from __future__ import annotations

from pathlib import Path

from flask import current_app


def evidence_folder() -> Path:
    """The folder ``portal.cases.evidence`` writes files to and reads them from (a test
    points ``EVIDENCE_FOLDER`` at its own temporary folder)."""
    configured = current_app.config.get("EVIDENCE_FOLDER")
    return Path(configured) if configured else Path(current_app.instance_path) / "evidence"
