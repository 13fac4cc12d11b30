"""Every console page in the pseudo-locale (AFTERCARE_CONSOLE_LANGUAGE=en-XA): no plain English
sentence left in what a clinician reads (text, titles, labels, placeholders, buttons), so every
console text is extractable for the clinicians' catalogue (issue 29). Values the clinic or the
patient wrote (names, references, the patient's words), the C-SSRS's own English wording (an
instrument's text, translated only by a licensed file) and dates are taken out first."""

from __future__ import annotations

from html.parser import HTMLParser

import httpx
import pytest

from bot.clinic_caring import DEFAULT_CARING_TEXT
from bot.clinic_defaults import DEFAULT_CRISIS_CARD, DEFAULT_CRISIS_TERMS
from bot.domain import safety_plan as plan_rules
from bot.domain.instruments import cssrs
from bot.services.paging.ack_links import issue_ack_link
from bot.services.reaching.outreach import log_outreach
from bot.services.safety.plans import save_plan
from sandbox import BotApiSandbox
from tests.auxil.console import ConsoleBot, console_bot, csrf_of, sign_in
from tests.auxil.console_pages import seed_every_page
from tests.auxil.databases import IsolatedDatabase
from tests.auxil.harness import make_clinics
from tests.console.test_settings_routes import CLINICS, FORM, posted
from tests.i18n.test_pseudo_locale import english_left

ADMIN, BEN = 7101, 7102
_ATTRIBUTES = ("title", "aria-label", "placeholder", "alt", "data-label")


