"""Outbound URLs checked again at send time (issue 25; DNS can change after a URL is saved): a
page event's POST and an e-mail's SMTP relay go nowhere inside the network unless the operator
allows it, and a POST connects only to the addresses it checked. Real HTTP receiver and SMTP
sink on 127.0.0.1; names resolved by a fake DNS (`tests/auxil/fake_dns.py`)."""

from __future__ import annotations

import asyncio
import logging
import ssl
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from bot.channels.email.message import page_email
from bot.channels.email.smtp import Mailer
from bot.channels.outbox import post_json
from bot.domain.outbound import OutboundPolicy
from bot.messaging.delivery import Outcome
from tests.auxil.fake_dns import fake_dns
from tests.auxil.harness import LOCAL_OUTBOUND
from tests.auxil.receiver import Receiver
from tests.auxil.smtp import SmtpSink

HTTP_ONLY = OutboundPolicy(allow_http=True)  # http allowed, nothing inside
NAME = "hooks.north.example"  # resolves nowhere but through the fake DNS
PUBLIC = "93.184.215.14"


async def test_a_url_naming_an_inside_address_is_refused_before_any_request() -> None:
    async with Receiver() as receiver:
        result = await post_json(f"{receiver.url}/hook", b"{}", headers={}, outbound=HTTP_ONLY)
        allowed = await post_json(
            f"{receiver.url}/hook", b"{}", headers={}, outbound=LOCAL_OUTBOUND
        )
    assert result.outcome is Outcome.FAILED  # for good: the ladder does not wait for it
    assert result.error == "refused: 127.0.0.1 is a loopback address"
    assert allowed.outcome is Outcome.SENT
    assert len(receiver.requests) == 1  # only the allowed one arrived


async def test_a_name_that_resolves_inside_is_refused_at_send_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    dns = fake_dns(monkeypatch)
    dns.answer(NAME, ["127.0.0.1"])
    async with Receiver() as receiver:
        url = f"http://{NAME}:{receiver.port}/hook"
        result = await post_json(url, b"{}", headers={}, outbound=HTTP_ONLY)
    assert result.outcome is Outcome.FAILED
    assert result.error == f"refused: {NAME} resolves to a loopback address 127.0.0.1"
    assert receiver.requests == []


async def test_an_allowed_name_is_reached_at_the_address_checked_with_its_own_host(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The operator allows the name: the POST goes to the address the check resolved, with the
    name in the Host header (the name resolves nowhere else, so nothing else could reach it)."""
    dns = fake_dns(monkeypatch)
    dns.answer(NAME, ["127.0.0.1"])
    policy = OutboundPolicy.parse(NAME, allow_http=True)
    async with Receiver() as receiver:
        url = f"http://{NAME}:{receiver.port}/hook"
        result = await post_json(url, b'{"a":1}', headers={}, outbound=policy)
    assert result.outcome is Outcome.SENT, result.error
    [request] = receiver.requests
    assert request.path == "/hook" and request.body == b'{"a":1}'
    assert request.header("Host") == f"{NAME}:{receiver.port}"
    assert dns.asked == [NAME]  # looked up once: the HTTP client did not ask again


async def test_a_name_rebound_inside_after_the_check_reaches_nothing_inside(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """DNS rebinding: public when checked, 127.0.0.1 when asked again a moment later. The
    connection goes to the checked (public, here unreachable) address, never inside."""
    dns = fake_dns(monkeypatch)
    dns.answer(NAME, [PUBLIC], ["127.0.0.1"])
    async with Receiver() as receiver:
        url = f"http://{NAME}:{receiver.port}/hook"
        result = await post_json(url, b"{}", headers={}, outbound=HTTP_ONLY, timeout=1.0)
    assert result.outcome is Outcome.RETRY  # the public address did not answer
    assert receiver.requests == []
    assert dns.asked == [NAME]


async def test_a_name_that_does_not_resolve_is_tried_again_later(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake_dns(monkeypatch).answer(NAME, [])
    result = await post_json(f"https://{NAME}/hook", b"{}", headers={}, outbound=HTTP_ONLY)
    assert result.outcome is Outcome.RETRY
    assert result.error is not None and result.error.startswith(f"unresolved: {NAME} does not")


async def test_https_only_unless_the_operator_allows_http() -> None:
    result = await post_json(
        "http://hooks.example.org/hook", b"{}", headers={}, outbound=OutboundPolicy()
    )
    assert result.outcome is Outcome.FAILED
    assert result.error is not None and result.error.startswith("refused: must be https://")


def _mail() -> EmailMessage:
    return page_email(
        to="ada@north.example", sender="pages@north.example", subject="s", text="HIGH",
        ack_url=None, console_url=None,
    )  # fmt: skip


async def test_the_smtp_relay_is_checked_before_each_send(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The operator's relay on an inside address is refused unless AFTERCARE_OUTBOUND_ALLOW
    names it; the error names the host, never the password."""
    dns = fake_dns(monkeypatch)
    dns.answer("relay.corp.example", ["127.0.0.1"])
    caplog.set_level(logging.WARNING)
    with SmtpSink() as sink:
        literal = await Mailer(sink.url, sender="p@x.example").send(_mail())
        url = f"smtp://pages:s3cr3t-pw@relay.corp.example:{sink.port}"
        named = await Mailer(url, sender="p@x.example").send(_mail())
        relay = OutboundPolicy.parse("relay.corp.example")
        allowed = await Mailer(
            f"smtp://relay.corp.example:{sink.port}", sender="p@x.example", outbound=relay
        ).send(_mail())
        assert len(sink.messages) == 1  # only the allowed one arrived
    assert literal.outcome is Outcome.FAILED and literal.error is not None
    assert "refused: points inside the network: 127.0.0.1 is a loopback address" in literal.error
    assert "AFTERCARE_OUTBOUND_ALLOW" in literal.error
    assert named.outcome is Outcome.FAILED and named.error is not None
    assert "relay.corp.example resolves to a loopback address 127.0.0.1" in named.error
    assert allowed.outcome is Outcome.SENT, allowed.error
    assert "s3cr3t-pw" not in f"{literal.error}{named.error}{caplog.text}"
    assert "email.failed" in caplog.text


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, NAME)])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=1))
        .not_valid_after(now + timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(NAME)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


async def test_https_to_a_checked_address_still_names_the_host_to_tls(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Pinned to the checked address, an https POST still sends the URL's name as TLS's server
    name (SNI), so the certificate is checked against the name, not the address."""
    fake_dns(monkeypatch).answer(NAME, ["127.0.0.1"])
    server_names: list[str | None] = []
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*_self_signed(tmp_path))
    context.sni_callback = lambda sock, name, ctx: server_names.append(name)  # type: ignore[assignment, func-returns-value]

    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    server = await asyncio.start_server(hang_up, "127.0.0.1", 0, ssl=context)
    port = server.sockets[0].getsockname()[1]
    async with server:
        result = await post_json(
            f"https://{NAME}:{port}/hook",
            b"{}",
            headers={},
            outbound=OutboundPolicy.parse(NAME),
            timeout=2.0,
        )
    assert server_names == [NAME]
    assert result.outcome is not Outcome.SENT  # a self-signed certificate is not trusted
    assert "CERTIFICATE_VERIFY_FAILED" in (result.error or "")
