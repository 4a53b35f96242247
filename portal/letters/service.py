"""Printed letters: for a borrower the phone does not reach, the same facts the status
page states, on paper, in their language, with a QR code to their reminder link.

``letter_for`` words the letter (``LetterContent``: strings already translated, amounts
already formatted); ``render_pdf`` lays it out on A4; ``print_letter`` is the agent's
action: the contact gate, a fresh link, and the letter recorded as sent, in one commit.

Layout: A4 for a DL window envelope (DIN 5008 form B): the recipient's name and postal
address alone in the window (20 mm from the left, 45 mm from the top; nothing about a
debt shows through it, and no sender line either: the envelope stays discreet), fold
marks at 105 mm and 210 mm, the lender's contact block beside the window. The reply slip
sits at the foot of the last page below a cut line; pages are numbered when there are
more than one.

Fonts. A letter must print on any machine and its text must stay extractable (copy,
search, screen readers, and our tests read it back). In order:

1. ``LETTER_FONT`` (or ``HAOHUAN_LETTER_FONT``), a TrueType font (``.ttf``, or ``.ttc``
   with ``#index``), embedded as a subset with a ToUnicode map. ``cid`` skips to 3.
2. Otherwise a TrueType CJK font found on the machine (Debian's fonts-arphic-uming or
   fonts-wqy-zenhei), embedded the same way.
3. Otherwise the CJK fonts every PDF viewer knows by name (MSung-Light for Traditional,
   STSong-Light for Simplified): nothing to install, nothing embedded, the viewer
   substitutes its own Ming/Song font; text is extractable through the standard CMaps.

Noto CJK (Debian's fonts-noto-cjk) is OpenType with CFF outlines, which reportlab cannot
embed; it is skipped. Latin text is always Helvetica (a base font every viewer has); any
character the chosen CJK font lacks falls back to the other CJK fonts, so a Simplified
address on a Traditional letter still prints.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from enum import StrEnum
from functools import cache
from io import BytesIO
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import force_locale, ngettext
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from reportlab.graphics.barcode.qr import QrCodeWidget
from reportlab.graphics.shapes import Drawing
from reportlab.lib import colors
from reportlab.lib.enums import TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import CIDEncoding, UnicodeCIDFont
from reportlab.pdfbase.ttfonts import TTFError, TTFont
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    BaseDocTemplate,
    Flowable,
    Frame,
    KeepTogether,
    PageTemplate,
    Paragraph,
    Spacer,
    Table,
    TableStyle,
)
from sqlalchemy import select
from sqlalchemy.orm import Session

from negotiation.contact import Channel
from portal.access.verification import LETTER_LINK_LIFETIME, issue_link
from portal.audit import trail
from portal.cases.facts import view_case
from portal.contact.gate import allowed_from_text, judge, record_attempt, refusal_reasons
from portal.core.hashing import token_hash
from portal.core.i18n import DEFAULT, SUPPORTED, gap, long_date, money
from portal.messaging.links import reminder_url
from portal.models import Borrower, Case, Message, MessageStatus, ReminderLink, StaffMember
from portal.wording.engine import STAGE_EXPLANATIONS, STAGE_NAMES, event_sentence

log = logging.getLogger(__name__)

# Message.address is a String(254); the body keeps the address whole.
ADDRESS_LENGTH = 254
# What a stored copy shows instead of the link's token, which is never stored.
TOKEN_REDACTED = "…"  # noqa: S105 (a placeholder, not a secret)


class LetterRefusal(StrEnum):
    """Why a letter is not printed, beyond the contact rules."""

    NO_POSTAL_ADDRESS = "no_postal_address"
    NOTHING_OVERDUE = "nothing_overdue"
    PLAN_ACTIVE = "plan_active"


LETTER_REFUSAL_TEXT = {
    LetterRefusal.NO_POSTAL_ADDRESS: _l(
        "There is no postal address for this borrower, so no letter can be printed."
    ),
    LetterRefusal.NOTHING_OVERDUE: _l(
        "Nothing is overdue on this loan: there is nothing to write about."
    ),
    LetterRefusal.PLAN_ACTIVE: _l(
        "The borrower's plan is active: collection is paused, so no reminder is sent."
    ),
}


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

    def plain_text(self) -> str:
        """The letter as plain text: the copy kept with the sent message."""
        lines = [*self.address_lines, "", *self.sender_lines, self.date_line]
        lines += [self.reference_line, "", self.title, "", self.greeting, *self.introduction]
        lines += ["", self.arrears_title]
        lines += [f"{label}: {amount}" for label, amount in (*self.arrears, self.total)]
        lines += [self.not_yet_due, *self.situation, "", self.deadline_title]
        if self.deadline:
            lines.append(self.deadline)
        lines += [f"{day}: {sentence}" for day, sentence, _past in self.consequences]
        lines += [self.consequences_note, "", self.steps_title]
        lines += [f"- {step}" for step in self.steps]
        lines += ["", self.link_title, self.link_url, self.link_note, "", *self.closing]
        lines += [self.signature, "", self.cut_here, self.slip_title]
        lines += [f"{label}: {value}" for label, value in self.slip_fields]
        lines += [f"[ ] {self.slip_pay_on} ____", *(f"[ ] {o}" for o in self.slip_options)]
        lines += [f"{label}: ____" for label in (*self.slip_call_back, *self.slip_sign)]
        lines.append(self.slip_return)
        return "\n".join(line for line in lines if line is not None).strip() + "\n"


def letter_locale(borrower: Borrower) -> str:
    """The language the borrower's letters are written in."""
    return borrower.locale if borrower.locale in SUPPORTED else DEFAULT


