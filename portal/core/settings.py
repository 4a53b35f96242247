"""The application's settings."""

from __future__ import annotations


class ConfigurationError(RuntimeError):
    """The application refuses to start with this configuration."""
