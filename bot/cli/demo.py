"""`aftercare demo`: the real bot, offline, against the embedded sandbox Bot API."""

from __future__ import annotations

import asyncio
import re
import signal
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncSession

from bot.app import prepare, serve
from bot.cli.demo_report import (
    ConsoleLinks,
    load_sandbox,
    minted_link,
    print_audit,
    print_chat,
    print_console,
    print_fhir,
    print_mail,
)
from bot.cli.support import CliError
from bot.clinic_config import parse_clinics
from bot.context import AppContext
from bot.crypto.keys import new_entry
from bot.ops.logs import configure_logging
from bot.services.clinic.team import set_contact
from bot.services.enrollment import create_clinician_invite
from bot.services.oncall import add_shift
from bot.settings import LogFormat, Settings
from storage.models import Clinician
from storage.oncall import clinician_by_name
from storage.states import Actor, ActorKind

if TYPE_CHECKING:  # imported when the demo runs (load_sandbox): they need the `demo` extra
    from sandbox import BotApiSandbox
    from sandbox.smtp import SmtpSink

TOKEN = "demo:TOKEN"
PRIMARY, BACKUP, PATIENT = 1001, 1002, 2001
NAMES = {PRIMARY: "Dr Primary", BACKUP: "Dr Backup"}
PRIMARY_MAIL = "primary@demo-clinic.example"
WHO = {PATIENT: "patient", **NAMES}
REF = "P-0042"
NOTE = "Called her: safe at home with her sister tonight; seen at the clinic tomorrow 09:00."
TOKEN_IN_LINK = re.compile(r"start=([A-Za-z0-9_-]+)")
CONSOLE_LINK = re.compile(r"https?://\S+/console/signin/[A-Za-z0-9_-]+")
CRISIS_WORDS = "I can't stop thinking about suicide tonight"
SECONDS = {"offset": 2, "reminder": 20, "missed": 40, "backup": 3, "everyone": 8}

CLINIC_TOML = """
[[clinics]]
id = "demo"
name = "Demo Ketamine Clinic"
timezone = "UTC"
contact_phone = "+1 555 0100"
managed_by = "console"  # with --console, its Settings page edits it live
quiet_hours = {{ start = "00:00", end = "00:00" }}  # start = end: no quiet hours
protocols.standard = {{ offsets = ["{offset}"], red_flags_at = "{offset}", daily_days = 0 }}
checkins = {{ reminder_after = "{reminder}", missed_after = "{missed}" }}
escalation.high = [
  {{ after = "PT0S", notify = ["primary"], channels = ["telegram", "email"] }},
  {{ after = "{backup}", notify = ["primary", "backup"] }},
  {{ after = "{everyone}", notify = ["everyone"] }},
]
"""


class DemoFailed(Exception):
    """An expected step did not happen in time; the message names the step."""


def demo_clinic_toml(speed: float = 1.0) -> str:
    """The embedded demo clinic, its schedule and timeouts compressed to seconds (÷ speed)."""
    return CLINIC_TOML.format(**{key: f"PT{s / speed:g}S" for key, s in SECONDS.items()})


