"""The legal track's documents on paper, laid out with the letters' pieces
(``portal.letters.pdf``) and fonts (``portal.letters.fonts``).

The final notice is a posted letter: the letters' first page (the window holds the name
and address alone), its claim itemized, the deadline, the link and its QR code. The
draft application to the court follows a Taiwan pleading's layout: the title, the
court's fields, the parties in a ruled table, the claim itemized, the facts, the legal
basis left blank for counsel, the evidence, the court addressed (此致), the signature and
the date in the Republic's years; 草稿 across every page and in its footer.
"""

from __future__ import annotations

from io import BytesIO
from typing import Any

from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER, TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import BaseDocTemplate, Flowable, Frame, PageTemplate, Spacer

from portal.letters.fonts import Fonts, letter_fonts
from portal.letters.legal import COURT_LOCALE, ApplicationWords, FinalNoticeWords, Row
from portal.letters.pdf import (
    BODY_WIDTH,
    BOTTOM,
    FRAME,
    LEFT,
    PAGE_HEIGHT,
    PAGE_WIDTH,
    RULE,
    TOP,
    Letterhead,
    Styles,
    letter_pdf,
    link_block,
    numbered_canvas,
    para,
    styles,
    table,
)

WATERMARK = colors.Color(0.75, 0.75, 0.75, alpha=0.35)


def _amounts(fonts: Fonts, s: Styles, rows: tuple[Row, ...], total: Row) -> Flowable:
    """An itemized amount: each part, then the total below a rule."""
    lines = [[para(fonts, r.label, s.body), para(fonts, r.amount, s.number)] for r in rows]
    lines.append([para(fonts, total.label, s.strong), para(fonts, total.amount, s.number_strong)])
    return table(lines, (80 * mm, 45 * mm), [("LINEABOVE", (0, -1), (-1, -1), 0.8, colors.black)])


def final_notice_pdf(words: FinalNoticeWords) -> bytes:
    """The final notice as an A4 letter for a window envelope."""
    head = Letterhead(
        locale=words.locale,
        title=words.title,
        sender=words.sender,
        address_lines=words.address_lines,
        info_lines=words.info_lines,
        continued=words.continued,
        page_pattern=words.page_pattern,
    )

    def story(fonts: Fonts, s: Styles) -> list[Flowable]:
        flow: list[Flowable] = [
            para(fonts, words.title, s.title),
            para(fonts, words.greeting, s.body),
            Spacer(0, 2 * mm),
        ]
        for text in words.introduction:
            flow += [para(fonts, text, s.body), Spacer(0, 1.5 * mm)]
        flow += [
            para(fonts, words.claim_title, s.heading),
            _amounts(fonts, s, words.claim, words.total),
            Spacer(0, 1.5 * mm),
            para(fonts, words.not_claimed, s.muted),
            para(fonts, words.deadline_title, s.heading),
            *(
                para(fonts, text, s.strong if i == 0 else s.body)
                for i, text in enumerate(words.deadline)
            ),
            para(fonts, words.if_nothing_title, s.heading),
            *(para(fonts, text, s.body) for text in words.if_nothing),
            para(fonts, words.steps_title, s.heading),
            table(
                [
                    [para(fonts, f"{number}.", s.body), para(fonts, text, s.body)]
                    for number, text in enumerate(words.steps, 1)
                ],
                (6 * mm, BODY_WIDTH - 6 * mm),
                [],
            ),
            Spacer(0, 2 * mm),
        ]
        if words.link_url:
            flow.append(link_block(fonts, s, words.link_title, words.link_note, words.link_url))
        else:
            flow.append(para(fonts, words.link_note, s.body))
        flow += [Spacer(0, 3 * mm), *(para(fonts, text, s.body) for text in words.closing)]
        return flow

    return letter_pdf(head, story)


