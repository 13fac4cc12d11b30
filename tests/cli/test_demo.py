"""`aftercare demo`, run in-process: every step happens and the output shows it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from bot.cli.demo import demo_clinic_toml, run_demo
from bot.clinic_config import parse_clinics


def _section(output: str, title: str) -> str:
    """The text of one `=== title ===` section, up to the next section."""
    return output.split(f"=== {title} ===\n", 1)[1].split("\n=== ", 1)[0]


def test_the_demo_clinic_is_valid_and_compressed() -> None:
    clinic = parse_clinics(demo_clinic_toml(), source="demo").clinics[0]
    assert clinic.protocols["standard"].offsets[0].total_seconds() == 2
    assert [s.after.total_seconds() for s in clinic.escalation.high] == [0, 3, 8]  # type: ignore[union-attr]
    faster = parse_clinics(demo_clinic_toml(2.0), source="demo").clinics[0]
    assert faster.protocols["standard"].offsets[0].total_seconds() == 1


async def test_the_demo_runs_the_whole_escalation_and_exits_0() -> None:
    lines: list[str] = []
    started = time.monotonic()
    code = await run_demo(out=lines.append)
    elapsed = time.monotonic() - started
    output = "\n".join(lines)
    assert code == 0, output
    assert elapsed < 60, elapsed
    assert "demo finished in" in output and "FAILED" not in output

    patient = _section(output, "Patient chat")
    assert "988" in patient  # the crisis card
    assert "has been paged now" in patient
    assert "patient: [taps “I agree”]" in patient
    assert patient.index("patient: [taps “Yes”]") < patient.index("has been paged now")

    primary = _section(output, "Dr Primary")
    assert primary.count("HIGH priority") == 2  # paged, then re-paged with the backup
    assert "acknowledged by Dr Backup" in primary
    assert "resolved by Dr Backup" in primary

    fhir = _section(output, "FHIR export")  # the demo's patient, as the EHR would take it
    assert "a valid FHIR R4B collection Bundle" in fhir
    # the patient and the case's Flag; the check-in is still open when the demo ends, and an
    # open check-in's answers are exported once it closes (README, "FHIR export")
    assert "1 Flag, 1 Patient:" in fhir, fhir

    backup = _section(output, "Dr Backup")
    assert backup.count("HIGH priority") == 1
    assert "Dr Backup: [taps “Acknowledge”]" in backup
    assert "Dr Backup: [taps “Log contact”]" in backup
    assert "✓ Recorded on case #1: Phone — Reached." in backup
    assert backup.index("Recorded on case") < backup.index("Resolution note for case")
    assert "Resolution note for case" in backup and "resolved." in backup

    trail = _section(output, "Audit trail")
    for event in ("escalation.opened", "page.sent", "escalation.acknowledged"):
        assert f" {event} " in trail, event
    assert " outreach.logged " in trail
    assert trail.index(" outreach.logged ") < trail.index(" escalation.resolved ")
    assert " escalation.resolved " in trail
    assert trail.count(" page.sent ") == 4  # three in Telegram, one by e-mail
    assert trail.count("channel=email") == 1

    mail = _section(output, "E-mail (embedded SMTP server)")
    assert "To: primary@demo-clinic.example" in mail
    assert "Subject: [Aftercare] HIGH priority — case #1 (P-0042)" in mail
    assert "C-SSRS item 4 = Yes" in mail  # the same facts as the Telegram page
    assert "audit log intact:" in output


def test_the_readme_first_command_runs_the_demo_as_a_process(tmp_path: Path) -> None:
    """`aftercare demo` as a user runs it: exit 0, under 60 s, no secrets needed."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AFTERCARE_")}
    started = time.monotonic()
    result = subprocess.run(
        [str(Path(sys.executable).parent / "aftercare"), "demo"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert time.monotonic() - started < 60
    assert "audit log intact" in result.stdout and "demo finished" in result.stdout
    assert "Traceback" not in result.stderr


async def test_the_console_demo_keeps_running_with_links_for_an_admin_and_the_on_call() -> None:
    import asyncio
    import re

    import httpx

    from tests.auxil.console import GUARD
    from tests.auxil.harness import free_port

    lines: list[str] = []
    until = asyncio.Event()
    port = free_port()
    demo = asyncio.create_task(run_demo(out=lines.append, console_port=port, until=until))
    links: list[str] = []
    for _ in range(600):
        links = re.findall(r"http://127\.0\.0\.1:\d+/console/signin/\S+", "\n".join(lines))
        if len(links) == 2 or demo.done():
            break
        await asyncio.sleep(0.1)
    assert len(links) == 2 and links[0] != links[1], "\n".join(lines)
    admin, on_call = links
    shown = _section("\n".join(lines), "The clinic console")
    assert shown.index("As Dr Primary, the clinic's admin") < shown.index(admin)
    assert "Settings (edit), Export and Team invites" in shown
    assert (
        shown.index(admin)
        < shown.index("As Dr Backup, the on-call clinician")
        < shown.index(on_call)
    )
    base = f"http://127.0.0.1:{port}/console"

    async def signed_in(link: str) -> httpx.AsyncClient:
        browser = httpx.AsyncClient(timeout=10)
        form = await browser.get(link)
        guard = GUARD.search(form.text)
        assert guard is not None, form.text
        await browser.post(link, data={"guard": guard.group(1)}, follow_redirects=True)
        return browser

    try:
        backup = await signed_in(on_call)
        queue = await backup.get(f"{base}/")
        assert "Signed in as Dr Backup" in queue.text
        assert "MODERATE" in queue.text and "suicide tonight" in queue.text
        timeline = await backup.get(f"{base}/patients/P-0042")
        assert timeline.status_code == 200 and 'role="img"' in timeline.text
        assert (await backup.get(f"{base}/export")).status_code == 403  # not an admin
        primary = await signed_in(admin)
        assert "Signed in as Dr Primary" in (await primary.get(f"{base}/")).text
        export = await primary.get(f"{base}/export")
        assert export.status_code == 200 and 'id="export-form"' in export.text
        team = await primary.get(f"{base}/team")
        assert team.status_code == 200 and "/team/invite" in team.text
        async with httpx.AsyncClient(timeout=10) as fresh:
            for link in links:  # each worked once
                assert (await fresh.get(link)).status_code == 410
        await backup.aclose()
        await primary.aclose()
        assert not demo.done()  # still serving until Ctrl-C
    finally:
        until.set()
    assert await asyncio.wait_for(demo, timeout=30) == 0
    output = "\n".join(lines)
    assert "demo finished in" in output
    trail = _section(output, "Audit trail")
    assert re.search(r" demo +console\.link_issued +clinician=1 minted_by=demo", trail), trail