@dataclass
class _Demo:
    """One scripted run: the people's side of the sandbox, and what they said."""

    sandbox: BotApiSandbox
    ctx: AppContext
    out: Callable[[str], None]
    speed: float
    started: float = field(default_factory=time.monotonic)
    said: dict[int, list[tuple[tuple[int, int, int], str]]] = field(default_factory=dict)
    answered: int = 0  # the patient's last answered question
    mail: SmtpSink | None = None  # the embedded SMTP server e-mailed pages arrive at

    def step(self, text: str) -> None:
        """Print one progress line with the time since the start."""
        self.out(f"[{time.monotonic() - self.started:5.1f}s] {text}")

    def _last_id(self, chat_id: int) -> int:
        """The id of the bot's latest message in a chat (0 if none)."""
        last = self.sandbox.last_message(chat_id)
        return int(last["message_id"]) if last else 0

    def _note(self, chat_id: int, text: str) -> None:
        """Remember what a person did, placed after the bot's latest message in that chat."""
        entries = self.said.setdefault(chat_id, [])
        entries.append(((self._last_id(chat_id), 1, len(entries)), f"{WHO[chat_id]}: {text}"))

    def say(self, chat_id: int, text: str) -> None:
        """The person sends a text message."""
        self._note(chat_id, text)
        self.sandbox.send_text(chat_id, text)

    def tap(self, chat_id: int, message: dict[str, Any], button: str) -> None:
        """The person taps an inline button of a bot message."""
        self._note(chat_id, f"[taps “{button}”]")
        self.sandbox.tap(chat_id, message["message_id"], button_text=button)

    def reply(self, chat_id: int, prompt: dict[str, Any], text: str) -> None:
        """The person answers a ForceReply prompt (a message replying to it)."""
        self._note(chat_id, text)
        user = {"id": chat_id, "is_bot": False, "first_name": NAMES[chat_id]}
        chat = {"id": chat_id, "type": "private", "first_name": NAMES[chat_id]}
        message_id = self.sandbox.state.chats[chat_id].next_message_id
        message = {"message_id": message_id, "date": int(time.time()), "text": text}
        message |= {"chat": chat, "from": user, "reply_to_message": prompt}
        self.sandbox.enqueue_update({"message": message})

    async def wait(
        self, chat_id: int, contains: str, step: str, *, after: int = 0, within: float = 5.0
    ) -> dict[str, Any]:
        """The bot's first message containing `contains`, or DemoFailed naming the step."""
        try:
            return await self.sandbox.wait_for_message(
                chat_id, contains, after=after, timeout=within / min(self.speed, 1.0)
            )
        except TimeoutError as exc:
            raise DemoFailed(f"{step}: {str(exc).partition('; the chat holds')[0]}") from None

    async def answer(self, contains: str, button: str, *, within: float = 5.0) -> None:
        """The patient taps `button` on the next question containing `contains`."""
        step = f"the patient answers {contains!r}"
        question = await self.wait(PATIENT, contains, step, after=self.answered, within=within)
        self.tap(PATIENT, question, button)
        self.answered = question["message_id"]

    async def join(self, chat_id: int, role: str) -> None:
        """A clinician opens a real single-use invite with /start, then goes on call for 1 h."""
        name, clinic, now = NAMES[chat_id], self.ctx.clinics.clinics[0], self.ctx.clock.now()
        async with self.ctx.db.transaction() as session:
            token = await create_clinician_invite(
                session,
                clinic=clinic,
                name=name,
                is_admin=chat_id == PRIMARY,  # the clinic's admin: the console's admin side
                now=now,
                actor=Actor.of(ActorKind.DEMO),
            )
        self.sandbox.add_user(chat_id, name)
        self.say(chat_id, f"/start {token}")
        await self.wait(chat_id, "registered as a clinician", f"{name} joins")
        async with self.ctx.db.transaction() as session:
            await add_shift(
                session,
                clinic=clinic,
                clinician_name=name,
                role=role,
                starts_at=now - timedelta(minutes=1),
                ends_at=now + timedelta(hours=1),
                now=now,
                actor=Actor.of(ActorKind.DEMO),
            )
            if chat_id == PRIMARY:  # pages by e-mail too, where the ladder says so
                await set_contact(
                    session,
                    clinician=await _named(session, clinic.id, name),
                    email=PRIMARY_MAIL,
                    pager_key=None,
                    actor=Actor.of(ActorKind.DEMO),
                    now=now,
                )
        self.step(f"{name} joined through an invite and is on call as {role}")

    async def scenario(self) -> None:
        """Every step of the demo, in order; DemoFailed names the first that did not happen."""
        try:
            await self.sandbox.wait_for_call("deleteWebhook", timeout=10)
        except TimeoutError:
            raise DemoFailed("the bot did not start polling the sandbox") from None
        self.step("bot started against the sandbox Bot API")
        await self.join(PRIMARY, "primary")
        await self.join(BACKUP, "backup")

        self.say(PRIMARY, f"/enroll {REF}")
        invite = await self.wait(PRIMARY, "invited", "Dr Primary enrolls the patient")
        link = TOKEN_IN_LINK.search(invite["text"])
        if link is None:
            raise DemoFailed("Dr Primary enrolls the patient: no invite link in the reply")
        self.sandbox.add_user(PATIENT, "Pat")
        self.say(PATIENT, f"/start {link.group(1)}")
        consent = await self.wait(PATIENT, "Do you agree?", "the patient opens the invite")
        self.tap(PATIENT, consent, "I agree")
        await self.wait(PATIENT, "you're enrolled", "the patient consents")
        self.step(f"patient {REF} enrolled and consented")

        self.say(PRIMARY, f"/infusion {REF}")
        await self.wait(PRIMARY, "recorded", "Dr Primary records an infusion")
        self.step(f"infusion recorded; check-in due in {SECONDS['offset'] / self.speed:g} s")

        self.answered = self._last_id(PATIENT)
        await self.answer("mood", "4", within=10)
        self.step("check-in arrived; the patient answers")
        await self.answer("wished you were dead", "Yes")
        await self.wait(PATIENT, "988", "the crisis card is shown", after=self.answered)
        self.step("C-SSRS item 1 = Yes: the crisis card at once (once per check-in)")
        await self.answer("thoughts of killing yourself", "Yes")
        await self.answer("how you might do this", "No")
        await self.answer("intention of acting on them", "Yes")  # C-SSRS item 4: high
        page = await self.wait(PRIMARY, "HIGH priority", "the primary is paged")
        paged_at = time.monotonic()
        self.step("C-SSRS item 4 = Yes: HIGH escalation, Dr Primary paged (not acknowledging)")
        await self.wait(PATIENT, "paged now", "the patient is told someone was paged")
        if self.mail is not None:
            try:
                await self.mail.wait_for(PRIMARY_MAIL, timeout=10 / min(self.speed, 1.0))
            except AssertionError:
                raise DemoFailed("Dr Primary's page arrives by e-mail too") from None
            self.step("the same page reached Dr Primary by e-mail (embedded SMTP server)")

        page = await self.wait(BACKUP, "HIGH priority", "the backup is paged", within=10)
        self.step(f"Dr Backup paged {time.monotonic() - paged_at:.1f} s after the primary")
        self.tap(BACKUP, page, "Acknowledge")
        await self.wait(PRIMARY, "acknowledged by Dr Backup", "Dr Primary hears of the ack")
        await self.wait(BACKUP, "You acknowledged case", "Dr Backup acknowledges")
        self.step("Dr Backup acknowledged; re-paging stopped")

        # A high case is resolved only once the patient was reached: Dr Backup calls, logs it.
        page = await self.wait(BACKUP, "✓ Acknowledged by", "the page shows who took it")
        asked = page
        for tap, then in (("Log contact", "how did you try"), ("Phone", "what came of it?")):
            self.tap(BACKUP, asked, tap)
            asked = await self.wait(BACKUP, then, f"Dr Backup taps {tap}")
        self.tap(BACKUP, asked, "Reached")
        await self.wait(BACKUP, "✓ Recorded on case", "Dr Backup records: reached")
        self.step("Dr Backup phoned the patient and logged it: reached (the outreach clock ends)")

        self.tap(BACKUP, page, "Resolve")
        prompt = await self.wait(BACKUP, "Resolution note for case", "Dr Backup taps Resolve")
        self.reply(BACKUP, prompt, NOTE)
        await self.wait(BACKUP, "resolved.", "Dr Backup resolves", after=prompt["message_id"])
        await self.wait(PRIMARY, "resolved by Dr Backup", "Dr Primary hears of the resolution")
        self.step("Dr Backup resolved the case with a note")

    async def console_story(self) -> ConsoleLinks:
        """For `--console`: the patient writes crisis words, so a case is open in the console;
        Dr Backup asks the bot for a console sign-in link (/console) and one for Dr Primary, the
        clinic's admin, is minted as `aftercare console link` does."""
        self.say(PATIENT, CRISIS_WORDS)
        await self.wait(PRIMARY, "Patient wrote", "the patient's words page the team", within=10)
        self.step("the patient wrote crisis words: a new case is open and paged")
        after = self._last_id(BACKUP)
        self.say(BACKUP, "/console")
        reply = await self.wait(
            BACKUP, "Your sign-in link", "Dr Backup asks for a console link", after=after
        )
        link = CONSOLE_LINK.search(reply["text"])
        if link is None:
            raise DemoFailed("Dr Backup asks for a console link: no link in the reply")
        admin = await minted_link(self.ctx, NAMES[PRIMARY])
        return ConsoleLinks(admin=admin, on_call=link.group(0))