def postal_lines(borrower: Borrower) -> tuple[str, ...]:
    """The borrower's postal address, one line each, blank lines dropped."""
    return tuple(
        line.strip() for line in (borrower.postal_address or "").splitlines() if line.strip()
    )


def _local_day(moment: datetime, zone: str) -> date:
    return moment.astimezone(ZoneInfo(zone)).date()


def _setting(name: str) -> str:
    # The app's configuration first; the environment for deployments that set only it.
    configured = current_app.config.get(name)
    if configured is None:
        configured = os.environ.get(f"HAOHUAN_{name}", "")
    return str(configured or "")


def letter_for(db: Session, case: Case, moment: datetime, link_url: str) -> LetterContent:
    """The letter for ``case`` at ``moment`` in the borrower's language: what is overdue
    (itemised), what happens next and when (the status page's timeline), what they can
    do, the link, and a reply slip."""
    loan, borrower = case.loan, case.loan.borrower
    locale = letter_locale(borrower)
    today = _local_day(moment, borrower.timezone)
    expires = _local_day(moment + LETTER_LINK_LIFETIME, borrower.timezone)
    view = view_case(db, case, today)
    snapshot, currency = view.snapshot, loan.currency
    arrears = snapshot.arrears
    config = current_app.config
    lender = str(config.get("LENDER_NAME", ""))
    phone, hours = str(config.get("LENDER_PHONE", "")), str(config.get("LENDER_HOURS", ""))
    lender_address = tuple(
        line.strip() for line in _setting("LENDER_ADDRESS").splitlines() if line.strip()
    )
    with force_locale(locale):
        space = gap()
        upcoming = next((e for e in view.timeline if not e.past and e.date >= today), None)
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
                lender,
                _("Phone: %(phone)s", phone=phone),
                _("Hours: %(hours)s", hours=hours),
                _("Email: %(email)s", email=str(config.get("LENDER_EMAIL", ""))),
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
            deadline=(
                _("Please act before %(date)s.", date=long_date(upcoming.date)) if upcoming else ""
            ),
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
            signature=lender,
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
                    address=", ".join((lender, *lender_address)),
                    phone=phone,
                )
                if lender_address
                else _(
                    "Call us on %(phone)s with your answers, or send a photo of this slip to "
                    "%(email)s.",
                    phone=phone,
                    email=str(config.get("LENDER_EMAIL", "")),
                )
            ),
            continued=_("Loan %(number)s", number=loan.number),
            page_pattern=_("Page %(page)d of %(pages)d"),
        )


