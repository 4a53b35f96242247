"""A QR code as a small inline SVG, for the borrower's page that links a chat app: a
phone's camera (or a second phone) opens the link without typing it.

The modules come from reportlab's QR encoder, already a dependency (the letters print
their links as QR codes with it), loaded on first use: a web worker that never shows a
linking page does not carry it. The SVG is one path of dark squares, a quiet zone of
four modules, and ``role="img"`` with the caller's label.
"""

from __future__ import annotations

from html import escape

QUIET_ZONE = 4


def modules(value: str) -> list[list[bool]]:
    """The QR code's dark (True) and light modules, row by row, at error correction
    level M (15% of the code may be lost)."""
    from reportlab.graphics.barcode import qrencoder

    code = qrencoder.QRCode(None, qrencoder.QRErrorCorrectLevel.M)
    code.addData(value)
    code.make()
    size = code.getModuleCount()
    return [[bool(code.isDark(row, col)) for col in range(size)] for row in range(size)]


def qr_svg(value: str, label: str, pixels: int = 200) -> str:
    """``value`` as a QR code in SVG, ``pixels`` wide, described by ``label``."""
    grid = modules(value)
    side = len(grid) + 2 * QUIET_ZONE
    path = "".join(
        f"M{col + QUIET_ZONE} {row + QUIET_ZONE}h1v1h-1z"
        for row, line in enumerate(grid)
        for col, dark in enumerate(line)
        if dark
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {side} {side}" '
        f'width="{pixels}" height="{pixels}" role="img" aria-label="{escape(label)}" '
        f'shape-rendering="crispEdges"><rect width="{side}" height="{side}" fill="#fff"/>'
        f'<path d="{path}" fill="#000"/></svg>'
    )
