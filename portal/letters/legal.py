"""The legal track's documents: the borrower's final notice and a draft application to a
Taiwan district court for a payment order (支付命令聲請狀), filled from the case.

``legal_facts`` gathers what both state (``LegalFacts``: the parties, the loan, the
amount claimed itemized in minor units, the dates); ``render_final_notice`` words the
notice in the borrower's language and lays it out as a posted letter (the letters' window
page, link and QR code, fonts); ``render_payment_order_application`` drafts the court's
form in Traditional Chinese, marked 草稿, with the legal basis left blank for counsel.
``legal_document`` is the staff's download: refused (translated) unless the case is in
the late stage, not on hold and without an active plan; audited, since both name the
borrower. reportlab loads only when a document is drawn (``portal.letters.legal_pdf``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from babel.numbers import format_decimal
from flask_babel import force_locale, ngettext, pgettext
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from negotiation import letter_deadline
from negotiation.policy import Stage
from portal.access.verification import LETTER_LINK_LIFETIME, issue_link
from portal.audit import trail
from portal.cases.facts import policy, view_case
from portal.core import settings
from portal.core.currency import minor_per_major, to_major
from portal.core.i18n import Lender, gap, lender, long_date, market_of, money
from portal.legal.queries import notice_terms
from portal.letters.content import letter_locale, local_day, postal_lines
from portal.messaging.links import reminder_url
from portal.models import Case, StaffMember

# The court's form is Taiwan's, in Traditional Chinese whatever the borrower reads.
COURT_LOCALE = "zh_Hant_TW"
COURT_MARKET = "TW"


@dataclass(frozen=True)
class LegalCost:
    """A legal cost the policy lets the lender add to the claim: its kind (a key of
    ``COST_NAMES``; any other is "other legal costs"), the day it arose, and its amount
    in minor units."""

    kind: str
    day: date
    amount: int

    def __post_init__(self) -> None:
        if self.amount < 0:
            raise ValueError("a legal cost must not be negative")


COST_NAMES: dict[str, Any] = {
    "court_fee": _l("Court fees"),
    "postage": _l("Postage and certified mail"),
    "enforcement_fee": _l("Enforcement fees"),
}
OTHER_COST = _l("Other legal costs")
# The claim's parts, in the order the documents list them.
CLAIM_PARTS: dict[str, Any] = {
    "principal": _l("Principal"),
    "interest": _l("Interest"),
    "fees": _l("Fees"),
    "penalties": _l("Penalties"),
}


@dataclass(frozen=True)
class LegalFacts:
    """What the final notice and the court's form state, taken from one case on one day.

    Amounts are integers in minor units of ``currency``; the claim is what is overdue
    (principal, interest, fees, penalties) plus the legal costs, and ``total`` is their
    exact sum. The principal not yet due is not claimed (accelerating it is counsel's
    call, under the contract); it is given for the documents to say so."""

    case_id: int
    loan_number: str
    currency: str
    market: str
    # The catalog the borrower's letters are written in (``letter_locale``).
    locale: str
    # The lender: its name in Traditional and in Simplified script, the phone and
    # hours for the borrower's market, email, and postal address (settings).
    lender: Lender
    lender_name_hans: str
    lender_address: tuple[str, ...]
    borrower_name: str
    # The borrower's ID number, where the lender holds it (the portal keeps only a hash
    # of its last 4 characters, so today: None, and the form leaves it for counsel).
    borrower_id_number: str | None
    borrower_address: tuple[str, ...]
    loan_principal: int
    annual_rate_pct: Decimal
    loan_start: date
    regular_installment: int
    not_yet_due_principal: int
    principal: int
    interest: int
    fees: int
    penalties: int
    costs: tuple[LegalCost, ...]
    overdue_since: date | None
    days_past_due: int
    stage: Stage
    # The borrower's day the documents are dated, and the final notice's deadline.
    dated: date
    deadline: date
    # The day the final notice was sent, once it was (the court's form states it).
    notice_sent: date | None = None
    # The borrower's reminder link, and the last day it works ("" and None: no link).
    link_url: str = ""
    link_expires: date | None = None

    @property
    def claim(self) -> tuple[tuple[str, int], ...]:
        """The overdue parts claimed, as (part, amount): a key of ``CLAIM_PARTS``."""
        return (
            ("principal", self.principal),
            ("interest", self.interest),
            ("fees", self.fees),
            ("penalties", self.penalties),
        )

    @property
    def total(self) -> int:
        """Everything claimed: the overdue parts and the legal costs."""
        return sum(amount for _part, amount in self.claim) + sum(c.amount for c in self.costs)

    def lender_name(self, locale: str) -> str:
        """The lender's name in the script of ``locale``."""
        return self.lender_name_hans if locale.startswith("zh_Hans") else self.lender.name


