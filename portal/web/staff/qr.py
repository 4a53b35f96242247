"""A QR code as a small inline SVG (one path, no script, no style), for the one-time-code
enrolment page: an authenticator app scans the ``otpauth://`` URI from the screen."""

from __future__ import annotations

from markupsafe import Markup

QUIET_ZONE = 4


def qr_svg(value: str, label: str) -> Markup:
    """``value`` as a QR code (error correction M), drawn with one path; ``label`` names
    the image for screen readers."""
    # reportlab loads only when a code is enrolled: a web worker need not carry it.
    from reportlab.graphics.barcode.qr import QrCodeWidget

    widget = QrCodeWidget(value, barLevel="M")
    widget.draw()  # encodes the value into widget.qr
    code = widget.qr
    count = code.getModuleCount()
    size = count + 2 * QUIET_ZONE
    path = "".join(
        f"M{column + QUIET_ZONE} {row + QUIET_ZONE}h1v1h-1z"
        for row in range(count)
        for column in range(count)
        if code.isDark(row, column)
    )
    # Markup.format escapes what it is given: the label, and the numbers and path.
    return Markup(
        '<svg class="qr" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {size} {size}" '
        'width="200" height="200" role="img" aria-label="{label}">'
        '<rect width="{size}" height="{size}" fill="#fff"/>'
        '<path d="{path}" fill="#000"/></svg>'
    ).format(size=size, label=label, path=path)
