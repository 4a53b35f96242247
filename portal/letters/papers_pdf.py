"""A borrower's paper (``portal.letters.papers.Paper``) on A4, with the letters' fonts
and pieces (``portal.letters.pdf``). Not a posted letter: no window, no fold marks; the
lender's name heads the first page, then the title, the facts, each section's table and
sentences, and when it was issued; pages are numbered when there are more than one.
Imported only when a paper is made: reportlab stays out of the web worker until then.
"""

from __future__ import annotations

from io import BytesIO

from reportlab.lib import colors
from reportlab.lib.enums import TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import BaseDocTemplate, Flowable, Frame, PageTemplate, Spacer

from portal.letters.fonts import Fonts, letter_fonts
from portal.letters.papers import Paper, Section
from portal.letters.pdf import (
    BODY_WIDTH,
    BOTTOM,
    FRAME,
    LEFT,
    PAGE_HEIGHT,
    RULE,
    TOP,
    Styles,
    numbered_canvas,
    para,
    styles,
    table,
)

GRID = colors.HexColor("#cccccc")


def _section(fonts: Fonts, s: Styles, section: Section) -> list[Flowable]:
    flow: list[Flowable] = [para(fonts, section.heading, s.heading)]
    if section.rows or section.total:
        count = len(section.columns or (section.rows[0] if section.rows else section.total or ()))
        label_width = BODY_WIDTH * (0.5 if count <= 2 else 0.34 if count == 3 else 0.28)
        widths = (label_width, *([(BODY_WIDTH - label_width) / max(1, count - 1)] * (count - 1)))

        def cells(values: tuple[str, ...], strong: bool) -> list[Flowable]:
            label = s.strong if strong else s.body
            number = s.number_strong if strong else s.number
            return [para(fonts, v, label if i == 0 else number) for i, v in enumerate(values)]

        rows = [cells(section.columns, True)] if section.columns else []
        rows += [cells(row, False) for row in section.rows]
        commands: list[object] = [("LINEBELOW", (0, 0), (-1, -2), 0.4, GRID)]
        if section.total is not None:
            rows.append(cells(section.total, True))
            commands.append(("LINEABOVE", (0, -1), (-1, -1), 0.8, colors.black))
        flow.append(table(rows, widths, commands))
        flow.append(Spacer(0, 1.5 * mm))
    if section.numbered:
        terms = [
            [para(fonts, f"{number}.", s.body), para(fonts, text, s.body)]
            for number, text in enumerate(section.sentences, 1)
        ]
        flow.append(table(terms, (6 * mm, BODY_WIDTH - 6 * mm), []))
    else:
        flow += [para(fonts, text, s.body) for text in section.sentences]
    return flow


def _story(paper: Paper, fonts: Fonts, s: Styles) -> list[Flowable]:
    facts = table(
        [
            [para(fonts, label, s.muted), para(fonts, value, s.strong)]
            for label, value in paper.facts
        ],
        (45 * mm, BODY_WIDTH - 45 * mm),
        [],
    )
    flow: list[Flowable] = [para(fonts, paper.title, s.title), facts, Spacer(0, 2 * mm)]
    for section in paper.sections:
        flow += _section(fonts, s, section)
    flow += [Spacer(0, 6 * mm), para(fonts, paper.issued, s.muted)]
    return flow


def render_paper(paper: Paper) -> bytes:
    """The paper as an A4 PDF, its text extractable (the letters' fonts)."""
    fonts = letter_fonts(paper.locale)
    s = styles(paper.locale)
    buffer = BytesIO()
    head_top = 16 * mm

    def heading(canvas: Canvas, _doc: object) -> None:
        canvas.saveState()
        sender = para(fonts, paper.sender, ParagraphStyle("sender", s.strong, fontSize=12))
        sender.wrap(BODY_WIDTH, 10 * mm)
        sender.drawOn(canvas, LEFT, PAGE_HEIGHT - head_top)
        canvas.setStrokeColor(RULE)
        canvas.setLineWidth(0.5)
        canvas.line(
            LEFT,
            PAGE_HEIGHT - head_top - 2 * mm,
            LEFT + BODY_WIDTH,
            PAGE_HEIGHT - head_top - 2 * mm,
        )
        canvas.restoreState()

    def footer(canvas: Canvas, number: int, total: int) -> None:
        if total < 2:
            return
        text = paper.page_pattern % {"page": number, "pages": total}
        label = para(fonts, text, ParagraphStyle("page", s.muted, alignment=TA_RIGHT))
        label.wrap(BODY_WIDTH, 10 * mm)
        label.drawOn(canvas, LEFT, 10 * mm)

    doc = BaseDocTemplate(
        buffer,
        pagesize=A4,
        title=paper.title,
        author=paper.sender,
        subject=paper.title,
        creator="Haohuan",
        lang=paper.locale.replace("_", "-"),
    )
    frame_top = TOP + 8 * mm
    doc.addPageTemplates(
        [
            PageTemplate(
                "paper",
                [Frame(LEFT, BOTTOM, BODY_WIDTH, PAGE_HEIGHT - frame_top - BOTTOM, **FRAME)],
                onPage=heading,
            )
        ]
    )
    doc.build(_story(paper, fonts, s), canvasmaker=numbered_canvas(footer))
    return buffer.getvalue()
