"""The words of each message, in the borrower's own language (``Borrower.locale``),
whatever language the agent's console speaks.

What a message may say, and why:

- An SMS is discreet (and so is a LINE or WeChat message, which a locked screen shows
  as well: the same words, its own channel named in how to stop it): the lender's
  name, "a message about your account" (or "an offer for your account"), the link,
  and how to stop SMS. No amount, no "overdue", no
  "debt". A text shows on a locked phone's screen, where a partner, a parent or a
  colleague can read it; telling them about a debt is the third-party disclosure the
  collection rules forbid (China's 2024 guideline, Hong Kong's Code of Banking
  Practice, the UK's CONC 7.9, Regulation F's limited-content rule for anything a
  third party may hear or see). What is owed is on the page behind the link, after the
  borrower confirms who they are.
- An email goes to the borrower's own mailbox and is read opened, so its body says what
  is overdue, what happens next and when (the same dated consequences the status page
  shows) and the link. Its subject, which notifications show, stays as discreet as an
  SMS.
- Every message says how to stop that channel: the opt-out link.

SMS length: a text in Chinese is sent as UCS-2, 70 characters in one part or 67 per
part of a longer one, and the links count character for character. Two links (the
reminder's 256-bit token and the signed opt-out) take about 120 characters by
themselves with a short host name, so a Chinese SMS is three parts and an English one
two. ``sms_parts`` counts them; the tests hold the texts to that.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from flask_babel import force_locale, ngettext
from flask_babel import gettext as _
from sqlalchemy.orm import Session

from negotiation.contact import Channel
from negotiation.validation import ChargeItem, DueItem, itemize, validation_period_end
from portal.arrangements.agreement import offer_terms
from portal.cases.facts import CaseView, view_case
from portal.cases.overdue import borrower_today
from portal.core import settings
from portal.core.clock import as_utc
from portal.core.i18n import (
    DEFAULT,
    LOCALES,
    Lender,
    for_market,
    gap,
    lender,
    long_date,
    market_of,
    money,
)
from portal.models import Case, Offer
from portal.wording.engine import KIND_NAMES, event_sentence

# The consequences an email lists: the next few are what a reader takes in.
EVENTS_SHOWN = 3


@dataclass(frozen=True)
class Composed:
    """One message's words: a subject (email only) and the text."""

    subject: str | None
    text: str
    locale: str


def borrower_locale(case: Case) -> str:
    """The catalog the borrower's messages are written in: their language, read in
    their loan's market."""
    locale = case.loan.borrower.locale
    return for_market(locale if locale in LOCALES else DEFAULT, market_of(case.loan.currency))


def compose(
    db: Session,
    case: Case,
    channel: Channel,
    moment: datetime,
    *,
    link: str,
    opt_out: str,
    offer: Offer | None = None,
    view: CaseView | None = None,
) -> Composed:
    """The message for ``case`` on ``channel``, in the borrower's language. An email
    states the case's amounts and timeline: from ``view`` when the caller read it already
    (``portal.cases.facts.views_of``, for many cases at once), else read here."""
    locale = borrower_locale(case)
    with force_locale(locale):
        if channel.is_text:
            return Composed(None, _sms(case, channel, link, opt_out, offer), locale)
        subject, text = _email(db, case, moment, link, opt_out, offer, view)
        return Composed(subject, text, locale)


def compose_dispute_rejected(case: Case, channel: Channel, *, link: str, opt_out: str) -> Composed:
    """The explanation of a rejected dispute, in the borrower's language, with what they
    may do next. An SMS says only that there is a reply (it may be read by others); the
    email says what was decided and the choices left."""
    locale = borrower_locale(case)
    with force_locale(locale):
        if channel.is_text:
            return _dispute_reply_sms(locale, channel, link, opt_out)
        contact = lender(locale, market_of(case.loan.currency))
        subject = _("%(lender)s: our reply about your account", lender=lender_name(case))
        lines = [
            _("Hello %(name)s,", name=case.loan.borrower.full_name),
            "",
            _(
                "We have looked into your dispute about loan %(number)s. We checked our "
                "records and found that the amount shown is owed, so the dispute is not "
                "upheld, and the hold on your account has ended.",
                number=case.loan.number,
            ),
            "",
            _("What you may do next:"),
            "- " + _("See what is owed, pay it, or choose a plan you can afford:"),
            link,
            "- "
            + _(
                "If you have information we did not see (a receipt, a statement), send it to "
                "us and we will look again."
            ),
            "- "
            + _(
                "If you cannot pay right now, tell us on the same page: we will pause "
                "collection while we work out a plan with you."
            ),
            "- "
            + _(
                "If you are not satisfied with our reply, you may make a complaint to us, "
                "and then to the financial regulator or dispute service where you live."
            ),
            "",
            *email_footer(contact, opt_out),
        ]
        return Composed(subject, "\n".join(lines) + "\n", locale)