# Fonts -------------------------------------------------------------------------------

LATIN = "Helvetica"
LATIN_BOLD = "Helvetica-Bold"
# The CJK fonts PDF viewers know by name, each with its Unicode CMap and the legacy
# charset it covers (what the viewer's substitute font is sure to have).
CID_FACES = {
    "MSung-Light": ("UniCNS-UCS2-H", "big5hkscs"),
    "STSong-Light": ("UniGB-UCS2-H", "gbk"),
}
CID_ORDER = {
    "zh_Hant_TW": ("MSung-Light", "STSong-Light"),
    "zh_Hans_CN": ("STSong-Light", "MSung-Light"),
    "en": ("MSung-Light", "STSong-Light"),
}
# TrueType CJK fonts Debian installs (fonts-arphic-uming, fonts-wqy-zenhei), and the
# index of the collection's face for each language (UMing: 0 CN, 2 TW).
KNOWN_FONTS: tuple[tuple[str, dict[str, int]], ...] = (
    (
        "/usr/share/fonts/truetype/arphic/uming.ttc",
        {"zh_Hant_TW": 2, "zh_Hans_CN": 0, "en": 2},
    ),
    ("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc", {}),
    ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", {}),
)


class _CIDFont(UnicodeCIDFont):
    """reportlab's UnicodeCIDFont pairs MSung-Light (Adobe-CNS1) with the GB CMap, so
    viewers pick wrong glyphs or none; this one takes the CMap that matches the font."""

    def __init__(self, face: str, encoding: str) -> None:
        super().__init__(face)
        self.encoding = CIDEncoding(encoding)
        self.encodingName = encoding


@cache
def _cid_face(face: str) -> str:
    pdfmetrics.registerFont(_CIDFont(face, CID_FACES[face][0]))
    return face


@cache
def _truetype(path: str, index: int) -> TTFont | None:
    """The TrueType font at ``path`` registered for embedding, or None when it cannot
    be (missing, or CFF outlines such as Noto CJK's)."""
    name = f"HaohuanCJK-{re.sub(r'[^A-Za-z0-9]', '', Path(path).stem)}-{index}"
    try:
        font = TTFont(name, path, subfontIndex=index)
    except (OSError, TTFError) as error:
        log.warning("letter font %s#%s cannot be embedded: %s", path, index, error)
        return None
    pdfmetrics.registerFont(font)
    return font


@dataclass(frozen=True)
class Fonts:
    """The CJK faces a letter is set in, in order of preference (Latin is Helvetica)."""

    cjk: tuple[str, ...]
    embedded: TTFont | None

    def face_for(self, character: str) -> str:
        """The first face that has ``character``."""
        try:
            character.encode("cp1252")
            return LATIN
        except UnicodeEncodeError:
            pass
        for face in self.cjk:
            if self.embedded is not None and face == self.embedded.fontName:
                if ord(character) in self.embedded.face.charToGlyph:
                    return face
                continue
            try:
                character.encode(CID_FACES[face][1])
                return face
            except UnicodeEncodeError:
                continue
        return self.cjk[0]

    def markup(self, text: str) -> str:
        """``text`` as paragraph markup, each run in a face that has its characters."""
        # A narrow no-break space (Babel's, in some formats) is in no font used here.
        text = text.replace("\u202f", "\u00a0")
        runs: list[tuple[str, list[str]]] = []
        for character in text:
            face = self.face_for(character)
            if runs and runs[-1][0] == face:
                runs[-1][1].append(character)
            else:
                runs.append((face, [character]))
        return "".join(
            escape("".join(chars))
            if face == LATIN
            else f'<font face="{face}">{escape("".join(chars))}</font>'
            for face, chars in runs
        )


