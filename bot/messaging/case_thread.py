"""A case's thread in Telegram, for every front end: a clinician's message to the patient
(named as their care team), the patient's reply passed to the clinicians who wrote, and the
notice that the thread closed with the case (CLINICAL.md §7, §10: never imply someone watches).

Nothing is held across the network: the check reads in one transaction, the message goes out,
what Telegram did is recorded in the next. A crash between the two loses the record, never
sends twice.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import Bot

from bot.clinic_config import ClinicConfig
from bot.context import AppContext
from bot.i18n import C_, NC_, _, use_language
from bot.i18n.resolve import patient_language
from bot.messaging.delivery import Outcome, deliver
from bot.messaging.pages import message_button
from bot.services.messages import (
    Attached,
    NotWritable,
    ThreadClosed,
    check_text,
    may_write,
    record_written,
)
from storage.models import Clinician, Patient

log = logging.getLogger(__name__)

Transaction = Callable[[], AbstractAsyncContextManager[AsyncSession]]

PROMPT = NC_(
    "Message to the patient of case #{id} ({ref}): reply to this message with what they should "
    "read. It reaches them as from {name}, {clinic}."
)
NOT_DELIVERED = NC_("not delivered — call instead")
MAX_FORWARD = 3500


def prompt(*, case_id: int, ref: str, name: str, clinic: ClinicConfig) -> str:
    return C_(PROMPT).format(id=case_id, ref=ref, name=name, clinic=clinic.name)


def prompted_case(text: str) -> int | None:
    """The case a compose prompt is for; None for any other message."""
    return case_in_prompt(C_(PROMPT), text)


def case_in_prompt(said: str, text: str) -> int | None:
    """The case number in `text` if it is the prompt `said` (as translated, with its "{id}")
    made: what comes before the number, the number, then a space or a parenthesis."""
    head = said.split("{id}", 1)[0]
    match = re.match(re.escape(head) + r"([0-9]{1,9})[ (:]", text)
    return int(match.group(1)) if match else None


def to_patient(name: str, clinic: ClinicConfig, text: str) -> str:
    """How the patient reads a clinician's message: from their care team, by name."""
    return _("{name}, {clinic}: {text}").format(name=name, clinic=clinic.name, text=text)


def passed_on(clinic: ClinicConfig, names: list[str]) -> str:
    """The patient's answer when their message went to the clinicians writing on their case:
    true, and no promise that anyone watches the chat."""
    who = (
        names[0]
        if len(names) == 1
        else _("{names} and {last}").format(names=", ".join(names[:-1]), last=names[-1])
    )
    return _(
        "Your message was passed to {who} of {clinic}, who wrote to you. Nobody watches "
        "this chat around the clock, so an answer may take time: to talk to someone, call "
        "{clinic} at {phone}. If you need help now, send /crisis."
    ).format(who=who, clinic=clinic.name, phone=clinic.contact_phone)


def thread_closed(clinic: ClinicConfig) -> str:
    """After the case is resolved: messages go back to being read in clinic hours (§7, §10)."""
    return _(
        "{clinic} has finished following up with you here. From now on, messages you send "
        "in this chat are saved in your record and read during clinic hours; nobody is alerted "
        "by them and this chat is not watched. To talk to someone, call {clinic} at "
        "{phone}. If you need help now, send /crisis."
    ).format(clinic=clinic.name, phone=clinic.contact_phone)


def forwarded(*, case_id: int, ref: str, text: str) -> str:
    said = C_("💬 Case #{id}: {ref} replied:\n«{text}»")
    return said.format(id=case_id, ref=ref, text=text[:MAX_FORWARD])


class WriteOutcome(StrEnum):
    SENT = "sent"  # in the patient's chat
    NOT_DELIVERED = "not_delivered"  # Telegram refused it (blocked, gone, down): call instead
    REFUSED = "refused"  # not this clinician's case, resolved, no chat, no text: nothing sent


@dataclass(frozen=True)
class Written:
    outcome: WriteOutcome
    message: str  # one line for the clinician
    found: bool = True  # False: no such case in their clinic (the console's 404)


async def write_to_patient(
    ctx: AppContext,
    bot: Bot,
    *,
    case_id: int,
    by: tuple[Clinician, ...],
    text: str,
    transaction: Transaction | None = None,
) -> Written:
    """Send a clinician's message to the case's patient and record what happened."""
    problem = check_text(text)
    async with (transaction or ctx.db.transaction)() as session:
        checked = await may_write(session, case_id=case_id, by=by)
    if isinstance(checked, NotWritable):
        return Written(WriteOutcome.REFUSED, checked.message, found=checked.found)
    if problem is not None:
        return Written(WriteOutcome.REFUSED, problem)
    assert checked.patient.chat_id is not None
    clinic = ctx.clinic(checked.case.clinic_id)
    with use_language(patient_language(checked.patient, clinic.language)):  # the patient reads it
        framed = to_patient(checked.clinician.name, clinic, text)
    delivery = await deliver(
        bot.send_message(checked.patient.chat_id, framed),
        what=f"case_message case={case_id}",
    )
    async with ctx.db.transaction() as session:
        kept = await record_written(
            session, writable=checked, text=text, delivery=delivery, now=ctx.clock.now()
        )
    ref = checked.patient.ref
    if kept.error is None:
        return Written(
            WriteOutcome.SENT, C_("✓ Sent to {ref} (case #{id}).").format(ref=ref, id=case_id)
        )
    log.warning("case_message.not_delivered case=%s outcome=%s", case_id, delivery.outcome)
    return Written(
        WriteOutcome.NOT_DELIVERED,
        C_("✗ To {ref} (case #{id}): {not_delivered}. Telegram said: {error}").format(
            ref=ref, id=case_id, not_delivered=C_(NOT_DELIVERED), error=kept.error
        ),
    )


async def pass_to_writers(
    ctx: AppContext, bot: Bot, *, attached: Attached, patient: Patient
) -> list[str]:
    """The patient's message to every clinician who wrote in the case (their own chats, with a
    button to answer); the names of those it reached. Best effort: it is in the thread anyway."""
    reached = []
    console = ctx.settings.console_url
    for clinician in attached.writers:
        if clinician.chat_id is None:  # wrote from the console only: the thread has it
            continue
        delivery = await deliver(
            bot.send_message(
                clinician.chat_id,
                forwarded(case_id=attached.case_id, ref=patient.ref, text=attached.message.text),
                reply_markup=message_button(attached.case_id, console_url=console),
            ),
            what=f"case_message_forward case={attached.case_id}",
        )
        if delivery.outcome is Outcome.SENT:
            reached.append(clinician.name)
    return reached


async def tell_thread_closed(ctx: AppContext, bot: Bot, closed: ThreadClosed) -> None:
    """Best effort: the case is resolved already; a notice that fails is logged."""
    delivery = await deliver(
        bot.send_message(closed.chat_id, thread_closed(ctx.clinic(closed.clinic_id))),
        what=f"thread_closed case={closed.case_id}",
    )
    if delivery.outcome is not Outcome.SENT:
        log.warning("case_message.closed_notice_failed case=%s", closed.case_id)
