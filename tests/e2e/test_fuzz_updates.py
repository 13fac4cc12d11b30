"""Hypothesis-generated updates never crash a handler, never store anything about strangers and
never touch another patient's records.

One bot runs per Hypothesis example (starting one per update would be far too slow): two
enrolled patients, A and B, each with an open check-in (so there are buttons to forge), and a
registered clinician. A generated list of abstract actions is then played against the sandbox:
random and huge text, unicode, commands with junk arguments, edited messages, group, supergroup
and channel messages, stickers, photos and other media, forged and unknown callback data (B's
check-in data tapped from A's chat, case buttons, consent and /stop data), callback queries
without a message or without data, updates from strangers, inline queries, chat-member updates
and redeliveries of earlier update ids. Ids that only exist at run time (the check-ins) are
written as "{A}" / "{B}" in the actions and filled in when played.

Afterwards (a fresh user's /help is answered, so every earlier update was handled):
- no handler failed, except the Telegram 400s listed in `_ALLOWED_400`, provoked on purpose by
  callback queries about messages that do not exist or cannot change (see `_allowed`);
- no Patient, Clinician or Invite row names a stranger; no clinician appeared, and the only new
  patients are unlinked invites made by the clinician's own /enroll;
- every answer belongs to the patient whose chat sent the update that stored it, and a patient
  who sent nothing has every check-in, answer and case exactly as before;
- groups and channels get nothing, strangers get only the join explanation, the crisis card or a
  fixed invite/consent text, and no chat but the clinician's ever sees a patient reference.
"""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from telegram.error import BadRequest

from bot.messaging import texts
from sandbox import BotApiSandbox
from storage.models import Answer, Case, Checkin, Clinician, Invite, Patient
from tests.auxil.databases import isolated
from tests.auxil.harness import RunningBot, make_clinics, running_bot
from tests.auxil.journey import FAST, enrolled_patient, join_clinician

ALICE, BOB, CLINICIAN, FRESH = 9501, 9502, 9503, 9599
STRANGERS = {"U1": 9511, "U2": 9512, "U3": 8_589_934_592_123}  # the last one needs 64 bits
USERS = {"A": ALICE, "B": BOB, "C": CLINICIAN, **STRANGERS}
REFS = {ALICE: "PT-ALPHA", BOB: "PT-BRAVO"}
GROUP, SUPERGROUP, CHANNEL = -4_001, -1_001_234_567_890, -1_009_876_543_210


class Act(NamedTuple):
    """One thing a user (or a group, or Telegram) does; `arg` is text, data or an index."""

    kind: str
    who: str = "A"
    arg: str = ""


# ------------------------------------------------------------------ strategies

_UNICODE = st.text(st.characters(exclude_categories=("Cs",)), max_size=200)
_SPECIAL_TEXT = st.sampled_from(
    [
        "",
        "   ",
        "hello",
        "😀🙈🏳️‍🌈👩‍👩‍👧" * 20,
        "\u202eevil RTL override\u202c",
        "שלום, אני בסדר",
        "مرحبا كيف حالك",
        "zero\u200bwidth\u200c\u200djoiners\ufeff",
        "nul \x00 and \x1b[31m escapes",
        "I want to kill myself",
        "<b>html</b> *markdown* _x_ `code` [link](http://x)",
        "a" * 4096,
        "😀" * 2100,  # 4200 UTF-16 units: longer than Telegram allows
        "x" * 5000,
        "Resolution note for case #1: done",
    ]
)
_COMMANDS = st.sampled_from(
    [
        "/start",
        "/help",
        "/crisis",
        "/history",
        "/ack",
        "/resolve",
        "/open",
        "/patients",
        "/checkin",
        "/stop",
        "/oncall",
        "/offcall",
        "/enroll",
        "/infusion",
        "/nosuchcommand",
        "/start@aftercare_test_bot",
        "/ack@some_other_bot",
    ]
)
_JUNK_ARGS = st.one_of(
    st.sampled_from(
        [
            "",
            "999999999999999999999",
            "99999999999",
            "-1",
            "#1",
            "0",
            "1",
            "x",
            "1 called, safe",
            "PT-ALPHA",
            "PT-BRAVO",
            "PT-BRAVO 25:99",
            "../../etc/passwd",
            "Europe/Nowhere",
            "²",
            "١٢",
            "\u202e",
            "A" * 43,
            "a" * 4000,
            "1" * 40,
        ]
    ),
    _UNICODE,
)
_COMMAND_TEXT = st.builds(lambda c, a: f"{c} {a}".rstrip(), _COMMANDS, _JUNK_ARGS)
TEXT = st.one_of(_UNICODE, _SPECIAL_TEXT, _COMMAND_TEXT)