def letter_fonts(locale: str) -> Fonts:
    """The fonts for a letter in ``locale`` (see the module's docstring for the order)."""
    cid = tuple(_cid_face(face) for face in CID_ORDER.get(locale, CID_ORDER[DEFAULT]))
    configured = _setting("LETTER_FONT").strip()
    candidates: list[tuple[str, int]] = []
    if configured.lower() != "cid":
        if configured:
            path, _sep, index = configured.partition("#")
            candidates.append((path, int(index) if index.isdigit() else 0))
        candidates += [
            (path, faces.get(locale, 0)) for path, faces in KNOWN_FONTS if Path(path).is_file()
        ]
    for path, index in candidates:
        font = _truetype(path, index)
        if font is not None:
            return Fonts((font.fontName, *cid), font)
    return Fonts(cid, None)


# Layout ------------------------------------------------------------------------------

PAGE_WIDTH, PAGE_HEIGHT = A4
LEFT, RIGHT, TOP, BOTTOM = 25 * mm, 20 * mm, 20 * mm, 22 * mm
BODY_WIDTH = PAGE_WIDTH - LEFT - RIGHT
# DIN 5008 form B: the window's address zone, and where the text starts below it.
WINDOW_X, WINDOW_TOP, WINDOW_BOTTOM, WINDOW_WIDTH = 25 * mm, 52 * mm, 88 * mm, 80 * mm
INFO_X, INFO_TOP, INFO_WIDTH = 125 * mm, 50 * mm, PAGE_WIDTH - 125 * mm - RIGHT
FIRST_BODY_TOP = 98.5 * mm
FOLDS = (105 * mm, 210 * mm)
PUNCH = PAGE_HEIGHT / 2
QR_SIZE = 34 * mm
MUTED = colors.HexColor("#555555")
RULE = colors.HexColor("#999999")


@dataclass(frozen=True)
class _Styles:
    body: ParagraphStyle
    small: ParagraphStyle
    title: ParagraphStyle
    heading: ParagraphStyle
    strong: ParagraphStyle
    number: ParagraphStyle
    number_strong: ParagraphStyle
    link: ParagraphStyle
    muted: ParagraphStyle


def _styles(locale: str) -> _Styles:
    chinese = locale.startswith("zh")
    # Chinese breaks between any two characters; English between words. The CJK fonts
    # have no bold: a bold Latin run inside regular Chinese reads as a mistake, so a
    # Chinese letter marks emphasis by size alone.
    wrap = "CJK" if chinese else None
    bold = LATIN if chinese else LATIN_BOLD
    body = ParagraphStyle("body", fontName=LATIN, fontSize=10, leading=15, wordWrap=wrap)
    return _Styles(
        body=body,
        small=ParagraphStyle("small", body, fontSize=8.5, leading=12),
        title=ParagraphStyle("title", body, fontName=bold, fontSize=14, leading=20, spaceAfter=6),
        heading=ParagraphStyle(
            "heading",
            body,
            fontName=bold,
            fontSize=12,
            leading=17,
            spaceBefore=9,
            spaceAfter=3,
        ),
        strong=ParagraphStyle("strong", body, fontName=bold, fontSize=10.5 if chinese else 10),
        number=ParagraphStyle("number", body, alignment=TA_RIGHT),
        number_strong=ParagraphStyle(
            "number_strong",
            body,
            fontName=bold,
            alignment=TA_RIGHT,
            fontSize=10.5 if chinese else 10,
        ),
        # Courier: the link is typed by hand when the QR code cannot be scanned.
        link=ParagraphStyle(
            "link",
            body,
            fontName="Courier-Bold",
            fontSize=9.5,
            leading=13,
            wordWrap=None,
            splitLongWords=True,
        ),
        muted=ParagraphStyle("muted", body, fontSize=8.5, leading=12, textColor=MUTED),
    )


def qr_drawing(value: str, size: float = QR_SIZE) -> Drawing:
    """A QR code of ``value`` (error correction M, the standard quiet zone), ``size``
    points square."""
    widget = QrCodeWidget(value, barLevel="M", barBorder=4)
    x0, y0, x1, y1 = widget.getBounds()
    drawing = Drawing(size, size, transform=[size / (x1 - x0), 0, 0, size / (y1 - y0), 0, 0])
    drawing.add(widget)
    return drawing


