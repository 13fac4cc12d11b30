"""A page e-mail through the real Mailer to a real SMTP server: what the clinician receives."""

from __future__ import annotations

from collections.abc import Iterator
from email.message import EmailMessage
from email.utils import parsedate_to_datetime

import pytest

from bot.channels.email.message import page_email, page_subject
from bot.channels.email.smtp import Mailer
from bot.messaging.delivery import Outcome
from tests.auxil.harness import LOCAL_OUTBOUND
from tests.auxil.smtp import SmtpSink

SENDER = "Aftercare pages <pages@north.example.org>"
TO = "dr.oncall@north.example.org"
ACK = "https://clinic.example.org/console/cases/12/ack?t=a&b=<1>"
CONSOLE = "https://clinic.example.org/console/cases/12"
TEXT = (
    "HIGH priority — case #12\n"
    "Patient P-042 (Ann <Test> & Co)\n"
    "Finding: post-infusion red flag present (emergency advice shown)\n"
    "Checked in 14:05 (America/New_York)"
)


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    with SmtpSink() as running:
        yield running


def _parts(message: EmailMessage) -> tuple[str, str]:
    plain = message.get_body(preferencelist=("plain",))
    rich = message.get_body(preferencelist=("html",))
    assert isinstance(plain, EmailMessage) and isinstance(rich, EmailMessage)
    return str(plain.get_content()), str(rich.get_content())


def test_subject_names_level_case_and_reference() -> None:
    subject = page_subject(level="high", case_id=12, reference="P-042")
    assert subject == "[Aftercare] HIGH priority — case #12 (P-042)"


async def test_a_page_arrives_with_text_links_and_headers(sink: SmtpSink) -> None:
    subject = page_subject(level="high", case_id=12, reference="P-042")
    message = page_email(
        to=TO, sender=SENDER, subject=subject, text=TEXT, ack_url=ACK, console_url=CONSOLE
    )

    result = await Mailer(sink.url, sender=SENDER, outbound=LOCAL_OUTBOUND).send(message)

    assert result.outcome is Outcome.SENT and result.error is None
    got = await sink.wait_for(TO)
    assert got["Subject"] == subject
    assert got["To"] == TO
    assert got["From"] == SENDER
    assert got["Auto-Submitted"] == "auto-generated"
    assert got["X-Priority"] == "1"
    assert got["Importance"] == "high"
    assert str(got["Message-ID"]).endswith("@north.example.org>")
    assert parsedate_to_datetime(str(got["Date"])).tzinfo is not None

    plain, rich = _parts(got)
    assert plain == f"{TEXT}\n\nAcknowledge: {ACK}\nOpen in console: {CONSOLE}\n"
    # the HTML carries the same text, escaped, and both links as buttons (URLs escaped too)
    assert "Ann &lt;Test&gt; &amp; Co" in rich and "<Test>" not in rich
    assert "HIGH priority — case #12" in rich
    assert f'href="{CONSOLE}"' in rich
    assert 'href="https://clinic.example.org/console/cases/12/ack?t=a&amp;b=&lt;1&gt;"' in rich
    assert ">Acknowledge</a>" in rich and ">Open in console</a>" in rich


async def test_links_are_left_out_when_not_given(sink: SmtpSink) -> None:
    message = page_email(
        to=TO, sender="pages@north.example.org", subject="s", text=TEXT + "\n",
        ack_url=None, console_url=CONSOLE,
    )  # fmt: skip

    assert (
        await Mailer(sink.url, sender="x@y.example", outbound=LOCAL_OUTBOUND).send(message)
    ).outcome is Outcome.SENT

    plain, rich = _parts(await sink.wait_for(TO))
    assert plain == f"{TEXT}\n\nOpen in console: {CONSOLE}\n"
    assert "Acknowledge" not in plain and "Acknowledge" not in rich
    assert f'href="{CONSOLE}"' in rich


async def test_mailer_sets_a_missing_from_and_the_envelope_sender(sink: SmtpSink) -> None:
    message = page_email(
        to=TO, sender=SENDER, subject="s", text=TEXT, ack_url=None, console_url=None
    )
    del message["From"]

    assert (
        await Mailer(sink.url, sender=SENDER, outbound=LOCAL_OUTBOUND).send(message)
    ).outcome is Outcome.SENT

    got = await sink.wait_for(TO)
    assert got["From"] == SENDER
    assert sink.envelopes == [("pages@north.example.org", [TO])]
    plain, _ = _parts(got)
    assert plain == TEXT + "\n"
