"""What a letter says: for a borrower the phone does not reach, the same facts the status
page states, on paper, in their language.

``letter_for`` words the letter (``LetterContent``: strings already translated, amounts
already formatted, the link's address given); ``portal.letters.pdf`` lays it out and
``portal.letters.service`` prints it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from flask_babel import force_locale, ngettext, pgettext
from flask_babel import gettext as _
from sqlalchemy.orm import Session

from negotiation import letter_deadline
from portal.access.verification import LETTER_LINK_LIFETIME
from portal.cases.facts import policy, view_case
from portal.cases.overdue import borrower_today
from portal.core import settings
from portal.core.i18n import (
    DEFAULT,
    LOCALES,
    for_market,
    gap,
    lender,
    long_date,
    market_of,
    money,
)
from portal.models import Borrower, Case
from portal.wording.engine import STAGE_EXPLANATIONS, STAGE_NAMES, event_sentence


@dataclass(frozen=True)
class LetterContent:
    """One letter, worded in the borrower's language: every string already translated,
    every amount and date already formatted."""

    locale: str
    title: str
    # The window of the envelope: the name, then the postal address. Nothing else.
    address_lines: tuple[str, ...]
    sender_lines: tuple[str, ...]
    date_line: str
    reference_line: str
    greeting: str
    introduction: tuple[str, ...]
    arrears_title: str
    arrears: tuple[tuple[str, str], ...]
    total: tuple[str, str]
    not_yet_due: str
    situation: tuple[str, ...]
    deadline_title: str
    deadline: str
    # (date, sentence, already reached)
    consequences: tuple[tuple[str, str, bool], ...]
    consequences_note: str
    steps_title: str
    steps: tuple[str, ...]
    link_title: str
    link_url: str
    link_note: str
    closing: tuple[str, ...]
    signature: str
    cut_here: str
    slip_title: str
    slip_fields: tuple[tuple[str, str], ...]
    slip_pay_on: str
    slip_options: tuple[str, ...]
    slip_call_back: tuple[str, str]
    slip_sign: tuple[str, str]
    slip_return: str
    continued: str
    # A translated pattern with %(page)d and %(pages)d, filled in at rendering.
    page_pattern: str
    # A translated pattern with %(label)s and %(value)s: a label and its value on one
    # line of the plain-text copy (a full-width colon in Chinese).
    label_pattern: str = "%(label)s: %(value)s"
    # What joins the parts of an address on one line (a full-width comma in Chinese).
    address_separator: str = ", "

    def _labelled(self, label: str, value: str) -> str:
        return self.label_pattern % {"label": label, "value": value}

    def plain_text(self) -> str:
        """The letter as plain text: the copy kept with the sent message."""
        lines = [*self.address_lines, "", *self.sender_lines, self.date_line]
        lines += [self.reference_line, "", self.title, "", self.greeting, *self.introduction]
        lines += ["", self.arrears_title]
        lines += [self._labelled(label, amount) for label, amount in (*self.arrears, self.total)]
        lines += [self.not_yet_due, *self.situation, "", self.deadline_title]
        if self.deadline:
            lines.append(self.deadline)
        lines += [self._labelled(day, sentence) for day, sentence, _past in self.consequences]
        lines += [self.consequences_note, "", self.steps_title]
        lines += [f"- {step}" for step in self.steps]
        lines += ["", self.link_title, self.link_url, self.link_note, "", *self.closing]
        lines += [self.signature, "", self.cut_here, self.slip_title]
        lines += [self._labelled(label, value) for label, value in self.slip_fields]
        lines += [f"[ ] {self.slip_pay_on} ____", *(f"[ ] {o}" for o in self.slip_options)]
        lines += [
            self._labelled(label, "____") for label in (*self.slip_call_back, *self.slip_sign)
        ]
        lines.append(self.slip_return)
        return "\n".join(line for line in lines if line is not None).strip() + "\n"


def letter_locale(borrower: Borrower, currency: str | None = None) -> str:
    """The catalog the borrower's letters are written in: their language, read in the
    market of their loan's ``currency``."""
    locale = borrower.locale if borrower.locale in LOCALES else DEFAULT
    return for_market(locale, market_of(currency))


def postal_lines(borrower: Borrower) -> tuple[str, ...]:
    """The borrower's postal address, one line each, blank lines dropped."""
    return tuple(
        line.strip() for line in (borrower.postal_address or "").splitlines() if line.strip()
    )


def local_day(moment: datetime, zone: str) -> date:
    """The day ``moment`` falls on, on the clock of ``zone`` (the borrower's): their today,
    as the queue and the case page count it."""
    return borrower_today(zone, moment)