class _Box(Flowable):
    """An empty tick box."""

    def __init__(self, size: float = 3.6 * mm) -> None:
        super().__init__()
        self.width = self.height = size

    def draw(self) -> None:
        self.canv.setLineWidth(0.8)
        self.canv.rect(0, 0, self.width, self.height)


class _AtFoot(Flowable):
    """The reply slip: at the foot of the page it ends on, below a dashed cut line
    across the whole sheet; to the next page, whole, when it does not fit."""

    def __init__(self, inner: Flowable, cut_label: Paragraph) -> None:
        super().__init__()
        self.inner, self.cut_label = inner, cut_label
        self.inner_height = 0.0

    def wrap(self, available_width: float, available_height: float) -> tuple[float, float]:
        _w, self.inner_height = self.inner.wrap(available_width, available_height)
        _w, label = self.cut_label.wrap(available_width, available_height)
        needed = self.inner_height + label + 6 * mm
        self.width = available_width
        self.height = max(needed, available_height) if needed <= available_height else needed
        return self.width, self.height

    def split(self, available_width: float, available_height: float) -> list[Flowable]:
        return []

    def draw(self) -> None:
        canvas = self.canv
        top = self.inner_height + 3 * mm
        canvas.saveState()
        canvas.setStrokeColor(RULE)
        canvas.setDash(4, 3)
        canvas.line(-LEFT + 8 * mm, top, PAGE_WIDTH - LEFT - 8 * mm, top)
        canvas.restoreState()
        self.cut_label.wrap(self.width, self.height)
        self.cut_label.drawOn(canvas, 0, top + 1.5 * mm)
        self.inner.drawOn(canvas, 0, 0)


def _para(fonts: Fonts, text: str, style: ParagraphStyle) -> Paragraph:
    return Paragraph(fonts.markup(text), style)


def _block(fonts: Fonts, lines: Sequence[str], style: ParagraphStyle) -> Paragraph:
    return Paragraph("<br/>".join(fonts.markup(line) for line in lines), style)


def _fitted(
    fonts: Fonts, lines: Sequence[str], base: ParagraphStyle, width: float, height: float
) -> Paragraph:
    """The address in the largest size from 11 pt down to 7 pt that fits the window."""
    paragraph = _block(fonts, lines, base)
    for size in (11, 10, 9, 8, 7):
        style = ParagraphStyle(f"address{size}", base, fontSize=size, leading=size * 1.35)
        paragraph = _block(fonts, lines, style)
        if paragraph.wrap(width, height)[1] <= height:
            break
    return paragraph


def _table(rows: list[list[Any]], widths: Sequence[float], commands: list[Any]) -> Table:
    table = Table(rows, colWidths=list(widths), hAlign="LEFT")
    padding = [
        ("LEFTPADDING", (0, 0), (-1, -1), 0),
        ("RIGHTPADDING", (0, 0), (-1, -1), 4),
        ("TOPPADDING", (0, 0), (-1, -1), 1.5),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 1.5),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
    ]
    table.setStyle(TableStyle(padding + commands))
    return table


