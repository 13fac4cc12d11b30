"""The application: start-up checks, the PTB Application, and serving until a signal."""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from telegram import Update
from telegram.error import InvalidToken, NetworkError, TelegramError
from telegram.ext import Application, ApplicationBuilder, CallbackContext, ContextTypes

from bot.channels.pagerduty.webhook_route import pagerduty_route
from bot.clinic_config import ClinicsConfig, load_clinics
from bot.clock import Clock, SystemClock
from bot.console.app import console_mount
from bot.context import CONTEXT_KEY, AftercareContext, AppContext, default_instance_id
from bot.database import open_db
from bot.dispatch.dispatcher import Dispatcher
from bot.i18n.resolve import menu_languages
from bot.intake.inbox import Inbox
from bot.intake.polling import Poller
from bot.intake.receive import Intake
from bot.intake.replies import OutageReplies
from bot.messaging.menus import show_clinician_menu, show_patient_menu
from bot.messaging.ratelimit import PriorityRateLimiter
from bot.messaging.transport import AiohttpRequest
from bot.ops.audit_head import publish_head
from bot.ops.health import HealthMonitor, heartbeat
from bot.ops.http_server import BotHttpServer
from bot.ops.outbound_at_start import outbound_problems
from bot.ops.settings_watch import refresh_settings
from bot.services.clinic.erasure import start_keys
from bot.services.clinic.instruments import load_installed
from bot.services.clinic.settings import effective_clinics, record_loaded, replan_clinic
from bot.services.paging.signing import startup_problems
from bot.settings import Settings
from handlers import register_handlers
from storage.caring.queries import release_leases as release_caring_leases
from storage.cases import release_case_leases
from storage.checkins import release_leases
from storage.crypto.keyring import NO_KEY
from storage.engine import Database
from storage.inbox import forget_before
from storage.invites import clinician_chats
from storage.migrate import upgrade

log = logging.getLogger(__name__)


HEARTBEAT_MONITOR_KEY = "aftercare.heartbeat_monitor"
DISPATCHER_KEY = "aftercare.dispatcher"  # the concrete dispatcher; handlers see `ctx.dispatcher`

AftercareApplication = Application[Any, AftercareContext, Any, Any, Any, Any]
PostInit = Callable[[AftercareApplication], Awaitable[None]]


