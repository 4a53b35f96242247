"""Database migrations with Alembic, configured in code (no alembic.ini to keep in step)."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from flask import Flask

from portal.core.db import database_url


def alembic_config(app: Flask) -> Config:
    """Alembic's configuration for the app's database."""
    config = Config()
    config.set_main_option("script_location", "portal:migrations")
    config.set_main_option("sqlalchemy.url", database_url(app).replace("%", "%%"))
    return config


def upgrade(app: Flask, revision: str = "head") -> None:
    """Bring the app's database up to ``revision``."""
    command.upgrade(alembic_config(app), revision)


def new_revision(app: Flask, message: str) -> None:
    """Write a migration for the difference between the models and the database."""
    command.revision(alembic_config(app), message=message, autogenerate=True)