def _story(content: LetterContent, fonts: Fonts, s: _Styles) -> list[Flowable]:
    p = _para(fonts, content.title, s.title)
    story: list[Flowable] = [p, _para(fonts, content.greeting, s.body), Spacer(0, 2 * mm)]
    for text in content.introduction:
        story += [_para(fonts, text, s.body), Spacer(0, 1.5 * mm)]
    rows = [
        [_para(fonts, label, s.body), _para(fonts, amount, s.number)]
        for label, amount in content.arrears
    ]
    rows.append(
        [_para(fonts, content.total[0], s.strong), _para(fonts, content.total[1], s.number_strong)]
    )
    story += [
        _para(fonts, content.arrears_title, s.heading),
        _table(rows, (70 * mm, 45 * mm), [("LINEABOVE", (0, -1), (-1, -1), 0.8, colors.black)]),
        Spacer(0, 1.5 * mm),
        _para(fonts, content.not_yet_due, s.muted),
        Spacer(0, 1.5 * mm),
        *(_para(fonts, text, s.body) for text in content.situation),
        _para(fonts, content.deadline_title, s.heading),
    ]
    if content.deadline:
        story.append(_para(fonts, content.deadline, s.strong))
    if content.consequences:
        events = [
            [
                _para(fonts, day, s.muted if past else s.strong),
                _para(fonts, sentence, s.muted if past else s.body),
            ]
            for day, sentence, past in content.consequences
        ]
        story.append(_table(events, (40 * mm, BODY_WIDTH - 40 * mm), []))
    story.append(_para(fonts, content.consequences_note, s.body))
    steps = [
        [_para(fonts, f"{number}.", s.body), _para(fonts, text, s.body)]
        for number, text in enumerate(content.steps, 1)
    ]
    story += [
        _para(fonts, content.steps_title, s.heading),
        _table(steps, (6 * mm, BODY_WIDTH - 6 * mm), []),
        Spacer(0, 2 * mm),
    ]
    link = _table(
        [
            [
                qr_drawing(content.link_url),
                [
                    _para(fonts, content.link_title, s.strong),
                    Spacer(0, 1 * mm),
                    _para(fonts, content.link_note, s.body),
                ],
            ],
            [Paragraph(escape(content.link_url), s.link), ""],
        ],
        (QR_SIZE + 4 * mm, BODY_WIDTH - QR_SIZE - 4 * mm),
        [("SPAN", (0, 1), (1, 1)), ("VALIGN", (1, 0), (1, 0), "MIDDLE")],
    )
    story += [
        KeepTogether([link]),
        Spacer(0, 3 * mm),
        *(_para(fonts, text, s.body) for text in content.closing),
        _para(fonts, content.signature, s.body),
        _AtFoot(_slip(content, fonts, s), _para(fonts, content.cut_here, s.muted)),
    ]
    return story


def _slip(content: LetterContent, fonts: Fonts, s: _Styles) -> Table:
    """The tear-off reply slip: who it is from, what they choose, how to reach them."""
    half = BODY_WIDTH / 2
    known = _table(
        [
            [_para(fonts, label, s.muted), _para(fonts, value, s.strong)]
            for label, value in content.slip_fields
        ],
        (28 * mm, half - 28 * mm),
        [],
    )
    pay_on = _table(
        [[_Box(), _para(fonts, content.slip_pay_on, s.body), ""]],
        (7 * mm, 55 * mm, 45 * mm),
        [("LINEBELOW", (2, 0), (2, 0), 0.6, colors.black)],
    )
    options = _table(
        [[_Box(), _para(fonts, option, s.body)] for option in content.slip_options],
        (7 * mm, BODY_WIDTH - 7 * mm),
        [("TOPPADDING", (0, 0), (-1, -1), 3)],
    )

    def blanks(labels: tuple[str, str]) -> Table:
        return _table(
            [[_para(fonts, labels[0], s.body), "", _para(fonts, labels[1], s.body), ""]],
            (52 * mm, 38 * mm, 32 * mm, BODY_WIDTH - 122 * mm),
            [
                ("LINEBELOW", (1, 0), (1, 0), 0.6, colors.black),
                ("LINEBELOW", (3, 0), (3, 0), 0.6, colors.black),
                ("LEFTPADDING", (2, 0), (2, 0), 4 * mm),
                ("TOPPADDING", (0, 0), (-1, -1), 7),
            ],
        )

    rows = [
        [_para(fonts, content.slip_title, s.heading)],
        [known],
        [pay_on],
        [options],
        [blanks(content.slip_call_back)],
        [blanks(content.slip_sign)],
        [Spacer(0, 1.5 * mm)],
        [_para(fonts, content.slip_return, s.muted)],
    ]
    return _table(rows, (BODY_WIDTH,), [("TOPPADDING", (0, 0), (0, 0), 0)])