def compose_dispute_upheld(
    case: Case, channel: Channel, *, corrected: int, closed: bool, link: str, opt_out: str
) -> Composed:
    """The news that a dispute was upheld, in the borrower's language: what was taken off
    what they owe (``corrected``, minor units), or that the balance was written off
    (``closed``). An SMS says only that there is a reply, as for a rejection."""
    locale = borrower_locale(case)
    with force_locale(locale):
        if channel.is_text:
            return _dispute_reply_sms(locale, channel, link, opt_out)
        contact = lender(locale, market_of(case.loan.currency))
        subject = _("%(lender)s: our reply about your account", lender=lender_name(case))
        if closed:
            outcome = _(
                "We have written off the balance of this loan: you owe nothing on it, and we "
                "will not ask you to pay it."
            )
        else:
            outcome = _(
                "We have taken %(amount)s off what you owe. Your page shows what you owe now:",
                amount=money(corrected, case.loan.currency),
            )
        lines = [
            _("Hello %(name)s,", name=case.loan.borrower.full_name),
            "",
            _(
                "We have looked into your dispute about loan %(number)s and agree with you: "
                "the dispute is upheld, and the hold on your account has ended.",
                number=case.loan.number,
            ),
            "",
            outcome,
            link,
            "",
            _(
                "If you think anything is still wrong, tell us on the same page and we will "
                "look again."
            ),
            "",
            *email_footer(contact, opt_out),
        ]
        return Composed(subject, "\n".join(lines) + "\n", locale)


def compose_validation_notice(
    db: Session, case: Case, moment: datetime, *, link: str, help_url: str, opt_out: str
) -> Composed:
    """The debt's validation notice (US Regulation F, 12 CFR 1006.34) by email, in the
    borrower's language: the creditor, the account, the itemization (``negotiation.
    validation``), the end of the validation period (30 days after the email, which is
    taken as received when sent) and how to dispute the debt or ask for the original
    creditor."""
    borrower = case.loan.borrower
    locale = borrower_locale(case)
    today = borrower_today(borrower.timezone, moment)
    loan = case.loan
    currency = loan.currency
    items = itemize(
        loan.start_date,
        (
            DueItem(
                i.due_date,
                i.principal_due,
                i.interest_due,
                i.principal_paid,
                i.interest_paid,
                i.principal_waived,
                i.interest_waived,
            )
            for i in loan.installments
        ),
        (ChargeItem(c.amount, c.paid, c.waived) for c in loan.charges),
        today,
    )
    ends = validation_period_end(today, by_letter=False)
    with force_locale(locale):
        contact = lender(locale, market_of(currency))
        name = lender_name(case)

        def row(label: str, amount: int) -> str:
            return "- " + _("%(label)s: %(value)s", label=label, value=money(amount, currency))

        lines = [
            _("Hello %(name)s,", name=borrower.full_name),
            "",
            _(
                "%(lender)s is contacting you about a debt you owe on loan %(number)s. "
                "%(lender)s is the creditor to whom the debt is owed.",
                lender=name,
                number=loan.number,
            ),
            "",
            _("As of %(date)s, you owed:", date=long_date(items.itemization_date)),
            row(_("Amount then"), items.amount_then),
            _("Between %(date)s and today:", date=long_date(items.itemization_date)),
            row(_("You were charged this amount in interest"), items.interest),
            row(_("You were charged this amount in fees"), items.fees),
            row(
                _("You paid or were credited this amount toward the debt"),
                items.payments + items.credits,
            ),
            row(_("Total amount of the debt now"), items.current),
            "",
            _(
                "Call or write to us by %(date)s to dispute all or part of the debt. If you "
                "do not, we will assume that our information is correct.",
                date=long_date(ends),
            ),
            "",
            _(
                "If you write to us by %(date)s, we must stop collection on any amount you "
                "dispute until we send you information that shows you owe the debt. You may "
                "also ask us for the name and address of the original creditor, if different "
                "from the current creditor; if you do, we must stop collection until we send "
                "you that information.",
                date=long_date(ends),
            ),
            "",
            _(
                "To dispute the debt online, open this link, confirm who you are, and choose "
                '"I dispute this debt" on the help page (the link works for 7 days):'
            ),
            link,
            _("The help page, once you have confirmed who you are:"),
            help_url,
            "",
            *email_footer(contact, opt_out),
        ]
        subject = _(
            "%(lender)s: notice about your loan %(number)s", lender=name, number=loan.number
        )
        return Composed(subject, "\n".join(lines) + "\n", locale)


