"""What the bot says. Patient-facing wording lives here, not in handlers."""

from __future__ import annotations

from datetime import timedelta

from bot.clinic_config import ClinicConfig
from bot.domain import checkin_flow
from bot.domain.schedule import offset_parts
from bot.i18n import N_, _, current_language, ngettext
from bot.i18n.crisis import crisis_card_text
from bot.i18n.dates import clock_time
from storage.states import PatientStatus

# Module-level texts are msgids marked with N_(): say them with `_(texts.NAME)` (or the small
# function beside them), never as they are, so each is translated in the language at hand.
NOT_ENROLLED_ALERT = N_(
    "This chat isn't linked to a clinic yet. Open your clinic's invite link to join."
)


def crisis_card(clinic: ClinicConfig) -> str:
    """The clinic's crisis card (CLINICAL.md §7) in the current language, with the clinic's own
    number."""
    yours = _("Your clinic, {clinic}: {phone}").format(
        clinic=clinic.name, phone=clinic.contact_phone
    )
    return f"{crisis_card_text(clinic, current_language())}\n\n{yours}"


def join_explanation() -> str:
    return _(
        "Hello. Aftercare is a check-in service that clinics use with their own patients "
        "after treatment. It only works with an invite from your clinic: ask them for your "
        "invite link and open it on this phone.\n\n"
        "This chat is not an emergency service. If you need help now, send /crisis."
    )


def something_went_wrong(clinic: ClinicConfig, *, card: bool) -> str:
    """Nothing was stored. The crisis card only with a finding (`card`): an error is no crisis."""
    text = _(
        "Sorry, something went wrong on our side and your last message may not have been "
        "saved. Please try again in a few minutes."
    )
    return _with_help(text, clinic, card=card)


def _with_help(text: str, clinic: ClinicConfig, *, card: bool) -> str:
    if card:
        return f"{text}\n\n{crisis_card(clinic)}"
    return _("{text} If you need help now, send /crisis.").format(text=text)


def held_for_outage(clinic: ClinicConfig) -> str:
    """Said at once while updates cannot be stored: true whatever happens next (Telegram keeps
    an unconfirmed update, and it is recorded when the service is back)."""
    return _(
        "Aftercare cannot record messages right now because of a problem on our side. Yours is "
        "kept and will be handled as soon as the service is back: no need to send it again.\n\n"
        "Nobody is reading this chat in the meantime. To talk to someone, call {clinic} "
        "at {phone}. If you need help now, send /crisis."
    ).format(clinic=clinic.name, phone=clinic.contact_phone)


HELD_TAP = N_(
    "Cannot record this right now (a problem on our side). It is kept and will be recorded "
    "when the service is back: no need to tap again."
)


def could_not_process(clinic: ClinicConfig) -> str:
    """An update that failed every try: set aside for a person, the clinic told."""
    sorry = _(
        "Sorry, your last message could not be processed because of a fault on our side. It is "
        "kept and {clinic} has been told."
    ).format(clinic=clinic.name)
    return f"{sorry}\n\n{crisis_card(clinic)}"


def saved_then_failed(clinic: ClinicConfig, *, card: bool, continues: bool) -> str:
    """A handler failed after the update's effects were stored: say both, truthfully, and how
    the check-in goes on (`continues`: its next question follows this message)."""
    if continues:
        text = _(
            "Your last answer is saved. Something went wrong on our side after that, so here "
            "is your next question again."
        )
    else:
        text = _(
            "Your last message or answer is saved, but something went wrong on our side after "
            "that, so a reply or the next question may be missing. If nothing comes within a "
            "few minutes, send /checkin."
        )
    return _with_help(text, clinic, card=card)


def answer_kept(label: str) -> str:
    """Opens the next message when the answered question could not be marked (an edit failed)."""
    return _("✓ {answer} — saved.").format(answer=label)


SAVED = N_("Saved.")
TRY_AGAIN = N_("Sorry, that did not work. Please try again in a minute.")
REMINDER = N_("Reminder: your check-in is still open. It only takes a minute.")

CLOSED = N_("This check-in is closed.")
HINT_USE_BUTTONS = N_("Please answer with one of the buttons below the question. Here it is again:")
THANKS = N_(
    "Thank you — your answers are saved for your care team, who review them during clinic "
    "hours.\n\nThis chat is not watched around the clock. If you need help now, send /crisis."
)
NOTE_SAVED = N_("Thank you, your note is saved.")


def message_saved(clinic: ClinicConfig) -> str:
    """Honest about who reads free text: it is in the record, nobody is alerted by it."""
    return _(
        "Thank you — your message is saved in your record, where your care team can see it. "
        "Nobody is alerted by it and this chat is not watched: to talk to someone, call "
        "{clinic} at {phone}. If you need help now, send /crisis."
    ).format(clinic=clinic.name, phone=clinic.contact_phone)


