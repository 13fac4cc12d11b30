"""What a rung of a case's ladder did: its pages, recorded with the ladder's next step."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot.clinic_config import ClinicConfig
from bot.domain.channels import ChannelKind
from bot.services.cases import LadderPosition, advance_ladder
from bot.services.reaching.outreach import on_rung
from storage import audit
from storage.cases import add_page
from storage.models import Case, Page
from storage.states import PAGER, PageStatus


@dataclass(frozen=True)
class PageResult:
    """One page to one clinician on one channel, as it went."""

    clinician_id: int
    channel: ChannelKind
    sent: bool
    message_id: int | None = None
    error: str | None = None


async def record_rung(
    session: AsyncSession,
    *,
    case: Case,
    planned: LadderPosition,
    owner: str,
    clinic: ClinicConfig,
    results: Sequence[PageResult],
    queue_only: bool,
    delivered: bool,
    reached_nobody: bool,
    recipients: int,
    now: datetime,
) -> None:
    """Each page as sent or failed, with the rung it belongs to (a queued rung as queued), then
    the ladder's next step (`cases.advance_ladder`); `case` is locked by the caller."""
    assert case.id is not None
    fired = planned.step
    for result in results:
        await add_page(
            session,
            page=Page(
                case_id=case.id,
                clinician_id=result.clinician_id,
                step=fired,
                status=PageStatus.SENT if result.sent else PageStatus.FAILED,
                message_id=result.message_id,
                error=result.error,
                sent_at=now,
                channel=result.channel,
            ),
        )
        await audit.append(
            session,
            at=now,
            actor=PAGER,
            event="page.sent" if result.sent else "page.failed",
            clinic_id=case.clinic_id,
            patient_id=case.patient_id,
            case_id=case.id,
            detail={
                "clinician_id": result.clinician_id,
                "step": fired,
                "channel": result.channel,
                **({"error": result.error} if result.error else {}),
            },
        )
    if queue_only:
        await audit.append(
            session,
            at=now,
            actor=PAGER,
            event="escalation.queued",
            clinic_id=case.clinic_id,
            patient_id=case.patient_id,
            case_id=case.id,
            detail={"step": fired},
        )
    await advance_ladder(
        session,
        case=case,
        planned=planned,
        owner=owner,
        clinic=clinic,
        delivered=delivered,
        reached_nobody=reached_nobody,
        recipients=recipients,
        now=now,
    )
    # the outreach clock starts at the first page a person got (or the queue's entry)
    sent = any(result.sent for result in results)
    await on_rung(session, case=case, clinic=clinic, sent=sent, queue_only=queue_only, now=now)
