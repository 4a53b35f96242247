"""Haohuan's Flask application: the borrower portal and the agent, finance and admin
consoles, thin over ``negotiation``.

The layout (the README's code map says more): ``portal.core`` is infrastructure,
``portal.models`` the tables, one capability package per area of rules (``cases``,
``arrangements``, ``payments``, ``contact``, ...), and ``portal.web`` every Flask view.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from portal.core.settings import ConfigurationError

if TYPE_CHECKING:
    from flask import Flask

__all__ = ["ConfigurationError", "create_app"]


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the application (``portal.web.app.create_app``); imported when called, so
    importing any part of ``portal`` never loads the whole web layer."""
    from portal.web.app import create_app as build

    return build(config)