def legal_facts(
    db: Session,
    case: Case,
    moment: datetime,
    deadline: date,
    *,
    costs: tuple[LegalCost, ...] = (),
    notice_sent: date | None = None,
    link_url: str = "",
) -> LegalFacts:
    """The facts of ``case`` at ``moment`` (dated the borrower's day) for its legal
    documents, with the final notice's ``deadline``, the legal ``costs`` the policy
    allowed, the day the notice was sent (if it was) and the borrower's ``link_url``
    (valid for a letter's lifetime from ``moment``). Reads only; needs an app context."""
    loan, borrower = case.loan, case.loan.borrower
    market = market_of(loan.currency)
    today = local_day(moment, borrower.timezone)
    view = view_case(db, case, today)
    snapshot = view.snapshot
    arrears = snapshot.arrears
    configured = str(settings.current().get("LENDER_ADDRESS") or "")
    return LegalFacts(
        case_id=case.id,
        loan_number=loan.number,
        currency=loan.currency,
        market=market,
        locale=letter_locale(borrower, loan.currency),
        lender=lender(COURT_LOCALE, market),
        lender_name_hans=lender("zh_Hans_CN", market).name,
        lender_address=tuple(line.strip() for line in configured.splitlines() if line.strip()),
        borrower_name=borrower.full_name.strip(),
        borrower_id_number=None,
        borrower_address=postal_lines(borrower),
        loan_principal=loan.principal,
        annual_rate_pct=loan.annual_rate_pct,
        loan_start=loan.start_date,
        regular_installment=snapshot.regular_installment,
        not_yet_due_principal=snapshot.not_yet_due_principal,
        principal=arrears.principal,
        interest=arrears.interest,
        fees=arrears.fees,
        penalties=arrears.penalties,
        costs=tuple(costs),
        overdue_since=snapshot.first_missed_due_date,
        days_past_due=snapshot.days_past_due,
        stage=view.stage,
        dated=today,
        deadline=deadline,
        notice_sent=notice_sent,
        link_url=link_url,
        link_expires=local_day(moment + LETTER_LINK_LIFETIME, borrower.timezone)
        if link_url
        else None,
    )


def final_notice_deadline(case: Case, moment: datetime) -> date:
    """The deadline a final notice dated ``moment`` gives, when the legal track has not
    set one: the policy's notice days after the borrower's day, so the post can reach
    them and they have time to act."""
    today = local_day(moment, case.loan.borrower.timezone)
    found = letter_deadline(policy().contact, today, today)
    return found if found is not None else today


# The words ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """A line of an itemized claim: what, and how much (formatted)."""

    label: str
    amount: str


@dataclass(frozen=True)
class FinalNoticeWords:
    """The final notice worded in one language: every string translated, every amount
    and date formatted."""

    locale: str
    title: str
    sender: str
    address_lines: tuple[str, ...]
    info_lines: tuple[str, ...]
    greeting: str
    introduction: tuple[str, ...]
    claim_title: str
    claim: tuple[Row, ...]
    total: Row
    not_claimed: str
    deadline_title: str
    deadline: tuple[str, ...]
    if_nothing_title: str
    if_nothing: tuple[str, ...]
    steps_title: str
    steps: tuple[str, ...]
    link_title: str
    link_url: str
    link_note: str
    closing: tuple[str, ...]
    continued: str
    page_pattern: str
    # A label and its value on one line of the plain-text copy (a full-width colon in
    # Chinese).
    label_pattern: str = "%(label)s: %(value)s"

    def plain_text(self) -> str:
        """The notice as plain text: the copy kept with the sent message, or the body of
        the electronic message that goes with the letter."""
        rows = (*self.claim, self.total)
        lines = [*self.address_lines, "", self.title, "", self.greeting, *self.introduction]
        lines += ["", self.claim_title]
        lines += [self.label_pattern % {"label": r.label, "value": r.amount} for r in rows]
        lines += [self.not_claimed, "", self.deadline_title, *self.deadline]
        lines += ["", self.if_nothing_title, *self.if_nothing, "", self.steps_title]
        lines += [f"- {step}" for step in self.steps]
        if self.link_url:
            lines += ["", self.link_title, self.link_url]
        lines += [self.link_note, "", *self.closing]
        return "\n".join(lines).strip() + "\n"


