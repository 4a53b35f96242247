"""Issue 13's "done when", walked in Chromium on the demo itself (`haohuan demo`'s data:
the 35 named borrowers and the book of 2,000 more, owners given by the rules):

1. the three agents and the supervisor start the day: each one's "owner=me" queue has
   cases, and the count it shows is what the rules gave them;
2. a borrower on a phone disputes, in their language, with a photo;
3. the dispute reaches the case's owner (their queue, the case's hold section, the photo);
4. while the dispute stands, the daily work moves nothing, though the days cross the
   policy's next stage;
5. the owner proposes a rejection; the supervisor signs it off;
6. the borrower reads the outcome in their language on their status page;
7. the hold is lifted, and the case escalates again only by the rules: to the stage its
   days past due imply at the next daily work, and no further until the policy says.

Each step is a small function over a ``Walk``, so steps for what is being built now fit
in where they belong. Pictures at phone size and at 1280 px. Between 1 and 2 each agent
opens "My work" and clicks "Next case", which must open a case the contact gate lets them
call at that moment; the owner reads the dispute on the case's workspace (summary, call
verdict and next action on the first screen, the hold in its tab loaded by htmx).
"""

from __future__ import annotations

import re
import struct
import threading
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from werkzeug.serving import make_server

from portal import create_app
from portal.core import db, migrate
from tests.portal.factories import NOW, TODAY, app_config

from .pages import SCREENSHOTS
from .test_borrower_journey import PHONE

DESKTOP = {"width": 1280, "height": 900}
SUPERVISOR = "kuoming.huang@haohuan.example"


def tiny_png() -> bytes:
    """A real 2x2 PNG: a photo's bytes, as far as the evidence check reads them."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(b"\x00" + b"\xff\x00\x00" * 2 for _ in range(2))
    header = struct.pack(">IIBBBBB", 2, 2, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


@dataclass
class Walk:
    """The floor being walked: the server, the demo's accounts, the disputed case."""

    base: str
    app: Any
    browser: Any
    passwords: dict[str, str]
    now: datetime = NOW
    case_id: int = 0
    pages: dict[str, Any] = field(default_factory=dict)

    def at(self, moment: datetime) -> None:
        """Move the portal's clock (the demo's frozen one) to ``moment``."""
        self.now = moment
        self.app.config["HAOHUAN_NOW"] = moment.isoformat()

    def context(self, **kwargs: Any) -> Any:
        return self.browser.new_context(**kwargs)

    def staff(self, email: str) -> Any:
        """A fresh desktop window signed in as ``email`` (English)."""
        page = self.context(viewport=DESKTOP, locale="en-US").new_page()
        page.goto(f"{self.base}/staff/sign-in?lang=en")
        page.fill("#email", email)
        page.fill("#password", self.passwords[email])
        page.click("main form button[type=submit]")
        page.wait_for_load_state("networkidle")
        assert "/staff/sign-in" not in page.url, page.locator("main").inner_text()
        return page

    def db(self, work: Any) -> Any:
        with self.app.test_request_context("/"):
            return work(db.session())


@pytest.fixture(scope="module")
def floor(browser, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Walk]:
    """The demo prepared as `haohuan demo` prepares it, served on its own database."""
    from portal.demo import run

    path = tmp_path_factory.mktemp("floor") / "haohuan.db"
    app = create_app({**app_config(f"sqlite:///{path}"), "WTF_CSRF_ENABLED": True})
    migrate.upgrade(app)
    with app.test_request_context("/"):
        prepared = run.prepare(db.session(), app.extensions["haohuan.engine"], TODAY, NOW)
    passwords = {email: password for _roles, email, password in prepared.staff}
    http = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=http.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{http.server_port}"
    browser.watch(base)
    yield Walk(base, app, browser, passwords)
    http.shutdown()
    http.server_close()
    thread.join()


# The steps ------------------------------------------------------------------------------