def compose_visit_notice(
    case: Case,
    channel: Channel,
    *,
    first: date,
    last: date,
    hours: tuple[time, time],
    link: str,
    opt_out: str,
) -> Composed:
    """The written notice of a home visit, in the borrower's language: the date range
    (``first`` to ``last``, their local dates) and hours, and how to arrange the visit or
    avoid it (pay what is overdue, choose a plan, or call us). An SMS says only that
    there is a notice behind the link: a text can be read by others on a locked screen,
    and a visit is the debt's business, told to the borrower alone."""
    locale = borrower_locale(case)
    with force_locale(locale):
        if channel.is_text:
            head = _(
                "%(lender)s: an important notice about your account. Open:",
                lender=sms_name(locale),
            )
            return Composed(None, "\n".join([head, link, stop_words(channel), opt_out]), locale)
        contact = lender(locale, market_of(case.loan.currency))
        subject = _("%(lender)s: a notice about your account", lender=lender_name(case))
        lines = [
            _("Hello %(name)s,", name=case.loan.borrower.full_name),
            "",
            _(
                "Loan %(number)s is still overdue. Two of our staff plan to visit you at "
                "home between %(first)s and %(last)s, from %(start)s to %(end)s. Each "
                "will carry identification and show it to you. They will speak only to "
                "you about your loan, never to anyone else.",
                number=case.loan.number,
                first=long_date(first),
                last=long_date(last),
                start=hours[0].strftime("%H:%M"),
                end=hours[1].strftime("%H:%M"),
            ),
            "",
            _("You can avoid the visit:"),
            "- " + _("Pay what is overdue, or choose a plan you can afford, on your page:"),
            link,
            "- "
            + _(
                "Or call us on %(phone)s (%(hours)s): we can agree a plan by phone, or "
                "arrange the visit for a day and time that suit you.",
                phone=contact.phone,
                hours=contact.hours,
            ),
            "",
            _(
                "If you are in difficulty or think the amount is wrong, tell us on the same "
                "page: we will pause collection, and the visit, while we look into it."
            ),
            "",
            *email_footer(contact, opt_out),
        ]
        return Composed(subject, "\n".join(lines) + "\n", locale)


def _dispute_reply_sms(locale: str, channel: Channel, link: str, opt_out: str) -> Composed:
    """An SMS that a dispute has its answer, whichever it is: it may be read by others,
    so it says only that there is a reply, behind the link. Called in ``locale``."""
    first = _(
        "%(lender)s: we have replied to the question you raised about your account. Open:",
        lender=sms_name(locale),
    )
    return Composed(None, "\n".join([first, link, stop_words(channel), opt_out]), locale)


def lender_name(case: Case) -> str:
    """The lender's name as an email to the borrower of ``case`` writes it: in their
    language, for their loan's market."""
    return lender(borrower_locale(case), market_of(case.loan.currency)).name


def sms_name(locale: str) -> str:
    """The lender's name as an SMS signs it (``HAOHUAN_SMS_NAME``). An English text keeps
    only the name's Latin words: one Chinese character would turn the whole text into
    UCS-2, 70 characters a part instead of 160."""
    current = settings.current()
    name = current.sms_name_hans if locale.startswith("zh_Hans") else current.sms_name
    if locale.startswith("zh"):
        return name
    latin = " ".join(word for word in name.split() if _is_gsm(word))
    return latin or name


def stop_words(channel: Channel) -> str:
    """How a short text says it can be stopped, naming its own channel (the opt-out
    link follows on its own line)."""
    if channel is Channel.LINE:
        return _("To stop LINE messages from us:")
    if channel is Channel.WECHAT:
        return _("To stop WeChat messages from us:")
    return _("To stop SMS from us:")


def _sms(case: Case, channel: Channel, link: str, opt_out: str, offer: Offer | None) -> str:
    lender = sms_name(borrower_locale(case))
    if offer is not None:
        first = _(
            "%(lender)s: an offer for your account is ready until %(date)s. Open:",
            lender=lender,
            date=_short_date(offer.expires_at, case),
        )
    else:
        first = _("%(lender)s: there is a message about your account. Open:", lender=lender)
    # Links stand on lines of their own: a phone's link detection would otherwise take
    # the punctuation after them into the address.
    return "\n".join([first, link, stop_words(channel), opt_out])


