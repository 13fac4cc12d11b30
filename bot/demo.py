"""`aftercare demo`: the real bot, offline, against the embedded sandbox Bot API."""

from __future__ import annotations

import asyncio
import json
import re
import tempfile
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer

from bot.app import prepare, serve
from bot.clinic_config import parse_clinics
from bot.context import AppContext
from bot.enrollment import create_clinician_invite
from bot.logs import configure_logging
from bot.oncall import add_shift
from bot.sandbox import BotApiSandbox
from bot.settings import LogFormat, Settings
from storage import audit

TOKEN = "demo:TOKEN"
PRIMARY, BACKUP, PATIENT = 1001, 1002, 2001
NAMES = {PRIMARY: "Dr Primary", BACKUP: "Dr Backup"}
REF = "P-0042"
NOTE = "Called her: safe at home with her sister tonight; seen at the clinic tomorrow 09:00."
REQUIRED_EVENTS = (
    "escalation.opened",
    "page.sent",
    "escalation.acknowledged",
    "escalation.resolved",
)
TOKEN_IN_LINK = re.compile(r"start=([A-Za-z0-9_-]+)")

CLINIC_TOML = """
[[clinics]]
id = "demo"
name = "Demo Ketamine Clinic"
timezone = "UTC"
contact_phone = "+1 555 0100"
quiet_hours = {{ start = "00:00", end = "00:00" }}

[clinics.protocols.standard]
offsets = ["{offset}"]
red_flags_at = "{offset}"
daily_days = 0

[clinics.checkins]
reminder_after = "{reminder}"
missed_after = "{missed}"

[clinics.escalation]
high = [
  {{ after = "PT0S", notify = ["primary"] }},
  {{ after = "{backup}", notify = ["primary", "backup"] }},
  {{ after = "{everyone}", notify = ["everyone"] }},
]
"""


class DemoFailed(Exception):
    """An expected step did not happen in time; the message names the step."""


def demo_clinic_toml(speed: float = 1.0) -> str:
    """The embedded demo clinic, its schedule and timeouts compressed to seconds (÷ speed)."""

    def seconds(value: float) -> str:
        return f"PT{value / speed:g}S"

    return CLINIC_TOML.format(
        offset=seconds(2),
        reminder=seconds(20),
        missed=seconds(40),
        backup=seconds(3),
        everyone=seconds(8),
    )