def step_agents_start_the_day(walk: Walk) -> None:
    """Each of the floor's agents and the supervisor: their own queue holds the cases the
    rules gave them, and says how many."""
    from portal.demo.seed import DEMO_STAFF
    from portal.models import Case, StaffMember

    def owned(session: Any) -> dict[str, int]:
        return dict(
            session.execute(
                select(StaffMember.email, func.count(Case.id))
                .join(Case, Case.owner_id == StaffMember.id)
                .group_by(StaffMember.email)
            ).all()
        )

    counts = walk.db(owned)
    floor = [m.email for m in DEMO_STAFF[3:7]]  # the three agents and the supervisor
    assert len(floor) == 4
    for email in floor:
        page = walk.staff(email)
        page.goto(f"{walk.base}/agent/?owner=me&dpd=all&lang=en")
        caption = page.locator("#queue-caption").inner_text()
        shown = int(re.sub(r"[^\d]", "", caption.split("case")[0]))
        assert shown == counts[email] > 0, (email, caption, counts)
        assert page.locator("main table tbody tr").count() > 0
        page.screenshot(path=SCREENSHOTS / f"floor-1-queue-{email.split('@')[0]}.png")
        page.context.close()


def step_my_work_and_next_case(walk: Walk) -> None:
    """Each agent lands on "My work" (its groups, each with a count), and "Next case"
    opens one of their own cases that the contact gate lets them call now; the case's
    workspace shows the call verdict and the next action on the first screen."""
    from negotiation import Channel
    from portal.contact.gate import judge
    from portal.demo.seed import DEMO_STAFF
    from portal.models import Case, StaffMember

    for member in DEMO_STAFF[3:6]:  # the three agents
        page = walk.staff(member.email)
        assert page.url.endswith("/agent/my-work") or "/agent/my-work?" in page.url, page.url
        assert page.locator("section.work-group").count() >= 3
        assert page.locator("#top-heading").count() == 1
        page.screenshot(path=SCREENSHOTS / f"floor-1-my-work-{member.email.split('@')[0]}.png")
        page.locator("form[action$='/agent/next-case'] button[type=submit]").first.click()
        page.wait_for_load_state("networkidle")
        found = re.search(r"/agent/cases/(\d+)", page.url)
        assert found, page.locator("main").inner_text()
        case_id = int(found.group(1))

        def allowed(session: Any, case_id: int = case_id, email: str = member.email) -> bool:
            case = session.get(Case, case_id)
            owner = session.get(StaffMember, case.owner_id)
            assert owner.email == email  # their own case, never another agent's
            return judge(session, case, Channel.CALL, walk.now).allowed

        assert walk.db(allowed), (member.email, case_id)
        # The workspace's first screen: who, how much, may I call, what to do next.
        first_screen = DESKTOP["height"]
        for selector in (".summary-figures", "#verdict-heading", "#primary-action"):
            box = page.locator(selector).first.bounding_box()
            assert box is not None, selector
            assert box["y"] + box["height"] <= first_screen, (selector, box)
        assert page.locator("#primary-action").inner_text() == "Log a call"
        page.screenshot(path=SCREENSHOTS / f"floor-1-next-case-{member.email.split('@')[0]}.png")
        page.context.close()


def pick_case(walk: Walk) -> None:
    """A mainland borrower's case three days from the mid stage, owned by an agent, with
    nothing else under way (no hold, plan, promise or callback)."""
    from portal.models import (
        Borrower,
        Callback,
        Case,
        CaseStatus,
        Loan,
        OptOut,
        Promise,
        StaffMember,
    )

    def find(session: Any) -> int:
        rows = session.execute(
            select(Case.id)
            .join(Loan, Loan.id == Case.loan_id)
            .join(Borrower, Borrower.id == Loan.borrower_id)
            .join(StaffMember, StaffMember.id == Case.owner_id)
            .where(
                Borrower.locale == "zh_Hans_CN",
                Borrower.reference > "B-00035",
                Case.status == CaseStatus.OPEN,
                Case.hold.is_(None),
                Case.stage == "early",
                Case.overdue_since == TODAY - timedelta(days=28),
                StaffMember.roles == "agent",
                ~Case.id.in_(select(Promise.case_id)),
                ~Case.id.in_(select(Callback.case_id)),
                ~Borrower.id.in_(select(OptOut.borrower_id)),
            )
            .order_by(Case.id)
        ).scalars()
        return next(iter(rows))

    walk.case_id = walk.db(find)


