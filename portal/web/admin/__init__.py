"""The admin console at ``/admin``: for staff with the ``admin`` role, the audit log of
every staff action (filtered, paged and exported), the staff accounts and their teams, and
the policy's versions (maker-checker); for supervisors and admins, the assignment rules."""

from __future__ import annotations

from portal.web.staff.auth import staff_blueprint

blueprint = staff_blueprint("admin", __name__, url_prefix="/admin")

# The views attach their routes to ``blueprint`` when imported.
from portal.web.admin import policy_views, rule_views, staff_views, views  # noqa: E402, F401
