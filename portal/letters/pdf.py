"""A letter on paper: ``render_pdf`` lays out a ``LetterContent`` on A4 with reportlab.

Layout: A4 for a DL window envelope (DIN 5008 form B): the recipient's name and postal
address alone in the window (20 mm from the left, 45 mm from the top; nothing about a
debt shows through it, and no sender line either: the envelope stays discreet), fold
marks at 105 mm and 210 mm, the lender's contact block beside the window, and a QR code
of the reminder link. The reply slip sits at the foot of the last page below a cut line;
pages are numbered when there are more than one. The fonts are ``portal.letters.fonts``'.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from io import BytesIO
from typing import Any
from xml.sax.saxutils import escape

from reportlab.graphics.barcode.qr import QrCodeWidget
from reportlab.graphics.shapes import Drawing
from reportlab.lib import colors
from reportlab.lib.enums import TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
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

from portal.letters.content import LetterContent
from portal.letters.fonts import LATIN, LATIN_BOLD, Fonts, letter_fonts

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
# A frame's padding: none (the margins place the text).
FRAME = {"leftPadding": 0, "rightPadding": 0, "topPadding": 0, "bottomPadding": 0}


@dataclass(frozen=True)
class Styles:
    body: ParagraphStyle
    small: ParagraphStyle
    title: ParagraphStyle
    heading: ParagraphStyle
    strong: ParagraphStyle
    number: ParagraphStyle
    number_strong: ParagraphStyle
    link: ParagraphStyle
    muted: ParagraphStyle


def styles(locale: str) -> Styles:
    chinese = locale.startswith("zh")
    # Chinese breaks between any two characters; English between words. The CJK fonts
    # have no bold: a bold Latin run inside regular Chinese reads as a mistake, so a
    # Chinese letter marks emphasis by size alone.
    wrap = "CJK" if chinese else None
    bold = LATIN if chinese else LATIN_BOLD
    body = ParagraphStyle("body", fontName=LATIN, fontSize=10, leading=15, wordWrap=wrap)
    return Styles(
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


def para(fonts: Fonts, text: str, style: ParagraphStyle) -> Paragraph:
    return Paragraph(fonts.markup(text), style)


def block(fonts: Fonts, lines: Sequence[str], style: ParagraphStyle) -> Paragraph:
    return Paragraph("<br/>".join(fonts.markup(line) for line in lines), style)


def fitted(
    fonts: Fonts, lines: Sequence[str], base: ParagraphStyle, width: float, height: float
) -> Paragraph:
    """The address in the largest size from 11 pt down to 7 pt that fits the window."""
    paragraph = block(fonts, lines, base)
    for size in (11, 10, 9, 8, 7):
        style = ParagraphStyle(f"address{size}", base, fontSize=size, leading=size * 1.35)
        paragraph = block(fonts, lines, style)
        if paragraph.wrap(width, height)[1] <= height:
            break
    return paragraph


def table(rows: list[list[Any]], widths: Sequence[float], commands: list[Any]) -> Table:
    laid = Table(rows, colWidths=list(widths), hAlign="LEFT")
    padding = [
        ("LEFTPADDING", (0, 0), (-1, -1), 0),
        ("RIGHTPADDING", (0, 0), (-1, -1), 4),
        ("TOPPADDING", (0, 0), (-1, -1), 1.5),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 1.5),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
    ]
    laid.setStyle(TableStyle(padding + commands))
    return laid


def link_block(fonts: Fonts, s: Styles, title: str, note: str, url: str) -> Flowable:
    """The borrower's link: its QR code beside what it is for, then the address itself
    in full (typed by hand when the code cannot be scanned), kept on one page."""
    link = table(
        [
            [
                qr_drawing(url),
                [para(fonts, title, s.strong), Spacer(0, 1 * mm), para(fonts, note, s.body)],
            ],
            [Paragraph(escape(url), s.link), ""],
        ],
        (QR_SIZE + 4 * mm, BODY_WIDTH - QR_SIZE - 4 * mm),
        [("SPAN", (0, 1), (1, 1)), ("VALIGN", (1, 0), (1, 0), "MIDDLE")],
    )
    return KeepTogether([link])


def _story(content: LetterContent, fonts: Fonts, s: Styles) -> list[Flowable]:
    p = para(fonts, content.title, s.title)
    story: list[Flowable] = [p, para(fonts, content.greeting, s.body), Spacer(0, 2 * mm)]
    for text in content.introduction:
        story += [para(fonts, text, s.body), Spacer(0, 1.5 * mm)]
    rows = [
        [para(fonts, label, s.body), para(fonts, amount, s.number)]
        for label, amount in content.arrears
    ]
    rows.append(
        [para(fonts, content.total[0], s.strong), para(fonts, content.total[1], s.number_strong)]
    )
    story += [
        para(fonts, content.arrears_title, s.heading),
        table(rows, (70 * mm, 45 * mm), [("LINEABOVE", (0, -1), (-1, -1), 0.8, colors.black)]),
        Spacer(0, 1.5 * mm),
        para(fonts, content.not_yet_due, s.muted),
        Spacer(0, 1.5 * mm),
        *(para(fonts, text, s.body) for text in content.situation),
        para(fonts, content.deadline_title, s.heading),
    ]
    if content.deadline:
        story.append(para(fonts, content.deadline, s.strong))
    if content.consequences:
        events = [
            [
                para(fonts, day, s.muted if past else s.strong),
                para(fonts, sentence, s.muted if past else s.body),
            ]
            for day, sentence, past in content.consequences
        ]
        story.append(table(events, (40 * mm, BODY_WIDTH - 40 * mm), []))
    story.append(para(fonts, content.consequences_note, s.body))
    steps = [
        [para(fonts, f"{number}.", s.body), para(fonts, text, s.body)]
        for number, text in enumerate(content.steps, 1)
    ]
    story += [
        para(fonts, content.steps_title, s.heading),
        table(steps, (6 * mm, BODY_WIDTH - 6 * mm), []),
        Spacer(0, 2 * mm),
    ]
    story += [
        link_block(fonts, s, content.link_title, content.link_note, content.link_url),
        Spacer(0, 3 * mm),
        *(para(fonts, text, s.body) for text in content.closing),
        para(fonts, content.signature, s.body),
        _AtFoot(_slip(content, fonts, s), para(fonts, content.cut_here, s.muted)),
    ]
    return story


def _slip(content: LetterContent, fonts: Fonts, s: Styles) -> Table:
    """The tear-off reply slip: who it is from, what they choose, how to reach them."""
    half = BODY_WIDTH / 2
    known = table(
        [
            [para(fonts, label, s.muted), para(fonts, value, s.strong)]
            for label, value in content.slip_fields
        ],
        (28 * mm, half - 28 * mm),
        [],
    )
    pay_on = table(
        [[_Box(), para(fonts, content.slip_pay_on, s.body), ""]],
        (7 * mm, 55 * mm, 45 * mm),
        [("LINEBELOW", (2, 0), (2, 0), 0.6, colors.black)],
    )
    options = table(
        [[_Box(), para(fonts, option, s.body)] for option in content.slip_options],
        (7 * mm, BODY_WIDTH - 7 * mm),
        [("TOPPADDING", (0, 0), (-1, -1), 3)],
    )

    def blanks(labels: tuple[str, str]) -> Table:
        return table(
            [[para(fonts, labels[0], s.body), "", para(fonts, labels[1], s.body), ""]],
            (52 * mm, 38 * mm, 32 * mm, BODY_WIDTH - 122 * mm),
            [
                ("LINEBELOW", (1, 0), (1, 0), 0.6, colors.black),
                ("LINEBELOW", (3, 0), (3, 0), 0.6, colors.black),
                ("LEFTPADDING", (2, 0), (2, 0), 4 * mm),
                ("TOPPADDING", (0, 0), (-1, -1), 7),
            ],
        )

    rows = [
        [para(fonts, content.slip_title, s.heading)],
        [known],
        [pay_on],
        [options],
        [blanks(content.slip_call_back)],
        [blanks(content.slip_sign)],
        [Spacer(0, 1.5 * mm)],
        [para(fonts, content.slip_return, s.muted)],
    ]
    return table(rows, (BODY_WIDTH,), [("TOPPADDING", (0, 0), (0, 0), 0)])


def numbered_canvas(
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


@dataclass(frozen=True)
class Letterhead:
    """What a posted letter shows around its text: the lender's name at the head of the
    first page, the window's name and address, the block beside it (contact, date,
    reference), the head of later pages and their numbers' pattern (%(page)d of
    %(pages)d)."""

    locale: str
    title: str
    sender: str
    address_lines: tuple[str, ...]
    info_lines: tuple[str, ...]
    continued: str
    page_pattern: str


StoryBuilder = Callable[[Fonts, Styles], list[Flowable]]


def render_pdf(content: LetterContent) -> bytes:
    """The letter as an A4 PDF (see the module's docstring for the layout and fonts)."""
    head = Letterhead(
        locale=content.locale,
        title=content.title,
        sender=content.signature,
        address_lines=content.address_lines,
        info_lines=(*content.sender_lines, "", content.date_line, content.reference_line),
        continued=content.continued,
        page_pattern=content.page_pattern,
    )
    return letter_pdf(head, lambda fonts, s: _story(content, fonts, s))


def letter_pdf(head: Letterhead, story: StoryBuilder) -> bytes:
    """A letter for a DL window envelope (see the module's docstring): ``head`` around
    the flowables ``story`` makes with the letter's fonts and styles."""
    fonts = letter_fonts(head.locale)
    s = styles(head.locale)
    buffer = BytesIO()

    def first_page(canvas: Canvas, _doc: Any) -> None:
        canvas.saveState()
        sender = para(fonts, head.sender, ParagraphStyle("head", s.title, fontSize=15))
        sender.wrap(BODY_WIDTH, 20 * mm)
        sender.drawOn(canvas, LEFT, PAGE_HEIGHT - 28 * mm)
        # The window: name and address only.
        window_height = WINDOW_BOTTOM - WINDOW_TOP
        address = fitted(fonts, head.address_lines, s.body, WINDOW_WIDTH, window_height)
        _w, used = address.wrap(WINDOW_WIDTH, window_height)
        address.drawOn(canvas, WINDOW_X, PAGE_HEIGHT - WINDOW_TOP - used)
        info = block(fonts, head.info_lines, s.small)
        _w, used = info.wrap(INFO_WIDTH, 45 * mm)
        info.drawOn(canvas, INFO_X, PAGE_HEIGHT - INFO_TOP - used)
        canvas.setStrokeColor(RULE)
        canvas.setLineWidth(0.5)
        for y in (*FOLDS, PUNCH):
            canvas.line(4 * mm, PAGE_HEIGHT - y, 8 * mm, PAGE_HEIGHT - y)
        canvas.restoreState()

    def later_page(canvas: Canvas, _doc: Any) -> None:
        continued = para(fonts, head.continued, s.muted)
        continued.wrap(BODY_WIDTH, 10 * mm)
        continued.drawOn(canvas, LEFT, PAGE_HEIGHT - 13 * mm)

    def footer(canvas: Canvas, number: int, total: int) -> None:
        if total < 2:
            return
        text = head.page_pattern % {"page": number, "pages": total}
        label = para(fonts, text, ParagraphStyle("page", s.muted, alignment=TA_RIGHT))
        label.wrap(BODY_WIDTH, 10 * mm)
        label.drawOn(canvas, LEFT, 10 * mm)

    doc = BaseDocTemplate(
        buffer,
        pagesize=A4,
        title=head.title,
        author=head.sender,
        subject=head.title,
        creator="Haohuan",
        lang=head.locale.replace("_", "-"),
    )
    doc.addPageTemplates(
        [
            PageTemplate(
                "first",
                [Frame(LEFT, BOTTOM, BODY_WIDTH, PAGE_HEIGHT - FIRST_BODY_TOP - BOTTOM, **FRAME)],
                onPage=first_page,
                autoNextPageTemplate="later",
            ),
            PageTemplate(
                "later",
                [Frame(LEFT, BOTTOM, BODY_WIDTH, PAGE_HEIGHT - TOP - BOTTOM, **FRAME)],
                onPage=later_page,
            ),
        ]
    )
    doc.build(story(fonts, s), canvasmaker=numbered_canvas(footer))
    return buffer.getvalue()