def _claim_rows(facts: LegalFacts, amount_of: Callable[[int, str], str] = money) -> tuple[Row, ...]:
    rows = [
        Row(str(CLAIM_PARTS[part]), amount_of(amount, facts.currency))
        for part, amount in facts.claim
    ]
    rows += [
        Row(
            _(
                "%(cost)s (%(date)s)",
                cost=str(COST_NAMES.get(cost.kind, OTHER_COST)),
                date=long_date(cost.day),
            ),
            amount_of(cost.amount, facts.currency),
        )
        for cost in facts.costs
    ]
    return tuple(rows)


def final_notice_words(facts: LegalFacts, locale: str) -> FinalNoticeWords:
    """The final notice's words in ``locale`` (needs an app context)."""
    currency, number = facts.currency, facts.loan_number
    contact = facts.lender
    with force_locale(locale):
        space = gap()
        deadline, total = long_date(facts.deadline), money(facts.total, currency)
        since = long_date(facts.overdue_since) if facts.overdue_since else long_date(facts.dated)
        court = [
            _(
                "We may then apply to the court to recover the amount above. The court "
                "decides, not us: you will receive its papers, and you have the right to "
                "answer them or object to them as the law allows."
            ),
            _("Where the law allows it, the costs of the procedure may be added to what you owe."),
        ]
        if facts.market == COURT_MARKET:
            court.append(
                _(
                    "In Taiwan this is usually an application to the district court for a "
                    "payment order (支付命令). You may object to a payment order within 20 "
                    "days of receiving it."
                )
            )
        link_note = (
            (
                _(
                    "This link works until %(date)s. To open it, confirm your date of birth or "
                    "the last 4 characters of your ID number.",
                    date=long_date(facts.link_expires),
                )
                + space
                + _("No link, or it has expired? Call us and we will send you a new one.")
            )
            if facts.link_expires
            else _("No link, or it has expired? Call us and we will send you a new one.")
        )
        return FinalNoticeWords(
            locale=locale,
            title=_("Final notice before legal action: loan %(number)s", number=number),
            sender=facts.lender_name(locale),
            address_lines=(facts.borrower_name, *facts.borrower_address),
            info_lines=(
                _("Phone: %(phone)s", phone=contact.phone),
                _("Hours: %(hours)s", hours=contact.hours),
                _("Email: %(email)s", email=contact.email),
                "",
                long_date(facts.dated),
                _("Loan number: %(number)s", number=number),
            ),
            greeting=_("Dear %(name)s,", name=facts.borrower_name),
            introduction=(
                _(
                    "Payments on your loan %(number)s have been overdue since %(date)s. We "
                    "have written to you and tried to reach you before. This is our final "
                    "notice before we consider taking the debt to court.",
                    number=number,
                    date=since,
                )
                + space
                + ngettext(
                    "Your oldest unpaid installment is %(num)d day overdue.",
                    "Your oldest unpaid installment is %(num)d days overdue.",
                    facts.days_past_due,
                ),
                _(
                    "We would much rather agree with you a way to repay that fits what you "
                    "can afford."
                ),
            ),
            claim_title=_("What we would claim"),
            claim=_claim_rows(facts),
            total=Row(_("Total claimed"), total),
            not_claimed=_(
                "Not yet due: %(amount)s of principal, paid in your regular installments of "
                "%(installment)s.",
                amount=money(facts.not_yet_due_principal, currency),
                installment=money(facts.regular_installment, currency),
            ),
            deadline_title=_("Your deadline: %(date)s", date=deadline),
            deadline=(
                _(
                    "Any payment, or a repayment plan agreed with us, before %(date)s stops "
                    "the legal action.",
                    date=deadline,
                ),
                _(
                    "If you cannot pay because of hardship, or you believe this debt is wrong, "
                    "tell us before %(date)s: your case is put on hold at once, and nothing "
                    "escalates while an adviser looks into it.",
                    date=deadline,
                ),
            ),
            if_nothing_title=_("If nothing changes by %(date)s", date=deadline),
            if_nothing=tuple(court),
            steps_title=_("What you can do now"),
            steps=(
                _(
                    "Pay online, everything overdue or a part of it, or choose a repayment "
                    "plan that fits what you can afford: scan the QR code below with your "
                    "phone's camera, or type the link into its browser."
                ),
                _(
                    "Call us on %(phone)s (%(hours)s). We can agree a plan with you by phone too.",
                    phone=contact.phone,
                    hours=contact.hours,
                ),
            ),
            link_title=_("Your personal link"),
            link_url=facts.link_url,
            link_note=link_note,
            closing=(
                _("We want to help you find a way to repay that works for you."),
                _("Yours sincerely,"),
                facts.lender_name(locale),
            ),
            continued=_("Loan %(number)s", number=number),
            page_pattern=_("Page %(page)d of %(pages)d"),
            label_pattern=_("%(label)s: %(value)s"),
        )


