"""Sending e-mail through the clinic's SMTP relay, with the same honest answer as Telegram sends.

The relay is one URL (`smtp://user:pass@host:587?starttls=true`, `smtps://host`), parsed into an
`SmtpTarget`. `Mailer.send` hands one message to it and classifies what happened as a `Delivery`:
SENT; RETRY for what may pass (connection refused or reset, timeouts, 4xx replies); FAILED for
what will not (5xx refusals, a relay without STARTTLS or AUTH, a TLS certificate it cannot trust,
a relay the outbound rules refuse: `bot/domain/outbound.py`, AFTERCARE_OUTBOUND_ALLOW).
The password appears in no log line, error string or repr.
"""

from __future__ import annotations

import email.message
import logging
import ssl
from dataclasses import dataclass, field
from email.utils import parseaddr
from typing import Literal
from urllib.parse import parse_qsl, unquote, urlsplit

import aiosmtplib

from bot.domain.delivery import Delivery, Outcome
from bot.domain.outbound import OutboundPolicy, OutboundRefused, target_of
from bot.services.paging.outbound import SEND_RESOLVE_SECONDS, Blocked, Unresolved, check_target

log = logging.getLogger(__name__)

Security = Literal["none", "starttls", "tls"]

DEFAULT_PORTS: dict[Security, int] = {"none": 25, "starttls": 587, "tls": 465}
ERROR_MAX = 300  # characters of a server's reply kept in an error string
_TRUE = {"true", "1", "yes"}
_FALSE = {"false", "0", "no"}
BAD_OPTIONS = "the SMTP URL's options must be ?starttls=true or ?starttls=false"


@dataclass(frozen=True)
class SmtpTarget:
    host: str
    port: int
    username: str | None
    password: str | None = field(repr=False)
    security: Security


def parse_smtp_url(url: str) -> SmtpTarget:
    """The relay's URL as a target, or ValueError with a plain message that echoes no part of it.

    smtp://[user:pass@]host[:port][?starttls=true]: plain SMTP, port 25 by default; with
    starttls=true the connection is upgraded to TLS before anything else, port 587 by default.
    smtps://[user:pass@]host[:port]: TLS from the start, port 465 by default.
    User and password are percent-decoded; give both or neither.
    """
    # Messages name no part of the URL: a malformed one may have its password anywhere.
    parts = urlsplit(url.strip())
    if parts.scheme not in ("smtp", "smtps"):
        raise ValueError("the SMTP URL must start with smtp:// or smtps://")
    if parts.path not in ("", "/") or parts.fragment:
        raise ValueError("the SMTP URL must be smtp[s]://[user:password@]host[:port] (no path)")
    try:
        host, port = parts.hostname, parts.port
    except ValueError:
        raise ValueError("the SMTP URL has a port that is not a number from 1 to 65535") from None
    if not host:
        raise ValueError("the SMTP URL has no host")
    if port == 0:
        raise ValueError("the SMTP URL has a port that is not a number from 1 to 65535")

    security: Security = "tls" if parts.scheme == "smtps" else "none"
    try:
        query = parse_qsl(parts.query, keep_blank_values=True, strict_parsing=bool(parts.query))
    except ValueError:
        raise ValueError(BAD_OPTIONS) from None
    for name, value in query:
        if name != "starttls" or value.lower() not in _TRUE | _FALSE:
            raise ValueError(BAD_OPTIONS)
        if parts.scheme == "smtps":
            raise ValueError("smtps:// is TLS from the start: starttls does not apply to it")
        security = "starttls" if value.lower() in _TRUE else "none"

    username = unquote(parts.username) if parts.username is not None else None
    password = unquote(parts.password) if parts.password is not None else None
    if (username is None) != (password is None) or username == "":
        raise ValueError("the SMTP URL must give both a user and a password, or neither")
    return SmtpTarget(
        host=host,
        port=port or DEFAULT_PORTS[security],
        username=username,
        password=password,
        security=security,
    )


def _one_line(text: str, *, secret: str | None) -> str:
    if secret:
        text = text.replace(secret, "***")
    text = " ".join(text.split())
    return text if len(text) <= ERROR_MAX else text[: ERROR_MAX - 1] + "…"


def _temporary(code: int) -> bool:
    return 400 <= code < 500


def _reply(code: int, message: str) -> str:
    return f"{code} {message}".strip()


