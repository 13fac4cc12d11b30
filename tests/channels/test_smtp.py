"""The SMTP transport against a real server: login, refusals, a server down or silent, and URLs."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from email.message import EmailMessage

import pytest

from bot.channels.email.message import page_email
from bot.channels.email.smtp import Mailer, SmtpTarget, parse_smtp_url
from bot.messaging.delivery import Outcome
from tests.auxil.harness import LOCAL_OUTBOUND, free_port
from tests.auxil.smtp import SmtpSink

SENDER = "pages@north.example.org"
TO = "dr.oncall@north.example.org"
USER = "pager@north.example.org"
PASSWORD = "Hünter2 s:e@c/r%t"
PASSWORD_IN_URL = "H%C3%BCnter2%20s%3Ae%40c%2Fr%25t"


def _page(to: str = TO) -> EmailMessage:
    return page_email(to=to, sender=SENDER, subject="s", text="t", ack_url=None, console_url=None)


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    with SmtpSink() as running:
        yield running


@pytest.fixture
def login_sink() -> Iterator[SmtpSink]:
    with SmtpSink(users={USER: PASSWORD}) as running:
        yield running


def _with_login(sink: SmtpSink, password: str) -> str:
    return f"smtp://pager%40north.example.org:{password}@{sink.host}:{sink.port}"


# login


async def test_the_mailer_logs_in_with_the_urls_user_and_password(login_sink: SmtpSink) -> None:
    mailer = Mailer(
        _with_login(login_sink, PASSWORD_IN_URL), sender=SENDER, outbound=LOCAL_OUTBOUND
    )

    assert (await mailer.send(_page())).outcome is Outcome.SENT

    await login_sink.wait_for(TO)
    assert login_sink.logins == [USER]


async def test_a_wrong_password_fails_without_showing_it(login_sink: SmtpSink) -> None:
    wrong = "Wr0ng%20S3cret"
    mailer = Mailer(_with_login(login_sink, wrong), sender=SENDER, outbound=LOCAL_OUTBOUND)

    result = await mailer.send(_page())

    # 535 is permanent: the same password will not work on the next try
    assert result.outcome is Outcome.FAILED
    assert result.error is not None and "refused the login" in result.error
    assert "535" in result.error and "\n" not in result.error
    assert "Wr0ng" not in result.error and "S3cret" not in result.error
    assert login_sink.messages == [] and login_sink.logins == []


async def test_no_login_where_one_is_required_fails(login_sink: SmtpSink) -> None:
    result = await Mailer(login_sink.url, sender=SENDER, outbound=LOCAL_OUTBOUND).send(_page())

    assert result.outcome is Outcome.FAILED
    assert result.error is not None and "530" in result.error
    assert login_sink.messages == []


# refusals


async def test_a_refused_recipient_fails(sink: SmtpSink) -> None:
    sink.refuse.add(TO)

    result = await Mailer(sink.url, sender=SENDER, outbound=LOCAL_OUTBOUND).send(_page())

    assert result.outcome is Outcome.FAILED
    assert result.error is not None
    assert "refused the recipient" in result.error and TO in result.error
    assert "550" in result.error
    assert sink.messages == []


async def test_a_deferred_recipient_is_retried(sink: SmtpSink) -> None:
    sink.defer.add(TO)

    result = await Mailer(sink.url, sender=SENDER, outbound=LOCAL_OUTBOUND).send(_page())

    assert result.outcome is Outcome.RETRY
    assert result.error is not None and "451" in result.error and TO in result.error
    assert sink.messages == []


async def test_one_refused_of_two_recipients_is_sent_and_says_which(sink: SmtpSink) -> None:
    other = "dr.backup@north.example.org"
    sink.refuse.add(other)

    result = await Mailer(sink.url, sender=SENDER, outbound=LOCAL_OUTBOUND).send(
        _page(f"{TO}, {other}")
    )

    # sent (again would duplicate it for the one who got it), with the refusal kept
    assert result.outcome is Outcome.SENT
    assert result.error is not None and other in result.error and "550" in result.error
    await sink.wait_for(TO)


@pytest.mark.parametrize(
    ("scheme", "query", "says"),
    [("smtps", "", "TLS failed"), ("smtp", "?starttls=true", "STARTTLS")],
)
async def test_tls_asked_of_a_plain_server_fails(
    sink: SmtpSink, scheme: str, query: str, says: str
) -> None:
    # never falls back to sending in the clear; and retrying would not make the relay speak TLS
    url = f"{scheme}://{USER}:{PASSWORD_IN_URL}@{sink.host}:{sink.port}{query}"

    result = await Mailer(url, sender=SENDER, timeout=2, outbound=LOCAL_OUTBOUND).send(_page())

    assert result.outcome is Outcome.FAILED
    assert result.error is not None and says in result.error and PASSWORD not in result.error
    assert sink.messages == []


# a server down or silent


async def test_a_server_that_is_down_is_retried() -> None:
    port = free_port()  # nothing listens there

    result = await Mailer(
        f"smtp://127.0.0.1:{port}", sender=SENDER, timeout=2, outbound=LOCAL_OUTBOUND
    ).send(_page())

    assert result.outcome is Outcome.RETRY
    assert result.error is not None and f"127.0.0.1:{port}" in result.error
    assert "\n" not in result.error


async def test_a_server_that_never_answers_is_retried_after_the_timeout() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()  # the kernel completes the handshake; nobody ever says 220
        port = silent.getsockname()[1]
        url = f"smtp://{USER}:{PASSWORD_IN_URL}@127.0.0.1:{port}"
        mailer = Mailer(url, sender=SENDER, timeout=0.5, outbound=LOCAL_OUTBOUND)
        started = time.monotonic()

        result = await mailer.send(_page())

        elapsed = time.monotonic() - started
    assert result.outcome is Outcome.RETRY
    assert 0.4 < elapsed < 1.5
    assert result.error is not None and "timed out" in result.error.lower()
    assert PASSWORD not in result.error


# URLs


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("smtp://mx.example.org", ("mx.example.org", 25, None, None, "none")),
        ("smtp://mx.example.org:2525", ("mx.example.org", 2525, None, None, "none")),
        ("smtp://mx.example.org?starttls=true", ("mx.example.org", 587, None, None, "starttls")),
        ("smtp://mx.example.org:25?starttls=1", ("mx.example.org", 25, None, None, "starttls")),
        ("smtp://mx.example.org/?starttls=false", ("mx.example.org", 25, None, None, "none")),
        ("smtps://mx.example.org", ("mx.example.org", 465, None, None, "tls")),
        ("SMTPS://MX.Example.ORG:1465", ("mx.example.org", 1465, None, None, "tls")),
        ("smtp://u:p@[::1]:25", ("::1", 25, "u", "p", "none")),
        (
            f"smtps://pager%40north.example.org:{PASSWORD_IN_URL}@mx.example.org",
            ("mx.example.org", 465, USER, PASSWORD, "tls"),
        ),
        (
            "smtp://apikey:p@ss@relay.example.org?starttls=true",  # '@' left unencoded
            ("relay.example.org", 587, "apikey", "p@ss", "starttls"),
        ),
    ],
)  # fmt: skip
def test_smtp_urls(url: str, expected: tuple[object, ...]) -> None:
    target = parse_smtp_url(url)
    assert (target.host, target.port, target.username, target.password, target.security) == (
        expected
    )


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("http://user:Hunter2@mail.example.org", "smtp:// or smtps://"),
        ("user:Hunter2@mail.example.org", "smtp:// or smtps://"),
        ("mail.example.org:25", "smtp:// or smtps://"),
        ("", "smtp:// or smtps://"),
        ("smtp://", "no host"),
        ("smtp://user:Hunter2@", "no host"),
        ("smtp://user:Hunter2@:25", "no host"),
        ("smtp://user@mail.example.org", "both a user and a password"),
        ("smtp://:Hunter2@mail.example.org", "both a user and a password"),
        ("smtp://mail.example.org:0", "port"),
        ("smtp://mail.example.org:70000", "port"),
        ("smtp://user:Hunter2@mail.example.org:smtp", "port"),
        ("smtp://user:Hun/ter2@mail.example.org", "port"),  # '/' left unencoded
        ("smtp://user:12345/Hunter2@mail.example.org", "no path"),
        ("smtp://mail.example.org/inbox", "no path"),
        ("smtp://mail.example.org#x", "no path"),
        ("smtp://user:Hunter2@mail.example.org?starttls=maybe", "starttls=true"),
        ("smtp://mail.example.org?tls=true", "starttls=true"),
        ("smtp://mail.example.org?starttls", "starttls=true"),
        ("smtps://mail.example.org?starttls=true", "TLS from the start"),
    ],
)
def test_bad_smtp_urls_are_refused_without_echoing_them(url: str, says: str) -> None:
    with pytest.raises(ValueError, match=r"SMTP URL|smtps://") as refused:
        parse_smtp_url(url)
    assert says in str(refused.value)
    assert "Hunter2" not in str(refused.value) and "ter2" not in str(refused.value)


def test_the_password_is_in_no_repr() -> None:
    url = f"smtps://pager:{PASSWORD_IN_URL}@mail.example.org"
    target = parse_smtp_url(url)
    mailer = Mailer(url, sender=SENDER, outbound=LOCAL_OUTBOUND)

    assert target == SmtpTarget("mail.example.org", 465, "pager", PASSWORD, "tls")
    for shown in (repr(target), str(target), repr(mailer)):
        assert "Hünter2" not in shown and "H%C3%BCnter2" not in shown
        assert "mail.example.org" in shown and "pager" in shown
