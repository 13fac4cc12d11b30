"""The roster page where the eye is: a failed form opens with its error summary, the gaps are
told as time without a primary (which cover only shortens), and a cell or a day shows each
change once, to the minute."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from sandbox import BotApiSandbox
from tests.auxil.console import console_bot, join, sign_in
from tests.auxil.databases import IsolatedDatabase
from tests.auxil.harness import make_clinics
from tests.console.test_roster_routes import ADMIN, BEN, CLINICS, LOCAL, _cell, _id, _page, _shift


def _summary_of(html: str, form_id: str) -> str:
    """The error summary, which must open the failing form (nothing of the form before it)."""
    found = re.search(
        rf'<form [^>]*id="{form_id}"[^>]*>\s*(<div class="error-summary".*?</div>)', html, re.S
    )
    assert found, f"no error summary at the top of #{form_id}"
    return found.group(1)


async def test_a_failed_form_opens_with_a_summary_linking_to_each_field(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    async with console_bot(sandbox, test_db, clinics=make_clinics(CLINICS)) as app:
        await join(app, ADMIN, "Admin Ada")
        ada = await _id(app, ADMIN)
        zone = app.bot.ctx.clinic("north").zone
        start = (app.bot.ctx.clock.now() + timedelta(days=1)).astimezone(zone)
        client = await sign_in(app, ADMIN)
        _, csrf = await _page(client, f"{app.base}/roster")
        form = {
            "csrf": csrf,
            "clinician": str(ada),
            "role": "tertiary",
            "starts_at": start.strftime(LOCAL),
            "ends_at": (start - timedelta(hours=1)).strftime(LOCAL),
        }
        wrong = await client.post(f"{app.base}/roster/shifts", data=form)
        assert wrong.status_code == 400
        summary = _summary_of(wrong.text, "add-shift")
        assert "data-error-summary" in summary and 'tabindex="-1"' in summary
        assert "The shift was not added" in summary
        assert '<a href="#f-role">Role: Choose primary or backup.</a>' in summary
        assert '<a href="#f-ends_at">Ends: The shift must end after it starts.</a>' in summary
        for field in ("f-role", "f-ends_at"):  # each link lands on its field
            assert f'id="{field}"' in wrong.text
        assert wrong.text.count("data-error-summary") == 1
        good = await _page(client, f"{app.base}/roster")
        assert "data-error-summary" not in good[0]
        # Changing a shift: the same summary at the top of its form.
        shift_id = await _shift(app, "Admin Ada", start, start + timedelta(hours=2))
        _, csrf = await _page(client, f"{app.base}/roster/shifts/{shift_id}")
        changed = await client.post(
            f"{app.base}/roster/shifts/{shift_id}",
            data={"csrf": csrf, "role": "primary", "starts_at": "soon", "ends_at": form["ends_at"]},
        )
        assert changed.status_code == 400
        assert 'href="#f-starts_at">Starts: ' in _summary_of(changed.text, "change-shift")
        # The rotation: each slot's fields named in words, the days linked to their fieldset.
        _, csrf = await _page(client, f"{app.base}/roster/rotation")
        rotation = await client.post(
            f"{app.base}/roster/rotation",
            data={
                "csrf": csrf,
                "based_on": "0",
                "count": "0",
                "new.clinician": "Admin Ada",
                "new.role": "primary",
                "new.start": "08:00",
                "new.end": "20:00",
            },
        )
        assert rotation.status_code == 400, rotation.text[:300]
        summary = _summary_of(rotation.text, "rotation-form")
        assert '<a href="#f-new-days">Add a slot, days: ' in summary
        assert 'id="f-new-days"' in rotation.text
        await client.aclose()


def _uncovered(html: str) -> timedelta:
    found = re.search(r'id="gap-count">No primary on call for (\d+) h(?: (\d+) min)?<', html)
    assert found, "no hours uncovered shown"
    return timedelta(hours=int(found.group(1)), minutes=int(found.group(2) or 0))


async def test_cover_added_inside_a_gap_never_makes_the_gaps_look_bigger(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    """The bug: the count was of stretches without a primary, which a backup shift (or a
    primary one in the middle) inside a gap splits: adding cover raised it from 3 to 4. The
    page now says how long no primary is on call, from now on, which cover only shortens."""
    async with console_bot(sandbox, test_db, clinics=make_clinics(CLINICS)) as app:
        await join(app, ADMIN, "Admin Ada")
        await join(app, BEN, "Dr Ben")
        zone = app.bot.ctx.clinic("north").zone
        tomorrow = app.bot.ctx.clock.now().astimezone(zone).date() + timedelta(days=1)

        def at(hour: int, day: int = 0) -> datetime:
            d = tomorrow + timedelta(days=day)
            return datetime(d.year, d.month, d.day, hour, tzinfo=zone)

        await _shift(app, "Dr Ben", at(8), at(16))  # three gaps: before, between, after
        await _shift(app, "Dr Ben", at(8, 2), at(16, 2))
        client = await sign_in(app, ADMIN)
        before, _ = await _page(client, f"{app.base}/roster")
        first = _uncovered(before)
        # A backup inside a gap: still no primary there, and no more time shown uncovered.
        await _shift(app, "Admin Ada", at(18), at(22), role="backup")
        backed, _ = await _page(client, f"{app.base}/roster")
        assert timedelta(0) <= first - _uncovered(backed) <= timedelta(minutes=1)
        # A primary in the middle of a gap splits it in two, and the time shown shrinks by it.
        await _shift(app, "Admin Ada", at(20, 1), at(22, 1))
        covered, _ = await _page(client, f"{app.base}/roster")
        shrunk = first - _uncovered(covered)
        assert timedelta(hours=2) <= shrunk <= timedelta(hours=2, minutes=1)
        gaps = re.search(r'<ul id="gap-list">(.*?)</ul>', covered, re.S)
        assert gaps and gaps.group(1).count("<li>") == 4  # each one listed, with its length
        assert "<small>(10 h)</small>" in gaps.group(1)  # tomorrow 22:00 to 08:00
        await client.aclose()


async def test_a_cell_shows_each_change_once_to_the_minute(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    """The bug: shifts kept to the second (/oncall, the CLI, the demo's) made a stretch of a few
    seconds, and the cell read "from 02:36 Dr Primary" twice."""
    async with console_bot(sandbox, test_db, clinics=make_clinics(CLINICS)) as app:
        await join(app, ADMIN, "Admin Ada")
        await join(app, BEN, "Dr Ben")
        zone = app.bot.ctx.clinic("north").zone
        day = app.bot.ctx.clock.now().astimezone(zone).date() + timedelta(days=1)
        primary = datetime(day.year, day.month, day.day, 10, 36, 12, tzinfo=zone)
        backup = primary + timedelta(seconds=28)
        await _shift(app, "Dr Ben", primary, primary + timedelta(hours=1))
        await _shift(app, "Admin Ada", backup, backup + timedelta(hours=1), role="backup")
        client = await sign_in(app, ADMIN)
        html, _ = await _page(client, f"{app.base}/roster")
        cell = _cell(html, day.isoformat(), 10)
        assert cell.count("from 10:36") == 1 and cell.count("Dr Ben") == 1, cell
        assert "backup Admin Ada" in cell and "no one on call" in cell
        # The day as one card (phones): a night of "no one on call" is one line, not ten.
        card = re.search(
            rf'<section class="day-card" id="day-{day.isoformat()}".*?</section>', html, re.S
        )
        assert card, "no day card"
        lines = re.findall(r'<li class="([^"]*)"><span class="when">([^<]*)</span>', card.group(0))
        assert lines == [
            ("gap", "00:00–10:36"),
            ("covered", "10:36–11:36"),
            ("gap", "11:36–24:00"),
        ]
        assert card.group(0).count("Dr Ben") == 1
        await client.aclose()
