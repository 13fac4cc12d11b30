"""A patient's erasure and legal hold in the console (issue 31), admins only. The confirmation
page says what is erased and what is kept, offers the record's export first, asks the legal
basis and the patient's reference typed out; the erasure itself is the service's
(`bot.services.clinic.erasure`), in one transaction, and the patient is told once it has
committed. The legal hold is placed or lifted from the patient's page (audited by the
service)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from bot.console.web import (
    PREFIX,
    Console,
    NotFound,
    Refused,
    checked_form,
    console_of,
    page,
    require_admin,
    viewer,
)
from bot.domain.delivery import Outcome
from bot.i18n import C_, NC_
from bot.messaging.privacy import tell_erased
from bot.services.clinic.erasure import (
    BASES,
    Erased,
    ErasureRefused,
    LegalBasis,
    set_legal_hold,
)
from bot.services.clinic.erasure import (
    erase as erase_and_shred,
)
from bot.services.console_access import Viewer
from bot.services.patient_views import patient_of_clinic
from storage.models import Patient
from storage.states import PatientStatus

REFUSAL = NC_(
    "Only an admin of this clinic can erase a patient's data or change a legal hold. "
    "Nothing was changed."
)
MAX_REF = 64


def _ref(request: Request) -> str:
    ref: str = request.path_params["ref"]
    if len(ref) > MAX_REF:
        raise NotFound("patient")
    return ref


async def _patient(console: Console, who: Viewer, ref: str) -> Patient:
    async with console.read() as session:
        patient = await patient_of_clinic(session, clinic_id=who.clinic_id, ref=ref)
    if patient is None:
        raise NotFound("patient")
    return patient


def _form(
    request: Request,
    who: Viewer,
    patient: Patient,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    """The confirmation page; `errors` by field (`basis`, `confirm`) or `erase` (a refusal)."""
    return page(
        request,
        "privacy_erase.html",
        who=who,
        status=status,
        section="patients",
        ref=patient.ref,
        erased_at=patient.erased_at if patient.status == PatientStatus.ERASED else None,
        legal_hold=patient.legal_hold,
        bases=[(basis.value, C_(text)) for basis, text in BASES.items()],
        v=values or {"basis": "", "confirm": ""},
        errors=errors or {},
    )


async def erase_page(request: Request) -> Response:
    who = await viewer(request)
    require_admin(who, C_(REFUSAL))
    console = console_of(request)
    patient = await _patient(console, who, _ref(request))
    return _form(request, who, patient)


async def told(console: Console, erased: Erased, who: Viewer) -> tuple[str, str]:
    """Tell the patient (after the commit): what came of it, as a kind and in words."""
    ref = erased.patient.ref
    if erased.chat_id is None:
        return "never_linked", C_(
            "{ref} never linked a Telegram chat, so there was nobody to tell there. If they "
            "asked for the erasure, tell them yourself that it is done."
        ).format(ref=ref)
    sent = await tell_erased(
        console.bot, chat_id=erased.chat_id, language=erased.language, clinic=console.clinic(who)
    )
    if sent is not None and sent.outcome is Outcome.SENT:
        return "sent", C_(
            "{ref} was told in their Telegram chat that their data was erased and that "
            "nothing more will be sent."
        ).format(ref=ref)
    problem = (sent.error if sent is not None else None) or C_("nothing")
    return "not_told", C_(
        "{ref} was not told: Telegram said “{problem}”. Tell them yourself that their data "
        "was erased."
    ).format(ref=ref, problem=problem)


async def erase(request: Request) -> Response:
    """Erase the patient once the reference typed matches it (the form again, 400, when it
    does not; the service's refusal in the form's summary, 409); then tell them."""
    form = await checked_form(request)
    who = await viewer(request)
    require_admin(who, C_(REFUSAL))
    console = console_of(request)
    ref = _ref(request)
    patient = await _patient(console, who, ref)
    values = {
        "basis": str(form.get("basis") or "")[:40],
        "confirm": str(form.get("confirm") or "").strip()[:MAX_REF],
    }
    errors: dict[str, str] = {}
    if values["basis"] not in {b.value for b in LegalBasis}:
        errors["basis"] = C_("Choose the legal basis of the erasure.")
    if values["confirm"] != patient.ref:
        errors["confirm"] = C_(
            "Type the patient's reference exactly as shown, {ref}, to confirm. Nothing was erased."
        ).format(ref=patient.ref)
    if errors:
        return _form(request, who, patient, values, errors, status=400)
    basis = LegalBasis(values["basis"])
    now = console.ctx.clock.now()
    try:
        erased = await erase_and_shred(
            console.ctx.db,
            clinic=console.clinic(who),
            ref=patient.ref,
            basis=basis,
            actor=who.actor,
            now=now,
        )
    except ErasureRefused as exc:
        refusal = C_("Nothing was erased: {reason}").format(reason=exc)
        return _form(request, who, patient, values, {"erase": refusal}, status=409)
    outcome, told_text = await told(console, erased, who)
    return page(
        request,
        "privacy_erased.html",
        who=who,
        section="patients",
        ref=erased.patient.ref,
        erased_at=now,
        basis=C_(BASES[basis]),
        outcome=outcome,
        told=told_text,
    )


async def change_hold(request: Request) -> Response:
    """Place (`hold=place`) or lift (`hold=lift`) the patient's legal hold."""
    form = await checked_form(request)
    who = await viewer(request)
    require_admin(who, C_(REFUSAL))
    console = console_of(request)
    ref = _ref(request)
    wanted = str(form.get("hold") or "")
    if wanted not in ("place", "lift"):
        raise Refused(C_("Choose to place or to lift the legal hold. Nothing was changed."))
    try:
        async with console.ctx.db.transaction() as session:
            if await patient_of_clinic(session, clinic_id=who.clinic_id, ref=ref) is None:
                raise NotFound("patient")
            await set_legal_hold(
                session,
                clinic=console.clinic(who),
                ref=ref,
                hold=wanted == "place",
                actor=who.actor,
                now=console.ctx.clock.now(),
            )
    except ErasureRefused as exc:
        raise Refused(C_("Not changed: {reason}").format(reason=exc), 409) from None
    return RedirectResponse(f"{PREFIX}/patients/{quote(ref)}?done=hold#privacy", status_code=303)


ROUTES = [
    Route("/patients/{ref}/erase", erase_page, methods=["GET"]),
    Route("/patients/{ref}/erase", erase, methods=["POST"]),
    Route("/patients/{ref}/hold", change_hold, methods=["POST"]),
]
