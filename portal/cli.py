"""The ``haohuan`` command: a Flask CLI group that grows with each area."""

from __future__ import annotations

import csv
import json
import multiprocessing
import os
import sys
import threading
import time
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import IO, Any
from zoneinfo import ZoneInfo

import click
from flask import Flask, current_app
from flask.cli import FlaskGroup, with_appcontext
from flask_babel import force_locale
from sqlalchemy import select
from werkzeug.serving import run_simple

from negotiation import Stage
from negotiation.contact import Channel
from negotiation.portfolio import DESTINATIONS, OPEN_BUCKETS
from portal import create_app
from portal.agencies import agencies, commission
from portal.cases import arrears, assignment, lifecycle, zones
from portal.cases.facts import forget_policy, policy, policy_version
from portal.contact.gate import verdict
from portal.core import db, jobs, migrate, settings
from portal.core.clock import local_today, now
from portal.core.i18n import SUPPORTED
from portal.demo import agency_staff, run, seed
from portal.finance import closing, journal_files, journals, payouts, plan_keeping
from portal.finance import exceptions as work
from portal.finance import reconcile as reconciliation
from portal.finance.reports import day_bounds, finance_timezone
from portal.messaging.service import dispatch_due_job
from portal.models import Case, Loan, PolicyVersion, RunStatus, StaffMember
from portal.payments import autopay, inbox, ledger, sweeper
from portal.payments.stripe_gateway import StripeSettings
from portal.policy import versions
from portal.reporting import book, monthly, portfolio
from portal.staff import accounts, totp
from portal.wording import policy as policy_words
from portal.wording.payouts import statement_problem
from portal.wording.staff import account_refusal, password_refusal


@click.group(cls=FlaskGroup, create_app=create_app, add_default_commands=True)
def cli() -> None:
    """Haohuan: borrower self-service portal and repayment-plan negotiator."""


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--no-serve", is_flag=True, help="Prepare and print the links, then stop.")
def demo(host: str, port: int, no_serve: bool) -> None:
    """Migrate the database, seed demo cases, print their links, and serve the portal."""
    app = create_app()
    # A request context: seeding goes through the same services as the pages do.
    with app.test_request_context("/"):
        migrate.upgrade(app)
        lender = settings.current().lender_zone.key
        prepared = run.prepare(
            db.session(),
            app.extensions["haohuan.engine"],
            local_today(lender),
            now(),
            Path(app.instance_path),  # the statement beside the SQLite file, not in the repo
        )
    printed, counts = prepared.links, prepared.counts
    (finance_email, finance_password), staff_accounts = prepared.finance, prepared.staff
    base = f"http://{host}:{port}"
    click.echo(
        f"\nHaohuan demo: {counts.cases:,} cases ({counts.summary}).\n"
        f"Links for {len(printed)} of them: open one, confirm with either answer.\n"
    )
    for item in printed:
        note = f"  [{item.note}]" if item.note else ""
        click.echo(
            f"{item.borrower}  {item.currency}  {item.days_past_due:>3} days  {item.locale}{note}\n"
            f"    {base}/r/{item.token}\n"
            f"    date of birth {item.date_of_birth}  or  ID last 4 {item.id_last4}"
        )
    click.echo(
        f"\nFinance console: {base}/staff/sign-in\n"
        f"    email {finance_email}  password {finance_password}  (a new password each run)"
    )
    if prepared.statement is not None:
        statement = prepared.statement
        click.echo(
            f"    try: close {statement.month}'s books: reconcile it and work its exceptions"
            f" ({base}/finance/close?month={statement.month}), refund a payment in part,"
            " answer the chargeback (/finance/disputes), export the journals"
            " (/finance/journals), then close the month; admin@ reads each step in the audit"
            " log's 'All of finance's work'; the partner agency's commission statement"
            " (/finance/commission, CSV and PDF) and the agencies side by side"
            " (/finance/agencies)"
        )
        click.echo(
            f"    Bank statement for {statement.month} ({len(statement.payouts)} payouts):"
            f" {statement.path}\n"
            f"    reconcile {statement.month} and import it on the Payouts page, in either order"
        )
    click.echo(f"\nAgent console: {base}/staff/sign-in  (new passwords each run)")
    demo_members = (*seed.DEMO_STAFF, agency_staff.DEMO_AGENCY_MEMBER)
    tries = {member.email: member.tries for member in demo_members}
    for roles, email, password in staff_accounts:
        click.echo(f"    {roles:<16} email {email}  password {password}")
        click.echo(f"        try: {tries[email]}")
    if not no_serve:
        # Links in messages sent with no request at hand (the scheduled sender) name
        # the address served here.
        app.config["PUBLIC_URL"] = app.config.get("PUBLIC_URL") or base
        _send_due_every_minute(app)
        click.echo(f"\nServing on {base} (Ctrl+C to stop)")
        click.echo("Scheduled reminders are sent when their time comes (checked every minute).")
        # Flask refuses app.run() inside its own CLI; werkzeug's server is what it uses.
        run_simple(host, port, app, threaded=True)


def _send_due_every_minute(app: Flask) -> None:
    """What cron's ``haohuan messages send-due`` does in production, for the demo: a
    background thread that sends the reminders whose time has come, judged again."""
    from portal.messaging.service import dispatch_due

    def loop() -> None:
        while True:
            with app.app_context():
                try:
                    dispatch_due(db.session(), now(), clock=now)
                except Exception as error:  # the demo keeps serving; the next minute retries
                    click.echo(f"scheduled reminders: {type(error).__name__}", err=True)
                finally:
                    db.session().close()
            time.sleep(60)

    threading.Thread(target=loop, name="demo-send-due", daemon=True).start()


@cli.group("db")
def db_group() -> None:
    """Database migrations."""


@db_group.command("upgrade")
@with_appcontext
def db_upgrade() -> None:
    """Bring the database up to the latest migration."""
    migrate.upgrade(current_app)
    click.echo("database is up to date")


