"""The ``haohuan`` command: a Flask CLI group that grows with each area."""

from __future__ import annotations

import click
from flask.cli import FlaskGroup

from portal import create_app


@click.group(cls=FlaskGroup, create_app=create_app, add_default_commands=True)
def cli() -> None:
    """Haohuan: borrower self-service portal and repayment-plan negotiator."""


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
def demo(host: str, port: int) -> None:
    """Serve the portal locally for a demonstration."""
    app = create_app()
    click.echo(f"Haohuan is serving on http://{host}:{port}/healthz")
    app.run(host=host, port=port, debug=False)


def main() -> None:
    """Entry point of the ``haohuan`` console script."""
    cli()
