"""Caring contacts in the console settings (CLINICAL.md §12): the fields saved into the clinic's
`[clinics.caring]`, a message with a question refused beside its field, and a preview of the
planned dates for a track started now."""

from __future__ import annotations

import re
from datetime import time

from sandbox import BotApiSandbox
from tests.auxil.console import console_bot
from tests.auxil.databases import IsolatedDatabase
from tests.auxil.harness import make_clinics
from tests.console.test_settings_routes import CLINICS, FORM, _admin, _versions, posted

DATE = re.compile(r"\b(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) \d{2} [A-Z][a-z]{2} \d{2}:\d{2}\b")


def _preview(text: str) -> list[str]:
    found = re.search(r'<span id="caring-dates">(.*?)</span>', text, re.S)
    assert found, text[:500]
    return DATE.findall(found.group(1))


async def test_the_caring_fields_are_shown_with_a_preview_and_saved(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    async with console_bot(sandbox, test_db, clinics=make_clinics(CLINICS)) as app:
        ctx = app.bot.ctx
        client, csrf = await _admin(app)
        page = await client.get(f"{app.base}/settings")
        assert 'id="caring"' in page.text and 'name="caring.texts"' in page.text
        assert len(_preview(page.text)) == 10, "the default Comtois schedule"

        change = {
            "caring__schedule": "custom",
            "caring__custom_days": "3, 10",
            "caring__texts": "Thinking of you.\nStill thinking of you, no need to reply.",
            "caring__signed_by": "Dr Ada",
            "caring__window_start": "09:00",
            "caring__window_end": "12:00",
            "caring__series_end_days": "28",
        }
        north = ctx.clinic("north")
        previewed = await client.post(
            f"{app.base}/settings",
            headers=FORM,
            content=posted(north, csrf, 1, action="preview", **change),
        )
        assert previewed.status_code == 200, previewed.text[:500]
        dates = _preview(previewed.text)
        assert len(dates) == 2
        assert all("09:00" <= d[-5:] < "12:00" for d in dates), dates
        assert await _versions(app) == [1], "a preview saves nothing"

        saved = await client.post(
            f"{app.base}/settings",
            headers=FORM,
            content=posted(north, csrf, 1, action="save", **change),
        )
        assert saved.status_code == 303, saved.text[:800]
        caring = ctx.clinic("north").caring
        assert (caring.schedule, caring.custom_days) == ("custom", [3, 10])
        assert caring.texts == ["Thinking of you.", "Still thinking of you, no need to reply."]
        assert (caring.signed_by, caring.series_end_days) == ("Dr Ada", 28)
        assert (caring.window_start, caring.window_end) == (time(9), time(12))
        shown = await client.get(f"{app.base}/settings")
        assert len(_preview(shown.text)) == 2
        await client.aclose()


async def test_a_question_or_a_bad_window_is_refused_beside_its_field(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    async with console_bot(sandbox, test_db, clinics=make_clinics(CLINICS)) as app:
        ctx = app.bot.ctx
        client, csrf = await _admin(app)
        north = ctx.clinic("north")
        asked = await client.post(
            f"{app.base}/settings",
            headers=FORM,
            content=posted(
                north, csrf, 1, action="save", caring__texts="Hello.\nHow are you doing?"
            ),
        )
        assert asked.status_code == 400
        assert 'id="err-caring-texts"' in asked.text
        assert "message 2: a caring message asks nothing" in asked.text
        assert "How are you doing?</textarea>" in asked.text  # shown back to correct
        custom = await client.post(
            f"{app.base}/settings",
            headers=FORM,
            content=posted(north, csrf, 1, action="save", caring__schedule="custom"),
        )
        assert custom.status_code == 400 and 'id="err-caring-custom_days"' in custom.text
        window = await client.post(
            f"{app.base}/settings",
            headers=FORM,
            content=posted(
                north,
                csrf,
                1,
                action="save",
                caring__window_start="18:00",
                caring__window_end="10:00",
            ),
        )
        assert window.status_code == 400 and 'id="err-caring-window_end"' in window.text
        assert await _versions(app) == [1]
        assert ctx.clinic("north").caring == north.caring
        await client.aclose()