def _classify(error: Exception, where: str) -> tuple[Outcome, str]:
    """What one failed send means: (RETRY or FAILED, what happened)."""
    if isinstance(error, aiosmtplib.SMTPRecipientsRefused):
        codes = [r.code for r in error.recipients]
        said = "; ".join(f"{r.recipient}: {_reply(r.code, r.message)}" for r in error.recipients)
        outcome = Outcome.RETRY if codes and all(map(_temporary, codes)) else Outcome.FAILED
        return outcome, f"{where} refused the recipient ({said})"
    if isinstance(error, aiosmtplib.SMTPResponseException):
        outcome = Outcome.RETRY if _temporary(error.code) else Outcome.FAILED
        what = {
            aiosmtplib.SMTPAuthenticationError: "refused the login",
            aiosmtplib.SMTPSenderRefused: "refused the sender",
            aiosmtplib.SMTPRecipientRefused: "refused the recipient",
            aiosmtplib.SMTPDataError: "refused the message",
            aiosmtplib.SMTPHeloError: "refused the greeting",
            aiosmtplib.SMTPConnectResponseError: "refused the connection",
        }.get(type(error), "answered")
        return outcome, f"{where} {what} ({_reply(error.code, error.message)})"
    if isinstance(error, aiosmtplib.SMTPTimeoutError | TimeoutError):
        return Outcome.RETRY, f"{where} timed out: {error}"
    if isinstance(error, ssl.SSLError) or isinstance(error.__cause__, ssl.SSLError):
        # An untrusted certificate or TLS spoken to a plain port: the setup, not the moment.
        return Outcome.FAILED, f"{where}: TLS failed: {error.__cause__ or error}"
    if isinstance(error, aiosmtplib.SMTPConnectError | aiosmtplib.SMTPServerDisconnected):
        return Outcome.RETRY, f"{where}: {error}"
    if isinstance(error, aiosmtplib.SMTPException):
        # STARTTLS or AUTH not offered, SMTPUTF8 needed: the relay will not change its mind.
        return Outcome.FAILED, f"{where}: {error}"
    if isinstance(error, ValueError):  # the message itself cannot be sent as it is
        return Outcome.FAILED, f"message not sendable: {error}"
    return Outcome.RETRY, f"{where}: {error.__class__.__name__}: {error}"  # OSError


class Mailer:
    """One SMTP relay: a connection for each message (pages are rare and must not queue)."""

    def __init__(
        self,
        url: str,
        *,
        sender: str,
        timeout: float = 10.0,
        outbound: OutboundPolicy | None = None,
    ) -> None:
        self.target = parse_smtp_url(url)
        self.sender = sender
        self.timeout = timeout
        self.outbound = outbound or OutboundPolicy()  # public hosts only unless the operator's

    async def refusal(self, *, timeout: float | None = None) -> Delivery | None:  # noqa: ASYNC109
        """The relay's host checked against the outbound rules (`services/paging/outbound.py`),
        at start-up and before each send: FAILED when they refuse it (the operator's own relay
        on an inside address belongs in AFTERCARE_OUTBOUND_ALLOW), RETRY when its name does not
        resolve now, None when it may be reached. Names no password."""
        where = f"SMTP {self.target.host}:{self.target.port}"
        wait = min(self.timeout, SEND_RESOLVE_SECONDS) if timeout is None else timeout
        try:
            relay = target_of("smtp", self.target.host, self.target.port)
            await check_target(relay, self.outbound, timeout=wait)
        except OutboundRefused as exc:
            return Delivery(Outcome.FAILED, error=f"{where} refused: {exc}")
        except Blocked as exc:
            error = f"{where} refused: {exc.refusal} (allow it in AFTERCARE_OUTBOUND_ALLOW)"
            return Delivery(Outcome.FAILED, error=error)
        except Unresolved as exc:
            return Delivery(Outcome.RETRY, error=f"{where}: {exc}")
        return None

    def __repr__(self) -> str:
        return f"Mailer({self.target!r}, sender={self.sender!r})"

    async def send(self, message: email.message.EmailMessage) -> Delivery:
        """Hand `message` to the relay: SENT, RETRY (connection refused or lost, timeouts, 4xx
        replies) or FAILED (5xx refusals such as a refused recipient or login, or a relay that
        cannot be used as configured). Sets From to `sender` when missing; the envelope sender is
        always `sender`. The error is one line saying what happened, without the password.
        Never raises for SMTP or network errors.
        """
        target = self.target
        where = f"SMTP {target.host}:{target.port}"
        if "From" not in message:
            message["From"] = self.sender
        if (refused_relay := await self.refusal()) is not None:
            log.warning("email.%s %s", refused_relay.outcome.value, refused_relay.error)
            return refused_relay
        try:
            refused, _ = await aiosmtplib.send(
                message,
                sender=parseaddr(self.sender)[1] or None,  # the envelope: bounces come back here
                hostname=target.host,
                port=target.port,
                username=target.username,
                password=target.password,
                use_tls=target.security == "tls",
                # "none": STARTTLS whenever the server offers it (never credentials in clear to
                # a server that could encrypt); "starttls": required; "tls": implicit
                start_tls={"none": None, "starttls": True, "tls": False}[target.security],
                timeout=self.timeout,
            )
        except (aiosmtplib.SMTPException, OSError, TimeoutError, ValueError) as exc:
            outcome, said = _classify(exc, where)
            error = _one_line(said, secret=target.password)
            log.warning("email.%s %s", outcome.value, error)
            return Delivery(outcome, error=error)
        if refused:
            # Some recipients took it, some did not: sent (again would duplicate), but say so.
            said = "; ".join(f"{to}: {_reply(r.code, r.message)}" for to, r in refused.items())
            error = _one_line(f"{where} refused some recipients ({said})", secret=target.password)
            log.warning("email.partly_sent %s", error)
            return Delivery(Outcome.SENT, error=error)
        log.info("email.sent via=%s:%s", target.host, target.port)
        return Delivery(Outcome.SENT)