def _link(walk: Walk) -> tuple[str, str]:
    """A fresh link to the walked case, and the borrower's date of birth."""
    from portal.access.verification import issue_link
    from portal.demo.seed import answers
    from portal.models import Case

    def make(session: Any) -> tuple[str, str]:
        case = session.get(Case, walk.case_id)
        token = issue_link(session, case, walk.now)
        session.commit()
        birthday, _last4 = answers(int(case.loan.borrower.reference[2:]) - 1)
        return token, birthday.isoformat()

    return walk.db(make)


def _words(walk: Walk, text: str, locale: str = "zh_Hans_CN") -> str:
    """``text`` as the borrower's catalog words it."""
    from flask_babel import force_locale, gettext

    with walk.app.test_request_context("/"), force_locale(locale):
        worded = gettext(text)
    assert worded != text
    return worded


def _borrower(walk: Walk) -> Any:
    token, birthday = _link(walk)
    page = walk.context(viewport=PHONE, locale="zh-CN").new_page()
    page.goto(f"{walk.base}/r/{token}")
    page.fill("#answer", birthday)
    page.click("main form button[type=submit]")
    page.wait_for_url("**/status**")
    assert page.locator("html").get_attribute("lang") == "zh-Hans-CN"
    return page


def step_borrower_disputes_with_a_photo(walk: Walk) -> None:
    """On a phone, in Simplified Chinese: "I dispute this debt", already paid, in their
    own words; then a photo of the receipt on the status page."""
    page = _borrower(walk)
    page.goto(f"{walk.base}/help")
    page.check("input[name=reason][value=dispute]")
    page.check("input[name=dispute_reason][value=already_paid]")
    page.fill("textarea[name=details]", "这笔钱我十一月已经还清了,收据照片在下面。")
    page.screenshot(path=SCREENSHOTS / "floor-2-borrower-dispute.png", full_page=True)
    page.click("main form button[type=submit]")
    page.wait_for_url("**/help/done**")
    page.goto(f"{walk.base}/status")
    section = page.locator("section[aria-labelledby=dispute-title]")
    assert _words(walk, "Your dispute") in section.inner_text()
    page.set_input_files(
        "#evidence", {"name": "receipt.png", "mimeType": "image/png", "buffer": tiny_png()}
    )
    section.locator("button[type=submit]").click()
    page.wait_for_url("**/status**")
    assert page.locator("#evidence-errors").count() == 0
    page.screenshot(path=SCREENSHOTS / "floor-3-borrower-dispute-received.png", full_page=True)
    page.context.close()


def _owner_email(walk: Walk) -> str:
    from portal.models import Case, StaffMember

    return walk.db(lambda s: s.get(StaffMember, s.get(Case, walk.case_id).owner_id).email)


def _number(walk: Walk) -> str:
    from portal.models import Case

    return walk.db(lambda s: s.get(Case, walk.case_id).loan.number)


def step_owner_sees_the_dispute(walk: Walk) -> None:
    """The owner's queue, filtered to what needs an agent, has the case; its hold section
    shows the reason, the borrower's words and the photo (which downloads)."""
    owner = walk.staff(_owner_email(walk))
    owner.goto(f"{walk.base}/agent/?owner=me&needs=yes&q={_number(walk)}&lang=en")
    assert owner.locator("main table tbody tr").count() == 1
    owner.screenshot(path=SCREENSHOTS / "floor-4-owner-queue.png")
    # In their "My work", the new hold waits for review, and leads to the case.
    owner.goto(f"{walk.base}/agent/my-work?lang=en")
    holds = owner.locator("#holds")
    assert _number(walk) in holds.inner_text()
    holds.locator("a", has_text=_number(walk)).first.click()
    owner.wait_for_url(f"**/agent/cases/{walk.case_id}**")
    # The workspace's first screen says the case is held and what to do about it.
    assert owner.locator("#primary-action").inner_text() == "Review the hold"
    box = owner.locator("#primary-action").bounding_box()
    assert box is not None
    assert box["y"] + box["height"] <= DESKTOP["height"]
    assert "I have already paid" in owner.locator(".pending-list").inner_text()
    # The holds tab, loaded in place by htmx (the page itself stays).
    owner.evaluate("window.__stayed = true")
    with owner.expect_response(re.compile(r"/sections/holds")):
        owner.click("#tab-holds")
    hold = owner.locator("#hold")
    hold.wait_for()
    assert owner.evaluate("window.__stayed === true")
    text = hold.inner_text()
    assert "Dispute" in text, text
    assert "I have already paid" in text, text
    assert "收据照片" in text
    with owner.expect_download() as download:
        hold.locator("a", has_text="receipt.png").click()
    assert download.value.path().read_bytes() == tiny_png()
    hold.scroll_into_view_if_needed()
    owner.screenshot(path=SCREENSHOTS / "floor-5-owner-case-hold.png")
    walk.pages["owner"] = owner