_DATA = st.one_of(
    st.sampled_from(
        [
            "c:{B}:mood:5",
            "c:{B}:mood:0",
            "c:{B}:s1:yes",
            "c:{B}:note:skip",
            "c:{B}:mood:11",
            "c:{B}:mood",
            "c:{A}:mood:3",
            "c:{A}:s1:no",
            "c:{A}:s2:yes",
            "c:999999999999999999:mood:5",
            "c:99999999999:mood:5",
            "c:-1:mood:5",
            "c::mood:5",
            "c:²:mood:5",
            "esc:ack:1",
            "esc:resolve:1",
            "esc:ack:999999999999999999999",
            "esc:ack:²",
            "esc:ack:",
            "esc:x:1",
            "esc:",
            "consent:yes:junk",
            "consent:no:junk",
            "consent:yes:" + "A" * 43,
            "consent:yes",
            "consent:",
            "stop:yes",
            "stop:no",
            "stop:",
            "",
        ]
    ),
    st.text(max_size=64).map(lambda s: s.encode()[:64].decode(errors="ignore")),
)
_MEDIA = st.sampled_from(
    ["sticker", "photo", "document", "location", "contact", "voice", "video_note", "dice", "poll"]
)
_PEOPLE = st.sampled_from(sorted(USERS))


def _acts() -> st.SearchStrategy[Act]:
    return st.one_of(
        st.builds(Act, st.just("text"), _PEOPLE, TEXT),
        st.builds(Act, st.just("edit"), _PEOPLE, TEXT),
        st.builds(Act, st.sampled_from(["group", "supergroup"]), _PEOPLE, TEXT),
        st.builds(Act, st.just("channel"), st.just("A"), TEXT),
        st.builds(Act, st.just("media"), _PEOPLE, _MEDIA),
        st.builds(Act, st.just("tap"), _PEOPLE, _DATA),
        st.builds(Act, st.just("stale_tap"), _PEOPLE, _DATA),
        st.builds(Act, st.sampled_from(["inline_tap", "nodata_tap"]), _PEOPLE, _DATA),
        st.builds(Act, st.sampled_from(["member", "inline_query"]), _PEOPLE, _UNICODE),
        st.builds(Act, st.just("replay"), st.just("A"), st.integers(0, 200).map(str)),
    )


ACTS = st.lists(_acts(), min_size=30, max_size=60)


# ------------------------------------------------------------------ playing actions


@dataclass
class Played:
    """What was sent: who sent each update, from which private chat, and what it was."""

    private_chat: dict[int, int] = field(default_factory=dict)  # update_id -> chat id
    ignored: set[int] = field(default_factory=set)  # updates no handler may act on
    forged_queries: set[int] = field(default_factory=set)  # callback updates (any data)
    stop_yes: set[int] = field(default_factory=set)  # chats that sent "stop:yes"
    enroll_commands: int = 0
    update_ids: list[int] = field(default_factory=list)

    def senders(self) -> set[int]:
        return set(self.private_chat.values())


