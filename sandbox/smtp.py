"""A real SMTP server for the tests and the offline demo: aiosmtpd on 127.0.0.1, keeping every
message it accepts.

`SmtpSink(users={"pager": "secret"})` also requires a login (AUTH PLAIN/LOGIN over the plain
connection). Recipients in `refuse` are answered 550, as a relay refuses an unknown mailbox;
those in `defer` 451, as one that asks to try again later.
aiosmtpd's Controller runs the server in its own thread and event loop: `messages` and
`logins` are appended under a lock and read as snapshots.
"""

from __future__ import annotations

import asyncio
import threading
import time
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import default
from types import TracebackType
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from sandbox.helpers import free_port


class SmtpSink:
    """A real SMTP server (aiosmtpd Controller) on 127.0.0.1 and a free port, keeping every
    message it accepts."""

    def __init__(self, *, users: dict[str, str] | None = None) -> None:
        self.host = "127.0.0.1"
        self.port = 0
        self.users = dict(users or {})
        self.refuse: set[str] = set()  # recipients answered 550 (permanent)
        self.defer: set[str] = set()  # recipients answered 451 (try again later)
        self._lock = threading.Lock()
        self._received: list[tuple[list[str], EmailMessage]] = []
        self._logins: list[str] = []
        self._envelopes: list[tuple[str, list[str]]] = []
        self._controller: Controller | None = None

    @property
    def url(self) -> str:
        return f"smtp://{self.host}:{self.port}"

    @property
    def messages(self) -> list[EmailMessage]:
        with self._lock:
            return [message for _, message in self._received]

    @property
    def envelopes(self) -> list[tuple[str, list[str]]]:
        """(MAIL FROM, RCPT TO addresses) of each accepted message, in order."""
        with self._lock:
            return list(self._envelopes)

    @property
    def logins(self) -> list[str]:
        """Users that logged in successfully, in order."""
        with self._lock:
            return list(self._logins)

    def start(self) -> None:
        self.port = free_port()
        options: dict[str, Any] = {}
        if self.users:
            # AUTH over the plain connection; the login is required in handle_MAIL, since
            # aiosmtpd's own auth_required=True warns without TLS (and warnings are errors here)
            options = {"authenticator": self._authenticate, "auth_require_tls": False}
        self._controller = Controller(self, hostname=self.host, port=self.port, **options)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> SmtpSink:
        self.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    async def wait_for(self, to: str, *, timeout: float = 5.0) -> EmailMessage:  # noqa: ASYNC109
        """The first message accepted for `to` (an envelope recipient), waiting up to `timeout`."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                for recipients, message in self._received:
                    if to.lower() in recipients:
                        return message
            if time.monotonic() > deadline:
                raise AssertionError(f"no message for {to} within {timeout} s")
            await asyncio.sleep(0.02)

    # aiosmtpd's hooks (called in the server's thread)

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        if not isinstance(data, LoginPassword):
            return AuthResult(success=False, handled=False)
        user, password = data.login.decode(), data.password.decode()
        if self.users.get(user) != password:
            return AuthResult(success=False, handled=False)
        with self._lock:
            self._logins.append(user)
        return AuthResult(success=True)

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if self.users and not session.authenticated:
            return "530 5.7.0 Authentication required"
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address.lower() in {refused.lower() for refused in self.refuse}:
            return "550 5.1.1 No such mailbox here"
        if address.lower() in {deferred.lower() for deferred in self.defer}:
            return "451 4.3.0 Mailbox busy, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        # stored with plain newlines, as a mailbox keeps it (the wire has CRLF)
        content = (envelope.original_content or b"").replace(b"\r\n", b"\n")
        message = BytesParser(policy=default).parsebytes(content)
        assert isinstance(message, EmailMessage)
        with self._lock:
            self._envelopes.append((envelope.mail_from or "", list(envelope.rcpt_tos)))
            self._received.append(([to.lower() for to in envelope.rcpt_tos], message))
        return "250 Message accepted for delivery"
