"""The bot's one HTTP server: a Starlette app served by uvicorn in the bot's own event loop.

It serves `/healthz` and `/metrics` always, Telegram's webhook in webhook mode, and whatever
front end the wiring mounts (the clinic console at `/console`, `bot/console/`). uvicorn is
driven through `startup` / `main_loop` / `shutdown` rather than `serve`, which would install
its own SIGINT/SIGTERM handlers over the application's.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Sequence
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.routing import BaseRoute

from bot.context import AppContext
from bot.ops.health import HealthMonitor, health_routes
from bot.ops.webhook import Receiver, webhook_route

log = logging.getLogger(__name__)

GRACEFUL_SHUTDOWN_SECONDS = 5


class BotHttpServer:
    """`/healthz` and `/metrics`, the Telegram webhook when given a receiver and a secret, and
    the `routes` the wiring adds (the console)."""

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
        routes: Sequence[BaseRoute] = (),
        trust_forwarded: bool = False,
    ) -> None:
        self.ctx = ctx
        self.listen = listen
        self.port = port
        self.monitor = HealthMonitor()
        all_routes: list[BaseRoute] = [*health_routes(ctx, self.monitor)]
        if receiver is not None:
            if not webhook_path or not secret or bot is None:
                raise ValueError("a webhook needs a bot, a path and a secret")
            all_routes.append(
                webhook_route(webhook_path, bot=bot, receiver=receiver, secret=secret)
            )
        all_routes.extend(routes)
        self.webhook = receiver is not None
        self.app = Starlette(routes=all_routes)
        self._config = uvicorn.Config(
            self.app,
            log_config=None,  # our logging setup stays; uvicorn's records propagate to it
            access_log=False,
            lifespan="off",
            server_header=False,
            # X-Forwarded-Proto/For only from a reverse proxy the operator says is there
            proxy_headers=trust_forwarded,
            forwarded_allow_ips="*" if trust_forwarded else "",
            timeout_keep_alive=75,
            timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
        )
        self._server: uvicorn.Server | None = None
        self._main: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Bind and serve in the running loop; OSError if the address cannot be bound."""
        family = socket.AF_INET6 if ":" in self.listen else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.listen or "0.0.0.0", self.port))
        except OSError:
            sock.close()
            raise
        sock.setblocking(False)
        self.port = int(sock.getsockname()[1])
        config = self._config
        if not config.loaded:
            config.load()
        server = uvicorn.Server(config)
        server.lifespan = config.lifespan_class(config)
        await server.startup(sockets=[sock])
        self._server = server
        self._sockets = [sock]
        self._main = asyncio.create_task(server.main_loop(), name="http")
        log.info(
            "http.listening address=%s port=%d webhook=%s",
            self.listen,
            self.port,
            "yes" if self.webhook else "no",
        )

    async def stop(self) -> None:
        """Stop accepting, let requests in flight finish (a few seconds at most), close."""
        server, self._server = self._server, None
        if server is None:
            return
        server.should_exit = True
        if self._main is not None:
            await self._main
        await server.shutdown(sockets=self._sockets)