def _numbered_canvas(
    draw_footer: Callable[[Canvas, int, int], None],
) -> type[Canvas]:
    """A canvas that holds its pages until the end, so each can say "page n of m"."""

    class NumberedCanvas(Canvas):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._held: list[dict[str, Any]] = []

        def showPage(self) -> None:  # noqa: N802 (reportlab's name)
            self._held.append(dict(self.__dict__))
            self._startPage()

        def save(self) -> None:
            total = len(self._held)
            for number, state in enumerate(self._held, 1):
                self.__dict__.update(state)
                draw_footer(self, number, total)
                super().showPage()
            super().save()

    return NumberedCanvas


def render_pdf(content: LetterContent) -> bytes:
    """The letter as an A4 PDF (see the module's docstring for the layout and fonts)."""
    fonts = letter_fonts(content.locale)
    s = _styles(content.locale)
    buffer = BytesIO()

    def first_page(canvas: Canvas, _doc: Any) -> None:
        canvas.saveState()
        head = _para(fonts, content.signature, ParagraphStyle("head", s.title, fontSize=15))
        head.wrap(BODY_WIDTH, 20 * mm)
        head.drawOn(canvas, LEFT, PAGE_HEIGHT - 28 * mm)
        # The window: name and address only.
        window_height = WINDOW_BOTTOM - WINDOW_TOP
        address = _fitted(fonts, content.address_lines, s.body, WINDOW_WIDTH, window_height)
        _w, used = address.wrap(WINDOW_WIDTH, window_height)
        address.drawOn(canvas, WINDOW_X, PAGE_HEIGHT - WINDOW_TOP - used)
        info = _block(
            fonts,
            [*content.sender_lines, "", content.date_line, content.reference_line],
            s.small,
        )
        _w, used = info.wrap(INFO_WIDTH, 45 * mm)
        info.drawOn(canvas, INFO_X, PAGE_HEIGHT - INFO_TOP - used)
        canvas.setStrokeColor(RULE)
        canvas.setLineWidth(0.5)
        for y in (*FOLDS, PUNCH):
            canvas.line(4 * mm, PAGE_HEIGHT - y, 8 * mm, PAGE_HEIGHT - y)
        canvas.restoreState()

    def later_page(canvas: Canvas, _doc: Any) -> None:
        head = _para(fonts, content.continued, s.muted)
        head.wrap(BODY_WIDTH, 10 * mm)
        head.drawOn(canvas, LEFT, PAGE_HEIGHT - 13 * mm)

    def footer(canvas: Canvas, number: int, total: int) -> None:
        if total < 2:
            return
        text = content.page_pattern % {"page": number, "pages": total}
        label = _para(fonts, text, ParagraphStyle("page", s.muted, alignment=TA_RIGHT))
        label.wrap(BODY_WIDTH, 10 * mm)
        label.drawOn(canvas, LEFT, 10 * mm)

    doc = BaseDocTemplate(
        buffer,
        pagesize=A4,
        title=content.title,
        author=content.signature,
        subject=content.title,
        creator="Haohuan",
        lang=content.locale.replace("_", "-"),
    )
    frame = {"leftPadding": 0, "rightPadding": 0, "topPadding": 0, "bottomPadding": 0}
    doc.addPageTemplates(
        [
            PageTemplate(
                "first",
                [Frame(LEFT, BOTTOM, BODY_WIDTH, PAGE_HEIGHT - FIRST_BODY_TOP - BOTTOM, **frame)],
                onPage=first_page,
                autoNextPageTemplate="later",
            ),
            PageTemplate(
                "later",
                [Frame(LEFT, BOTTOM, BODY_WIDTH, PAGE_HEIGHT - TOP - BOTTOM, **frame)],
                onPage=later_page,
            ),
        ]
    )
    doc.build(_story(content, fonts, s), canvasmaker=_numbered_canvas(footer))
    return buffer.getvalue()


# Printing a letter (the agent's action) ----------------------------------------------


@dataclass(frozen=True)
class PrintedLetter:
    """A letter that may be posted: the PDF, its file name, and the recorded message."""

    pdf: bytes
    filename: str
    message_id: int