class Player:
    def __init__(self, bot: RunningBot, checkins: dict[str, int]) -> None:
        self.bot, self.sandbox, self.checkins = bot, bot.sandbox, checkins
        self.played = Played()
        self.serial = 0

    def _next(self) -> int:
        self.serial += 1
        return self.serial

    def _data(self, template: str) -> str:
        return template.replace("{A}", str(self.checkins["A"])).replace(
            "{B}", str(self.checkins["B"])
        )

    def _user(self, user_id: int) -> dict[str, Any]:
        return {"id": user_id, "is_bot": False, "first_name": "Fuzz", "language_code": "en"}

    def _private(self, user_id: int) -> dict[str, Any]:
        return {"id": user_id, "type": "private", "first_name": "Fuzz"}

    def _message(self, user_id: int, chat: dict[str, Any], **content: Any) -> dict[str, Any]:
        return {
            "message_id": 50_000 + self._next(),
            "date": 1_700_000_000,
            "chat": chat,
            "from": self._user(user_id),
            **content,
        }

    def _note(self, update_id: int, chat: int | None) -> None:
        self.played.update_ids.append(update_id)
        if chat is None:
            self.played.ignored.add(update_id)
        else:
            self.played.private_chat[update_id] = chat

    def play(self, act: Act) -> None:
        user = USERS.get(act.who, ALICE)
        getattr(self, f"_{act.kind}")(user, act.arg)

    def _text(self, user: int, text: str) -> None:
        if text.split(" ", 1)[0] == "/enroll" and user == CLINICIAN:
            self.played.enroll_commands += 1
        self._note(self.sandbox.send_text(user, text), user)

    def _edit(self, user: int, text: str) -> None:
        message = self._message(user, self._private(user), text=text, edit_date=1_700_000_100)
        self._note(self.sandbox.enqueue_update({"edited_message": message}), user)

    def _group(self, user: int, text: str) -> None:
        chat = {"id": GROUP, "type": "group", "title": "Clinic staff"}
        self._note(
            self.sandbox.enqueue_update({"message": self._message(user, chat, text=text)}), None
        )

    def _supergroup(self, user: int, text: str) -> None:
        chat = {"id": SUPERGROUP, "type": "supergroup", "title": "Patients (unofficial)"}
        kind = "edited_message" if len(text) % 2 else "message"
        message = self._message(user, chat, text=text)
        self._note(self.sandbox.enqueue_update({kind: message}), None)

    def _channel(self, user: int, text: str) -> None:
        chat = {"id": CHANNEL, "type": "channel", "title": "News"}
        message = self._message(user, chat, text=text, sender_chat=chat)
        del message["from"]
        kind = "edited_channel_post" if len(text) % 2 else "channel_post"
        self._note(self.sandbox.enqueue_update({kind: message}), None)

    def _media(self, user: int, kind: str) -> None:
        file = {"file_id": f"F{self._next()}", "file_unique_id": f"U{self.serial}"}
        content: dict[str, Any] = {
            "sticker": {
                "sticker": file
                | {"width": 512, "height": 512, "type": "regular"}
                | {"is_animated": False, "is_video": False, "emoji": "😀"}
            },
            "photo": {"photo": [file | {"width": 90, "height": 90}], "caption": "see this"},
            "document": {"document": file | {"file_name": "a.pdf"}, "caption": "kill myself"},
            "location": {"location": {"latitude": 51.5, "longitude": -0.1}},
            "contact": {"contact": {"phone_number": "+15550000", "first_name": "Mum"}},
            "voice": {"voice": file | {"duration": 3}},
            "video_note": {"video_note": file | {"length": 240, "duration": 2}},
            "dice": {"dice": {"emoji": "🎲", "value": 4}},
            "poll": {
                "poll": {
                    "id": "1",
                    "question": "?",
                    "options": [{"text": "a", "voter_count": 0, "persistent_id": "o1"}],
                    "total_voter_count": 0,
                    "is_closed": False,
                    "is_anonymous": True,
                    "type": "regular",
                    "allows_multiple_answers": False,
                    "allows_revoting": False,
                    "members_only": False,
                }
            },
        }[kind]
        message = self._message(user, self._private(user), **content)
        self._note(self.sandbox.enqueue_update({"message": message}), user)

    def _callback(self, user: int, data: str | None, message: dict[str, Any] | None) -> None:
        query: dict[str, Any] = {
            "id": f"fuzz-{self._next()}",
            "from": self._user(user),
            "chat_instance": "42",
        }
        if data is not None:
            query["data"] = data
        else:
            query["game_short_name"] = "game"
        if message is not None:
            query["message"] = message
        else:
            query["inline_message_id"] = "AAAAinline"
        update_id = self.sandbox.enqueue_update({"callback_query": query})
        self._note(update_id, user if message is not None else None)
        self.played.forged_queries.add(update_id)

    def _tap(self, user: int, template: str) -> None:
        """A forged tap on the newest bot message in the user's own chat (with buttons if any)."""
        data = self._data(template)
        if data == "stop:yes":
            self.played.stop_yes.add(user)
        mine = self.sandbox.chat(user)
        if not mine or not data:
            self._stale_tap(user, template)
            return
        keyed = [m for m in mine if m.get("reply_markup")]
        target = (keyed or mine)[-1]
        self.sandbox.tap(user, target["message_id"], data=data, forge=True)
        update_id = max(self.sandbox.state.history)
        self._note(update_id, user)
        self.played.forged_queries.add(update_id)

    def _stale_tap(self, user: int, template: str) -> None:
        """A callback about a bot message that does not exist (any more) in the user's chat."""
        data = self._data(template)
        if data == "stop:yes":
            self.played.stop_yes.add(user)
        bot = {"id": 1_000_001, "is_bot": True, "first_name": "Aftercare"}
        message = {
            "message_id": 900_000 + self._next(),
            "date": 1_700_000_000,
            "chat": self._private(user),
            "from": bot,
            "text": "an old question",
        }
        self._callback(user, data, message)

    def _inline_tap(self, user: int, template: str) -> None:
        self._callback(user, self._data(template), None)

    def _nodata_tap(self, user: int, template: str) -> None:
        mine = self.sandbox.chat(user)
        if mine:
            self._callback(user, None, mine[-1])
        else:
            self._callback(user, None, None)

    def _member(self, user: int, text: str) -> None:
        update = {
            "my_chat_member": {
                "chat": self._private(user),
                "from": self._user(user),
                "date": 1_700_000_000,
                "old_chat_member": {"status": "member", "user": self._bot_user()},
                "new_chat_member": {
                    "status": "kicked",
                    "user": self._bot_user(),
                    "until_date": 0,
                },
            }
        }
        self._note(self.sandbox.enqueue_update(update), user)

    def _bot_user(self) -> dict[str, Any]:
        return {"id": 1_000_001, "is_bot": True, "first_name": "Aftercare"}

    def _inline_query(self, user: int, text: str) -> None:
        update = {
            "inline_query": {
                "id": f"iq-{self._next()}",
                "from": self._user(user),
                "query": text[:256],
                "offset": "",
            }
        }
        self._note(self.sandbox.enqueue_update(update), None)

    def _replay(self, user: int, index: str) -> None:
        if self.played.update_ids:
            ids = self.played.update_ids
            self.sandbox.redeliver(ids[int(index) % len(ids)])


