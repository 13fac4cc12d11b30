"""What a sender is told at once while their update cannot be stored or processed.

Nothing here touches the database: during an outage the crisis card comes from the clinic file,
and every other answer says plainly that the message will be handled when the service is back.
Each update is answered this way once per instance, however often Telegram delivers it again.
The inbox also tells a sender here when a reply was refused and when their update was set aside
for a person.
"""

from __future__ import annotations

import logging
from collections import OrderedDict

from telegram import Bot, Message, Update
from telegram.constants import ChatType
from telegram.error import Forbidden, TelegramError

from bot.clinic_config import ClinicConfig
from bot.context import AppContext
from bot.domain import checkin_flow
from bot.i18n import _, use_language
from bot.i18n.resolve import patient_language
from bot.messaging import questions, texts
from bot.messaging.recovery import update_finding
from bot.services.messages import crisis_words

log = logging.getLogger(__name__)

REMEMBERED = 10_000  # update ids answered from memory, newest kept
CRISIS_COMMANDS = ("/crisis", "/help")


def asks_for_help(update: Update, ctx: AppContext) -> bool:
    """A /crisis or /help, crisis words, or a Yes tap: the crisis card goes with the answer."""
    chat = update.effective_chat
    clinic = ctx.clinic(ctx.intake.clinic_of_chat.get(chat.id) if chat else None)
    message = update.effective_message if update.callback_query is None else None
    if isinstance(message, Message):
        body = (message.text or message.caption or "").strip()
        command = body.split()[0].split("@")[0].lower() if body.startswith("/") else ""
        return command in CRISIS_COMMANDS or bool(crisis_words(clinic, body))
    if update.callback_query is not None:
        tap = questions.parse_tap(update.callback_query.data)
        return tap is not None and tap.value == checkin_flow.YES
    return False


class OutageReplies:
    """Answers from memory, once per update id.

    It also remembers the updates this instance stored and has not processed yet, so that when
    the database fails after storing them (locked, full, gone) their senders are told too.
    """

    def __init__(self, ctx: AppContext, bot: Bot) -> None:
        self.ctx = ctx
        self.bot = bot
        self._answered: OrderedDict[int, None] = OrderedDict()
        self._waiting: OrderedDict[int, Update] = OrderedDict()

    def answered(self, update_id: int) -> bool:
        return update_id in self._answered

    def stored(self, updates: list[Update]) -> None:
        """These are in the inbox now, not yet processed."""
        for update in updates:
            self._waiting[update.update_id] = update
        while len(self._waiting) > REMEMBERED:
            self._waiting.popitem(last=False)

    def processed(self, update_id: int) -> None:
        self._waiting.pop(update_id, None)

    async def answer_waiting(self) -> None:
        """The database failed: tell everyone whose stored update is still waiting."""
        for update in list(self._waiting.values()):
            await self.answer(update)

    async def answer(self, update: Update) -> None:
        """Tell the sender their update is kept for later; the crisis card if they need help."""
        chat = update.effective_chat
        if self.answered(update.update_id) or chat is None or chat.type != ChatType.PRIVATE:
            return
        self._answered[update.update_id] = None
        while len(self._answered) > REMEMBERED:
            self._answered.popitem(last=False)
        clinic = self.ctx.clinic(self.ctx.intake.clinic_of_chat.get(chat.id))
        help_now = asks_for_help(update, self.ctx)
        user = update.effective_user  # no database: the clinic's default or Telegram's language
        code = user.language_code if user is not None else None
        with use_language(patient_language(None, clinic.language, code)):
            await self._reply(update, chat.id, clinic, help_now)

    async def _reply(
        self, update: Update, chat_id: int, clinic: ClinicConfig, help_now: bool
    ) -> None:
        told = False  # the tap's own answer said it is kept
        if update.callback_query is not None:
            try:
                await update.callback_query.answer(_(texts.HELD_TAP), show_alert=True)
                told = True
            except TelegramError as exc:  # e.g. its spinner was stopped before the write failed
                log.info("intake.held_tap_answer_failed error=%s", type(exc).__name__)
        try:
            if help_now:
                await self.bot.send_message(chat_id, texts.crisis_card(clinic))
            if not told or help_now:
                await self.bot.send_message(chat_id, texts.held_for_outage(clinic))
        except TelegramError as exc:
            log.warning(
                "intake.outage_reply_failed update_id=%s error=%s",
                update.update_id,
                type(exc).__name__,
            )
            return
        log.info(
            "intake.answered_from_memory update_id=%s crisis_card=%s",
            update.update_id,
            "yes" if help_now else "no",
        )

    async def apologise(
        self, update_id: int, chat_id: int, error: TelegramError, update: Update | None = None
    ) -> None:
        """Telegram refused a reply that changed nothing stored: say so once if it lets us."""
        log.warning(
            "intake.reply_failed update_id=%s chat=%s error=%s",
            update_id,
            chat_id,
            type(error).__name__,
        )
        if isinstance(error, Forbidden) or chat_id <= 0:
            return  # blocked, or not a private chat: nothing can reach them
        clinic = self.ctx.clinic(self.ctx.intake.clinic_of_chat.get(chat_id))
        try:
            card = update is None or update_finding(update, clinic)  # unread: help over doubt
            await self.bot.send_message(chat_id, texts.something_went_wrong(clinic, card=card))
        except TelegramError as exc:
            log.info("intake.apology_failed error=%s", type(exc).__name__)

    async def could_not_process(self, chat_id: int, clinic: ClinicConfig) -> None:
        """An update set aside for a person: its sender is told, with the crisis card."""
        if chat_id <= 0:
            return  # not a private chat
        try:
            await self.bot.send_message(chat_id, texts.could_not_process(clinic))
        except TelegramError as exc:
            log.warning("intake.park_reply_failed error=%s", type(exc).__name__)