@dataclass(frozen=True)
class RefusedLetter:
    """A letter that may not be sent: each reason as a sentence, and when it becomes
    allowed (None when waiting alone never allows it)."""

    reasons: tuple[str, ...]
    allowed_from: str | None


def letter_refusals(db: Session, case: Case, moment: datetime) -> list[LetterRefusal]:
    """What stops a letter for ``case`` besides the contact rules."""
    borrower = case.loan.borrower
    refusals = []
    if not postal_lines(borrower):
        refusals.append(LetterRefusal.NO_POSTAL_ADDRESS)
    view = view_case(db, case, _local_day(moment, borrower.timezone))
    if view.arranged:
        refusals.append(LetterRefusal.PLAN_ACTIVE)
    elif view.snapshot.arrears.total == 0:
        refusals.append(LetterRefusal.NOTHING_OVERDUE)
    return refusals


def letter_filename(case: Case, moment: datetime) -> str:
    """The PDF's file name: the loan number and the date, never the borrower's name."""
    number = re.sub(r"[^A-Za-z0-9_-]", "_", case.loan.number)
    return f"letter-{number}-{_local_day(moment, case.loan.borrower.timezone).isoformat()}.pdf"


def print_letter(
    db: Session,
    case: Case,
    member: StaffMember,
    moment: datetime,
    link_url: Callable[[str], str] = reminder_url,
) -> PrintedLetter | RefusedLetter:
    """Print a reminder letter for ``case``, if the contact rules and the case allow it.

    Allowed: a fresh reminder link, the letter, and in one commit the message (channel
    letter, sent), the contact attempt and the audit entry ``letter.print``. Refused:
    nothing but the audit entry ``letter.refused``. The stored copy of the letter names
    the link without its token (tokens are never stored)."""
    decision = judge(db, case, Channel.LETTER, moment, lock=True)
    refusals = letter_refusals(db, case, moment)
    if refusals or not decision.allowed:
        reasons = tuple(str(LETTER_REFUSAL_TEXT[r]) for r in refusals) + tuple(
            refusal_reasons(decision)
        )
        trail.record(
            db,
            member,
            "letter.refused",
            moment,
            case_id=case.id,
            reasons=[r.value for r in refusals] + [r.value for r in decision.reasons],
        )
        db.commit()
        return RefusedLetter(reasons, None if refusals else allowed_from_text(decision))
    borrower = case.loan.borrower
    token = issue_link(db, case, moment, lifetime=LETTER_LINK_LIFETIME)
    url = link_url(token)
    content = letter_for(db, case, moment, url)
    pdf = render_pdf(content)
    db.flush()
    link_id = db.scalar(select(ReminderLink.id).where(ReminderLink.token_hash == token_hash(token)))
    stored = replace(content, link_url=url.replace(token, TOKEN_REDACTED))
    message = Message(
        case_id=case.id,
        borrower_id=borrower.id,
        channel=Channel.LETTER.value,
        purpose="reminder",
        link_id=link_id,
        address=", ".join(postal_lines(borrower))[:ADDRESS_LENGTH],
        locale=content.locale,
        subject=content.title,
        body=stored.plain_text(),
        status=MessageStatus.SENT,
        send_at=moment,
        sent_at=moment,
        provider="print",
        created_by=member.email,
        created_at=moment,
    )
    db.add(message)
    db.flush()
    record_attempt(
        db, case, Channel.LETTER, moment, member.email, outcome="sent", message_id=message.id
    )
    trail.record(
        db,
        member,
        "letter.print",
        moment,
        case_id=case.id,
        message_id=message.id,
        locale=content.locale,
    )
    db.commit()
    return PrintedLetter(pdf, letter_filename(case, moment), message.id)


def past_letters(db: Session, case: Case) -> list[Message]:
    """The letters printed for ``case``, newest first."""
    query = (
        select(Message)
        .where(Message.case_id == case.id, Message.channel == Channel.LETTER.value)
        .order_by(Message.created_at.desc(), Message.id.desc())
    )
    return list(db.scalars(query))