def _stage_and_events(walk: Walk) -> tuple[str, int]:
    from portal.models import Case, CaseEvent

    def read(session: Any) -> tuple[str, int]:
        case = session.get(Case, walk.case_id)
        moves = session.scalar(
            select(func.count(CaseEvent.id)).where(
                CaseEvent.case_id == case.id, CaseEvent.kind == "stage_changed"
            )
        )
        return str(case.stage), moves or 0

    return walk.db(read)


def _work_day(walk: Walk, day: int) -> None:
    from portal.cases.facts import policy
    from portal.cases.lifecycle import work_day

    with walk.app.app_context():
        work_day(
            walk.app.extensions["haohuan.engine"],
            policy(),
            TODAY + timedelta(days=day),
            NOW + timedelta(days=day),
        )


def step_nothing_escalates_while_disputed(walk: Walk) -> int:
    """The daily work of the next days, past the day the case would reach mid stage (31
    days past due): the dispute holds it where it was. Returns the last day worked."""
    before = _stage_and_events(walk)
    assert before[0] == "early"
    for day in range(1, 5):  # 29 to 32 days past due
        _work_day(walk, day)
        assert _stage_and_events(walk) == before, day
    return 4


def step_owner_proposes_and_supervisor_signs_off(walk: Walk, day: int) -> None:
    """On that day: the owner proposes to reject the dispute, with a note; a supervisor
    (not the owner) signs it off; the hold ends, rejected."""
    from portal.models import Case, CaseHold, HoldOutcome

    walk.at(NOW + timedelta(days=day))
    owner = walk.staff(_owner_email(walk))
    owner.goto(f"{walk.base}/agent/cases/{walk.case_id}?lang=en")
    owner.click("#primary-action")  # "Review the hold": the holds tab
    hold = owner.locator("#hold")
    hold.locator("input[name=resolution][value=rejected]").check()
    hold.locator("textarea[name=note]").fill(
        "The November payment was refunded by the bank; the ledger shows the amount owed."
    )
    hold.locator("button", has_text="Propose for sign-off").click()
    owner.wait_for_load_state("networkidle")
    assert "Proposed resolution" in owner.locator("#hold").inner_text()
    owner.context.close()

    supervisor = walk.staff(SUPERVISOR)
    # The proposal waits in the supervisor's "My work", among the disputes to sign off.
    supervisor.goto(f"{walk.base}/agent/my-work?lang=en")
    waiting = supervisor.locator("#sign_off")
    waiting.locator("a", has_text=_number(walk)).first.click()
    supervisor.wait_for_url(f"**/agent/cases/{walk.case_id}**")
    supervisor.click("#primary-action")
    hold = supervisor.locator("#hold")
    hold.locator("input[name=decision][value=approve]").check()
    supervisor.screenshot(path=SCREENSHOTS / "floor-6-supervisor-sign-off.png")
    hold.locator("button", has_text="Record the decision").click()
    supervisor.wait_for_load_state("networkidle")
    assert "The case is not on hold." in supervisor.locator("#hold").inner_text()
    supervisor.context.close()

    def ended(session: Any) -> tuple[Any, Any]:
        row = session.scalars(select(CaseHold).where(CaseHold.case_id == walk.case_id)).one()
        return row.outcome, session.get(Case, walk.case_id).hold

    assert walk.db(ended) == (HoldOutcome.REJECTED, None)