def letter_for(db: Session, case: Case, moment: datetime, link_url: str) -> LetterContent:
    """The letter for ``case`` at ``moment`` in the borrower's language: what is overdue
    (itemised), what happens next and when (the status page's timeline), what they can
    do, the link, and a reply slip."""
    loan, borrower = case.loan, case.loan.borrower
    locale = letter_locale(borrower, loan.currency)
    today = local_day(moment, borrower.timezone)
    expires = local_day(moment + LETTER_LINK_LIFETIME, borrower.timezone)
    view = view_case(db, case, today)
    snapshot, currency = view.snapshot, loan.currency
    arrears = snapshot.arrears
    contact = lender(locale, market_of(loan.currency))
    phone, hours = contact.phone, contact.hours
    configured = str(settings.current().get("LENDER_ADDRESS") or "")
    lender_address = tuple(line.strip() for line in configured.splitlines() if line.strip())
    with force_locale(locale):
        space = gap()
        separator = pgettext("between the parts of an address", ", ")
        upcoming = next((e for e in view.timeline if not e.past and e.date >= today), None)
        # The deadline allows for the post: never sooner than the policy's notice days.
        deadline = letter_deadline(policy().contact, today, upcoming.date if upcoming else None)
        if view.plan is not None:
            situation = (
                _("Your plan is waiting for its first payment.")
                + space
                + _("It starts, and collection pauses, once the first payment is made.")
            )
        else:
            situation = (
                _("Where your case stands: %(stage)s.", stage=str(STAGE_NAMES[view.stage]))
                + space
                + str(STAGE_EXPLANATIONS[view.stage])
            )
        return LetterContent(
            locale=locale,
            title=_("Your loan %(number)s: a payment is overdue", number=loan.number),
            address_lines=(borrower.full_name.strip(), *postal_lines(borrower)),
            sender_lines=(
                contact.name,
                _("Phone: %(phone)s", phone=phone),
                _("Hours: %(hours)s", hours=hours),
                _("Email: %(email)s", email=contact.email),
            ),
            date_line=long_date(today),
            reference_line=_("Loan number: %(number)s", number=loan.number),
            greeting=_("Dear %(name)s,", name=borrower.full_name.strip()),
            introduction=(
                _(
                    "We are writing about your loan %(number)s, because payments on it are "
                    "overdue. This letter sets out what is owed, what happens next, and what "
                    "you can do.",
                    number=loan.number,
                ),
                _(
                    "On %(date)s, %(amount)s is overdue.",
                    date=long_date(today),
                    amount=money(arrears.total, currency),
                )
                + space
                + ngettext(
                    "Your oldest unpaid installment is %(num)d day overdue.",
                    "Your oldest unpaid installment is %(num)d days overdue.",
                    snapshot.days_past_due,
                ),
            ),
            arrears_title=_("What is overdue"),
            arrears=(
                (_("Principal"), money(arrears.principal, currency)),
                (_("Interest"), money(arrears.interest, currency)),
                (_("Fees"), money(arrears.fees, currency)),
                (_("Penalties"), money(arrears.penalties, currency)),
            ),
            total=(_("Total overdue"), money(arrears.total, currency)),
            not_yet_due=_(
                "Not yet due: %(amount)s of principal, paid in your regular installments of "
                "%(installment)s.",
                amount=money(snapshot.not_yet_due_principal, currency),
                installment=money(snapshot.regular_installment, currency),
            ),
            situation=(situation,),
            deadline_title=_("What happens if nothing changes"),
            deadline=_("Please act before %(date)s.", date=long_date(deadline)) if deadline else "",
            consequences=tuple(
                (long_date(event.date), event_sentence(event, currency), event.past)
                for event in view.timeline
            ),
            consequences_note=_(
                "A plan stops this: once you make its first payment, collection pauses and no "
                "new penalties are added."
            ),
            steps_title=_("What you can do now"),
            steps=(
                _(
                    "Pay online, everything overdue or a part of it, or choose a repayment "
                    "plan that fits what you can afford: scan the QR code below with your "
                    "phone's camera, or type the link into its browser."
                ),
                _(
                    "Call us on %(phone)s (%(hours)s). We can agree a plan with you by phone too.",
                    phone=phone,
                    hours=hours,
                ),
                _(
                    "If you cannot pay because of hardship, or you believe this debt is wrong, "
                    "tell us: online (choose “%(option)s”), by phone, or on the reply slip. "
                    "Your case is put on hold at once: nothing escalates while an adviser "
                    "looks into it.",
                    option=_("I can't pay right now"),
                ),
                _("Or fill in the reply slip below and send it back to us."),
            ),
            link_title=_("Your personal link"),
            link_url=link_url,
            link_note=_(
                "This link works until %(date)s. To open it, confirm your date of birth or the "
                "last 4 characters of your ID number.",
                date=long_date(expires),
            )
            + space
            + _("No link, or it has expired? Call us and we will send you a new one."),
            closing=(
                _("We want to help you find a way to repay that works for you."),
                _("Yours sincerely,"),
            ),
            signature=contact.name,
            cut_here=_("Cut along this line and send the slip back to us."),
            slip_title=_("Reply slip"),
            slip_fields=(
                (_("Loan number"), loan.number),
                (_("Name"), borrower.full_name.strip()),
            ),
            slip_pay_on=_("I will pay on (date)"),
            slip_options=(
                _("I would like to discuss a repayment plan"),
                _("I am in financial hardship and cannot pay right now"),
                _("I dispute this debt"),
            ),
            slip_call_back=(_("Phone number to call me back"), _("Best time to call")),
            slip_sign=(_("Signature"), _("Date")),
            slip_return=(
                _(
                    "Send this slip to: %(address)s. Or call us on %(phone)s.",
                    address=separator.join((contact.name, *lender_address)),
                    phone=phone,
                )
                if lender_address
                else _(
                    "Call us on %(phone)s with your answers, or send a photo of this slip to "
                    "%(email)s.",
                    phone=phone,
                    email=contact.email,
                )
            ),
            continued=_("Loan %(number)s", number=loan.number),
            page_pattern=_("Page %(page)d of %(pages)d"),
            label_pattern=_("%(label)s: %(value)s"),
            address_separator=separator,
        )
