"""Templates use only valid HTML attribute names for htmx.

`hx-*` is not a valid HTML attribute; htmx reads the same attributes with a
`data-` prefix, which the Nu Html Checker accepts (issue 12, item 53).
"""

import re
from pathlib import Path

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
BARE_HTMX = re.compile(r"(?<![\w-])hx-[a-z]")


def test_no_template_uses_a_bare_hx_attribute() -> None:
    offenders = [
        f"{path.relative_to(TEMPLATES)}:{number}"
        for path in sorted(TEMPLATES.rglob("*.html"))
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if BARE_HTMX.search(line)
    ]
    assert offenders == []
