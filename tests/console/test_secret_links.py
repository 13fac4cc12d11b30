"""Acknowledge and sign-in links: every problem has its own page, a link from an earlier page
shows the case as it is now, and lookups are limited per address (issue 25)."""

from __future__ import annotations

import logging
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select, update

from bot.clock import OffsetClock
from bot.console.ack import ANSWERS
from bot.console.limits import LOOKUPS_PER_WINDOW
from bot.console.signin import PROBLEMS
from bot.domain.levels import Level
from bot.domain.triage import Finding
from bot.services.cases import raise_case, unacknowledge
from bot.services.console_access import LinkProblem
from bot.services.paging.ack_links import AckProblem, issue_ack_link
from sandbox import BotApiSandbox
from storage.models import Case, Clinician, Patient
from storage.states import CaseStatus, CaseTrigger
from tests.auxil.console import (
    ConsoleBot,
    ack_fields,
    console_bot,
    join,
    link_for,
    patient_with_case,
)
from tests.auxil.databases import IsolatedDatabase

ADA = 7001


async def _link_to_new_case(app: ConsoleBot, ref: str, level: Level) -> tuple[str, int]:
    """A patient with an open case and Dr Ada's acknowledge link to it (Dr Ada joins)."""
    await join(app, ADA, "Dr Ada")
    return await _ada_link(app, ref, level)


async def _ada_link(app: ConsoleBot, ref: str, level: Level = Level.HIGH) -> tuple[str, int]:
    _, case = await patient_with_case(app, ref, level=level)
    ctx = app.bot.ctx
    async with ctx.db.transaction() as session:
        ada = await session.scalar(select(Clinician).where(Clinician.name == "Dr Ada"))
        assert ada is not None and ada.id is not None and case.id is not None
        token = await issue_ack_link(
            session, case_id=case.id, clinician_id=ada.id, now=ctx.clock.now()
        )
    return f"{app.base}/ack/{token}", case.id


async def _raise(app: ConsoleBot, case_id: int, level: Level) -> None:
    ctx = app.bot.ctx
    async with ctx.db.transaction() as session:
        case = await session.get(Case, case_id)
        assert case is not None
        patient = await session.get(Patient, case.patient_id)
        assert patient is not None
        raised = await raise_case(
            session,
            patient=patient,
            level=level,
            findings=[Finding(level, "C-SSRS item 4 yes: some intention of acting")],
            trigger=CaseTrigger.NON_RESPONSE,
            now=ctx.clock.now(),
        )
    assert raised is not None and raised.case.level == level


async def _status(app: ConsoleBot, case_id: int) -> CaseStatus:
    async with app.bot.ctx.db.transaction() as session:
        case = await session.get(Case, case_id, populate_existing=True)
    assert case is not None
    return CaseStatus(case.status)


def test_every_ack_problem_and_sign_in_problem_has_its_own_page() -> None:
    assert set(ANSWERS) | {AckProblem.TAKEN} == set(AckProblem)
    assert set(PROBLEMS) == set(LinkProblem)
    titles = [title for _, title, _ in (*ANSWERS.values(), *PROBLEMS.values())]
    assert len(titles) == len(set(titles)), "two problems share a page"