class _Readable(HTMLParser):
    """What a person reads on a page: its text (not scripts or styles), the attributes read
    aloud or shown (titles, labels, placeholders) and the words on buttons."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._skip += 1
        values = dict(attrs)
        self.parts.extend(v for a in _ATTRIBUTES if (v := values.get(a)))
        if tag == "input" and values.get("type") in ("submit", "button") and values.get("value"):
            self.parts.append(values["value"] or "")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip and data.strip():
            self.parts.append(data)


def readable(html: str) -> list[str]:
    parser = _Readable()
    parser.feed(html)
    return parser.parts


def _their_words(ref: str) -> list[str]:
    """What the clinic, the patient and the instrument wrote, longest first."""
    items = cssrs("en").items
    words = [
        "North Clinic (main)",
        "North Clinic",
        "South Clinic",
        "Admin Ada",
        "Dr Ben",
        ref,
        "I keep thinking about it",
        "C-SSRS item 4 yes: some intention of acting",
        *PLAN.values(),
        "Europe/Berlin",
        "America/New_York",
        *(item.text for item in items),
        DEFAULT_CRISIS_CARD,  # the settings' own values, in their form fields (the clinic's)
        "\n".join(DEFAULT_CRISIS_TERMS),
        DEFAULT_CARING_TEXT,
    ]
    return sorted({w for w in words if w}, key=len, reverse=True)


PLAN = {  # the patient's own words, with the numbers that make the plan active
    "step1": "Not sleeping",
    "step4": "Sam (sister) +44 20 7946 0000",
    "step5": "Dr Ben +44 20 7946 0001",
}


def left_in(html: str, substituted: list[str]) -> list[str]:
    found: list[str] = []
    for part in readable(html):
        found.extend(english_left(part, substituted))
    return found


async def _seed(app: ConsoleBot) -> dict[str, object]:
    ctx = app.bot.ctx
    seeded = await seed_every_page(app, admin=ADMIN, ben=BEN)
    patient, case, ben = seeded.patient, seeded.case, seeded.ben
    now = ctx.clock.now()
    async with ctx.db.transaction() as session:
        steps, _ = plan_rules.read_plan(PLAN, country_code=None)
        assert steps is not None
        await save_plan(session, patient=patient, steps=steps, actor="cli", now=now)
        await log_outreach(
            session,
            case_id=case.id or 0,
            by=[ben],
            method="phone",
            outcome="no_answer",
            at=None,
            note="",
            clinic_of=ctx.clinic,
            now=now,
        )
        ack = await issue_ack_link(
            session, case_id=case.id or 0, clinician_id=ben.id or 0, now=ctx.clock.now()
        )
    return {
        "ref": patient.ref,
        "case": case.id,
        "infusion": seeded.infusion.id,
        "shift": seeded.shift.id,
        "ben": ben.id,
        "ack": ack,
        "month": f"{now.astimezone(ctx.clinic('north').zone):%Y-%m}",  # the report with figures
    }


def _pages(s: dict[str, object]) -> list[str]:
    ref = s["ref"]
    return [
        "/",
        f"/cases/{s['case']}",
        "/patients",
        f"/patients/{ref}",
        f"/patients/{ref}/monitoring",
        f"/patients/{ref}/infusions/new",
        f"/patients/{ref}/infusions/{s['infusion']}",
        f"/patients/{ref}/plan/print",
        f"/patients/{ref}/erase",
        "/enroll",
        "/roster",
        f"/roster/shifts/{s['shift']}",
        "/roster/rotation",
        "/team",
        f"/team/{s['ben']}/contact",
        f"/team/{s['ben']}/deactivate",
        "/settings",
        "/settings/versions",
        "/settings/versions/1",
        "/settings/signing",
        "/response-times",
        "/report",
        f"/report?month={s['month']}",
        "/audit",
        "/export",
        "/clinic",
        "/cases/999999",  # an error page: not found, with the navigation
    ]


async def test_every_console_page_is_in_the_console_language(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    if test_db.url.startswith("postgresql"):
        pytest.skip("what a page says is the same on either database: SQLite's run")
    async with console_bot(
        sandbox, test_db, clinics=make_clinics(CLINICS), console_language="en-XA"
    ) as app:
        seeded = await _seed(app)
        substituted = _their_words(str(seeded["ref"]))
        left: dict[str, list[str]] = {}
        async with httpx.AsyncClient(timeout=10) as anonymous:
            signin = await anonymous.get(f"{app.base}/signin/not-a-real-link")
            left["/signin (stale link)"] = left_in(signin.text, substituted)
            ack = await anonymous.get(f"{app.base}/ack/{seeded['ack']}")
            assert ack.status_code == 200, ack.text[:300]
            left["/ack"] = left_in(ack.text, substituted)
        client = await sign_in(app, ADMIN)
        try:
            for path in _pages(seeded):
                page = await client.get(app.base + path)
                assert page.status_code in (200, 404), (path, page.status_code)
                pseudo = "⟦" in page.text  # the page is in the pseudo-locale at all
                left[path] = [*([] if pseudo else ["no text in en-XA"])]
                left[path] += left_in(page.text, substituted)
            settings = await client.get(f"{app.base}/settings")
            failed = await client.post(
                f"{app.base}/settings",
                data={"csrf": csrf_of(settings.text), "name": ""},
            )
            left["/settings (a failed save)"] = left_in(failed.text, substituted)
            preview = await client.post(  # the planned check-ins before and after, in words
                f"{app.base}/settings",
                headers=FORM,
                content=posted(
                    app.bot.ctx.clinic("north"),
                    csrf_of(settings.text),
                    1,
                    action="preview",
                    protocol__standard__daily_days="10",
                ),
            )
            assert preview.status_code == 200 and 'id="planned-after"' in preview.text
            left["/settings (a preview)"] = left_in(preview.text, substituted)
            ref = seeded["ref"]
            for path, bad in (
                (f"/patients/{ref}/plan", {"step1": "\n".join([str(ref)] * 30)}),
                (f"/patients/{ref}/contact", {"phone": "12"}),
            ):  # the forms again, each problem beside its field
                failed = await client.post(
                    f"{app.base}{path}", data={"csrf": csrf_of(settings.text), **bad}
                )
                assert failed.status_code == 400, (path, failed.status_code)
                left[f"{path} (a failed save)"] = left_in(failed.text, substituted)
        finally:
            await client.aclose()
        ben = await sign_in(app, BEN)
        try:
            refused = await ben.get(f"{app.base}/export")  # not an admin: refused, in words
            left["/export (refused)"] = left_in(refused.text, substituted)
        finally:
            await ben.aclose()
    assert {path: runs for path, runs in left.items() if runs} == {}


def test_the_reader_sees_what_a_person_reads() -> None:
    html = (
        "<html><head><title>Open cases today</title><style>body {color: red}</style></head>"
        '<body><script>let plain = "some english words";</script>'
        '<button aria-label="Close this dialog now">x</button>'
        '<input type="submit" value="Save the settings"><p>Nothing to see here</p></body></html>'
    )
    assert readable(html) == [
        "Open cases today",
        "Close this dialog now",
        "x",
        "Save the settings",
        "Nothing to see here",
    ]
    assert left_in(html, []) == [
        "Open cases today",
        "Close this dialog now",
        "Save the settings",
        "Nothing to see here",
    ]
