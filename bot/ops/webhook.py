"""The bot's own HTTP server (tornado, in the bot's event loop).

Webhook mode: `POST {webhook_path}` takes updates from Telegram, checked against the secret
token Telegram was given in setWebhook, and `GET /healthz` reports health. Polling mode may
run the same server with `/healthz` alone. An update is answered 200 only once the intake has
stored it (`bot.intake.receive`); while it cannot be, 503, and Telegram delivers it again.
"""

from __future__ import annotations

import hmac
import json
import logging
import re
from typing import Any, Protocol

import tornado.httpserver
import tornado.netutil
import tornado.web
from telegram import Update

from bot.context import AppContext
from bot.ops.health import HealthHandler, HealthMonitor, MetricsHandler

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
MAX_BODY_BYTES = 1024 * 1024  # an update is a few KB; Telegram caps a message at 4096 chars
HEALTH_PATH = "/healthz"
METRICS_PATH = "/metrics"


class Receiver(Protocol):
    """What takes a webhook's update (`bot.intake.receive.Intake`)."""

    async def receive(self, update: Update, data: dict[str, Any]) -> bool: ...


class TelegramWebhookHandler(tornado.web.RequestHandler):
    """`POST {webhook_path}`: 403 without the right secret, 400 if not an update, 200 once it
    is stored, 503 while it cannot be (Telegram tries again)."""

    def initialize(self, bot: Any, receiver: Receiver, secret: str) -> None:
        self.bot = bot
        self.receiver = receiver
        self.secret = secret.encode("utf-8")

    async def post(self) -> None:
        supplied = self.request.headers.get(SECRET_HEADER, "").encode("utf-8", "replace")
        if not hmac.compare_digest(supplied, self.secret):
            # Not from Telegram: the body is not even looked at.
            log.warning("webhook.forbidden remote=%s", self.request.remote_ip)
            self._answer(403, "Forbidden")
            return
        try:
            data = json.loads(self.request.body)
            if not isinstance(data, dict):
                raise ValueError("not a JSON object")
            update = Update.de_json(data, self.bot)
            if update is None:
                raise ValueError("empty update")
        except Exception as exc:  # malformed JSON or not an update
            log.warning("webhook.bad_request error=%s", type(exc).__name__)
            self._answer(400, "Bad Request")
            return
        if await self.receiver.receive(update, data):
            self._answer(200, "OK")
        else:
            self.set_header("Retry-After", "1")
            self._answer(503, "Service Unavailable: not stored, please deliver again")

    def _answer(self, status: int, text: str) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        self.finish(text)


def _access_log(handler: tornado.web.RequestHandler) -> None:
    """Access log at DEBUG (health probes would drown everything else at INFO)."""
    request = handler.request
    log.debug("http %s %s -> %s", request.method, request.path, handler.get_status())


class BotHttpServer:
    """`/healthz`, plus the Telegram webhook when given an application and a secret."""

    def __init__(
        self,
        ctx: AppContext,
        *,
        listen: str,
        port: int,
        bot: Any = None,
        receiver: Receiver | None = None,
        webhook_path: str | None = None,
        secret: str | None = None,
    ) -> None:
        self.ctx = ctx
        self.listen = listen
        self.port = port
        self.monitor = HealthMonitor()
        routes: list[Any] = [
            (HEALTH_PATH, HealthHandler, {"ctx": ctx, "monitor": self.monitor}),
            (METRICS_PATH, MetricsHandler, {"ctx": ctx}),
        ]
        if receiver is not None:
            if not webhook_path or not secret or bot is None:
                raise ValueError("a webhook needs a bot, a path and a secret")
            routes.append(
                (
                    re.escape(webhook_path),
                    TelegramWebhookHandler,
                    {"bot": bot, "receiver": receiver, "secret": secret},
                )
            )
        self.webhook = receiver is not None
        self._app = tornado.web.Application(routes, log_function=_access_log)
        self._server: tornado.httpserver.HTTPServer | None = None

    async def start(self) -> None:
        """Bind and serve in the running loop; OSError if the address cannot be bound."""
        sockets = tornado.netutil.bind_sockets(self.port, self.listen or None)
        server = tornado.httpserver.HTTPServer(
            self._app, max_body_size=MAX_BODY_BYTES, idle_connection_timeout=75
        )
        server.add_sockets(sockets)
        self._server = server
        self.port = int(sockets[0].getsockname()[1])
        log.info(
            "http.listening address=%s port=%d webhook=%s",
            self.listen,
            self.port,
            "yes" if self.webhook else "no",
        )

    async def stop(self) -> None:
        """Stop accepting, then close every open connection."""
        server, self._server = self._server, None
        if server is None:
            return
        server.stop()
        await server.close_all_connections()