class StartupError(Exception):
    """Start-up cannot continue; the message is one line for the operator; exit code attached."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


async def prepare(
    settings: Settings,
    *,
    clinics: ClinicsConfig | None = None,
    clock: Clock | None = None,
    db: Database | None = None,
    apply_file: bool = True,
) -> AppContext:
    """Load the clinics, migrate the database and mirror the clinics into it. With
    `apply_file=False` (CLI commands) stored clinic settings are used as they are."""
    clinics = clinics or load_clinics(settings.config)
    if apply_file and settings.data_key is None:
        raise StartupError(NO_KEY, exit_code=2)
    db = db or open_db(settings)
    clock = clock or SystemClock()
    try:
        if apply_file and (refused := await outbound_problems(settings, clinics)) is not None:
            raise StartupError(refused, exit_code=2)
        await upgrade(db)
        await start_keys(db, now=clock.now())
        now = clock.now()
        async with db.transaction() as session:
            effective, changed = await effective_clinics(
                session, file=clinics, now=now, apply_file=apply_file
            )
            await record_loaded(session, file=clinics, effective=effective, now=now)
            for clinic_id in changed:
                await replan_clinic(session, clinic=effective.clinics.clinic(clinic_id), now=now)
            await load_installed(session)  # the clinic's licensed instrument translations
    except BaseException:
        await db.dispose()
        raise
    return AppContext(
        settings=settings,
        clinics=effective.clinics,
        db=db,
        clock=clock,
        instance_id=settings.instance_id or default_instance_id(),
        settings_versions=dict(effective.versions),
    )


def webhook_secret(settings: Settings) -> str | None:
    """The webhook secret in webhook mode (required there); None when long polling."""
    if settings.webhook_url is None:
        return None
    if settings.webhook_secret is None:
        raise StartupError(
            "a webhook needs AFTERCARE_WEBHOOK_SECRET (1-256 of A-Z a-z 0-9 _ -), "
            "which Telegram sends back with every update",
            exit_code=2,
        )
    return settings.webhook_secret.get_secret_value()


def build_application(ctx: AppContext) -> AftercareApplication:
    """The PTB Application against the configured Bot API server, with every handler.

    There is no PTB Updater (it confirms updates before they are processed): updates come
    through `bot.intake` (our long polling or webhook server), which stores each one before
    Telegram is told it arrived, and reach the handlers from the inbox via `process_update`.
    """
    if ctx.settings.telegram_token is None:
        raise StartupError("AFTERCARE_TELEGRAM_TOKEN is not set (see .env.example)", exit_code=2)
    base = ctx.settings.telegram_api_url
    builder = (
        ApplicationBuilder()
        .token(ctx.settings.telegram_token.get_secret_value())
        .base_url(f"{base}/bot")
        .base_file_url(f"{base}/file/bot")
        .context_types(ContextTypes(context=AftercareContext))
        .post_init(_post_init)
        .request(AiohttpRequest())
    )
    # Always: every Bot API call is handled by its kind there; a rate of 0 turns pacing off.
    builder = builder.rate_limiter(
        PriorityRateLimiter(  # type: ignore[arg-type]  # PTB types the builder for one RLARGS
            per_second=ctx.settings.send_rate_per_second,
            chat_interval=ctx.settings.routine_chat_interval_seconds,
        )
    )
    application = builder.updater(None).build()
    application.bot_data[CONTEXT_KEY] = ctx
    register_handlers(application)
    return application


async def _post_init(application: AftercareApplication) -> None:
    """Register the command menu, start the dispatcher and the housekeeping jobs."""
    ctx = application.bot_data[CONTEXT_KEY]
    await show_patient_menu(application.bot)
    for language in menu_languages():  # the patients' menu in each of Aftercare's languages
        await show_patient_menu(application.bot, language)
    async with ctx.db.transaction() as session:
        chats = await clinician_chats(session)
    for chat_id in chats:  # a clinician's chat keeps the clinician menu across restarts
        await show_clinician_menu(application.bot, chat_id)
    dispatcher = Dispatcher(ctx, application.bot)
    ctx.dispatcher = application.bot_data[DISPATCHER_KEY] = dispatcher
    assert application.job_queue is not None
    application.job_queue.run_repeating(
        _dispatch,
        interval=ctx.settings.dispatch_interval_seconds,
        first=0.0,
        name="dispatch",
        job_kwargs={"max_instances": 1, "coalesce": True, "misfire_grace_time": None},
    )
    application.job_queue.run_repeating(_housekeeping, interval=3600, first=60, name="housekeeping")
    application.job_queue.run_repeating(
        _watch_settings,
        interval=ctx.settings.settings_poll_seconds,
        first=ctx.settings.settings_poll_seconds,
        name="settings",
        job_kwargs={"max_instances": 1, "coalesce": True, "misfire_grace_time": None},
    )
    await _publish_audit_head(ctx)
    if ctx.settings.heartbeat_url is not None:
        interval = ctx.settings.heartbeat_interval_seconds
        application.bot_data[HEARTBEAT_MONITOR_KEY] = HealthMonitor()
        application.job_queue.run_repeating(
            _heartbeat,
            interval=interval,
            first=interval,
            name="heartbeat",
            job_kwargs={"max_instances": 1, "coalesce": True, "misfire_grace_time": None},
        )


async def _dispatch(context: CallbackContext[Any, Any, Any, Any]) -> None:
    """One dispatcher tick; a failure is logged and the next tick tries again."""
    ctx: AppContext = context.bot_data[CONTEXT_KEY]
    dispatcher: Dispatcher = context.bot_data[DISPATCHER_KEY]
    try:
        await dispatcher.tick()
    except Exception:
        log.exception("dispatcher.tick_failed instance=%s", ctx.instance_id)


async def _watch_settings(context: CallbackContext[Any, Any, Any, Any]) -> None:
    """Use a clinic's new settings version, saved from any instance's console; never raises."""
    await refresh_settings(context.bot_data[CONTEXT_KEY])


async def _heartbeat(context: CallbackContext[Any, Any, Any, Any]) -> None:
    """The dead-man's heartbeat: request AFTERCARE_HEARTBEAT_URL while healthy; never raises."""
    ctx: AppContext = context.bot_data[CONTEXT_KEY]
    await heartbeat(ctx, context.bot_data.get(HEARTBEAT_MONITOR_KEY))