# ------------------------------------------------------------------ checking


# Telegram refuses these edits when a callback names a message that does not exist or that
# cannot change (a forged "stop:no" on a message that already says so, a consent answer about a
# message the sandbox never sent). Real Telegram never delivers such callbacks: we provoke them.
_ALLOWED_400 = (
    "message to edit not found",
    "message is not modified",
    "there is no text in the message to edit",
    "message can't be edited",
)
_STRANGER_TEXTS = {
    texts.join_explanation(),
    texts.CONSENT_DECLINED,
    *texts.INVITE_PROBLEMS.values(),
}


def _allowed(record: logging.LogRecord, played: Played) -> bool:
    """A refusal we provoked on purpose: see `_ALLOWED_400`.

    Either a handler failed on one of our callback queries with such a 400, or the bot's
    delivery layer logged (and handled) one while editing the question of an answered tap whose
    message does not exist.
    """
    if record.msg == "send.refused what=%s description=%s" and record.args:
        description = str(record.args[1]).lower()  # type: ignore[index]
        return bool(played.forged_queries) and any(p in description for p in _ALLOWED_400)
    if record.msg != "handler.failed update_id=%s error=%s" or record.exc_info is None:
        return False
    error = record.exc_info[1]
    return (
        isinstance(error, BadRequest)
        and any(phrase in error.message.lower() for phrase in _ALLOWED_400)
        and record.args is not None
        and record.args[0] in played.forged_queries  # type: ignore[index]
    )