def step_borrower_reads_the_outcome(walk: Walk) -> None:
    """The borrower's status page says, in their language, that the dispute was looked
    into and the amount is owed; the explanation went to them in their language too."""
    from portal.models import Message

    page = _borrower(walk)
    section = page.locator("section[aria-labelledby=dispute-title]")
    expected = _words(
        walk,
        "We looked into your dispute and found that the amount shown is owed. We have sent "
        "you our explanation, and the hold on your case has ended.",
    )
    assert expected in section.inner_text()
    page.screenshot(path=SCREENSHOTS / "floor-7-borrower-outcome.png", full_page=True)
    page.context.close()
    locales = walk.db(
        lambda s: s.scalars(select(Message.locale).where(Message.case_id == walk.case_id)).all()
    )
    assert locales
    assert set(locales) == {"zh_Hans_CN"}


def step_escalates_again_only_by_the_rules(walk: Walk, day: int) -> None:
    """The next daily work moves the case to the stage its 33 days past due imply (mid),
    once; the days after move nothing, as the policy's next stage is at 91 days."""
    stage, moves = _stage_and_events(walk)
    assert stage == "early"  # lifting the hold moves nothing by itself
    _work_day(walk, day + 1)
    assert _stage_and_events(walk) == ("mid", moves + 1)
    for later in range(day + 2, day + 6):
        _work_day(walk, later)
        assert _stage_and_events(walk) == ("mid", moves + 1), later


def step_staff_screens_hold_the_book(walk: Walk) -> None:
    """The whole book at 1280 px: the queue's count is the book's, the finance report
    answers. Pictures to check the figures by eye."""
    from portal.models import Case

    total = walk.db(lambda s: s.scalar(select(func.count(Case.id))))
    page = walk.staff("supervisor@haohuan.example")
    page.goto(f"{walk.base}/agent/?dpd=all&lang=en")
    caption = page.locator("#queue-caption").inner_text()
    assert int(re.sub(r"[^\d]", "", caption.split("case")[0])) == total >= 2_000
    page.screenshot(path=SCREENSHOTS / "floor-8-queue-all.png")
    page.context.close()


def test_a_day_on_the_floor(floor: Walk) -> None:
    step_agents_start_the_day(floor)
    step_my_work_and_next_case(floor)
    pick_case(floor)
    step_borrower_disputes_with_a_photo(floor)
    step_owner_sees_the_dispute(floor)
    day = step_nothing_escalates_while_disputed(floor)
    step_owner_proposes_and_supervisor_signs_off(floor, day)
    step_borrower_reads_the_outcome(floor)
    step_escalates_again_only_by_the_rules(floor, day)
    step_staff_screens_hold_the_book(floor)


@pytest.mark.parametrize("locale", ["zh_Hant_TW", "zh_Hans_CN", "en"])
def test_the_floors_pages_fit_a_phone(floor: Walk, locale: str) -> None:
    """Every page of the day, on the demo's full book at 390 px in each language, is no
    wider than the screen: wide tables scroll in their own region (a visually hidden
    label inside one once widened the whole page to its place in the table)."""
    from portal.demo.seed import DEMO_STAFF

    pages = {
        "yating.chen@haohuan.example": ["/agent/my-work", "/agent/?owner=me", "/agent/cases/1"],
        SUPERVISOR: ["/agent/my-work", "/agent/approvals"],
        "admin@haohuan.example": ["/admin/staff", "/admin/rules", "/admin/policy"],
    }
    assert set(pages) <= {member.email for member in DEMO_STAFF}
    for email, paths in pages.items():
        page = floor.context(viewport=PHONE, locale="en-US").new_page()
        page.goto(f"{floor.base}/staff/sign-in?lang={locale}")
        page.fill("#email", email)
        page.fill("#password", floor.passwords[email])
        page.click("main form button[type=submit]")
        page.wait_for_load_state("networkidle")
        for path in paths:
            joiner = "&" if "?" in path else "?"
            response = page.goto(f"{floor.base}{path}{joiner}lang={locale}")
            assert response is not None
            assert response.status == 200, path
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= PHONE["width"], (path, width)
        page.context.close()
