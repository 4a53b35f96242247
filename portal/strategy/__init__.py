"""Contact strategies: reminders that send themselves (issue 14).

``versions`` keeps each strategy document that ran and the pause switch; ``planner``
plans each day's steps for every case (``haohuan strategy run``); ``reporting`` counts
what they did; ``results`` measures each experiment's arms.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask, current_app

from negotiation.strategy import StrategyError, default_document, load_strategy, read_document
from portal.core.settings import ConfigurationError


def init_app(app: Flask) -> None:
    """Read and check the configured strategy file (``HAOHUAN_STRATEGY_FILE``, else the
    shipped default) once, at start: a mistake refuses to start, naming every key at
    fault. The document is recorded as a version the first time it runs."""
    path = app.config.get("STRATEGY_FILE") or None
    try:
        document: dict[str, Any] = read_document(Path(path)) if path else default_document()
        load_strategy(document)
    except (OSError, StrategyError) as error:
        problems = error.problems if isinstance(error, StrategyError) else (str(error),)
        raise ConfigurationError("HAOHUAN_STRATEGY_FILE: " + "; ".join(problems)) from error
    app.extensions["haohuan.strategy_file"] = document


def file_document() -> dict[str, Any]:
    """The configured strategy document, as checked at start."""
    document: dict[str, Any] = current_app.extensions["haohuan.strategy_file"]
    return document