def paused(clinic: ClinicConfig, status: PatientStatus) -> str:
    """Why a patient gets no check-ins: they stopped them, or Telegram said the chat was gone."""
    if status == PatientStatus.UNREACHABLE:
        return _(
            "For a while we could not reach you here (Telegram told us this chat was blocked "
            "or closed), so your check-ins were paused and {clinic} was told. They can "
            "restart them: call them at {phone}. Your messages here are saved "
            "for your care team. If you need help now, send /crisis."
        ).format(clinic=clinic.name, phone=clinic.contact_phone)
    return _(
        "Your check-ins are stopped, as you asked. To restart them, contact {clinic} "
        "at {phone}. If you need help now, send /crisis."
    ).format(clinic=clinic.name, phone=clinic.contact_phone)


CHECKINS_ON = N_(
    "Your check-ins are on: the next one comes here as planned. To answer one now, send "
    "/checkin. If you need help now, send /crisis."
)


def resumed(clinic: ClinicConfig) -> str:
    return _(
        "{clinic} has restarted your check-ins: they will arrive here after your "
        "infusions again. You can send /checkin at any time, /crisis for crisis resources, "
        "and /stop to stop check-ins."
    ).format(clinic=clinic.name)


def red_flag_advice(clinic: ClinicConfig) -> str:
    """Post-infusion red flags (CLINICAL.md §4): emergency care now."""
    return _(
        "⚠️ These symptoms need a doctor now. Please call {emergency} "
        "or go to the nearest emergency department now. Do not drive yourself."
    ).format(emergency=clinic.crisis.emergency_number)


def schedule_in_words(clinic: ClinicConfig) -> str:
    """The clinic's default check-in schedule as a patient reads it (consent, CLINICAL.md §9)."""
    protocol = clinic.protocols[clinic.default_protocol]
    offsets = [_duration(o) for o in protocol.offsets]
    parts = []
    if offsets:
        joined = (
            _("{items} and {last}").format(items=", ".join(offsets[:-1]), last=offsets[-1])
            if offsets[1:]
            else offsets[0]
        )
        parts.append(_("about {offsets} after each infusion").format(offsets=joined))
    at = clock_time(protocol.daily_time)
    if protocol.daily_days == 1:
        parts.append(_("once more the day after, at {time}").format(time=at))
    elif protocol.daily_days:
        days = protocol.daily_days
        parts.append(
            ngettext(
                "once a day at {time} for {days} day after it",
                "once a day at {time} for {days} days after it",
                days,
            ).format(time=at, days=days)
        )
    if not parts:
        return _("when your clinic starts one")
    return (
        parts[0]
        if len(parts) == 1
        else _("{first}, then {then}").format(first=parts[0], then=parts[1])
    )


def _duration(offset: timedelta) -> str:
    """ "4 hours", "1 day", "30 minutes" (the largest whole unit, as `humanize_offset` picks)."""
    n, count, unit = offset_parts(offset)
    if unit == "day":
        return ngettext("{n} day", "{n} days", count).format(n=n)
    if unit == "hour":
        return ngettext("{n} hour", "{n} hours", count).format(n=n)
    if unit == "minute":
        return ngettext("{n} minute", "{n} minutes", count).format(n=n)
    return ngettext("{n} second", "{n} seconds", count).format(n=n)


def consent_screen(clinic: ClinicConfig) -> str:
    """What the patient agrees to before the chat is linked (CLINICAL.md §9)."""
    return _(
        "Welcome. {clinic} uses Aftercare to check on you between infusions.\n\n"
        "What happens if you agree:\n"
        "• You'll get short check-ins here: {schedule}. Each asks about "
        "your mood and about thoughts of suicide, and takes a minute or two.\n"
        "• Your answers go to your care team. If an answer is worrying, the clinic may call "
        "you or your emergency contact.\n"
        "• This chat is NOT an emergency service and is not watched around the clock. "
        "In an emergency call your local emergency number.\n"
        "• Telegram chats are not end-to-end encrypted.\n\n"
        "Do you agree?"
    ).format(clinic=clinic.name, schedule=schedule_in_words(clinic))


def welcome(clinic: ClinicConfig) -> str:
    return _(
        "Thank you — you're enrolled with {clinic}. Your check-ins will arrive in this "
        "chat after each infusion. You can send /checkin at any time, /crisis for crisis "
        "resources, and /stop to stop check-ins."
    ).format(clinic=clinic.name)


INVITE_PROBLEMS = {
    "malformed": N_(
        "That invite code doesn't look right. Please open the link your clinic sent "
        "you again, or ask them for a new one."
    ),
    "unknown": N_("That invite code isn't valid. Please ask your clinic for a new invite."),
    "expired": N_("That invite has expired. Please ask your clinic for a new one."),
    "used": N_("That invite has already been used. Please ask your clinic for a new one."),
    "enrolled": N_(
        "You're already enrolled. Check-ins arrive here after each infusion; send /checkin "
        "any time, or /crisis for help."
    ),
    "taken": N_(
        "That invite belongs to an account that is already linked. Please contact your clinic."
    ),
    "chat_taken": N_(
        "This Telegram account is already linked to a different enrollment. "
        "Please contact your clinic."
    ),
}


def invite_problem(problem: str) -> str:
    """Why an invite did not link this chat, in the patient's language."""
    return _(INVITE_PROBLEMS[problem])