@dataclass(frozen=True)
class ApplicationWords:
    """The court's form worded (in Traditional Chinese): every string translated, every
    amount and date formatted. ``blank`` marks what counsel completes."""

    title: str
    draft: str
    draft_note: str
    blank: str
    court_fields: tuple[tuple[str, str], ...]
    party_headings: tuple[str, str, str, str]
    parties: tuple[tuple[str, str, str, str], ...]
    subject: str
    claim_title: str
    claim_intro: str
    claim: tuple[Row, ...]
    total: Row
    claim_after: tuple[str, ...]
    facts_title: str
    facts: tuple[str, ...]
    legal_basis_title: str
    legal_basis_note: str
    evidence_title: str
    evidence: tuple[str, ...]
    addressee: tuple[str, ...]
    signed: tuple[tuple[str, str], ...]
    date_line: str
    page_pattern: str


def court_money(amount: int, currency: str) -> str:
    """An amount as Taiwan's pleadings write it: 新臺幣22,950元 (cents only when there
    are any); any other currency as ``money`` writes it."""
    if currency != "TWD":
        return money(amount, currency)
    whole = amount % minor_per_major(currency) == 0
    number = format_decimal(
        to_major(amount, currency), format="#,##0" if whole else "#,##0.00", locale=COURT_LOCALE
    )
    return pgettext("an amount on a Taiwan court's form", "NT$%(number)s", number=number)


def _roc_date(day: date) -> str:
    """A date as Taiwan's courts write it: in the Republic of China's years."""
    return _(
        "ROC year %(year)d, month %(month)d, day %(day)d",
        year=day.year - 1911,
        month=day.month,
        day=day.day,
    )


