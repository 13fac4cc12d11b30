"""A clinic's data as CSV, one file per grain (the layout research tools such as REDCap take):
`patients.csv`, `infusions.csv`, `checkins.csv`, `cases.csv`, `messages.csv` (cases' threads),
`safety_plans.csv` (each patient's current plan, one row per item; its words and numbers only
with free text; every current plan, whatever `since`).

UTF-8, a header row, one row per record, times in ISO-8601 UTC (`2026-05-04T12:00:00Z`), empty
cells for nothing. Patients are named only by the clinic's pseudonymous reference; clinicians
(acknowledged_by, resolved_by) by their id. Free text (names, emergency contacts, check-in
notes, case reasons, the patient's quoted words, resolution notes, the words of a case's
messages and Telegram's refusals) only when asked for; a free text cell starting with
= + - @ gets a leading ' so a spreadsheet never runs it as a formula. `since` keeps
infusions that ended, check-ins due, cases opened and messages written on or after it; every
patient is listed. `patient_ref` keeps one patient's rows in every file (the record to take
before an erasure); a reference the clinic does not have is refused (UnknownPatient), nothing
written. Every export is audited (`export.csv`: since, free text or not, one patient or not,
rows per file; nothing of a patient).
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import Enum
from pathlib import Path
from typing import IO, Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain import instruments
from bot.domain import safety_plan as plan_rules
from storage import audit
from storage.cases import MESSAGE_EXPORT_COLUMNS, MESSAGE_EXPORT_FREE_TEXT, message_export_rows
from storage.safety.plans import current_plans
from storage.states import Actor
from storage.views import export as queries

FILES = (
    "patients.csv",
    "infusions.csv",
    "checkins.csv",
    "cases.csv",
    "messages.csv",
    "safety_plans.csv",
)
PLAN_COLUMNS = (
    "patient_ref",
    "plan_version",
    "plan_active",
    "saved_at",
    "step",
    "step_title",
    "item",
    "has_number",
)
PLAN_FREE_TEXT = ("text", "number")
EVENT = "export.csv"
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

Opener = Callable[[str], AbstractContextManager[IO[str]]]


class ExportError(ValueError):
    """An export that cannot be made as asked (a bad date, files in the way)."""


class UnknownPatient(ExportError):
    """No patient of the clinic has the reference asked for."""


@dataclass(frozen=True)
class Exported:
    rows: dict[str, int]  # file name → data rows written
    since: datetime | None
    free_text: bool


def parse_since(text: str, zone: ZoneInfo) -> datetime | None:
    """`YYYY-MM-DD` (from the start of that day in `zone`) or an ISO-8601 time (without an
    offset: in `zone`); empty for everything. ExportError with a message otherwise."""
    text = text.strip()
    if not text:
        return None
    try:
        day = date.fromisoformat(text)
    except ValueError:
        pass
    else:
        return _utc(datetime.combine(day, time(0), zone))
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ExportError(
            f"Not a date: {text[:40]!r}. Write it as YYYY-MM-DD, e.g. 2026-05-01."
        ) from None
    return _utc(moment if moment.tzinfo else moment.replace(tzinfo=zone))


def _utc(moment: datetime) -> datetime:
    try:
        return moment.astimezone(UTC)
    except OverflowError:  # the first or last hours the calendar has, in UTC
        raise ExportError("That date is too far in the past or future: check the year.") from None


def answer_items(*, free_text: bool) -> tuple[str, ...]:
    """The check-in items with a column of their own, named by item id: mood, each C-SSRS
    screener item, the red flags; the free-text note only with free text."""
    own = instruments.checkin_items()
    items = (own.mood.id, *(i.id for i in instruments.cssrs().items), own.red_flags.id)
    return (*items, own.note.id) if free_text else items


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, Enum):
        return str(value.value)
    return str(value)


def free_cell(value: Any) -> str:
    text = cell(value)
    return f"'{text}" if text.startswith(FORMULA_START) else text


async def _write(
    opener: Opener,
    name: str,
    header: tuple[str, ...],
    rows: AsyncIterator[tuple[Any, ...]],
    *,
    plain: int,
    extra: Callable[[tuple[Any, ...]], list[str]] | None = None,
) -> int:
    """Write one file: the first `plain` cells as they are, the rest as free text."""
    count = 0
    with opener(name) as stream:
        writer = csv.writer(stream, lineterminator="\r\n")
        writer.writerow(header)
        async for row in rows:
            out = [cell(v) for v in row[:plain]]
            if extra is not None:
                out += extra(row)
            out += [free_cell(v) for v in row[plain:]]
            writer.writerow(out)
            count += 1
    return count


def _seconds_to_acknowledge(row: tuple[Any, ...]) -> list[str]:
    opened = row[queries.CASE_COLUMNS.index("opened_at")]
    acknowledged = row[queries.CASE_COLUMNS.index("acknowledged_at")]
    if acknowledged is None:
        return [""]
    return [str(int((acknowledged - opened) / timedelta(seconds=1)))]


async def write_csv(
    session: AsyncSession,
    *,
    clinic_id: str,
    since: datetime | None,
    free_text: bool,
    opener: Opener,
    patient_ref: str | None = None,
) -> dict[str, int]:
    """Write the files through `opener` (a name → a text stream); rows per file. Every
    query is kept to the clinic (and to the patient `patient_ref`, if given)."""
    rows: dict[str, int] = {}
    scope: dict[str, Any] = {"clinic_id": clinic_id, "patient_ref": patient_ref}
    patient_cols = queries.PATIENT_COLUMNS
    rows["patients.csv"] = await _write(
        opener,
        "patients.csv",
        patient_cols + (queries.PATIENT_FREE_TEXT if free_text else ()),
        queries.patients(session, free_text=free_text, **scope),
        plain=len(patient_cols),
    )
    rows["infusions.csv"] = await _write(
        opener,
        "infusions.csv",
        queries.INFUSION_COLUMNS,
        queries.infusions(session, since=since, **scope),
        plain=len(queries.INFUSION_COLUMNS),
    )
    items = answer_items(free_text=free_text)
    plain_items = answer_items(free_text=False)
    rows["checkins.csv"] = await _write(
        opener,
        "checkins.csv",
        queries.CHECKIN_COLUMNS + items,
        queries.checkins(
            session,
            since=since,
            items=items,
            cssrs_id=instruments.cssrs().id,
            **scope,
        ),
        plain=len(queries.CHECKIN_COLUMNS) + len(plain_items),
    )
    case_cols = queries.CASE_COLUMNS
    rows["cases.csv"] = await _write(
        opener,
        "cases.csv",
        case_cols + ("seconds_to_acknowledge",) + (queries.CASE_FREE_TEXT if free_text else ()),
        queries.cases(session, since=since, free_text=free_text, **scope),
        plain=len(case_cols),
        extra=_seconds_to_acknowledge,
    )
    message_cols = MESSAGE_EXPORT_COLUMNS
    rows["messages.csv"] = await _write(
        opener,
        "messages.csv",
        message_cols + (MESSAGE_EXPORT_FREE_TEXT if free_text else ()),
        message_export_rows(session, since=since, free_text=free_text, **scope),
        plain=len(message_cols),
    )
    rows["safety_plans.csv"] = await _write(
        opener,
        "safety_plans.csv",
        PLAN_COLUMNS + (PLAN_FREE_TEXT if free_text else ()),
        _plan_rows(session, free_text=free_text, **scope),
        plain=len(PLAN_COLUMNS),
    )
    return rows


async def _plan_rows(
    session: AsyncSession, *, clinic_id: str, free_text: bool, patient_ref: str | None
) -> AsyncIterator[tuple[Any, ...]]:
    """One row per item of each patient's current plan (an empty step has none)."""
    plans = await current_plans(session, clinic_id=clinic_id, patient_ref=patient_ref)
    for ref, plan in plans:
        for step, items in enumerate(plan_rules.from_json(plan.steps), start=1):
            for index, item in enumerate(items, start=1):
                words = (item.text, item.e164) if free_text else ()
                yield (
                    ref,
                    plan.version,
                    int(plan.active),
                    plan.created_at,
                    step,
                    plan_rules.step_title(step),
                    index,
                    int(item.is_contact),
                    *words,
                )