AGREE = N_("I agree")
NOT_NOW = N_("Not now")


def consent_given(clinic: ClinicConfig) -> str:
    """The consent screen once agreed: the choice shown, the buttons gone."""
    return f"{consent_screen(clinic)}\n\n✓ {_(AGREE)}"


CONSENT_DECLINED = N_(
    "No problem — nothing has been linked. If you change your mind, open the invite link "
    "again while it is valid. If you need help now, send /crisis."
)
STOP_CONFIRM = N_(
    "Do you want to stop your check-ins? No more check-ins will be sent, and your clinic's "
    "care team will be told that you stopped."
)
STOP_YES_LABEL = N_("Yes, stop check-ins")
STOP_NO_LABEL = N_("No, keep them")
STOP_KEPT = N_("OK — your check-ins continue.")
ALREADY_STOPPED = N_("Your check-ins are already stopped.")


def stopped(clinic: ClinicConfig) -> str:
    stopped = _(
        "Your check-ins are stopped, and this has been passed to {clinic}'s care team. "
        "If you want them back, contact your clinic at {phone}."
    ).format(clinic=clinic.name, phone=clinic.contact_phone)
    return f"{stopped}\n\n{crisis_card(clinic)}"


PATIENT_HELP = N_(
    "Commands: /checkin to start a check-in, /crisis for crisis resources, /stop to stop "
    "check-ins. You can also type a message for your care team at any time."
)


def paged_notice(clinic: ClinicConfig, level: object, *, about: str = "answers") -> str:
    """After a page was delivered: say exactly that, and keep the crisis card in front."""
    if about == "message":
        text = _(
            "Your message has been sent to the on-call clinician at {clinic}, who has been "
            "paged now and will try to contact you. If you feel in danger, don't wait for "
            "them — use the crisis resources above, or call {emergency}."
        )
    else:
        text = _(
            "Your answers have been sent to the on-call clinician at {clinic}, who has been "
            "paged now and will try to contact you. If you feel in danger, don't wait for "
            "them — use the crisis resources above, or call {emergency}."
        )
    return text.format(clinic=clinic.name, emergency=clinic.crisis.emergency_number)


def nobody_notice(clinic: ClinicConfig, *, about: str = "answers") -> str:
    """Nobody on call, or no page could be delivered: never imply that someone is watching."""
    if about == "message":
        text = _(
            "Your message has been saved and {clinic}'s team has been alerted, but nobody "
            "may see this soon. Please don't wait for us — reach out now:"
        )
    else:
        text = _(
            "Your answers have been saved and {clinic}'s team has been alerted, but nobody "
            "may see this soon. Please don't wait for us — reach out now:"
        )
    return f"{text.format(clinic=clinic.name)}\n\n{crisis_card(clinic)}"


def paged_after_all(clinic: ClinicConfig) -> str:
    """Said once, when a page got through after the patient read that nobody may see it soon."""
    return _(
        "Update: the on-call clinician at {clinic} has now been paged and will try to "
        "contact you. If you feel in danger, don't wait for them — send /crisis or call "
        "{emergency}."
    ).format(clinic=clinic.name, emergency=clinic.crisis.emergency_number)


def closing(clinic: ClinicConfig, ending: str) -> str:
    """The last message of a check-in, true to what it led to (never both paged and queued)."""
    if ending == "paged":
        return _(
            "Thank you for finishing this check-in. The on-call clinician at {clinic} "
            "has been paged about your answers and will try to contact you. If you feel in "
            "danger, don't wait: send /crisis or call {emergency}."
        ).format(clinic=clinic.name, emergency=clinic.crisis.emergency_number)
    if ending == "not_reached":
        return _(
            "Thank you for finishing this check-in. {clinic}'s team has been alerted, "
            "but nobody may see it soon. Please don't wait for us: send /crisis or call "
            "{emergency} now."
        ).format(clinic=clinic.name, emergency=clinic.crisis.emergency_number)
    if ending == "queued":
        return _(
            "Thank you — your answers are saved, and something in them has been put on your "
            "care team's list to look at during clinic hours. Nobody is alerted before then "
            "and this chat is not watched around the clock. If you need help now, send /crisis."
        )
    return _(THANKS)


LATE_YES = N_("This check-in had closed, but your answer has been passed to your care team.")
CHANGED_TO_YES = N_("Changed to Yes. Thank you for telling us.")
NOT_CURRENT = N_("This isn't the question your check-in is on now: please answer the latest one.")


def already_saved(item_id: str, value: str) -> str:
    """A repeat tap: say what is stored, which the tap did not change."""
    if item_id == checkin_flow.NOTE:
        return _("Already saved: your note.")  # a button's answer holds 200 characters at most
    return _("Already saved: {answer}").format(answer=answer_text(item_id, value))


def answer_text(item_id: str, value: str) -> str:
    """A chosen answer as the patient reads it ("Yes", "7/10")."""
    label = checkin_flow.answer_label(item_id, value)
    return label if item_id == checkin_flow.MOOD else _(label)
