"""The audit log's actions in words: every action code the code base records
(``portal.audit.trail.record``), as the admin console shows it. A test finds every code
recorded and fails when one has no label here; a code in the log with no label (one no
longer recorded) is shown as itself."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l

ACTION_LABELS: dict[str, Any] = {
    # Staff accounts and signing in
    "staff.sign_in": _l("Signed in"),
    "staff.sign_in_failed": _l("Sign-in refused"),
    "staff.sign_out": _l("Signed out"),
    "staff.create": _l("Staff account created"),
    "staff.set_up_link": _l("Set-up link issued"),
    "staff.set_up": _l("Password set through a set-up link"),
    "staff.totp_enrol": _l("One-time codes enrolled"),
    "staff.totp_reset": _l("One-time codes reset"),
    "staff.deactivate": _l("Staff account deactivated"),
    "staff.reactivate": _l("Staff account reactivated"),
    "staff.roles": _l("Staff roles changed"),
    "staff.team": _l("Staff team changed"),
    "staff.availability": _l("Capacity or away changed"),
    "team.create": _l("Team created"),
    "team.rename": _l("Team renamed"),
    # Partner agencies (portal.agencies)
    "agency.create": _l("Partner agency created"),
    "agency.place": _l("Cases placed with a partner agency"),
    "agency.recall": _l("Cases recalled from a partner agency"),
    "agency.recall_case": _l("Case recalled from a partner agency"),
    "agency.period_end": _l("Placements recalled at their period's end"),
    # The contact strategy
    "strategy.run": _l("Contact strategy planned a day"),
    "strategy.pause": _l("Contact strategy paused"),
    "strategy.resume": _l("Contact strategy resumed"),
    "strategy.promote": _l("Challenger promoted to champion"),
    # Cases and their owners
    "case.view": _l("Case viewed"),
    "borrower.reveal": _l("Personal data revealed"),
    "borrower.jurisdiction": _l("Borrower's jurisdiction set"),
    "case.reassign": _l("Case reassigned"),
    "cases.reassign_segment": _l("Cases reassigned in bulk"),
    "cases.assign": _l("Assignment run"),
    "case.next": _l("Next case opened"),
    "my_work.view": _l("My work viewed"),
    "flag.clear": _l("Case flag cleared"),
    "callback.cancel": _l("Callback canceled"),
    "assignment_rule.add": _l("Assignment rule added"),
    "assignment_rule.edit": _l("Assignment rule changed"),
    "assignment_rule.deactivate": _l("Assignment rule deactivated"),
    "assignment_rule.activate": _l("Assignment rule reactivated"),
    # Holds and disputes
    "hold.place": _l("Hold placed"),
    "hold.end": _l("Hold ended"),
    "dispute.propose": _l("Dispute resolution proposed"),
    "dispute.send_back": _l("Dispute resolution sent back"),
    "dispute.sign_off": _l("Dispute resolution signed off"),
    "evidence.add": _l("Dispute evidence added"),
    "evidence.view": _l("Dispute evidence opened"),
    # Calls, promises, letters, messages
    "call.log": _l("Call logged"),
    "call.refused": _l("Call refused by the contact rules"),
    "promise.create": _l("Promise to pay recorded"),
    "letter.print": _l("Letter printed"),
    "letter.refused": _l("Letter refused by the contact rules"),
    "message.send": _l("Message sent"),
    "message.schedule": _l("Message scheduled"),
    "message.failed": _l("Message failed"),
    "message.refused": _l("Message refused by the contact rules"),
    "message.cancel": _l("Scheduled message canceled"),
    "message.bulk": _l("Bulk reminders queued"),
    "message.view": _l("Message opened"),
    "message.reveal": _l("Message revealed in full"),
    "outbox.view": _l("Outbox viewed"),
    "bulk.view": _l("Bulk send viewed"),
    "optout.record": _l("Opt-out recorded"),
    "optout.lift": _l("Opt-out lifted"),
    # Offers
    "offer.create": _l("Offer created"),
    "offer.approve": _l("Offer approved"),
    "offer.decline": _l("Offer declined"),
    "offer.withdraw": _l("Offer withdrawn"),
    # Policy versions (maker-checker)
    "policy.propose": _l("Policy version proposed"),
    "policy.approve": _l("Policy version approved"),
    "policy.reject": _l("Policy version rejected"),
    "policy.diff_view": _l("Policy changes viewed"),
    # Finance and the log itself
    "finance.payments.view": _l("Payments viewed"),
    "finance.payments.export": _l("Payments exported"),
    "finance.payment.view": _l("Payment viewed"),
    "finance.disputes.view": _l("Chargebacks viewed"),
    "finance.dispute.view": _l("Chargeback viewed"),
    "finance.dispute.submit": _l("Chargeback evidence submitted"),
    "finance.refunds.view": _l("Refunds to approve viewed"),
    "finance.refund.request": _l("Refund asked for"),
    "finance.refund.approve": _l("Refund approved by a second person"),
    "finance.refund.cancel": _l("Refund canceled before it was sent"),
    "finance.refund.succeed": _l("Refund made"),
    "finance.refund.fail": _l("Refund refused by the payment provider"),
    "finance.refund.unreachable": _l("Refund not sent: the payment provider could not be reached"),
    "finance.journals.export": _l("Journals exported"),
    "reconcile.run": _l("Reconciliation run"),
    "reconcile.view": _l("Reconciliation viewed"),
    "reconcile.export": _l("Reconciliation exported"),
    "reconcile.exception.view": _l("Reconciliation exception viewed"),
    "reconcile.exception.assign": _l("Reconciliation exception assigned"),
    "reconcile.exception.note": _l("Note added to a reconciliation exception"),
    "reconcile.exception.investigate": _l("Reconciliation exception under investigation"),
    "reconcile.exception.link": _l("Reconciliation exception linked to a payment"),
    "reconcile.exception.refund": _l("Missing refund recorded from reconciliation"),
    "reconcile.exception.payment": _l("Missing payment recorded from reconciliation"),
    "reconcile.exception.duplicate": _l("Reconciliation exception marked a duplicate"),
    "reconcile.exception.write_off": _l("Reconciliation exception written off or asked to be"),
    "reconcile.exception.approve": _l("Write-off of a reconciliation exception approved"),
    "finance.month.close": _l("Month closed"),
    "finance.month.reopen": _l("Month reopened"),
    "finance.payouts.auto_match": _l("Payouts matched to bank deposits"),
    "finance.payouts.statement_import": _l("Bank statement imported"),
    "finance.payouts.tick_off": _l("Payout ticked off against the bank"),
    "reports.portfolio.view": _l("Roll rates viewed"),
    "reports.portfolio.export": _l("Roll rates exported"),
    "reports.liquidation.export": _l("Liquidation curves exported"),
    "reports.table.export": _l("Portfolio table exported"),
    "reports.mine.view": _l("Own figures viewed"),
    "reports.agents.view": _l("Agents' figures viewed"),
    "audit.view": _l("Audit log viewed"),
    "audit.export": _l("Audit log exported"),
}


def action_label(code: str) -> str:
    """The action in words, or its code when it has none."""
    label = ACTION_LABELS.get(code)
    return str(label) if label is not None else code