def _application_story(words: ApplicationWords, fonts: Fonts, s: Styles) -> list[Flowable]:
    centred = ParagraphStyle("centred", s.title, alignment=TA_CENTER, fontSize=18, leading=26)
    ruled = [("GRID", (0, 0), (-1, -1), 0.6, colors.black), ("LEFTPADDING", (0, 0), (-1, -1), 3)]
    court = table(
        [
            [para(fonts, label, s.body), para(fonts, value, s.body)]
            for label, value in words.court_fields
        ],
        (45 * mm, BODY_WIDTH - 45 * mm),
        ruled,
    )
    parties = table(
        [
            [para(fonts, text, s.strong) for text in words.party_headings],
            *([para(fonts, text, s.body) for text in party] for party in words.parties),
        ],
        (30 * mm, 38 * mm, 44 * mm, BODY_WIDTH - 112 * mm),
        [*ruled, ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#eeeeee"))],
    )
    blank_lines = table(
        [[para(fonts, words.legal_basis_note, s.strong)], [""], [""], [""]],
        (BODY_WIDTH,),
        [("LINEBELOW", (0, 1), (-1, -1), 0.6, RULE), ("TOPPADDING", (0, 1), (-1, -1), 14)],
    )
    signed = table(
        [[para(fonts, label, s.body), para(fonts, value, s.body)] for label, value in words.signed],
        (45 * mm, 80 * mm),
        [],
    )
    return [
        para(fonts, words.title, centred),
        para(fonts, words.draft_note, ParagraphStyle("note", s.muted, alignment=TA_CENTER)),
        Spacer(0, 4 * mm),
        court,
        Spacer(0, 4 * mm),
        parties,
        Spacer(0, 4 * mm),
        para(fonts, words.subject, s.strong),
        para(fonts, words.claim_title, s.heading),
        para(fonts, words.claim_intro, s.body),
        Spacer(0, 1 * mm),
        _amounts(fonts, s, words.claim, words.total),
        Spacer(0, 1 * mm),
        *(para(fonts, text, s.body) for text in words.claim_after),
        para(fonts, words.facts_title, s.heading),
        *(para(fonts, text, s.body) for text in words.facts),
        para(fonts, words.legal_basis_title, s.heading),
        blank_lines,
        para(fonts, words.evidence_title, s.heading),
        *(para(fonts, text, s.body) for text in words.evidence),
        Spacer(0, 6 * mm),
        *(para(fonts, text, s.body) for text in words.addressee),
        Spacer(0, 6 * mm),
        signed,
        Spacer(0, 4 * mm),
        para(fonts, words.date_line, ParagraphStyle("dated", s.body, alignment=TA_CENTER)),
    ]


def application_pdf(words: ApplicationWords) -> bytes:
    """The draft application as an A4 pleading, 草稿 across every page."""
    fonts = letter_fonts(COURT_LOCALE)
    s = styles(COURT_LOCALE)
    buffer = BytesIO()

    def draft_mark(canvas: Canvas, _doc: Any) -> None:
        canvas.saveState()
        canvas.setFillColor(WATERMARK)
        canvas.setFont(fonts.face_for(words.draft[0]), 110)
        canvas.translate(PAGE_WIDTH / 2, PAGE_HEIGHT / 2)
        canvas.rotate(40)
        canvas.drawCentredString(0, -40, words.draft)
        canvas.restoreState()

    def footer(canvas: Canvas, number: int, total: int) -> None:
        text = f"{words.draft} · " + words.page_pattern % {"page": number, "pages": total}
        label = para(fonts, text, ParagraphStyle("page", s.muted, alignment=TA_RIGHT))
        label.wrap(BODY_WIDTH, 10 * mm)
        label.drawOn(canvas, LEFT, 10 * mm)

    doc = BaseDocTemplate(
        buffer,
        pagesize=A4,
        title=f"{words.title} ({words.draft})",
        subject=words.title,
        creator="Haohuan",
        lang=COURT_LOCALE.replace("_", "-"),
    )
    doc.addPageTemplates(
        [
            PageTemplate(
                "page",
                [Frame(LEFT, BOTTOM, BODY_WIDTH, PAGE_HEIGHT - TOP - BOTTOM, **FRAME)],
                onPage=draft_mark,
            )
        ]
    )
    doc.build(_application_story(words, fonts, s), canvasmaker=numbered_canvas(footer))
    return buffer.getvalue()
