"""What the bot says. Patient-facing wording lives here, not in handlers."""

from __future__ import annotations

from bot.clinic_config import ClinicConfig
from bot.domain import checkin_flow
from bot.domain.schedule import humanize_offset
from storage.states import PatientStatus

NOT_ENROLLED_ALERT = (
    "This chat isn't linked to a clinic yet. Open your clinic's invite link to join."
)


def crisis_card(clinic: ClinicConfig) -> str:
    """The clinic's crisis card (CLINICAL.md §7), with the clinic's own number."""
    return f"{clinic.crisis.card}\n\nYour clinic, {clinic.name}: {clinic.contact_phone}"


def join_explanation() -> str:
    return (
        "Hello. Aftercare is a check-in service that clinics use with their own patients "
        "after treatment. It only works with an invite from your clinic: ask them for your "
        "invite link and open it on this phone.\n\n"
        "This chat is not an emergency service. If you need help now, send /crisis."
    )


def something_went_wrong(clinic: ClinicConfig, *, card: bool) -> str:
    """Nothing was stored. The crisis card only with a finding (`card`): an error is no crisis."""
    text = (
        "Sorry, something went wrong on our side and your last message may not have been "
        "saved. Please try again in a few minutes."
    )
    return _with_help(text, clinic, card=card)


def _with_help(text: str, clinic: ClinicConfig, *, card: bool) -> str:
    if card:
        return f"{text}\n\n{crisis_card(clinic)}"
    return f"{text} If you need help now, send /crisis."


def held_for_outage(clinic: ClinicConfig) -> str:
    """Said at once while updates cannot be stored: true whatever happens next (Telegram keeps
    an unconfirmed update, and it is recorded when the service is back)."""
    return (
        "Aftercare cannot record messages right now because of a problem on our side. Yours is "
        "kept and will be handled as soon as the service is back: no need to send it again.\n\n"
        f"Nobody is reading this chat in the meantime. To talk to someone, call {clinic.name} "
        f"at {clinic.contact_phone}. If you need help now, send /crisis."
    )


HELD_TAP = (
    "Cannot record this right now (a problem on our side). It is kept and will be recorded "
    "when the service is back: no need to tap again."
)


def could_not_process(clinic: ClinicConfig) -> str:
    """An update that failed every try: set aside for a person, the clinic told."""
    return (
        "Sorry, your last message could not be processed because of a fault on our side. It is "
        f"kept and {clinic.name} has been told.\n\n" + crisis_card(clinic)
    )


def saved_then_failed(clinic: ClinicConfig, *, card: bool, continues: bool) -> str:
    """A handler failed after the update's effects were stored: say both, truthfully, and how
    the check-in goes on (`continues`: its next question follows this message)."""
    if continues:
        text = (
            "Your last answer is saved. Something went wrong on our side after that, so here "
            "is your next question again."
        )
    else:
        text = (
            "Your last message or answer is saved, but something went wrong on our side after "
            "that, so a reply or the next question may be missing. If nothing comes within a "
            "few minutes, send /checkin."
        )
    return _with_help(text, clinic, card=card)


def answer_kept(label: str) -> str:
    """Opens the next message when the answered question could not be marked (an edit failed)."""
    return f"✓ {label} — saved."


SAVED = "Saved."
TRY_AGAIN = "Sorry, that did not work. Please try again in a minute."
REMINDER = "Reminder: your check-in is still open. It only takes a minute."

CLOSED = "This check-in is closed."
HINT_USE_BUTTONS = "Please answer with one of the buttons below the question. Here it is again:"
THANKS = (
    "Thank you — your answers are saved for your care team, who review them during clinic "
    "hours.\n\nThis chat is not watched around the clock. If you need help now, send /crisis."
)
NOTE_SAVED = "Thank you, your note is saved."


def message_saved(clinic: ClinicConfig) -> str:
    """Honest about who reads free text: it is in the record, nobody is alerted by it."""
    return (
        "Thank you — your message is saved in your record, where your care team can see it. "
        "Nobody is alerted by it and this chat is not watched: to talk to someone, call "
        f"{clinic.name} at {clinic.contact_phone}. If you need help now, send /crisis."
    )