async def _housekeeping(context: CallbackContext[Any, Any, Any, Any]) -> None:
    """Forget processed updates Telegram can no longer redeliver; publish the audit head."""
    ctx: AppContext = context.bot_data[CONTEXT_KEY]
    try:
        async with ctx.db.transaction() as session:
            await forget_before(session, before=ctx.clock.now() - timedelta(days=2))
    except Exception:
        log.exception("housekeeping.failed")
    await _publish_audit_head(ctx)


async def _publish_audit_head(ctx: AppContext) -> None:
    """The audit chain's newest hash, to be kept elsewhere (log line, head file): never raises."""
    try:
        await publish_head(ctx.db, ctx.settings, now=ctx.clock.now())
    except Exception:
        log.exception("audit.head_failed")


async def _warn_about_signing(ctx: AppContext) -> None:
    """Say at start-up which clinics' webhooks are signed with the shared secret, or not at
    all, and whether secrets can be created or read (never raises)."""
    try:
        async with ctx.db.transaction() as session:
            problems = await startup_problems(
                session, clinics=ctx.clinics.clinics, settings=ctx.settings, now=ctx.clock.now()
            )
    except Exception:
        log.exception("webhook.signing_check_failed")
        return
    for problem in problems:
        log.warning("webhook.signing %s", problem)


async def serve(ctx: AppContext, stop: asyncio.Event) -> None:
    """Run the bot until `stop` is set, then shut down cleanly.

    Long polling by default; with AFTERCARE_WEBHOOK_URL, our own HTTP server takes
    Telegram's webhook posts (and serves /healthz) and no polling happens. Either way updates
    are stored in the inbox before Telegram is told they arrived, and processed from there.
    The webhook is left set on shutdown: other instances behind the same URL keep receiving.
    """
    settings = ctx.settings
    secret = webhook_secret(settings)
    webhook = secret is not None
    await _warn_about_signing(ctx)
    application = build_application(ctx)
    try:
        await application.initialize()
    except InvalidToken as exc:
        raise StartupError(f"Telegram rejected the bot token: {exc}", exit_code=2) from None
    except NetworkError as exc:
        raise StartupError(
            f"cannot reach the Telegram Bot API at {settings.telegram_api_url}: {exc}"
        ) from None
    replies = OutageReplies(ctx, application.bot)
    inbox = Inbox(ctx, application, replies)
    intake = Intake(ctx, replies, inbox)
    server: BotHttpServer | None = None
    tasks: list[asyncio.Task[None]] = []
    try:
        if application.post_init:
            await application.post_init(application)
        server = http_server(ctx, application.bot, intake if webhook else None, secret)
        if server is not None:
            try:
                await server.start()
            except OSError as exc:
                raise StartupError(
                    f"cannot listen on {server.listen}:{server.port}: {exc.strerror or exc}"
                ) from None
        await application.start()
        tasks.append(asyncio.create_task(inbox.run(take_over_all=not webhook), name="inbox"))
        if webhook:
            assert settings.webhook_url is not None
            await application.bot.set_webhook(
                url=settings.webhook_url,
                secret_token=secret,
                allowed_updates=Update.ALL_TYPES,
                drop_pending_updates=False,
            )
        else:
            await application.bot.delete_webhook(drop_pending_updates=False)
            tasks.append(asyncio.create_task(Poller(application.bot, intake).run(), name="poll"))
        # Everything loaded so far lives as long as the process: keep it out of the collector's
        # full passes, which otherwise stall a request by 60-80 ms now and then (bench/console).
        gc.collect()
        gc.freeze()
        log.info(
            "bot.started instance=%s username=%s database=%s mode=%s",
            ctx.instance_id,
            application.bot.username,
            ctx.db.dialect,
            "webhook" if webhook else "polling",
        )
        await _until(stop, tasks)
    finally:
        log.info("bot.stopping instance=%s", ctx.instance_id)
        if (dispatcher := application.bot_data.get(DISPATCHER_KEY)) is not None:
            dispatcher.stop()  # a running tick ends after its round, before the job queue
        if server is not None:
            await server.stop()  # no new updates
        for task in tasks[1:]:  # the poller: what it fetched and did not store comes again
            task.cancel()
        await inbox.stop()  # updates being processed finish; the rest wait in the inbox
        await asyncio.gather(*tasks, return_exceptions=True)
        if application.running:
            await application.stop()
        await application.shutdown()
        await _release_claims(ctx)