async def _rows(bot: RunningBot) -> dict[str, list[Any]]:
    async with bot.ctx.db.transaction() as session:
        return {
            name: [
                row.model_dump()
                for row in (await session.scalars(select(model).order_by(model.id))).all()
            ]
            for name, model in (
                ("patients", Patient),
                ("clinicians", Clinician),
                ("invites", Invite),
                ("checkins", Checkin),
                ("answers", Answer),
                ("escalations", Case),
            )
        }


async def _settled_rows(bot: RunningBot) -> dict[str, list[Any]]:
    """The rows once the dispatcher has recorded both first questions as sent."""
    for _ in range(100):
        rows = await _rows(bot)
        if all(c["status"] == "sent" and c["message_id"] for c in rows["checkins"]):
            return rows
        await asyncio.sleep(0.1)
    raise AssertionError(f"check-ins never settled: {rows['checkins']}")


_CHECKIN_STATE = ("status", "current_item", "message_id", "risk_level", "closed_at")


def _check_rows(before: dict[str, list[Any]], after: dict[str, list[Any]], played: Played) -> None:
    senders = played.senders()
    strangers = set(STRANGERS.values())
    patients = {p["id"]: p for p in after["patients"]}
    originals = {p["id"]: p for p in before["patients"]}

    # Nobody new joined; clinicians are exactly as they were.
    assert after["clinicians"] == before["clinicians"]
    for pid, old in originals.items():
        new = patients[pid]
        assert (new["chat_id"], new["telegram_user_id"]) == (
            old["chat_id"],
            old["telegram_user_id"],
        )
        if new["status"] != old["status"]:
            assert new["status"] == "opted_out" and old["chat_id"] in played.stop_yes, new
    added = [p for pid, p in patients.items() if pid not in originals]
    assert len(added) <= played.enroll_commands, added
    assert all(p["chat_id"] is None and p["status"] == "invited" for p in added), added

    # No row names a stranger.
    for p in after["patients"]:
        assert p["chat_id"] not in strangers and p["telegram_user_id"] not in strangers, p
    for invite in after["invites"]:
        assert invite["used_by_user_id"] not in strangers, invite

    # Every answer stored during the run came from its own patient's chat.
    old_answers = {a["id"] for a in before["answers"]}
    checkin_owner = {c["id"]: c["patient_id"] for c in after["checkins"]}
    for answer in after["answers"]:
        if answer["id"] in old_answers:
            continue
        chat = played.private_chat.get(answer["update_id"])
        assert chat is not None, f"answer from an update that may not store one: {answer}"
        owner = patients[answer["patient_id"]]["chat_id"]
        assert owner == chat, f"chat {chat} stored an answer for chat {owner}: {answer}"
        if answer["checkin_id"] is not None:
            assert checkin_owner[answer["checkin_id"]] == answer["patient_id"], answer

    # A patient who sent nothing has every check-in and case as before.
    old_checkins = {c["id"]: c for c in before["checkins"]}
    for checkin in after["checkins"]:
        old = old_checkins.get(checkin["id"])
        state = [checkin[k] for k in _CHECKIN_STATE]
        if old is None or state != [old[k] for k in _CHECKIN_STATE]:
            chat = patients[checkin["patient_id"]]["chat_id"]
            assert chat in senders, f"check-in changed without its patient: {old} -> {checkin}"
    old_cases = {e["id"] for e in before["escalations"]}
    for case in after["escalations"]:
        if case["id"] not in old_cases:
            assert patients[case["patient_id"]]["chat_id"] in senders, case
            if case["checkin_id"] is not None:
                assert checkin_owner[case["checkin_id"]] == case["patient_id"], case