@dataclass
class _Demo:
    """One scripted run: the people's side of the sandbox, and what they said."""

    sandbox: BotApiSandbox
    ctx: AppContext
    out: Callable[[str], None]
    speed: float
    started: float = field(default_factory=time.monotonic)
    said: dict[int, list[tuple[int, int, str]]] = field(default_factory=dict)

    def step(self, text: str) -> None:
        """Print one progress line with the time since the start."""
        self.out(f"[{time.monotonic() - self.started:5.1f}s] {text}")

    def _last_id(self, chat_id: int) -> int:
        last = self.sandbox.last_message(chat_id)
        return int(last["message_id"]) if last else 0

    def _note(self, chat_id: int, text: str) -> None:
        """Remember what a person did, placed after the bot's latest message in that chat."""
        entries = self.said.setdefault(chat_id, [])
        entries.append((self._last_id(chat_id), len(entries), text))

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
        user = {"id": chat_id, "is_bot": False, "first_name": NAMES.get(chat_id, "User")}
        message_id = self.sandbox.state.chats[chat_id].next_message_id
        self.sandbox.enqueue_update(
            {
                "message": {
                    "message_id": message_id,
                    "date": int(time.time()),
                    "text": text,
                    "chat": {"id": chat_id, "type": "private", "first_name": user["first_name"]},
                    "from": user,
                    "reply_to_message": prompt,
                }
            }
        )

    async def wait(
        self, chat_id: int, contains: str, step: str, *, after: int = 0, within: float = 5.0
    ) -> dict[str, Any]:
        """The bot's first message containing `contains`, or DemoFailed naming the step."""
        try:
            return await self.sandbox.wait_for_message(
                chat_id, contains, after=after, timeout=within / min(self.speed, 1.0)
            )
        except TimeoutError as exc:
            raise DemoFailed(f"{step}: {exc}") from None

    async def answer(self, contains: str, button: str, *, within: float = 5.0) -> None:
        """Wait for the patient's open question containing `contains` and tap `button`."""
        deadline = time.monotonic() + within / min(self.speed, 1.0)
        while time.monotonic() < deadline:
            for message in reversed(self.sandbox.chat(PATIENT)):
                keyboard = (message.get("reply_markup") or {}).get("inline_keyboard")
                if keyboard and contains in (message.get("text") or ""):
                    self.tap(PATIENT, message, button)
                    return
            await asyncio.sleep(0.05)
        raise DemoFailed(f"patient answers {contains!r}: the question never arrived")

    async def join(self, chat_id: int) -> None:
        """A clinician opens a real single-use invite with /start."""
        name, clinic = NAMES[chat_id], self.ctx.clinics.clinics[0]
        async with self.ctx.db.transaction() as session:
            now = self.ctx.clock.now()
            token = await create_clinician_invite(
                session, clinic=clinic, name=name, is_admin=False, now=now, actor="demo"
            )
        self.sandbox.add_user(chat_id, name)
        self.say(chat_id, f"/start {token}")
        await self.wait(chat_id, "registered as a clinician", f"{name} joins")
        self.step(f"{name} joined through an invite")

    async def roster(self) -> None:
        """Dr Primary is primary on call and Dr Backup is backup, for the next hour."""
        clinic, now = self.ctx.clinics.clinics[0], self.ctx.clock.now()
        async with self.ctx.db.transaction() as session:
            for chat_id, role in ((PRIMARY, "primary"), (BACKUP, "backup")):
                await add_shift(
                    session,
                    clinic=clinic,
                    clinician_name=NAMES[chat_id],
                    role=role,
                    starts_at=now - timedelta(minutes=1),
                    ends_at=now + timedelta(hours=1),
                    now=now,
                    actor="demo",
                )
        self.step("on call: Dr Primary (primary), Dr Backup (backup)")

    async def scenario(self) -> None:
        """Every step of the demo, in order; DemoFailed names the first that did not happen."""
        sb = self.sandbox
        try:
            await sb.wait_for_call("deleteWebhook", timeout=10)
        except TimeoutError:
            raise DemoFailed("the bot did not start polling the sandbox") from None
        self.step("bot started against the sandbox Bot API")
        await self.join(PRIMARY)
        await self.join(BACKUP)
        await self.roster()

        self.say(PRIMARY, f"/enroll {REF}")
        invite = await self.wait(PRIMARY, "invited", "Dr Primary enrolls the patient")
        link = TOKEN_IN_LINK.search(invite["text"])
        if link is None:
            raise DemoFailed("Dr Primary enrolls the patient: no invite link in the reply")
        sb.add_user(PATIENT, "Pat")
        self.say(PATIENT, f"/start {link.group(1)}")
        consent = await self.wait(PATIENT, "Do you agree?", "the patient opens the invite")
        self.tap(PATIENT, consent, "I agree")
        await self.wait(PATIENT, "you're enrolled", "the patient consents")
        self.step(f"patient {REF} enrolled and consented")

        self.say(PRIMARY, f"/infusion {REF}")
        await self.wait(PRIMARY, "recorded", "Dr Primary records an infusion")
        self.step("infusion recorded; check-in due in 2 s")

        await self.answer("mood", "4", within=10)
        self.step("check-in arrived; the patient answers")
        before = self._last_id(PATIENT)
        await self.answer("wished you were dead", "Yes")
        await self.answer("thoughts of killing yourself", "Yes")
        await self.answer("how you might do this", "No")
        await self.answer("intention of acting on them", "Yes")  # C-SSRS item 4: high
        await self.wait(PATIENT, "988", "the crisis card is shown", after=before)
        page = await self.wait(PRIMARY, "HIGH priority", "the primary is paged")
        paged_at = time.monotonic()
        self.step("C-SSRS item 4 = Yes: HIGH escalation, Dr Primary paged (not acknowledging)")
        await self.wait(PATIENT, "paged now", "the patient is told someone was paged")

        page = await self.wait(BACKUP, "HIGH priority", "the backup is paged", within=10)
        self.step(f"Dr Backup paged {time.monotonic() - paged_at:.1f} s after the primary")
        self.tap(BACKUP, page, "Acknowledge")
        await self.wait(PRIMARY, "acknowledged by Dr Backup", "Dr Primary hears of the ack")
        await self.wait(BACKUP, "You acknowledged case", "Dr Backup acknowledges")
        self.step("Dr Backup acknowledged; re-paging stopped")

        self.tap(BACKUP, page, "Resolve")
        prompt = await self.wait(BACKUP, "Resolution note for case", "Dr Backup taps Resolve")
        self.reply(BACKUP, prompt, NOTE)
        await self.wait(BACKUP, "resolved.", "Dr Backup resolves", after=prompt["message_id"])
        await self.wait(PRIMARY, "resolved by Dr Backup", "Dr Primary hears of the resolution")
        self.step("Dr Backup resolved the case with a note")

    def print_chat(self, chat_id: int, title: str, who: str) -> None:
        """One chat: the bot's messages (edits applied) interleaved with what the person did."""
        self.out(f"\n=== {title} ===")
        lines: list[tuple[tuple[int, int, int], str]] = []
        for message in self.sandbox.chat(chat_id):
            text = (message.get("text") or message.get("caption") or "").replace("\n", "\n     ")
            keyboard = (message.get("reply_markup") or {}).get("inline_keyboard") or []
            buttons = " ".join(f"[{b['text']}]" for row in keyboard for b in row)
            lines.append(((message["message_id"], 0, 0), f"bot: {text}"))
            if buttons:
                lines[-1] = (lines[-1][0], f"{lines[-1][1]}\n     {buttons}")
        for after, seq, text in self.said.get(chat_id, []):
            lines.append(((after, 1, seq), f"{who}: {text}"))
        for _, line in sorted(lines):
            self.out(line)

    async def print_audit(self) -> bool:
        """The audit trail, one line per event, then the hash chain check; True if intact."""
        async with self.ctx.db.transaction() as session:
            events = await audit.events(session)
            verdict = await audit.verify(session)
        self.out("\n=== Audit trail ===")
        for event in events:
            ids = {"patient": event.patient_id, "checkin": event.checkin_id}
            ids["case"] = event.escalation_id
            detail = " ".join(f"{k}={v}" for k, v in ids.items() if v is not None)
            detail += "".join(f" {k}={_compact(v)}" for k, v in json.loads(event.detail).items())
            stamp = f"{event.at.astimezone(UTC):%H:%M:%S}.{event.at.microsecond // 1000:03d}"
            self.out(f"{event.id:3d} {stamp} {event.actor:<13} {event.event:<26} {detail[:100]}")
        if not verdict.ok:
            self.out(f"audit log BROKEN at row {verdict.first_bad_id}: {verdict.problem}")
            return False
        self.out(f"audit log intact: {verdict.checked} rows")
        missing = [e for e in REQUIRED_EVENTS if e not in {x.event for x in events}]
        if missing:
            self.out(f"demo failed: missing audit events {', '.join(missing)}")
        return not missing