def http_server(
    ctx: AppContext, bot: Any, receiver: Intake | None, secret: str | None
) -> BotHttpServer | None:
    """The one HTTP server: /healthz, /metrics and the console, with the webhook in webhook
    mode (on its port); in polling mode only when AFTERCARE_HTTP_PORT is set."""
    settings = ctx.settings
    port = settings.webhook_port if receiver is not None else settings.health_port
    if port is None:
        return None
    return BotHttpServer(
        ctx,
        listen=settings.webhook_listen,
        port=port,
        bot=bot,
        receiver=receiver,
        webhook_path=settings.webhook_path if receiver is not None else None,
        secret=secret,
        routes=[console_mount(ctx, bot), pagerduty_route(ctx, bot)],
        trust_forwarded=settings.trust_forwarded,
    )


async def _until(stop: asyncio.Event, tasks: list[asyncio.Task[None]]) -> None:
    """Wait for `stop`; a task of the intake that ends on its own ends the bot (its error)."""
    stopped = asyncio.create_task(stop.wait())
    try:
        done, _ = await asyncio.wait([stopped, *tasks], return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopped.cancel()
    for task in done:
        if task is not stopped and task.exception() is not None:
            raise task.exception()  # type: ignore[misc]


async def _release_claims(ctx: AppContext) -> None:
    """After the last send has finished, hand back any claim still held."""
    try:
        async with ctx.db.transaction() as session:
            released = await release_leases(session, owner=ctx.instance_id)
            released += await release_case_leases(session, owner=ctx.instance_id)
            released += await release_caring_leases(session, owner=ctx.instance_id)
        log.info("bot.released_claims instance=%s count=%d", ctx.instance_id, released)
    except Exception:
        log.exception("bot.release_claims_failed instance=%s", ctx.instance_id)


async def run(settings: Settings) -> None:
    """`aftercare run`: prepare, then serve (polling or webhook) until SIGINT or SIGTERM."""
    if settings.telegram_token is None:
        raise StartupError("AFTERCARE_TELEGRAM_TOKEN is not set (see .env.example)", exit_code=2)
    webhook_secret(settings)  # before touching the database: a missing secret is a usage error
    ctx = await prepare(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await serve(ctx, stop)
    except TelegramError as exc:
        raise StartupError(f"Telegram error at start-up: {exc}") from None
    finally:
        await ctx.db.dispose()