@db_group.command("revision")
@click.option("-m", "--message", required=True)
@with_appcontext
def db_revision(message: str) -> None:
    """Write a new migration from the difference between the models and the database."""
    migrate.new_revision(current_app, message)


@cli.group("payments")
def payments_group() -> None:
    """Payments."""


@payments_group.command("sweep")
@click.option("--older-than", default=5, show_default=True, help="Minutes a payment is left open.")
@with_appcontext
def payments_sweep(older_than: int) -> None:
    """Settle webhook events left in the inbox, then Stripe payments left open, by
    asking Stripe."""
    # The inbox first: an event Stripe already reported needs no question to Stripe.
    settled = inbox.sweep(db.session(), now())
    click.echo(
        f"settled {settled.settled} webhook events left in the inbox, {settled.held} still"
        " waiting for their payment's success"
    )
    swept = sweeper.sweep(
        db.session(), StripeSettings.from_config(), now(), timedelta(minutes=older_than)
    )
    click.echo(
        f"checked {swept.checked} open payments: {swept.succeeded} succeeded, "
        f"{swept.failed} failed, {swept.checked - swept.succeeded - swept.failed} still open"
    )
    if settled.stuck:
        # Past Stripe's redelivery window waiting will not settle them: a non-zero exit,
        # so cron's mail tells someone, every run until they are dealt with.
        click.echo(
            f"{settled.stuck} webhook events have waited more than"
            f" {inbox.GIVE_UP_AFTER.days} days for their payment's success: look the"
            " payments up at Stripe",
            err=True,
        )
        raise SystemExit(1)