async def test_a_link_from_an_earlier_page_shows_the_case_as_it_is_now_and_acknowledges_it(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    async with console_bot(sandbox, test_db, clock=OffsetClock()) as app:
        link, case_id = await _link_to_new_case(app, "P-101", Level.MODERATE)
        app.bot.ctx.clock.advance(timedelta(seconds=5))  # type: ignore[attr-defined]
        await _raise(app, case_id, Level.HIGH)  # the ladder starts over, at HIGH
        async with httpx.AsyncClient(timeout=10) as browser:
            shown = await browser.get(link)
            assert shown.status_code == 200, shown.text  # was a 500 (KeyError) on 8cb0aa3
            assert 'id="ack-earlier"' in shown.text and "earlier page" in shown.text
            assert "it is <strong>HIGH</strong>" in shown.text
            fields = ack_fields(shown.text)
            assert fields["level"] == "high"
            done = await browser.post(link, data=fields)
            assert done.status_code == 200, done.text
            assert f"You acknowledged case #{case_id}" in done.text
        assert await _status(app, case_id) == CaseStatus.ACKNOWLEDGED


async def test_a_case_raised_after_the_page_was_opened_is_not_acknowledged_from_it(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    async with console_bot(sandbox, test_db, clock=OffsetClock()) as app:
        link, case_id = await _link_to_new_case(app, "P-102", Level.MODERATE)
        async with httpx.AsyncClient(timeout=10) as browser:
            opened = await browser.get(link)
            fields = ack_fields(opened.text)
            app.bot.ctx.clock.advance(timedelta(seconds=5))  # type: ignore[attr-defined]
            await _raise(app, case_id, Level.HIGH)
            late = await browser.post(link, data=fields)
            assert late.status_code == 409 and "changed since you opened" in late.text
            assert await _status(app, case_id) == CaseStatus.OPEN
            again = await browser.get(link)  # the newest facts, and the newest action
            assert again.status_code == 200 and 'id="ack-earlier"' in again.text
            done = await browser.post(link, data=ack_fields(again.text))
            assert done.status_code == 200, done.text
        assert await _status(app, case_id) == CaseStatus.ACKNOWLEDGED


async def test_used_resolved_and_deactivated_links_each_say_why(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    async with console_bot(sandbox, test_db, clock=OffsetClock()) as app:
        link, case_id = await _link_to_new_case(app, "P-103", Level.HIGH)
        ctx = app.bot.ctx
        async with httpx.AsyncClient(timeout=10) as browser:
            done = await browser.post(link, data=ack_fields((await browser.get(link)).text))
            assert done.status_code == 200
            taken = await browser.get(link)
            assert taken.status_code == 200 and "Already acknowledged" in taken.text
            async with ctx.db.transaction() as session:  # the paging service un-acknowledges
                assert await unacknowledge(
                    session, case_id=case_id, source="pagerduty", now=ctx.clock.now()
                )
            used = await browser.get(link)
            assert used.status_code == 410 and "already used" in used.text
            async with ctx.db.transaction() as session:
                await session.execute(
                    update(Case).where(Case.id == case_id).values(status=CaseStatus.RESOLVED)
                )
            closed = await browser.get(link)
            assert closed.status_code == 410 and "This case is resolved" in closed.text
            other, _ = await _ada_link(app, "P-104")
            async with ctx.db.transaction() as session:
                await session.execute(update(Clinician).values(active=False))
            gone = await browser.get(other)
            assert gone.status_code == 403 and "no longer an active clinician" in gone.text
            forged = await browser.get(f"{app.base}/ack/{'A' * 32}")
            assert forged.status_code == 404 and "not valid" in forged.text


async def test_a_sign_in_link_of_a_deactivated_clinician_says_so(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    async with console_bot(sandbox, test_db) as app, httpx.AsyncClient(timeout=10) as browser:
        await join(app, ADA, "Dr Ada")
        link = await link_for(app, ADA)
        async with app.bot.ctx.db.transaction() as session:
            await session.execute(update(Clinician).values(active=False))
        refused = await browser.get(link)
        assert refused.status_code == 403 and "no longer a clinician" in refused.text


@pytest.mark.parametrize("route", ["signin", "ack"])
async def test_link_lookups_are_limited_per_address_and_logged_once(
    sandbox: BotApiSandbox,
    test_db: IsolatedDatabase,
    caplog: pytest.LogCaptureFixture,
    route: str,
) -> None:
    caplog.set_level(logging.INFO, logger="bot.console")
    clock = OffsetClock()
    async with console_bot(sandbox, test_db, clock=clock) as app, httpx.AsyncClient() as guesser:
        for n in range(LOOKUPS_PER_WINDOW):
            guess = await guesser.get(f"{app.base}/{route}/guess-{n:04d}")
            assert guess.status_code == 404, n
        for n in range(10):
            limited = await guesser.get(f"{app.base}/{route}/guess-x{n}")
            assert limited.status_code == 429
            assert 1 <= int(limited.headers["retry-after"]) <= 60
            assert "Try again in" in limited.text and "Telegram" in limited.text
            posted = await guesser.post(f"{app.base}/{route}/guess-y{n}", data={"a": "b"})
            assert posted.status_code == 429
        clock.advance(timedelta(seconds=61))
        after = await guesser.get(f"{app.base}/{route}/guess-later")
        assert after.status_code == 404
    limited_lines = [r for r in caplog.records if "console.lookups_limited" in r.getMessage()]
    assert len(limited_lines) == 1, [r.getMessage() for r in limited_lines]
    refusals = [r for r in caplog.records if "_refused" in r.getMessage()]
    assert len(refusals) == LOOKUPS_PER_WINDOW + 1  # one per real lookup, none when limited
    assert not any("guess-" in r.getMessage() for r in caplog.records), "a token in the log"
