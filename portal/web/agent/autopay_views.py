"""The case page's autopay section: each mandate of the case's plans, its card and every
automatic charge attempted (``portal.payments.autopay_record``). Opening it is recorded
as a view of the case, with the section's name, as every section is."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask_babel import lazy_gettext as _l

from portal.core.db import Session
from portal.models import Case, StaffMember
from portal.payments.autopay_record import case_autopay
from portal.web.agent import case_section
from portal.wording.autopay import (
    ATTEMPT_OUTCOMES,
    AUTOPAY_ENDS,
    AUTOPAY_STATUSES,
    CARD_STATUSES,
    brand_name,
)


@case_section(73, "agent/_case_autopay.html", name="autopay", label=_l("Autopay"))
def autopay_section(
    database: Session, case: Case, member: StaffMember, moment: datetime
) -> dict[str, Any]:
    """The case's mandates, newest first, with their cards and attempts."""
    return {
        "mandates": case_autopay(database, case.id),
        "AUTOPAY_STATUSES": AUTOPAY_STATUSES,
        "AUTOPAY_ENDS": AUTOPAY_ENDS,
        "CARD_STATUSES": CARD_STATUSES,
        "ATTEMPT_OUTCOMES": ATTEMPT_OUTCOMES,
        "brand_name": brand_name,
    }