def application_words(facts: LegalFacts) -> ApplicationWords:
    """The draft application's words (needs an app context)."""
    currency = facts.currency
    with force_locale(COURT_LOCALE):
        blank = _("[To be completed by counsel]")
        total = court_money(facts.total, currency)
        lender_address = pgettext("between the parts of an address", ", ").join(
            facts.lender_address
        )
        borrower_address = pgettext("between the parts of an address", ", ").join(
            facts.borrower_address
        )
        facts_lines = [
            _(
                "On %(date)s the respondent borrowed %(amount)s from the applicant (loan "
                "%(number)s), to be repaid in installments at an annual interest rate of "
                "%(rate)s%%.",
                date=_roc_date(facts.loan_start),
                amount=court_money(facts.loan_principal, currency),
                number=facts.loan_number,
                rate=f"{facts.annual_rate_pct.normalize():f}",
            ),
            ngettext(
                "The respondent has not paid as agreed since %(since)s: on %(today)s the "
                "oldest unpaid installment was %(num)d day overdue, and the amounts itemized "
                "above remain unpaid.",
                "The respondent has not paid as agreed since %(since)s: on %(today)s the "
                "oldest unpaid installment was %(num)d days overdue, and the amounts itemized "
                "above remain unpaid.",
                facts.days_past_due,
                since=_roc_date(facts.overdue_since or facts.dated),
                today=_roc_date(facts.dated),
            ),
            _(
                "The applicant sent the respondent a final notice on %(sent)s, asking for "
                "payment or a repayment plan by %(deadline)s.",
                sent=_roc_date(facts.notice_sent) if facts.notice_sent else blank,
                deadline=_roc_date(facts.deadline),
            ),
        ]
        if facts.not_yet_due_principal:
            facts_lines.append(
                _(
                    "Not claimed here: %(amount)s of principal not yet due.",
                    amount=court_money(facts.not_yet_due_principal, currency),
                )
            )
        return ApplicationWords(
            title=_("Civil application for a payment order"),
            draft=_("DRAFT"),
            draft_note=_(
                "Draft for counsel, not filed. Complete every field marked "
                "“%(blank)s” before filing.",
                blank=blank,
            ),
            blank=blank,
            court_fields=(
                (_("Case number"), _("(filled in by the court)")),
                (_("Division"), _("(filled in by the court)")),
                (_("Amount in dispute"), total),
            ),
            party_headings=(
                _("Party"),
                _("Name or company name"),
                _("ID or company number"),
                _("Address for service"),
            ),
            parties=(
                (
                    _("Applicant (creditor)"),
                    facts.lender.name,
                    blank,
                    lender_address or blank,
                ),
                (_("Legal representative"), blank, "", ""),
                (
                    _("Respondent (debtor)"),
                    facts.borrower_name,
                    facts.borrower_id_number or blank,
                    borrower_address or blank,
                ),
            ),
            subject=_("Application for a payment order against the respondent:"),
            claim_title=_("The claim"),
            claim_intro=_(
                "1. The respondent shall pay the applicant %(amount)s, itemized as follows:",
                amount=total,
            ),
            claim=_claim_rows(facts, court_money),
            total=Row(_("Total"), total),
            claim_after=(
                _(
                    "and interest on it from %(start)s until paid, at an annual rate of %(rate)s.",
                    start=blank,
                    rate=blank,
                ),
                _("2. The costs of the procedure shall be borne by the respondent."),
            ),
            facts_title=_("Facts and grounds of the claim"),
            facts=tuple(f"{number}. {line}" for number, line in enumerate(facts_lines, 1)),
            legal_basis_title=_("Legal basis (statutes and contract clauses)"),
            legal_basis_note=blank,
            evidence_title=_("Evidence"),
            evidence=(
                _(
                    "Exhibit 1: a copy of the loan agreement (loan %(number)s).",
                    number=facts.loan_number,
                ),
                _("Exhibit 2: the statement of the loan's installments and payments."),
                _("Exhibit 3: a copy of the final notice and the proof of its delivery."),
                _("Exhibit 4: %(blank)s", blank=blank),
            ),
            addressee=(
                pgettext("a pleading's close, before the court's name", "To"),
                _(
                    "The ○○ District Court (the court of the respondent's domicile: %(blank)s)",
                    blank=blank,
                ),
            ),
            signed=(
                (_("Applicant"), facts.lender.name),
                (_("Legal representative"), _("(signature and seal)")),
            ),
            date_line=_roc_date(facts.dated),
            page_pattern=_("Page %(page)d of %(pages)d"),
        )


def render_final_notice(facts: LegalFacts, locale: str) -> bytes:
    """The final notice before legal action, in ``locale``, as an A4 letter for a window
    envelope (needs an app context)."""
    words = final_notice_words(facts, locale)
    # reportlab loads only when a document is drawn: a web worker need not carry it.
    from portal.letters.legal_pdf import final_notice_pdf

    return final_notice_pdf(words)


def render_payment_order_application(facts: LegalFacts) -> bytes:
    """The draft 支付命令聲請狀, in Traditional Chinese on the court's layout, marked 草稿
    on every page (needs an app context)."""
    words = application_words(facts)
    from portal.letters.legal_pdf import application_pdf

    return application_pdf(words)


# The staff's download -------------------------------------------------------------------


class LegalDocument(StrEnum):
    """The documents of the legal track staff may download."""

    FINAL_NOTICE = "final-notice"
    PAYMENT_ORDER_APPLICATION = "payment-order-application"


class LegalRefusal(StrEnum):
    """Why a legal document is not drawn for a case."""

    NOT_LATE_STAGE = "not_late_stage"
    ON_HOLD = "on_hold"
    PLAN_ACTIVE = "plan_active"
    NO_POSTAL_ADDRESS = "no_postal_address"
    NOT_TAIWAN = "not_taiwan"


