"""What the bot says. Patient-facing wording lives here, not in handlers."""

from __future__ import annotations

from bot.clinic_config import ClinicConfig

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


def something_went_wrong(clinic: ClinicConfig) -> str:
    return (
        "Sorry, something went wrong on our side and your last message may not have been "
        "saved. Please try again in a few minutes.\n\n" + crisis_card(clinic)
    )


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


PAUSED = "Your check-ins are stopped. To restart them, please contact your clinic."


def red_flag_advice(clinic: ClinicConfig) -> str:
    """Post-infusion red flags (CLINICAL.md §4): emergency care now."""
    return (
        f"⚠️ These symptoms need a doctor now. Please call {clinic.crisis.emergency_number} "
        "or go to the nearest emergency department now. Do not drive yourself."
    )


def consent_screen(clinic: ClinicConfig) -> str:
    """What the patient agrees to before the chat is linked (CLINICAL.md §9)."""
    return (
        f"Welcome. {clinic.name} uses Aftercare to check on you between infusions.\n\n"
        "What happens if you agree:\n"
        "• After each infusion you'll get short check-ins here: about 4 hours after, "
        "24 hours after, then once a day for a few days. Each asks about your mood and about "
        "thoughts of suicide, and takes a minute or two.\n"
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
CLINICIAN_HELP = (
    "Clinician commands:\n"
    "/open — open cases, oldest first\n"
    "/ack CASE — acknowledge a case (stops re-paging)\n"
    "/resolve CASE note — resolve a case with what was done\n"
    "/patients — patients with last check-in, mood and risk\n"
    "/history REF — a patient's recent check-ins and mood trend\n"
    "/oncall — take the primary on-call shift now; /offcall — end it\n"
    "/enroll REF [ZONE] — invite a patient (REF is the clinic's pseudonymous reference)\n"
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


def paged_notice(clinic: ClinicConfig, level: object) -> str:
    """After a page was delivered: say exactly that, and keep the crisis card in front."""
    return (
        f"Your answers have been sent to the on-call clinician at {clinic.name}, who has been "
        "paged now and will try to contact you. If you feel in danger, don't wait for them — "
        "use the crisis resources above, or call "
        f"{clinic.crisis.emergency_number}."
    )


def nobody_notice(clinic: ClinicConfig) -> str:
    """Nobody on call, or no page could be delivered: never imply that someone is watching."""
    return (
        f"Your answers have been saved and {clinic.name}'s team has been alerted, but nobody "
        "may see this soon. Please don't wait for us — reach out now:\n\n" + crisis_card(clinic)
    )


LATE_YES = "This check-in had closed, but your answer has been passed to your care team."