async def run_demo(
    *,
    out: Callable[[str], None] = print,
    speed: float = 1.0,
    console_port: int | None = None,
    until: asyncio.Event | None = None,
) -> int:
    """Run the whole demo and print the transcripts and audit trail; 0 if every step happened.

    With `console_port`, the console is served on 127.0.0.1 at that port and, after the story,
    the sandbox, the bot and the console keep running until `until` is set (Ctrl-C), with a
    sign-in link for Dr Primary (the clinic's admin) and one for Dr Backup (on call) printed.
    """
    if speed <= 0:
        raise ValueError("speed must be positive")
    started = time.monotonic()
    timings = "timings in seconds" + (f", x{speed:g}" if speed != 1 else "")
    out(f"Aftercare demo: the real bot, offline, against its embedded sandbox Bot API ({timings})")
    failure: str | None = None
    console_url = f"http://127.0.0.1:{console_port}/console" if console_port else None
    sandbox_api, smtp_sink = load_sandbox()
    with (
        tempfile.TemporaryDirectory(prefix="aftercare-demo-") as tmp,
        smtp_sink() as mail,
    ):
        async with sandbox_api(bot_username="aftercare_demo_bot") as sandbox:
            settings = Settings(
                _env_file=None,
                telegram_token=TOKEN,
                telegram_api_url=sandbox.url,
                database_url=f"sqlite+aiosqlite:///{Path(tmp) / 'demo.db'}",
                dispatch_interval_seconds=0.2,
                instance_id="demo",
                # Offline means offline: whatever the operator's environment says.
                webhook_url=None,
                health_port=console_port,
                webhook_listen="127.0.0.1",
                console_url=console_url,
                heartbeat_url=None,
                smtp_url=mail.url,
                smtp_from="Aftercare demo <pages@demo-clinic.example>",
                outbound_allow=mail.host,  # the sandbox's SMTP sink, on this machine
                data_key=SecretStr(new_entry("demo")),  # a throwaway key for a throwaway database
            )
            clinics = parse_clinics(demo_clinic_toml(speed), source="embedded demo clinic")
            ctx = await prepare(settings, clinics=clinics)
            demo = _Demo(sandbox, ctx, out, speed, started=started, mail=mail)
            stop = asyncio.Event()
            task = asyncio.create_task(serve(ctx, stop), name="aftercare-demo-bot")
            try:
                await demo.scenario()
                if console_url is not None:
                    links = await demo.console_story()
                    print_console(out, console_url, links, REF)
                    await _until_stopped(until, task)
            except DemoFailed as exc:
                failure = str(exc)
            except Exception as exc:  # the demo must always stop the bot and report
                failure = f"unexpected error: {exc!r}"
            finally:
                stop.set()
                try:
                    await asyncio.wait_for(task, timeout=15)
                except Exception as exc:  # the bot failed, or did not stop within 15 s
                    failure = failure or f"the bot did not stop cleanly: {exc!r}"
            try:
                demo.step("bot stopped")
                for chat_id, title in ((PATIENT, "Patient chat"), *NAMES.items()):
                    print_chat(out, sandbox, demo.said.get(chat_id, []), chat_id, title)
                print_mail(out, mail)
                failure = failure or await print_audit(ctx, out)
                failure = failure or await print_fhir(ctx, out)
            finally:
                await ctx.db.dispose()
    if failure is not None:
        out(f"\ndemo FAILED at step: {failure}")
        return 1
    out(f"\ndemo finished in {time.monotonic() - started:.1f} s")
    return 0