LEGAL_REFUSAL_TEXT = {
    LegalRefusal.NOT_LATE_STAGE: _l(
        "This case is not in the late stage: the legal track's documents are drawn only "
        "for late-stage cases."
    ),
    LegalRefusal.ON_HOLD: _l(
        "This case is on hold (a dispute or a hardship): nothing escalates while it lasts."
    ),
    LegalRefusal.PLAN_ACTIVE: _l(
        "The borrower's plan is active: collection is paused, so no legal step is taken."
    ),
    LegalRefusal.NO_POSTAL_ADDRESS: _l(
        "There is no postal address for this borrower, so no letter can be printed."
    ),
    LegalRefusal.NOT_TAIWAN: _l(
        "A payment order is a Taiwan court's procedure, and this loan is not in Taiwan "
        "dollars: counsel chooses its market's path."
    ),
}


@dataclass(frozen=True)
class DrawnDocument:
    """A legal document drawn for staff: the PDF and its file name."""

    pdf: bytes
    filename: str


@dataclass(frozen=True)
class RefusedDocument:
    """A legal document not drawn: each reason as a sentence."""

    reasons: tuple[str, ...]


def legal_refusals(
    db: Session, case: Case, moment: datetime, document: LegalDocument
) -> list[LegalRefusal]:
    """What stops ``document`` for ``case`` at ``moment``."""
    borrower = case.loan.borrower
    view = view_case(db, case, local_day(moment, borrower.timezone))
    refusals = []
    if view.stage != Stage.LATE:
        refusals.append(LegalRefusal.NOT_LATE_STAGE)
    if case.hold is not None or view.snapshot.holds:
        refusals.append(LegalRefusal.ON_HOLD)
    if view.arranged:
        refusals.append(LegalRefusal.PLAN_ACTIVE)
    if not postal_lines(borrower):
        refusals.append(LegalRefusal.NO_POSTAL_ADDRESS)
    if (
        document is LegalDocument.PAYMENT_ORDER_APPLICATION
        and market_of(case.loan.currency) != COURT_MARKET
    ):
        refusals.append(LegalRefusal.NOT_TAIWAN)
    return refusals


def legal_filename(case: Case, moment: datetime, document: LegalDocument) -> str:
    """The PDF's file name: the document, the loan number and the date, never a name."""
    number = re.sub(r"[^A-Za-z0-9_-]", "_", case.loan.number)
    day = local_day(moment, case.loan.borrower.timezone).isoformat()
    return f"{document.value}-{number}-{day}.pdf"


def legal_document(
    db: Session,
    case: Case,
    member: StaffMember,
    moment: datetime,
    document: LegalDocument,
    *,
    deadline: date | None = None,
    costs: tuple[LegalCost, ...] = (),
    notice_sent: date | None = None,
) -> DrawnDocument | RefusedDocument:
    """Draw ``document`` for ``case``, if the case allows it, and commit its audit entry
    (``legal.final_notice`` or ``legal.payment_order_application``; refused:
    ``legal.refused``). The final notice carries a fresh reminder link (a letter's
    lifetime), committed with the entry. ``deadline``: the legal track's, else
    ``final_notice_deadline``'s."""
    refusals = legal_refusals(db, case, moment, document)
    if refusals:
        trail.record(
            db,
            member,
            "legal.refused",
            moment,
            case_id=case.id,
            document=document.value,
            reasons=[r.value for r in refusals],
        )
        db.commit()
        return RefusedDocument(tuple(str(LEGAL_REFUSAL_TEXT[r]) for r in refusals))
    if deadline is None and (terms := notice_terms(db, case.id)) is not None:
        # The case's legal track sent its notice: its date and deadline are the truth.
        notice_sent, deadline = terms
    link_url = ""
    if document is LegalDocument.FINAL_NOTICE:
        link_url = reminder_url(issue_link(db, case, moment, lifetime=LETTER_LINK_LIFETIME))
    facts = legal_facts(
        db,
        case,
        moment,
        deadline or final_notice_deadline(case, moment),
        costs=costs,
        notice_sent=notice_sent,
        link_url=link_url,
    )
    details = {
        "total": facts.total,
        "currency": facts.currency,
        "deadline": facts.deadline.isoformat(),
    }
    if document is LegalDocument.FINAL_NOTICE:
        pdf = render_final_notice(facts, facts.locale)
        trail.record(
            db,
            member,
            "legal.final_notice",
            moment,
            case_id=case.id,
            locale=facts.locale,
            **details,
        )
    else:
        pdf = render_payment_order_application(facts)
        trail.record(
            db,
            member,
            "legal.payment_order_application",
            moment,
            case_id=case.id,
            locale=COURT_LOCALE,
            **details,
        )
    db.commit()
    return DrawnDocument(pdf, legal_filename(case, moment, document))