def _short_date(moment: datetime, case: Case) -> str:
    """A date in the borrower's own calendar, as their language writes it."""
    local = as_utc(moment).astimezone(ZoneInfo(case.loan.borrower.timezone))
    return long_date(local.date())


def _email(
    db: Session,
    case: Case,
    moment: datetime,
    link: str,
    opt_out: str,
    offer: Offer | None,
    view: CaseView | None,
) -> tuple[str, str]:
    borrower = case.loan.borrower
    locale = borrower_locale(case)
    today = borrower_today(borrower.timezone, moment)
    if view is None or view.case is not case or view.snapshot.as_of != today:
        view = view_case(db, case, today)
    contact = lender(locale, market_of(case.loan.currency))
    lines = [_("Hello %(name)s,", name=borrower.full_name), ""]
    if offer is not None:
        subject = _("%(lender)s: an offer for your account", lender=lender_name(case))
        terms = offer_terms(offer)
        lines += [
            _(
                "We have prepared an offer for your loan %(number)s: %(kind)s.",
                number=case.loan.number,
                kind=KIND_NAMES[terms.kind],
            ),
            _(
                "It is open until %(date)s. The link shows its payments and lets you accept it.",
                date=_short_date(offer.expires_at, case),
            ),
            "",
        ]
    else:
        subject = _("%(lender)s: a message about your account", lender=lender_name(case))
    lines += overdue_lines(view)
    lines += [
        _("See the details, pay, or choose a plan you can afford:")
        if offer is None
        else _("See and accept the offer:"),
        link,
        link_note(),
        "",
        *email_footer(contact, opt_out),
    ]
    return subject, "\n".join(lines) + "\n"


def link_note() -> str:
    """What an email says under its reminder link: how long it works and what it asks."""
    return _(
        "The link works for 7 days. We will ask for your date of birth or the last 4 "
        "characters of your ID number."
    )


def overdue_lines(view: CaseView) -> list[str]:
    """Where the borrower stands, as an email tells it: what is overdue and for how long,
    then what happens next and when if nothing changes (or that collection is paused
    under their plan), each block followed by a blank line. Nothing when nothing is
    overdue. Called in the borrower's locale."""
    arrears = view.snapshot.arrears.total
    if arrears <= 0:
        return []
    currency = view.loan.currency
    lines = [
        _(
            "Your loan %(number)s has %(amount)s overdue.",
            number=view.loan.number,
            amount=money(arrears, currency),
        )
        + gap()
        + ngettext(
            "The oldest unpaid installment is %(num)d day overdue.",
            "The oldest unpaid installment is %(num)d days overdue.",
            view.snapshot.days_past_due,
        ),
        "",
    ]
    upcoming = [event for event in view.timeline if not event.past][:EVENTS_SHOWN]
    if view.arranged:
        lines += [_("Collection is paused while you keep to your plan."), ""]
    elif upcoming:
        lines.append(_("What happens next if nothing changes:"))
        # The language's own colon (full-width in Chinese), as the catalog writes it.
        lines += [
            "- "
            + _(
                "%(label)s: %(value)s",
                label=long_date(event.date),
                value=event_sentence(event, currency),
            )
            for event in upcoming
        ]
        lines.append("")
    return lines


# GSM 03.38: the basic set (one septet each) and the extension set (two: an escape
# and the character). Anything else makes the whole text UCS-2.
GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM_EXTENSION = frozenset("^{}\\[~]|€\f")


def _is_gsm(text: str) -> bool:
    return all(ch in GSM_BASIC or ch in GSM_EXTENSION for ch in text)


def sms_parts(text: str) -> int:
    """How many SMS parts ``text`` is sent as: GSM-7 fits 160 characters in one part
    and 153 in each part of a longer text; UCS-2 (any Chinese character) 70 and 67,
    counted in UTF-16 units."""
    if _is_gsm(text):
        units = sum(2 if ch in GSM_EXTENSION else 1 for ch in text)
        single, part = 160, 153
    else:
        units = len(text.encode("utf-16-le")) // 2
        single, part = 70, 67
    if units <= single:
        return 1
    return -(-units // part)


def email_footer(contact: Lender, opt_out: str) -> list[str]:
    """How to reach us, and the opt-out link every email ends with."""
    return [
        _(
            "Questions? Call %(phone)s (%(hours)s) or write to %(email)s.",
            phone=contact.phone,
            hours=contact.hours,
            email=contact.email,
        ),
        "",
        "-- ",
        _("To stop emails from us, open %(url)s", url=opt_out),
    ]