def _check_messages(sandbox: BotApiSandbox, bot: RunningBot) -> None:
    card = texts.crisis_card(bot.ctx.clinics.clinics[0])
    strangers = set(STRANGERS.values())
    for call in sandbox.calls:
        chat = call.params.get("chat_id")
        if call.method in ("sendMessage", "editMessageText", "sendPhoto", "sendDocument"):
            assert isinstance(chat, int) and chat > 0, f"a group or channel got {call}"
            text = str(call.params.get("text") or call.params.get("caption") or "")
            if chat in strangers:
                assert text in _STRANGER_TEXTS or text == card, f"stranger {chat} got {text!r}"
            if chat != CLINICIAN:
                assert not any(ref in text for ref in REFS.values()), f"{chat} got {text!r}"


# ------------------------------------------------------------------ the test


class _Records(logging.Handler):
    """Every WARNING-or-worse record logged while a run is being checked."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


_FAILURES: dict[str, type[AssertionError]] = {}


def _failure(record: logging.LogRecord) -> type[AssertionError]:
    """One AssertionError subclass per kind of failure, so Hypothesis reports each separately."""
    if record.exc_info is None:
        kind = record.msg.split()[0]
    else:
        error = record.exc_info[1]
        kind = type(error).__name__
        if isinstance(error, BadRequest):  # one per refusal: "Message is too long", ...
            kind += "_" + re.sub(r"\W+", "_", error.message)[:40]
    if kind not in _FAILURES:
        _FAILURES[kind] = type(f"HandlerFailed_{kind}", (AssertionError,), {})
    return _FAILURES[kind]


def _describe(record: logging.LogRecord) -> str:
    error = f" {record.exc_info[1]!r}" if record.exc_info else ""
    return f"{record.name} {record.levelname} {record.getMessage()}{error}"


async def play_and_check(acts: list[Act], backend: str, directory: Path) -> None:
    """Start a bot with A, B and a clinician, play the actions, check every invariant."""
    records = _Records()
    async with (
        BotApiSandbox() as sandbox,
        isolated(backend, directory) as database,
        running_bot(sandbox, database, clinics=make_clinics(FAST)) as bot,
    ):
        await join_clinician(bot, CLINICIAN)
        await enrolled_patient(bot, ALICE, REFS[ALICE])
        await enrolled_patient(bot, BOB, REFS[BOB])
        checkins = {}
        for who, user in (("A", ALICE), ("B", BOB)):
            question = await sandbox.wait_for_message(user, "mood", timeout=10)
            data = question["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
            checkins[who] = int(data.split(":")[1])
        for user in STRANGERS.values():
            sandbox.add_user(user, "Stranger")
        before = await _settled_rows(bot)

        player = Player(bot, checkins)
        root = logging.getLogger()
        level = root.level
        root.setLevel(min(level or logging.WARNING, logging.WARNING))
        root.addHandler(records)
        try:
            for act in acts:
                player.play(act)
            # Updates are handled one at a time, in order: once a fresh user's /help is
            # answered, everything sent before it has been handled.
            sandbox.send_text(FRESH, "/help")
            await sandbox.wait_for_message(FRESH, "988", timeout=30)
        finally:
            root.removeHandler(records)
            root.setLevel(level)
        after = await _rows(bot)

        problems = [
            r
            for r in records.records
            if (r.levelno >= logging.ERROR or r.exc_info) and not _allowed(r, player.played)
        ]
        if problems:
            raise _failure(problems[0])("\n".join(_describe(r) for r in problems))
        _check_rows(before, after, player.played)
        _check_messages(sandbox, bot)


@pytest.mark.slow
@settings(
    max_examples=3,
    deadline=None,
    phases=(Phase.explicit, Phase.reuse, Phase.generate),  # shrinking restarts a bot per step
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
@given(acts=ACTS)
# Played top to bottom. First two cases that pass; then the bugs this test found, one minimal
# failing case each, most serious first.
#
# Passes: A forges taps on B's check-in (from A's own chat, and about a message A never had), a
# stranger too, B answers for real, that tap is redelivered, a stranger, a group and B's edited
# message mention crisis words, A asks for B's history and stops.
@example(
    acts=[
        Act("tap", "A", "c:{B}:mood:5"),
        Act("stale_tap", "A", "c:{B}:mood:5"),
        Act("tap", "U1", "c:{B}:mood:5"),
        Act("tap", "B", "c:{B}:mood:2"),
        Act("replay", "A", "3"),
        Act("tap", "A", "c:{B}:s1:yes"),
        Act("tap", "B", "c:{A}:mood:1"),
        Act("tap", "A", "esc:ack:1"),
        Act("text", "U2", "I want to kill myself"),
        Act("group", "A", "I want to kill myself"),
        Act("edit", "B", "I want to kill myself"),
        Act("tap", "C", "esc:ack:1"),
        Act("text", "A", "/history PT-BRAVO"),
        Act("tap", "A", "stop:yes"),
    ]
)
# Passes since f1c5c70 (ids parsed as bounded ASCII): before it, str.isdigit() let "²" through
# to int() (ValueError) and ids past int4/int64 reached the database (DataError on PostgreSQL,
# OverflowError on SQLite), in bot/prompts.parse_tap and in handlers/cases.
@example(
    acts=[
        Act("tap", "A", "c:²:mood:5"),
        Act("tap", "A", "c:99999999999:mood:5"),
        Act("text", "C", "/ack ²"),
        Act("text", "C", "/ack 999999999999999999999"),
        Act("text", "C", "/resolve 99999999999 done"),
        Act("tap", "C", "esc:ack:²"),
    ]
)
# BUG: consent data without a token. handlers/enrollment.consent does
# `_, choice, token = (query.data or "::").split(":", 2)`: "consent:yes" (or "consent:") raises
# ValueError, and the stranger is sent "something went wrong" instead of the join explanation.
@example(acts=[Act("tap", "U1", "consent:yes")])
# BUG: replies echo the argument, so past 4096 characters Telegram refuses them ("Message is
# too long"; also /infusion and /enroll) and the clinician gets no answer at all.
@example(acts=[Act("text", "C", "/history " + "a" * 4090)])
# BUG: ZoneInfo raises OSError ("File name too long") for a long zone; /enroll ->
# bot/services/enrollment.enroll_patient only catches ZoneInfoNotFoundError and ValueError.
@example(acts=[Act("text", "C", "/enroll P-1 " + "Z" * 300)])
# BUG (least likely: Telegram sends 1-64 bytes of data): callback data "" counts as no data for
# python-telegram-bot, so every pattern handler matches. consent runs for a stranger, its edit
# fails, and the update falls through to the members' handlers: case_button answers the query a
# second time ("query is too old"). On a real message of a patient's own chat, consent would
# instead replace that message (e.g. an open question) with the consent-declined text.
@example(acts=[Act("stale_tap", "U1", "")])
async def test_random_updates_break_nothing_and_cross_no_patient(
    acts: list[Act], backend: str, tmp_path: Path
) -> None:
    directory = tmp_path / uuid.uuid4().hex
    directory.mkdir()
    await play_and_check(acts, backend, directory)