def paused(clinic: ClinicConfig, status: PatientStatus) -> str:
    """Why a patient gets no check-ins: they stopped them, or Telegram said the chat was gone."""
    if status == PatientStatus.UNREACHABLE:
        return (
            "For a while we could not reach you here (Telegram told us this chat was blocked "
            f"or closed), so your check-ins were paused and {clinic.name} was told. They can "
            f"restart them: call them at {clinic.contact_phone}. Your messages here are saved "
            "for your care team. If you need help now, send /crisis."
        )
    return (
        f"Your check-ins are stopped, as you asked. To restart them, contact {clinic.name} "
        f"at {clinic.contact_phone}. If you need help now, send /crisis."
    )


CHECKINS_ON = (
    "Your check-ins are on: the next one comes here as planned. To answer one now, send "
    "/checkin. If you need help now, send /crisis."
)


def resumed(clinic: ClinicConfig) -> str:
    return (
        f"{clinic.name} has restarted your check-ins: they will arrive here after your "
        "infusions again. You can send /checkin at any time, /crisis for crisis resources, "
        "and /stop to stop check-ins."
    )


def red_flag_advice(clinic: ClinicConfig) -> str:
    """Post-infusion red flags (CLINICAL.md §4): emergency care now."""
    return (
        f"⚠️ These symptoms need a doctor now. Please call {clinic.crisis.emergency_number} "
        "or go to the nearest emergency department now. Do not drive yourself."
    )


def schedule_in_words(clinic: ClinicConfig) -> str:
    """The clinic's default check-in schedule as a patient reads it (consent, CLINICAL.md §9)."""
    protocol = clinic.protocols[clinic.default_protocol]
    offsets = [humanize_offset(o).replace("-", " ") + "s" for o in protocol.offsets]
    offsets = [o[:-1] if o.startswith("1 ") else o for o in offsets]
    parts = []
    if offsets:
        joined = ", ".join(offsets[:-1]) + f" and {offsets[-1]}" if offsets[1:] else offsets[0]
        parts.append(f"about {joined} after each infusion")
    if protocol.daily_days == 1:
        parts.append(f"once more the day after, at {protocol.daily_time:%H:%M}")
    elif protocol.daily_days:
        days = protocol.daily_days
        parts.append(f"once a day at {protocol.daily_time:%H:%M} for {days} days after it")
    if not parts:
        return "when your clinic starts one"
    return ", then ".join(parts)


def consent_screen(clinic: ClinicConfig) -> str:
    """What the patient agrees to before the chat is linked (CLINICAL.md §9)."""
    return (
        f"Welcome. {clinic.name} uses Aftercare to check on you between infusions.\n\n"
        "What happens if you agree:\n"
        f"• You'll get short check-ins here: {schedule_in_words(clinic)}. Each asks about "
        "your mood and about thoughts of suicide, and takes a minute or two.\n"
        "• Your answers go to your care team. If an answer is worrying, the clinic may call "
        "you or your emergency contact.\n"
        "• This chat is NOT an emergency service and is not watched around the clock. "
        "In an emergency call your local emergency number.\n"
        "• Telegram chats are not end-to-end encrypted.\n\n"
        "Do you agree?"
    )


def welcome(clinic: ClinicConfig) -> str:
    return (
        f"Thank you — you're enrolled with {clinic.name}. Your check-ins will arrive in this "
        "chat after each infusion. You can send /checkin at any time, /crisis for crisis "
        "resources, and /stop to stop check-ins."
    )


INVITE_PROBLEMS = {
    "malformed": "That invite code doesn't look right. Please open the link your clinic sent "
    "you again, or ask them for a new one.",
    "unknown": "That invite code isn't valid. Please ask your clinic for a new invite.",
    "expired": "That invite has expired. Please ask your clinic for a new one.",
    "used": "That invite has already been used. Please ask your clinic for a new one.",
    "enrolled": "You're already enrolled: nothing more to do. Your check-ins arrive here after "
    "each infusion; send /checkin at any time, or /crisis for crisis resources.",
    "taken": "That invite belongs to an account that is already linked. Please contact "
    "your clinic.",
    "chat_taken": "This Telegram account is already linked to a different enrollment. "
    "Please contact your clinic.",
}

