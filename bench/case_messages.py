"""Case messages: a clinician's message -> the patient's chat, and the patient's reply -> the
clinician's chat (issue 26).

Runs the real application in-process against the sandbox Bot API (as bench/page_latency.py
does): one clinician, P patients each with an open low case (care-team queue, nobody paged).
The clinician taps *Message patient* once per patient (the prompt), then in each round:

- clinician -> patient: from the moment the clinician's reply to the prompt is queued at the
  sandbox to the arrival of the sendMessage to the patient's chat ("Dr Ada, North Clinic: …");
- patient -> clinician: from the moment the patient's text is queued to the arrival of the
  sendMessage to the clinician's chat ("Case #N: REF replied").

    .venv/bin/python -m bench.case_messages [--rounds 200] [--database-url URL]

Exit status: 0 when every message arrived (whether or not the target was met), 1 when one
never did, 2 when the run itself broke.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from typing import Any

import asyncpg

from bench.page_latency import (
    CLINICIAN,
    TARGET_P99_MS,
    BenchError,
    add_clinician_on_call,
    database_url,
    noon_zone,
    percentile,
    running_bot,
)
from bot.context import AppContext
from bot.domain.levels import Level
from bot.domain.triage import Finding
from bot.services.cases import raise_case
from bot.services.enrollment import accept_consent, check_invite, enroll_patient
from sandbox import BotApiSandbox
from storage.states import CaseTrigger

FIRST_PATIENT = 9_200_000


async def add_patient_with_case(ctx: AppContext, sandbox: BotApiSandbox, user_id: int) -> int:
    """Enrolled and consented (no infusion: no check-in in the way), with an open low case."""
    clinic = ctx.clinics.clinics[0]
    now = ctx.clock.now()
    ref = f"M-{user_id}"
    sandbox.add_user(user_id, ref)
    async with ctx.db.transaction() as session:
        patient, token = await enroll_patient(
            session,
            clinic=clinic,
            ref=ref,
            timezone=noon_zone(now),
            baseline_mood=None,
            emergency_contact=None,
            now=now,
            actor="bench",
        )
        checked = await check_invite(session, token=token, chat_id=user_id, now=now)
        if checked.invite is None or checked.problem is not None:
            raise BenchError(f"invite for {ref} refused: {checked.problem}")
        await accept_consent(
            session, invite=checked.invite, user_id=user_id, chat_id=user_id, now=now
        )
        raised = await raise_case(
            session,
            patient=patient,
            level=Level.LOW,
            findings=[Finding(Level.LOW, "bench")],
            trigger=CaseTrigger.NON_RESPONSE,
            now=now,
        )
    if raised is None or raised.case.id is None:
        raise BenchError(f"no case for {ref}")
    return raised.case.id


async def prompt_for(sandbox: BotApiSandbox, case_id: int) -> dict[str, Any]:
    """The clinician taps *Message patient* (on any of their messages: the data is the case)."""
    last = sandbox.last_message(CLINICIAN)
    if last is None:
        raise BenchError("the clinician has no message to tap")
    sandbox.tap(CLINICIAN, last["message_id"], data=f"esc:msg:{case_id}", forge=True)
    return await sandbox.wait_for_message(
        CLINICIAN, f"Message to the patient of case #{case_id} ", after=last["message_id"]
    )


async def _arrival(
    sandbox: BotApiSandbox, start: int, chat: int, mark: str, deadline: float
) -> float | None:
    calls = sandbox.calls
    seen = start
    while time.monotonic() < deadline:
        for call in calls[seen:]:
            if (
                call.method == "sendMessage"
                and call.params.get("chat_id") == chat
                and mark in str(call.params.get("text") or "")
            ):
                return call.at
        seen = len(calls)
        await asyncio.sleep(0.001)
    return None


async def clinician_to_patient(
    sandbox: BotApiSandbox, prompt: dict[str, Any], patient: int, n: int, wait: float
) -> float | None:
    mark = f"bench message {n}"
    start = len(sandbox.calls)
    queued = time.monotonic()
    sandbox.enqueue_update(
        {
            "message": {
                "message_id": 500_000 + n,
                "date": 0,
                "text": mark,
                "chat": {"id": CLINICIAN, "type": "private", "first_name": "Ada"},
                "from": {"id": CLINICIAN, "is_bot": False, "first_name": "Ada"},
                "reply_to_message": prompt,
            }
        }
    )
    arrived = await _arrival(sandbox, start, patient, mark, queued + wait)
    await _arrival(sandbox, start, CLINICIAN, "✓ Sent to", queued + wait)  # idle again
    return None if arrived is None else (arrived - queued) * 1000


async def patient_to_clinician(
    sandbox: BotApiSandbox, patient: int, n: int, wait: float
) -> float | None:
    mark = f"bench reply {n}"
    start = len(sandbox.calls)
    queued = time.monotonic()
    sandbox.send_text(patient, mark)
    arrived = await _arrival(sandbox, start, CLINICIAN, mark, queued + wait)
    return None if arrived is None else (arrived - queued) * 1000


def _line(name: str, backend: str, values: list[float]) -> str:
    values = sorted(values)
    p50, p95, p99 = (percentile(values, p) for p in (50, 95, 99))
    met = "met" if p99 < TARGET_P99_MS else "NOT met"
    return (
        f"{name} {backend} n={len(values)} p50={p50:.1f}ms p95={p95:.1f}ms p99={p99:.1f}ms "
        f"max={values[-1]:.1f}ms target p99<{TARGET_P99_MS:.0f}ms: {met}"
    )


async def run(args: argparse.Namespace) -> int:
    patients = [FIRST_PATIENT + i for i in range(args.patients)]
    out: list[float] = []
    back: list[float] = []
    missing = 0
    async with (
        database_url(args.database_url) as url,
        BotApiSandbox() as sandbox,
        running_bot(sandbox, url, 1.0) as ctx,
    ):
        backend = ctx.db.dialect
        await add_clinician_on_call(ctx, sandbox)
        cases = [await add_patient_with_case(ctx, sandbox, p) for p in patients]
        prompts = [await prompt_for(sandbox, case_id) for case_id in cases]
        total = args.warmup + args.rounds
        for n in range(total):
            i = n % len(patients)
            await asyncio.sleep(args.settle)
            sent = await clinician_to_patient(sandbox, prompts[i], patients[i], n, args.timeout)
            await asyncio.sleep(args.settle)
            replied = await patient_to_clinician(sandbox, patients[i], n, args.timeout)
            if n < args.warmup:
                continue
            missing += (sent is None) + (replied is None)
            if sent is not None:
                out.append(sent)
            if replied is not None:
                back.append(replied)
    print(f"rounds: {args.rounds} measured ({args.warmup} warm-up excluded), {missing} missing")
    if not out or not back:
        print("case messages: nothing arrived")
        return 1
    print(_line("clinician message -> patient's chat", backend, out))
    print(_line("patient reply -> clinician's chat", backend, back))
    return 1 if missing else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.case_messages", description=__doc__)
    parser.add_argument("--rounds", type=int, default=200, help="measured (default 200)")
    parser.add_argument("--warmup", type=int, default=10, help="excluded (default 10)")
    parser.add_argument("--patients", type=int, default=20, help="patients with a case")
    parser.add_argument(
        "--database-url",
        default=None,
        help="default: a temporary SQLite file; a postgresql+asyncpg:// URL gets a "
        "throwaway database created on that server and dropped afterwards",
    )
    parser.add_argument("--settle", type=float, default=0.05, help="idle pause (s)")
    parser.add_argument("--timeout", type=float, default=5.0, help="wait for a message (s)")
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.warmup < 0 or args.patients < 1:
        parser.error("--rounds and --patients must be >= 1, --warmup >= 0")
    try:
        return asyncio.run(run(args))
    except (BenchError, OSError, asyncpg.PostgresError) as exc:
        print(f"case_messages: run broke: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