async def _stopped(task: asyncio.Task[None], failure: str | None) -> str | None:
    """Wait for the bot to shut down; the first failure seen (the demo's, or the bot's)."""
    done, _ = await asyncio.wait({task}, timeout=15)
    if not done:
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task
        return failure or "the bot did not stop within 15 s"
    if task.exception() is not None:
        return failure or f"the bot stopped with an error: {task.exception()!r}"
    return failure


def _compact(value: Any) -> str:
    """A detail value in few characters."""
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))


async def run_demo(*, out: Callable[[str], None] = print, speed: float = 1.0) -> int:
    """Run the whole demo and print the transcripts and audit trail; 0 if every step happened."""
    if speed <= 0:
        raise ValueError("speed must be positive")
    started = time.monotonic()
    faster = f", x{speed:g}" if speed != 1 else ""
    out(
        "Aftercare demo: the real bot, offline, against its embedded sandbox Bot API "
        f"(schedule and timeouts compressed to seconds{faster})"
    )
    failure: str | None = None
    with tempfile.TemporaryDirectory(prefix="aftercare-demo-") as tmp:
        async with BotApiSandbox(bot_username="aftercare_demo_bot") as sandbox:
            settings = Settings(
                _env_file=None,
                telegram_token=TOKEN,
                telegram_api_url=sandbox.url,
                database_url=f"sqlite+aiosqlite:///{Path(tmp) / 'demo.db'}",
                dispatch_interval_seconds=0.2,
                instance_id="demo",
            )
            clinics = parse_clinics(demo_clinic_toml(speed), source="embedded demo clinic")
            ctx = await prepare(settings, clinics=clinics)
            demo = _Demo(sandbox, ctx, out, speed, started=started)
            stop = asyncio.Event()
            task = asyncio.create_task(serve(ctx, stop), name="aftercare-demo-bot")
            try:
                await demo.scenario()
            except DemoFailed as exc:
                failure = str(exc)
            except Exception as exc:  # the demo must always stop the bot and report
                failure = f"unexpected error: {exc!r}"
            finally:
                stop.set()
                failure = await _stopped(task, failure)
            try:
                demo.step("bot stopped")
                demo.print_chat(PATIENT, "Patient chat", "patient")
                demo.print_chat(PRIMARY, "Dr Primary", "Dr Primary")
                demo.print_chat(BACKUP, "Dr Backup", "Dr Backup")
                intact = await demo.print_audit()
            finally:
                await ctx.db.dispose()
    if failure is not None:
        out(f"\ndemo FAILED at step: {failure}")
        return 1
    out(f"\ndemo finished in {time.monotonic() - started:.1f} s")
    return 0 if intact else 1


def demo_command(
    speed: Annotated[
        float, typer.Option(min=0.25, max=4.0, help="Compress the timings (2 = twice as fast).")
    ] = 1.0,
) -> None:
    """Run the real bot offline against the embedded sandbox: a check-in escalated end to end."""
    configure_logging("WARNING", LogFormat.PLAIN, secrets=[TOKEN])
    raise typer.Exit(asyncio.run(run_demo(speed=speed)))