async def export_clinic(
    session: AsyncSession,
    *,
    clinic_id: str,
    since: datetime | None,
    free_text: bool,
    opener: Opener,
    actor: Actor,
    now: datetime,
    via: str,
    patient_ref: str | None = None,
) -> Exported:
    """Write the files and audit the export, in the caller's transaction (one snapshot).
    UnknownPatient, nothing written, if the clinic has no patient `patient_ref`."""
    if patient_ref is not None and not await queries.has_patient(
        session, clinic_id=clinic_id, patient_ref=patient_ref
    ):
        raise UnknownPatient(f"no patient {patient_ref!r} in clinic {clinic_id!r}")
    rows = await write_csv(
        session,
        clinic_id=clinic_id,
        since=since,
        free_text=free_text,
        opener=opener,
        patient_ref=patient_ref,
    )
    await audit.append(
        session,
        at=now,
        actor=actor,
        event=EVENT,
        clinic_id=clinic_id,
        detail={
            "since": iso(since) if since else None,
            "free_text": free_text,
            "one_patient": patient_ref is not None,
            "rows": rows,
            "via": via,
        },
    )
    return Exported(rows=rows, since=since, free_text=free_text)


async def export_zip(
    session: AsyncSession,
    *,
    clinic_id: str,
    since: datetime | None,
    free_text: bool,
    actor: Actor,
    now: datetime,
    patient_ref: str | None = None,
) -> tuple[bytes, Exported]:
    """The files in one ZIP (in memory), audited as a console download (of the patient
    `patient_ref` only, if given: UnknownPatient if the clinic has none)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:

        @contextmanager
        def opener(name: str) -> Iterator[IO[str]]:
            with (
                archive.open(name, "w") as raw,
                io.TextIOWrapper(raw, encoding="utf-8", newline="") as text,
            ):
                yield text

        exported = await export_clinic(
            session,
            clinic_id=clinic_id,
            since=since,
            free_text=free_text,
            opener=opener,
            actor=actor,
            now=now,
            via="console",
            patient_ref=patient_ref,
        )
    return buffer.getvalue(), exported


def zip_name(clinic_id: str, now: datetime, zone: ZoneInfo, patient_ref: str | None = None) -> str:
    """The file a console download is saved as; one patient's names their reference (only
    letters, digits, - and _ of it, so the header stays a plain file name)."""
    one = "".join(
        c if c.isascii() and (c.isalnum() or c in "-_") else "_" for c in patient_ref or ""
    )
    middle = f"{clinic_id}-{one}" if one else clinic_id
    return f"aftercare-{middle}-{now.astimezone(zone):%Y-%m-%d}.zip"


class DirectoryTarget:
    """The files in a directory: written beside their names first and put in place only
    by `finish` (after the audited transaction commits), so a failed export leaves nothing
    that looks complete. Existing files are refused unless `force`."""

    def __init__(self, out: Path, *, force: bool) -> None:
        self.out = out
        self.force = force
        self.written: list[str] = []

    def check(self) -> None:
        if self.out.exists() and not self.out.is_dir():
            raise ExportError(f"{self.out} exists and is not a directory")
        present = [name for name in FILES if (self.out / name).exists()]
        if present and not self.force:
            raise ExportError(f"{self.out / present[0]} already exists; use --force to overwrite")

    def _partial(self, name: str) -> Path:
        return self.out / f".{name}.partial"

    def open(self, name: str) -> AbstractContextManager[IO[str]]:
        self.out.mkdir(parents=True, exist_ok=True)
        self.written.append(name)
        return self._partial(name).open("w", encoding="utf-8", newline="")

    def finish(self) -> list[Path]:
        done = []
        for name in self.written:
            self._partial(name).replace(self.out / name)
            done.append(self.out / name)
        return done

    def discard(self) -> None:
        for name in self.written:
            self._partial(name).unlink(missing_ok=True)