@payments_group.command("autopay")
@click.option(
    "--as-of",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="Charge what falls due on this day, as every borrower's today (default: each "
    "borrower's own today).",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@with_appcontext
def payments_autopay(as_of: datetime | None, as_json: bool) -> None:
    """Charge the plan installments on autopay that fall due today (and the retries of
    declined ones) to the borrowers' saved cards. Run it from cron in the lender's
    morning, and again later: each borrower is charged inside their allowed hours, and a
    re-run charges nothing twice."""
    counts = autopay.run(db.session(), now(), as_of.date() if as_of is not None else None)
    if as_json:
        click.echo(json.dumps(counts.as_json(), sort_keys=True))
        return
    amounts = (
        ", ".join(
            f"{amount} {currency}" for currency, amount in sorted(counts.amount_by_currency.items())
        )
        or "nothing"
    )
    click.echo(
        f"charged {counts.charged} installments ({amounts} in minor units), "
        f"{counts.declined} declined, {counts.needs_authentication} need the borrower to "
        f"confirm, {counts.skipped} skipped, {counts.unreachable} not answered by the "
        f"gateway (tried again next run), {counts.cards_off} cards turned off"
    )


@payments_group.command("kept-rate")
@click.option(
    "--since",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="The first day plans were accepted (default: 90 days before --until).",
)
@click.option(
    "--until",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="The last day plans were accepted (default: today, in the finance time zone).",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@with_appcontext
def payments_kept_rate(since: datetime | None, until: datetime | None, as_json: bool) -> None:
    """The plan-kept rate of the plans accepted in a period, with and without autopay, and
    the difference with its 95% interval (portal.finance.plan_keeping defines each
    figure). Reads only."""
    zone = finance_timezone()
    last = until.date() if until is not None else local_today(zone.key)
    first = since.date() if since is not None else last - timedelta(days=89)
    if first > last:
        raise click.BadParameter("the period ends before it starts", param_hint="--until")
    report = plan_keeping.plan_keeping(db.session(), first, last, zone)
    if as_json:
        click.echo(json.dumps(plan_keeping.as_json(report), sort_keys=True))
        return

    def percent(value: float | None) -> str:
        return "—" if value is None else f"{value * 100:.1f}%"

    click.echo(f"Plans accepted {first.isoformat()} to {last.isoformat()}:")
    for label, side in (("with autopay", report.autopay), ("without autopay", report.by_hand)):
        m = side.measure()
        click.echo(
            f"  {label}: {side.counted} plans, {side.kept} kept ({side.completed} completed, "
            f"{side.on_track} on track), {side.not_kept} not kept; kept rate "
            f"{percent(m.rate)} (95% CI {percent(m.low)} to {percent(m.high)})"
        )
    if report.difference is not None:
        size, low, high = report.difference
        click.echo(
            f"  difference: {size * 100:+.1f} pp (95% CI {low * 100:+.1f} to {high * 100:+.1f})"
        )


@cli.group("sandbox")
def sandbox_group() -> None:
    """The sandbox gateway: what Stripe and the banks would do, offline."""


@sandbox_group.command("dispute")
@click.argument("dispute_id", type=int)
@click.option("--won/--lost", required=True, help="The bank's decision.")
@with_appcontext
def sandbox_dispute(dispute_id: int, won: bool) -> None:
    """Decide a sandbox dispute (its number on the finance console's Chargebacks page):
    won returns the money to the loan, lost leaves it taken back."""
    from portal.payments.sandbox_disputes import SandboxDisputeError, decide_dispute

    try:
        decided = decide_dispute(db.session(), dispute_id, won, now())
    except SandboxDisputeError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"dispute {decided.id} ({decided.reference}) is {decided.status}")


@cli.group("cases")
def cases_group() -> None:
    """The daily case work."""


@cases_group.command("advance")
@click.option(
    "--as-of",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="Work this day (again). Without it: every day not yet worked, up to today.",
)
@click.option("--timezone", help="Whose today (default: the lender's time zone).")
@with_appcontext
def cases_advance(as_of: datetime | None, timezone: str | None) -> None:
    """Days past due, stages, plan misses and breaks, penalties, offers: each day once."""
    engine = current_app.extensions["haohuan.engine"]
    worked = lifecycle.advance(
        engine,
        policy(),
        local_today(timezone or settings.current().lender_zone.key),
        now(),
        as_of.date() if as_of is not None else None,
    )
    for day in worked:
        click.echo(
            f"{day.as_of}: {day.became_overdue} became overdue, {day.caught_up} caught up, "
            f"{day.installments_missed} plan installments missed, {day.plans_broken} plans "
            f"broken, {day.plans_lapsed} lapsed, {day.cases_reopened} cases reopened, "
            f"{day.stages_changed} stage changes, {day.penalties} penalties, "
            f"{day.offers_expired} offers expired ({sum(day.seconds.values()):.2f} s)"
        )
    if not worked:
        click.echo("nothing to do: today is already worked")


@cases_group.command("assign")
@with_appcontext
def cases_assign() -> None:
    """Give every open case its owner by the assignment rules, spread by capacity; move
    the cases of owners away or deactivated. Cron runs it after ``cases advance``
    (e.g. ``30 2 * * * haohuan cases advance && haohuan cases assign``) and after any
    change of the rules; a re-run changes nothing."""
    run = assignment.assign(current_app.extensions["haohuan.engine"], now(), "cli")
    click.echo(
        f"{run.assigned} assigned, {run.reassigned} reassigned, {run.unassigned} left "
        f"without an owner, {run.waiting} open cases without an owner"
    )


@cases_group.command("arrears-check")
@click.option("--fix", is_flag=True, help="Count again the cases that disagree.")
@with_appcontext
def cases_arrears_check(fix: bool) -> None:
    """Prove every case's stored overdue amount (what the queue filters and sorts by) is
    the amount counted from its installments and charges, and every case's copy of its
    borrower's time zone is the borrower's; exit 1 on any that is not."""
    session = db.session()
    wrong = arrears.check(session, now())
    for case_id, stored, counted in wrong[:50]:
        click.echo(f"case {case_id}: stored {stored}, counted {counted}", err=True)
    zoned = zones.check(session)
    for case_id, copied, zone in zoned[:50]:
        click.echo(f"case {case_id}: zone {copied}, its borrower's {zone}", err=True)
    if (wrong or zoned) and fix:
        if wrong:
            ids = [w[0] for w in wrong]
            arrears.refresh(session, select(Case.loan_id).where(Case.id.in_(ids)))
        if zoned:
            zones.copy(session, select(Case.loan_id).where(Case.id.in_([z[0] for z in zoned])))
        session.commit()
        if zoned:
            click.echo(f"copied {len(zoned)} cases' zones again")
        if wrong:
            click.echo(f"counted {len(wrong)} cases again")
        return
    if wrong or zoned:
        raise SystemExit(1)
    click.echo("every stored overdue amount is the counted one")


@cases_group.command("rule-add")
@click.option("--name", required=True)
@click.option("--agent", "agents", multiple=True, required=True, help="An email; repeat.")
@click.option("--priority", default=100, show_default=True, type=int, help="Lowest first.")
@click.option("--stage", type=click.Choice([stage.value for stage in Stage]))
@click.option("--locale", type=click.Choice(SUPPORTED))
@click.option("--currency")
@click.option("--timezone")
@click.option("--min-amount", type=int, help="The loan's principal, in minor units.")
@click.option("--max-amount", type=int, help="Exclusive, in minor units.")
@with_appcontext
def cases_rule_add(
    name: str,
    agents: tuple[str, ...],
    priority: int,
    stage: str | None,
    locale: str | None,
    currency: str | None,
    timezone: str | None,
    min_amount: int | None,
    max_amount: int | None,
) -> None:
    """Add an assignment rule whose cases go to these agents (then run ``cases assign``)."""
    members = [_staff_member(email) for email in agents]
    rule = assignment.add_rule(
        db.session(),
        name,
        members,
        "cli",
        now(),
        priority=priority,
        stage=Stage(stage) if stage else None,
        locale=locale,
        currency=currency.upper() if currency else None,
        timezone=timezone,
        min_amount=min_amount,
        max_amount=max_amount,
    )
    click.echo(f"rule {rule.id} added with {len(members)} agents")


@cli.group("contact")
def contact_group() -> None:
    """The contact rules, as the gate applies them to a borrower."""


@contact_group.command("check")
@click.option("--loan", "loan_number", required=True, help="The loan's number.")
@click.option(
    "--channel",
    required=True,
    type=click.Choice([channel.value for channel in Channel]),
    help="How the borrower would be contacted.",
)
@click.option(
    "--at",
    "at",
    help="When (ISO-8601; without an offset, the borrower's local time). Default: now.",
)
@with_appcontext
def contact_check(loan_number: str, channel: str, at: str | None) -> None:
    """May the borrower of a loan be contacted on a channel now (or --at)? Prints one JSON
    object: allowed, reasons (stable codes), allowed_from (ISO-8601 with the borrower's
    offset; null when allowed, or when waiting never allows it: a hold, an opt-out),
    borrower_local_time and jurisdiction. Changes nothing and records nothing: the
    answer is the rules', with no personal data beyond the loan number given.
    Exit status: 0 allowed, 1 refused, 2 an unknown loan or a bad option."""
    session = db.session()
    case = session.scalars(
        select(Case).join(Loan, Case.loan_id == Loan.id).where(Loan.number == loan_number)
    ).one_or_none()
    if case is None:
        raise click.BadParameter(f"no loan numbered {loan_number!r}", param_hint="--loan")
    moment = now() if at is None else _moment(at, case.loan.borrower.timezone)
    answer = verdict(session, case, Channel(channel), moment)
    session.rollback()
    click.echo(json.dumps(answer.as_json(), ensure_ascii=False))
    sys.exit(0 if answer.allowed else 1)


def _moment(text: str, zone: str) -> datetime:
    """``--at`` as an aware moment: with its own offset, or on the borrower's clock."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(
            "must be an ISO-8601 date and time, e.g. 2026-12-01T21:30-08:00", param_hint="--at"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(zone))
    return moment


@cli.group("messages")
def messages_group() -> None:
    """Reminders by SMS and email."""


@messages_group.command("send-due")
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(1, 16),
    help="Sending processes at once (PostgreSQL only): each takes batches no other has "
    "taken, and the providers' rate limits are divided among them.",
)
@with_appcontext
def messages_send_due(workers: int) -> None:
    """Send the scheduled reminders whose time has come, judging each against the
    contact rules again (cancelled if a hold or an opt-out came since, moved if a cap
    was used since); mark sends interrupted by a crash as failed, never resent. First
    queue the validation notice (US Regulation F) of every open, overdue case that
    needs one and has none. With ``--workers N``, N processes send at once, each an app
    of its own configured from the environment."""
    from portal.messaging.service import dispatch_due, housekeep

    session = db.session()
    if workers == 1:
        done = dispatch_due(session, now(), clock=now)
    else:
        if session.get_bind().dialect.name != "postgresql":
            raise click.UsageError("--workers needs PostgreSQL: SQLite takes one writer at a time")
        done = housekeep(session, now())
        session.close()
        # Spawned, not forked: a child never inherits this process's connections.
        with multiprocessing.get_context("spawn").Pool(workers) as pool:
            for part in pool.map(_send_due_part, [workers] * workers):
                for name, value in part.items():
                    setattr(done, name, getattr(done, name) + value)
    click.echo(
        f"{done.sent} sent, {done.failed} failed, {done.cancelled} canceled, "
        f"{done.rescheduled} moved to a later time, {done.interrupted} interrupted sends "
        f"marked failed, {done.notices_queued} validation notices queued"
    )


def _send_due_part(share: int) -> dict[str, int]:
    """One process of ``send-due --workers``: the app built from the environment, sending
    batches until none is due; what it did."""
    from portal.messaging.service import dispatch_due

    app = create_app()
    try:
        with app.app_context():
            done = dispatch_due(db.session(), now(), clock=now, housekeeping=False, share=share)
            db.session().close()
    finally:
        app.extensions["haohuan.engine"].dispose()
    return {name: getattr(done, name) for name in ("sent", "failed", "cancelled", "rescheduled")}


@cli.command("worker")
@click.option("--burst", is_flag=True, help="Run what is queued, then stop.")
@with_appcontext
def worker_command(burst: bool) -> None:
    """Run an RQ worker for the app's queue (needs REDIS_URL), with its scheduler for
    work that waits; each job runs inside an app context."""
    from portal.core import jobs

    try:
        # current_app is typed as the Flask app; _get_current_object is its werkzeug proxy's.
        worker = jobs.worker(current_app._get_current_object())  # type: ignore[attr-defined]
    except RuntimeError as error:
        raise click.ClickException(str(error)) from None
    worker.work(burst=burst, with_scheduler=True)


@cli.group("ledger")
def ledger_group() -> None:
    """The books."""


@ledger_group.command("check")
@with_appcontext
def ledger_check() -> None:
    """Prove every confirmed payment is allocated exactly; exit 1 on any drift."""
    session = db.session()
    problems = ledger.check(session)
    # And the general-ledger journals: every day's balance, and their sums per account
    # are what the allocations and waivers post.
    problems += journals.check(session, finance_timezone(), settings.current().chart_of_accounts)
    for problem in problems:
        click.echo(problem, err=True)
    if problems:
        raise SystemExit(1)
    click.echo("the ledger balances, and so does every day's journal")


@ledger_group.command("journal")
@click.option("--date", "day", type=click.DateTime(["%Y-%m-%d"]), help="One day (YYYY-MM-DD).")
@click.option("--month", type=click.DateTime(["%Y-%m"]), help="A whole month (YYYY-MM).")
@click.option(
    "--format",
    "form",
    type=click.Choice(journal_files.FORMATS),
    default="csv",
    show_default=True,
    help="A general-ledger CSV, or a Beancount ledger.",
)
@click.option(
    "--output", type=click.Path(dir_okay=False, writable=True), help="A file (default: stdout)."
)
@click.option("--timezone", help="Whose calendar days (default: the finance timezone).")
@with_appcontext
def ledger_journal(
    day: datetime | None,
    month: datetime | None,
    form: str,
    output: str | None,
    timezone: str | None,
) -> None:
    """Write the general-ledger journals of a day or a month: each day's payments,
    refunds, disputes, waivers and Stripe fees as balanced double-entry lines."""
    if (day is None) == (month is None):
        raise click.UsageError("give one of --date YYYY-MM-DD or --month YYYY-MM")
    if day is not None:
        first = last = day.date()
    else:
        assert month is not None  # one of the two, checked above  # noqa: S101
        first, last = journals.month_days(month.date())
    zone = ZoneInfo(timezone) if timezone else finance_timezone()
    lines = journal_files.export(db.session(), first, last, form, zone)
    if output is None:
        for line in lines:
            click.echo(line, nl=False)
        return
    with open(output, "w", newline="", encoding="utf-8") as stream:
        stream.writelines(lines)
    click.echo(f"wrote the journals of {first} to {last} to {output}", err=True)


NEEDS_STRIPE = (
    "reconciliation compares our payments with Stripe's records, and Stripe is not set up "
    "here (no STRIPE_SECRET_KEY): the sandbox gateway's test payments have nothing at "
    "Stripe to compare with"
)


@cli.command("reconcile")
@click.option("--since", required=True, type=click.DateTime(["%Y-%m-%d"]), help="First day.")
@click.option(
    "--until",
    type=click.DateTime(["%Y-%m-%d"]),
    help="The day after the last one (default: tomorrow, so through now).",
)
@click.option("--timezone", help="Whose calendar days (default: the finance timezone).")
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False), help="Also write a CSV.")
@with_appcontext
def reconcile_command(
    since: datetime, until: datetime | None, timezone: str | None, csv_path: str | None
) -> None:
    """Reconcile Stripe's balance history and payouts with our payments; exit 1 when
    Stripe could not be read or anything is unmatched."""
    zone = ZoneInfo(timezone) if timezone else finance_timezone()
    after = until.date() if until else now().astimezone(zone).date() + timedelta(days=1)
    if after <= since.date():
        raise click.BadParameter("must be after --since", param_hint="--until")
    start, end = day_bounds(since.date(), after - timedelta(days=1), zone)
    stripe_settings = StripeSettings.from_config()
    if not reconciliation.available(stripe_settings):
        click.echo(NEEDS_STRIPE, err=True)
        raise SystemExit(1)
    try:
        run = reconciliation.reconcile(db.session(), stripe_settings, start, end, "cli", now())
    except closing.PeriodClosedError as closed:
        click.echo(f"{closed.month} is closed: its reconciliation is locked", err=True)
        raise SystemExit(1) from None
    # The terminal and the file are in English, the operators' language.
    with force_locale("en"):
        for line in reconciliation.describe(run):
            click.echo(line)
        if csv_path:
            with open(csv_path, "w", newline="", encoding="utf-8") as stream:
                reconciliation.write_run_csv(run, stream)
            reconciliation.record_export(db.session(), "cli", run, now())
            click.echo(f"CSV written to {csv_path}")
    if run.status != RunStatus.COMPLETED or run.unmatched:
        raise SystemExit(1)


@cli.group("finance")
def finance_group() -> None:
    """Reconciliation exceptions, the month's close, and the books at the bank."""


@finance_group.command("close")
@click.option("--month", required=True, help="The month, as YYYY-MM (finance timezone).")
@with_appcontext
def finance_close(month: str) -> None:
    """Close a month's books; exit 1, saying why, when something blocks it."""
    parsed = closing.parse_month(month)
    if parsed is None:
        raise click.BadParameter("a month as YYYY-MM", param_hint="--month")
    try:
        closing.close(db.session(), parsed, "cli", now())
    except closing.CloseError as refused:
        state = closing.state(db.session(), parsed, now())
        click.echo(f"{parsed} not closed: {refused.reason}", err=True)
        for found in state.blocking:
            click.echo(f"  exception {found.id} {found.kind} {found.status}", err=True)
        raise SystemExit(1) from None
    click.echo(f"{parsed} closed")


@finance_group.command("commission")
@with_appcontext
def finance_commission() -> None:
    """Book partner agencies' commission on every payment and refund of a placed case
    not yet booked (the daily work does it too; running it again books nothing)."""
    added = commission.book(db.session(), now())
    click.echo(f"{added} commission entries booked")


@finance_group.command("exceptions")
@click.option("--all", "every", is_flag=True, help="Finished ones too.")
@with_appcontext
def finance_exceptions(every: bool) -> None:
    """List the reconciliation exceptions (open and under investigation unless --all)."""
    filters = work.ExceptionFilters(status="all" if every else "active")
    for found in work.listing(db.session(), None, filters):
        click.echo(
            f"{found.id}\t{found.month}\t{found.kind}\t{found.currency}\t"
            f"{found.reference}\t{found.status}\t{found.resolution or ''}"
        )
    """The books at the bank."""


@finance_group.command("import-statement")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@with_appcontext
def finance_import_statement(path: str) -> None:
    """Import a bank statement (camt.053 XML) and tick off the payouts it matches; exit
    1 when the file cannot be read. The same file again changes nothing."""
    with open(path, "rb") as stream:
        data = stream.read(payouts.STATEMENT_LIMIT + 1)
    try:
        result = payouts.import_statement(db.session(), data, os.path.basename(path), "cli", now())
    except payouts.StatementError as error:
        with force_locale("en"):
            click.echo(statement_problem(error.problem), err=True)
        raise SystemExit(1) from error
    if result.already:
        click.echo(f"{result.statement.file_name} was imported before: nothing changed")
        return
    click.echo(
        f"statement {result.statement.id}: {result.added} deposits added"
        f" ({result.skipped} held already), {result.matched} matched to payouts,"
        f" {result.ambiguous} ambiguous, {result.unmatched} unmatched"
    )


@cli.group("staff")
def staff_group() -> None:
    """Staff accounts (the finance console and, later, the agent console)."""


def _staff_member(email: str) -> StaffMember:
    member = accounts.find_member(db.session(), email)
    if member is None:
        raise click.ClickException(f"no staff account has the email {email}")
    return member


LANG_OPTION = click.option(
    "--lang",
    type=click.Choice(SUPPORTED),
    default="en",
    show_default=True,
    help="The language a refused password is explained in.",
)


def _refusal(error: accounts.AccountError, lang: str) -> str:
    """Why the account could not be made or changed: a refused password in words, in
    ``lang`` (portal.wording.staff)."""
    with force_locale(lang):
        if isinstance(error, accounts.WeakPasswordError):
            return password_refusal(error.problem)
        return account_refusal(error.reason)


def _new_password() -> str:
    """The new password, typed twice: hidden at a terminal; otherwise (a script, a pipe)
    the first two lines of stdin, which must match. Never an option, so it stays out of
    shell history and the process list."""
    stdin = sys.stdin
    if stdin.isatty():
        return str(click.prompt("Password", hide_input=True, confirmation_prompt=True))
    # Only the line ending goes: spaces at either end are part of a passphrase.
    first = stdin.readline().rstrip("\r\n")
    second = stdin.readline().rstrip("\r\n")
    if not first:
        raise click.ClickException("no password on stdin (two lines, the same password)")
    if first != second:
        raise click.ClickException("the two passwords on stdin differ")
    return first


@staff_group.command("create")
@click.option("--email", required=True)
@click.option("--name", help="How the console greets them (default: the email's local part).")
@click.option(
    "--role",
    "roles",
    multiple=True,
    required=True,
    type=click.Choice(accounts.ROLES),
    help="Repeat for several roles.",
)
@click.option(
    "--agency",
    "agency_code",
    help="A partner agency's code: the member works for it (with the role agency alone).",
)
@LANG_OPTION
@with_appcontext
def staff_create(
    email: str, name: str | None, roles: tuple[str, ...], agency_code: str | None, lang: str
) -> None:
    """Create a staff account; the password is asked for twice (hidden), or read from
    two lines of stdin when it is not a terminal."""
    agency_id = None
    if agency_code is not None:
        agency = agencies.agency_by_code(db.session(), agency_code)
        if agency is None:
            raise click.ClickException(f"no agency has the code {agency_code}")
        agency_id = agency.id
    try:
        member = accounts.add_member(
            db.session(), email, name, roles, _new_password(), now(), agency_id=agency_id
        )
    except accounts.AccountError as error:
        raise click.ClickException(_refusal(error, lang)) from None
    click.echo(f"added {member.email} with the roles {member.roles}")


# The command's first name, kept so that scripts and notes that use it go on working.
staff_group.add_command(staff_create, "add")


@staff_group.command("password")
@click.option("--email", required=True)
@LANG_OPTION
@with_appcontext
def staff_password(email: str, lang: str) -> None:
    """Set a new password (asked twice, hidden); the account's sessions end."""
    member = _staff_member(email)
    try:
        accounts.change_password(db.session(), member, _new_password())
    except accounts.AccountError as error:
        raise click.ClickException(_refusal(error, lang)) from None
    click.echo(f"password changed for {member.email}; its sessions have ended")


@staff_group.command("deactivate")
@click.option("--email", required=True)
@with_appcontext
def staff_deactivate(email: str) -> None:
    """Stop an account from signing in; its sessions end at once."""
    member = _staff_member(email)
    try:
        accounts.deactivate(db.session(), member, "cli", now())
    except accounts.AccountError as error:
        raise click.ClickException(_refusal(error, "en")) from None
    click.echo(f"{member.email} is deactivated")


@staff_group.command("availability")
@click.option("--email", required=True)
@click.option("--away/--back", default=None, help="Away (their cases move) or back.")
@click.option("--capacity", type=click.IntRange(min=0), help="Most open cases by the rules.")
@with_appcontext
def staff_availability(email: str, away: bool | None, capacity: int | None) -> None:
    """Mark a member away or back, or set their capacity; ``cases assign`` acts on it."""
    member = _staff_member(email)
    assignment.set_availability(db.session(), member, "cli", now(), away=away, capacity=capacity)
    click.echo(f"{member.email}: away {member.away}, capacity {member.capacity}")


@staff_group.command("totp")
@click.option("--email", required=True)
@click.option("--disable", is_flag=True, help="Stop asking this account for a code.")
@with_appcontext
def staff_totp(email: str, disable: bool) -> None:
    """Ask this account for a one-time code after its password: prints the otpauth://
    URI and the secret once (a new secret each time; its sessions end)."""
    member = _staff_member(email)
    if disable:
        accounts.disable_totp(db.session(), member)
        click.echo(f"{member.email} signs in with the password alone")
        return
    secret = accounts.enable_totp(db.session(), member)
    click.echo(f"one-time codes are on for {member.email}; its sessions have ended")
    click.echo("add this to the authenticator app (shown once only):")
    click.echo(totp.provisioning_uri(secret, member.email))
    click.echo(f"secret: {secret}")


@cli.group("policy")
def policy_group() -> None:
    """The collection policy's versions: show, propose, approve, reject (maker-checker:
    the same rules as the admin console's policy pages)."""


JSON_OPTION = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


def _version_json(row: PolicyVersion, with_text: bool = False) -> dict[str, object]:
    found: dict[str, object] = {
        "version": row.version,
        "status": row.status.value,
        "based_on": row.based_on,
        "sha256": row.sha256,
        "made_by": row.made_by,
        "made_at": row.made_at.isoformat(),
        "reason": row.reason,
        "checked_by": row.checked_by,
        "checked_at": row.checked_at.isoformat() if row.checked_at else None,
        "check_note": row.check_note,
    }
    if with_text:
        found["override_toml"] = row.override_toml
    return found


def _policy_refusal(error: versions.PolicyChangeError, lang: str) -> click.ClickException:
    with force_locale(lang):
        return click.ClickException(policy_words.refusal_text(error))


def _policy_admin(email: str, lang: str) -> StaffMember:
    try:
        return versions.admin(db.session(), email)
    except versions.PolicyChangeError as error:
        raise _policy_refusal(error, lang) from None


def _echo_version(row: PolicyVersion, as_json: bool, with_text: bool = False) -> None:
    if as_json:
        click.echo(json.dumps(_version_json(row, with_text), ensure_ascii=False))
        return
    checked = f", checked by {row.checked_by}" if row.checked_by else ""
    click.echo(f"version {row.version}: {row.status.value}, made by {row.made_by}{checked}")
    if with_text:
        click.echo(row.override_toml, nl=False)


@policy_group.command("show")
@click.option("--version", "number", type=click.IntRange(min=1), help="Default: in force.")
@JSON_OPTION
@with_appcontext
def policy_show(number: int | None, as_json: bool) -> None:
    """Print a version (the one in force by default) and its override file."""
    session = db.session()
    if number is None:
        policy_version()  # records version 1 when there is none yet
        session.commit()
    row = versions.version(session, number) if number else versions.in_force(session)
    if row is None:
        raise click.BadParameter(f"no policy version {number}", param_hint="--version")
    _echo_version(row, as_json, with_text=True)


@policy_group.command("history")
@JSON_OPTION
@with_appcontext
def policy_history(as_json: bool) -> None:
    """Every version, newest first: who made it, who checked it."""
    session = db.session()
    policy_version()
    session.commit()
    rows = versions.history(session)
    if as_json:
        click.echo(json.dumps([_version_json(row) for row in rows], ensure_ascii=False))
        return
    for row in rows:
        _echo_version(row, False)


@policy_group.command("propose")
@click.option("--file", "path", required=True, type=click.File("r", encoding="utf-8"))
@click.option("--reason", required=True, help="Why the policy should change.")
@click.option("--by", "email", required=True, help="The proposing admin's email.")
@LANG_OPTION
@JSON_OPTION
@with_appcontext
def policy_propose(path: IO[str], reason: str, email: str, lang: str, as_json: bool) -> None:
    """Propose an override file as the next version; a different admin approves it."""
    member = _policy_admin(email, lang)
    session = db.session()
    policy_version()
    try:
        row = versions.propose(session, path.read(), reason, member, now())
    except versions.PolicyChangeError as error:
        raise _policy_refusal(error, lang) from None
    _echo_version(row, as_json)


@policy_group.command("approve")
@click.argument("number", type=click.IntRange(min=1))
@click.option("--by", "email", required=True, help="The checking admin's email.")
@click.option("--note", default="", help="A note on the approval.")
@LANG_OPTION
@JSON_OPTION
@with_appcontext
def policy_approve(number: int, email: str, note: str, lang: str, as_json: bool) -> None:
    """Approve proposal NUMBER: it is in force at once, everywhere."""
    member = _policy_admin(email, lang)
    try:
        row = versions.approve(db.session(), number, member, now(), note)
    except versions.PolicyChangeError as error:
        raise _policy_refusal(error, lang) from None
    forget_policy()
    _echo_version(row, as_json)


@policy_group.command("reject")
@click.argument("number", type=click.IntRange(min=1))
@click.option("--by", "email", required=True, help="The checking admin's email.")
@click.option("--note", required=True, help="Why it is rejected.")
@LANG_OPTION
@JSON_OPTION
@with_appcontext
def policy_reject(number: int, email: str, note: str, lang: str, as_json: bool) -> None:
    """Reject proposal NUMBER, saying why."""
    member = _policy_admin(email, lang)
    try:
        row = versions.reject(db.session(), number, member, now(), note)
    except versions.PolicyChangeError as error:
        raise _policy_refusal(error, lang) from None
    _echo_version(row, as_json)


@cli.group("report")
def report_group() -> None:
    """Collections performance: the month-end history and its roll rates."""


def _month_day(value: datetime | None, default: date) -> date:
    return value.date() if value is not None else default


@report_group.command("portfolio")
@click.option(
    "--as-of",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="The last month pair ends on or before this day (default: today, finance zone).",
)
@click.option("--months", type=click.IntRange(1, 120), default=12, show_default=True)
@click.option(
    "--format",
    "output",
    type=click.Choice(["text", "json", "csv"]),
    default="text",
    show_default=True,
)
@click.option("--json", "as_json", is_flag=True, help="The same as --format json.")
@click.option("--product")
@click.option("--currency")
@click.option("--market", help="The borrower's jurisdiction, e.g. TW.")
@click.option("--stage", type=click.Choice([stage.value for stage in Stage]))
@click.option("--owner", "owner_id", type=int, help="A staff member's id.")
@click.option("--team", "team_id", type=int, help="A team's id.")
@click.option("--arm", help="A strategy experiment's arm, as experiment/arm.")
@with_appcontext
def report_portfolio(
    as_of: datetime | None,
    months: int,
    output: str,
    as_json: bool,
    **slices: Any,
) -> None:
    """The roll rates of the last --months month pairs up to --as-of: the transition
    matrix, the cure rate, each bucket's roll forward and back; with --format json also
    the plans, promises, contact and the portal's funnel over the same days
    (portal.reporting and docs/reporting.md define each figure). Audited as a read by
    "cli"."""
    last_day = _month_day(as_of, local_today(finance_timezone().key))
    chosen = report_portfolio_slice(**slices)
    session = db.session()
    period = portfolio.period_ending(session, last_day, months)
    if period is None:
        click.echo(
            "No month pair is counted yet: the daily work writes each month-end, and "
            "`haohuan report backfill` the months before it.",
            err=True,
        )
        raise SystemExit(1)
    report = portfolio.roll_rates(session, period[0], period[1], chosen)
    action = "reports.portfolio.export" if output != "text" or as_json else "reports.portfolio.view"
    portfolio.record_read(session, "cli", action, now(), chosen, report)
    session.commit()
    if as_json or output == "json":
        whole = book.book_report(session, period[0], period[1], chosen)
        click.echo(json.dumps(book.as_json(whole), sort_keys=True))
    elif output == "csv":
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerows(portfolio.csv_rows(report))
    else:
        _echo_roll_rates(report)


def report_portfolio_slice(**slices: Any) -> portfolio.Slice:
    """The slice the command's options choose."""
    return portfolio.Slice(**{name: value for name, value in slices.items() if value is not None})


def _echo_roll_rates(report: portfolio.RollRates) -> None:
    def percent(share: Any) -> str:
        text = portfolio.share_text(share)
        return "—" if text is None else f"{Decimal(text) * 100:.1f}%"

    matrix = report.matrix
    click.echo(
        f"Roll rates, {report.pairs} month pairs from {report.first.isoformat()} to "
        f"{report.last.isoformat()} (amounts in {report.amounts_in or 'several currencies'}):"
    )
    click.echo("from \\ to".ljust(10) + "".join(b.value.rjust(10) for b in DESTINATIONS))
    for first in OPEN_BUCKETS:
        shares = "".join(percent(matrix.rate(first, b).cases).rjust(10) for b in DESTINATIONS)
        click.echo(f"{first.value.ljust(10)}{shares}   ({matrix.row_total(first).cases} cases)")
    click.echo(f"Cure rate: {percent(matrix.cure_rate.cases)} of {matrix.overdue.cases} overdue")


@report_group.command("backfill")
@click.option(
    "--since",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    required=True,
    help="The first month to reconstruct (any day of it).",
)
@click.option(
    "--until",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="The last month (default: the month before this one).",
)
@with_appcontext
def report_backfill(since: datetime, until: datetime | None) -> None:
    """Reconstruct the month-ends from --since to --until that are not written yet, from
    the ledger and the case events, and count their transitions; then count every report
    section's cells from --since on, for months written before too (docs/reporting.md
    says what is exact). One transaction."""
    today = local_today(finance_timezone().key)
    last = _month_day(until, today.replace(day=1) - timedelta(days=1))
    if last >= today:
        raise click.BadParameter("must be a month that has ended", param_hint="--until")
    if since.date() > last:
        raise click.BadParameter("must be before --until", param_hint="--since")
    session = db.session()
    written = monthly.backfill(session, since.date(), last, policy(), finance_timezone())
    session.commit()
    for month_end, rows in written.items():
        click.echo(f"{month_end.isoformat()}: {rows} cases")
    click.echo(f"{len(written)} month-ends written ({sum(written.values())} rows)")


@cli.group("strategy")
def strategy_group() -> None:
    """The contact strategy: reminders that send themselves, champion against
    challenger."""


@strategy_group.command("check")
@click.argument("path", type=click.Path(exists=True, dir_okay=False), required=False)
def strategy_check(path: str | None) -> None:
    """Check a strategy file (TOML, or JSON ending .json; without PATH, the shipped
    default) and name every problem; exit 1 when there is one."""
    from negotiation.strategy import (
        StrategyError,
        default_document,
        load_strategy,
        read_document,
    )

    try:
        found = load_strategy(read_document(path) if path else default_document())
    except StrategyError as error:
        for problem in error.problems:
            click.echo(problem, err=True)
        sys.exit(1)
    click.echo(
        f"{found.name}: {len(found.steps)} steps, "
        f"{len(found.experiments)} experiments ({', '.join(e.name for e in found.experiments)})"
    )


@strategy_group.command("run")
@click.option(
    "--as-of",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="Plan this day (default: the lender's today).",
)
@click.option("--dry-run", is_flag=True, help="Plan, print, and roll everything back.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@with_appcontext
def strategy_run(as_of: datetime | None, dry_run: bool, as_json: bool) -> None:
    """Plan the day's steps of the contact strategy for every case, once per case and
    occurrence: the messages go out with ``haohuan messages send-due``, calls and letters
    wait in their owners' work lists. Cron runs it after the daily work (e.g.
    ``haohuan cases advance && haohuan strategy run``); a re-run plans nothing new."""
    from portal.strategy import file_document, planner

    zone = settings.current().lender_zone
    day = as_of.date() if as_of is not None else local_today(zone.key)
    done = planner.run(db.session(), file_document(), day, now(), dry_run=dry_run, zone=zone)
    if done.planned and not dry_run and jobs.queue() is not None:
        # With Redis, the RQ workers send what is due now at once; without it, cron's
        # `haohuan messages send-due` does, at its next minute.
        jobs.enqueue(dispatch_due_job)
    if as_json:
        click.echo(json.dumps(done.as_json(), sort_keys=True))
        return
    if done.paused:
        click.echo(f"{day}: the strategy is paused; nothing planned")
        return
    click.echo(
        f"{day}: {done.planned} planned ({done.scheduled_later} for a later allowed time), "
        f"{sum(done.skipped.values())} skipped, strategy version {done.version}"
        + (" (dry run: nothing kept)" if dry_run else "")
    )
    for title, counts in (
        ("by step", done.by_step),
        ("by channel", done.by_channel),
        ("by variant", done.by_variant),
        ("skipped", done.skipped),
    ):
        if counts:
            click.echo(f"  {title}: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))


@strategy_group.command("results")
@click.option(
    "--as-of",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="Measure as at the end of this day (the lender's time zone). Default: now.",
)
@JSON_OPTION
@with_appcontext
def strategy_results(as_of: datetime | None, as_json: bool) -> None:
    """Each experiment's arms: cases, the outcomes of the mature ones with 95% intervals,
    and each challenger against the champion (portal.strategy.results explains every
    figure). Reads only."""
    from portal.strategy import results as measured

    zone = settings.current().lender_zone
    moment = now()
    day = as_of.date() if as_of is not None else local_today(zone.key)
    if as_of is not None:
        end = datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=zone)
        moment = min(moment, end)
    session = db.session()
    strategy = measured.in_force(session, current_app.extensions["haohuan.strategy_file"])
    found = measured.results(session, strategy, day, moment)
    if as_json:
        click.echo(json.dumps(measured.as_json(found, day), ensure_ascii=False, indent=2))
        return
    click.echo(_results_table(found, day))


def _results_table(found: list[Any], day: date) -> str:
    """The results as a plain table for a terminal (English: the command's language)."""
    from portal.strategy.results import MIN_CASES, OUTCOMES

    def percent(value: float | None) -> str:
        return "—" if value is None else f"{value * 100:.1f}%"

    lines = [
        f"Experiment results as of {day.isoformat()}. Only mature cases count (assigned at "
        f"least the outcome's window ago); a verdict needs {MIN_CASES} in each arm."
    ]
    if not found:
        lines.append("No experiments.")
    for result in found:
        state = f"ended {result.ended_at:%Y-%m-%d}" if result.ended_at else "running"
        lines += ["", f"{result.name} ({state}){': ' + result.label if result.label else ''}"]
        for arm in result.arms:
            paid = ", ".join(f"{c} {amount:,}" for c, amount in arm.paid_by_currency.items())
            role = "champion" if arm.champion else "challenger"
            lines.append(
                f"  {arm.name} ({role}, weight {arm.weight}%): {arm.cases:,} cases"
                + (f"; paid in 30 days (minor units): {paid}" if paid else "")
            )
        lines.append(
            f"  {'outcome':<18} {'arm':<16} {'mature':>7} {'count':>7} {'rate':>7}  95% CI"
        )
        for outcome in OUTCOMES:
            for arm in result.arms:
                m = arm.outcomes[outcome.code]
                lines.append(
                    f"  {outcome.code:<18} {arm.name:<16} {m.mature:>7,} {m.count:>7,} "
                    f"{percent(m.rate):>7}  {percent(m.low)} to {percent(m.high)}"
                )
            for c in result.comparisons:
                if c.outcome == outcome.code:
                    lines.append(
                        f"  {'':<18} {c.arm} - {result.champion}: "
                        f"{'—' if c.difference is None else f'{c.difference * 100:+.1f} pp'} "
                        f"({c.confidence:.1%} CI {_points(c.low)} to {_points(c.high)}): "
                        f"{c.verdict.value}"
                    )
    return "\n".join(lines)


def _points(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:+.1f}"


@cli.command("configuration")
def configuration() -> None:
    """Print every environment variable Haohuan reads, with its default, meaning and
    values (Markdown: docs/configuration.md is this output)."""
    click.echo(settings.markdown(), nl=False)


def main() -> None:
    """Entry point of the ``haohuan`` console script."""
    cli()