CONSENT_DECLINED = (
    "No problem — nothing has been linked. If you change your mind, open the invite link "
    "again while it is valid. If you need help now, send /crisis."
)
STOP_CONFIRM = (
    "Do you want to stop your check-ins? No more check-ins will be sent, and your clinic's "
    "care team will be told that you stopped."
)
STOP_KEPT = "OK — your check-ins continue."
ALREADY_STOPPED = "Your check-ins are already stopped."
CLINICIAN_HELP = (
    "Clinician commands:\n"
    "/open — open cases, oldest first\n"
    "/ack CASE — acknowledge a case (stops re-paging)\n"
    "/resolve CASE note — resolve a case with what was done\n"
    "/patients — patients with last check-in, mood and risk\n"
    "/history REF — a patient's recent check-ins and mood trend\n"
    "/contact REF — a patient's phone and emergency contact (recorded in the audit log)\n"
    "/console — a sign-in link for the clinic console on the web\n"
    "/oncall — take the primary on-call shift now; /offcall — end it\n"
    "/enroll REF [ZONE] — invite a patient (REF is the clinic's pseudonymous reference)\n"
    "/resume REF — restart a stopped or unreachable patient's check-ins\n"
    "/infusion REF [HH:MM] — record an infusion that ended now or at HH:MM today\n"
    "/help — the crisis card"
)


def stopped(clinic: ClinicConfig) -> str:
    return (
        f"Your check-ins are stopped, and this has been passed to {clinic.name}'s care team. "
        f"If you want them back, contact your clinic at {clinic.contact_phone}.\n\n"
        + crisis_card(clinic)
    )


PATIENT_HELP = (
    "Commands: /checkin to start a check-in, /crisis for crisis resources, /stop to stop "
    "check-ins. You can also type a message for your care team at any time."
)


def paged_notice(clinic: ClinicConfig, level: object, *, about: str = "answers") -> str:
    """After a page was delivered: say exactly that, and keep the crisis card in front."""
    sent = "Your message has" if about == "message" else "Your answers have"
    return (
        f"{sent} been sent to the on-call clinician at {clinic.name}, who has been "
        "paged now and will try to contact you. If you feel in danger, don't wait for them — "
        "use the crisis resources above, or call "
        f"{clinic.crisis.emergency_number}."
    )


def nobody_notice(clinic: ClinicConfig, *, about: str = "answers") -> str:
    """Nobody on call, or no page could be delivered: never imply that someone is watching."""
    saved = "Your message has" if about == "message" else "Your answers have"
    return (
        f"{saved} been saved and {clinic.name}'s team has been alerted, but nobody "
        "may see this soon. Please don't wait for us — reach out now:\n\n" + crisis_card(clinic)
    )


def paged_after_all(clinic: ClinicConfig) -> str:
    """Said once, when a page got through after the patient read that nobody may see it soon."""
    return (
        f"Update: the on-call clinician at {clinic.name} has now been paged and will try to "
        "contact you. If you feel in danger, don't wait for them — send /crisis or call "
        f"{clinic.crisis.emergency_number}."
    )


def closing(clinic: ClinicConfig, ending: str) -> str:
    """The last message of a check-in, true to what it led to (never both paged and queued)."""
    if ending == "paged":
        return (
            f"Thank you for finishing this check-in. The on-call clinician at {clinic.name} "
            "has been paged about your answers and will try to contact you. If you feel in "
            f"danger, don't wait: send /crisis or call {clinic.crisis.emergency_number}."
        )
    if ending == "not_reached":
        return (
            f"Thank you for finishing this check-in. {clinic.name}'s team has been alerted, "
            "but nobody may see it soon. Please don't wait for us: send /crisis or call "
            f"{clinic.crisis.emergency_number} now."
        )
    if ending == "queued":
        return (
            "Thank you — your answers are saved, and something in them has been put on your "
            "care team's list to look at during clinic hours. Nobody is alerted before then "
            "and this chat is not watched around the clock. If you need help now, send /crisis."
        )
    return THANKS


LATE_YES = "This check-in had closed, but your answer has been passed to your care team."
CHANGED_TO_YES = "Changed to Yes. Thank you for telling us."
NOT_CURRENT = "This isn't the question your check-in is on now: please answer the latest one."


def already_saved(item_id: str, value: str) -> str:
    """A repeat tap: say what is stored, which the tap did not change."""
    if item_id == checkin_flow.NOTE:
        return "Already saved: your note."  # a button's answer holds 200 characters at most
    return f"Already saved: {checkin_flow.answer_label(item_id, value)}"
