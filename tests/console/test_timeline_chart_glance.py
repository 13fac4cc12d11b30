"""The patient page puts the chart's words first: the latest mood, the lowest, positive screens."""

from __future__ import annotations

import re

from sandbox import BotApiSandbox
from tests.auxil.console import console_bot, join, patient_with_case, sign_in
from tests.auxil.databases import IsolatedDatabase
from tests.console.test_patients_routes import ADA, MOODS, _history


async def test_the_glance_stands_beside_the_chart(
    sandbox: BotApiSandbox, test_db: IsolatedDatabase
) -> None:
    async with console_bot(sandbox, test_db) as app:
        await join(app, ADA, "Dr Ada")
        patient, _ = await patient_with_case(app, "P-001")
        await _history(app, patient)
        client = await sign_in(app, ADA)
        text = (await client.get(f"{app.base}/patients/P-001")).text
        await client.aclose()
    glance = re.search(r'<ul class="chart-glance" id="chart-glance">(.*?)</ul>', text, re.S)
    assert glance, text
    lines = re.findall(r"<li>(.*?)</li>", glance.group(1))
    assert len(lines) == 3, lines
    assert re.fullmatch(
        rf"Latest mood {MOODS[-1]}/10 on \d{{1,2}} [A-Z][a-z]{{2}} \d\d:\d\d \(.+ ago\)", lines[0]
    ), lines
    assert lines[1].startswith(f"Lowest {min(MOODS)}/10 on "), lines
    assert lines[2] == "1 positive C-SSRS screen in the last 30 days", lines
    assert text.index('id="chart-glance"') < text.index("<svg"), "the words come first"