async def _until_stopped(until: asyncio.Event | None, bot: asyncio.Task[None]) -> None:
    """Wait for Ctrl-C (`until`), or for the bot to end on its own (an error)."""
    waiter = asyncio.create_task((until or asyncio.Event()).wait())
    try:
        await asyncio.wait([waiter, bot], return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiter.cancel()
    if bot.done() and bot.exception() is not None:
        raise DemoFailed(f"the bot stopped while the console was open: {bot.exception()!r}")


async def _demo_with_signals(speed: float, console_port: int | None) -> int:
    until = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, until.set)
    return await run_demo(speed=speed, console_port=console_port, until=until)


def demo_command(
    speed: float = typer.Option(1.0, min=0.25, max=4.0, help="2 runs the timings twice as fast."),
    console: bool = typer.Option(
        False, "--console", help="Then keep running with the clinic console open, until Ctrl-C."
    ),
    port: int = typer.Option(8480, min=1, max=65535, help="The console's port (127.0.0.1)."),
) -> None:
    """Run the real bot offline against the embedded sandbox: a check-in escalated end to end."""
    load_sandbox()  # before anything starts: without the `demo` extra, one line and exit 2
    configure_logging("WARNING", LogFormat.PLAIN, secrets=[TOKEN])
    work = _demo_with_signals(speed, port if console else None)
    if code := asyncio.run(work):  # typer.Exit would be lost by main()
        raise CliError("the demo did not complete; see the step named above", exit_code=code)


async def _named(session: AsyncSession, clinic_id: str, name: str) -> Clinician:
    found = await clinician_by_name(session, clinic_id=clinic_id, name=name)
    if found is None:
        raise DemoFailed(f"{name} is not registered")
    return found
