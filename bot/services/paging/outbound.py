"""Outbound URLs checked against the operator's rules (`bot/domain/outbound.py`), their names
resolved: before every send (DNS can change; the send then connects to the addresses checked
here and resolves nothing itself), when the console saves a clinic's settings (a URL that
changed must resolve, and only to public addresses), and at start-up (the clinic file and the
SMTP relay).

At start-up a clinic file URL whose text is refused (`http://127.0.0.1/`, `https://localhost/`)
stops the start, as any invalid setting of the file does; a name that resolves inside, or does
not resolve, is only a warning: a start must not depend on a clinic's DNS, and every send checks
again.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass

from bot.clinic_config import ClinicConfig, ClinicsConfig, PagingConfig
from bot.domain.outbound import (
    IPAddress,
    OutboundPolicy,
    OutboundRefused,
    Refusal,
    Target,
    addresses_refusal,
    parse_target,
    target_refusal,
)

SAVE_RESOLVE_SECONDS = 2.0  # a person saving settings, or a start, waits for it
SEND_RESOLVE_SECONDS = 5.0
CLINIC_URLS = ("events_url", "webhook_url")  # the fields of `[clinics.paging]` posted to
DEFAULT_EVENTS_URL = PagingConfig.model_fields["events_url"].default


class Blocked(Exception):
    """A URL the rules refuse (`refusal` says why)."""

    def __init__(self, refusal: Refusal) -> None:
        super().__init__(str(refusal))
        self.refusal = refusal


class Unresolved(Exception):
    """A name that did not resolve (now: it may later)."""


@dataclass(frozen=True)
class Checked:
    """A target that may be reached, and the addresses to connect to (in the resolver's
    order), every one of them checked."""

    target: Target
    addresses: tuple[IPAddress, ...]


async def resolve(host: str, port: int, *, timeout: float) -> list[IPAddress]:  # noqa: ASYNC109
    """The addresses the operating system would connect to for `host`, in its order."""
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(timeout):
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except TimeoutError:
        raise Unresolved(f"{host} did not resolve within {timeout:g} s") from None
    except (OSError, UnicodeError) as exc:
        said = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
        raise Unresolved(f"{host} does not resolve ({said})") from None
    found: dict[IPAddress, None] = {}
    for info in infos:
        found.setdefault(ipaddress.ip_address(info[4][0]), None)
    return list(found)


async def check_target(
    target: Target,
    policy: OutboundPolicy,
    *,
    timeout: float = SEND_RESOLVE_SECONDS,  # noqa: ASYNC109
) -> Checked:
    """The target with its checked addresses; Blocked when the rules refuse it, Unresolved
    when its name does not resolve."""
    refusal = target_refusal(target, policy)
    if refusal is not None:
        raise Blocked(refusal)
    if target.address is not None:
        return Checked(target, (target.address,))
    addresses = await resolve(target.host, target.port, timeout=timeout)
    refusal = addresses_refusal(target, addresses, policy)
    if refusal is not None:
        raise Blocked(refusal)
    return Checked(target, tuple(addresses))


async def check_url(
    url: str,
    policy: OutboundPolicy,
    *,
    timeout: float = SEND_RESOLVE_SECONDS,  # noqa: ASYNC109
) -> Checked:
    """An http(s) URL's target with its checked addresses (see `check_target`)."""
    try:
        target = parse_target(url)
    except OutboundRefused as exc:
        raise Blocked(Refusal(str(exc), inside=False)) from None
    return await check_target(target, policy, timeout=timeout)


def clinic_urls(clinic: ClinicConfig) -> dict[str, str]:
    """The URLs a clinic's settings post to, by their field (`paging.webhook_url`)."""
    return {f"paging.{name}": url for name in CLINIC_URLS if (url := getattr(clinic.paging, name))}


async def clinic_url_problems(
    clinic: ClinicConfig,
    policy: OutboundPolicy,
    *,
    before: ClinicConfig | None,
    timeout: float = SAVE_RESOLVE_SECONDS,  # noqa: ASYNC109
) -> dict[str, str]:
    """Each refused URL of a clinic's settings about to be saved, by its field, with why. Every
    URL is read as written; one that differs from `before`'s is resolved too, and must resolve
    to public (or allowed) addresses only. An unchanged URL is not looked up again here (a DNS
    outage must not stop an unrelated save): every send checks it."""
    before_urls = clinic_urls(before) if before is not None else {}
    problems: dict[str, str] = {}
    lookups: dict[str, Target] = {}
    for field, url in clinic_urls(clinic).items():
        try:
            target = parse_target(url)
        except OutboundRefused as exc:
            problems[field] = str(exc)
            continue
        refusal = target_refusal(target, policy)
        if refusal is not None:
            problems[field] = str(refusal)
        elif target.address is None and before_urls.get(field) != url:
            lookups[field] = target
    results = await asyncio.gather(
        *(check_target(t, policy, timeout=timeout) for t in lookups.values()),
        return_exceptions=True,
    )
    for field, result in zip(lookups, results, strict=True):
        if isinstance(result, Blocked):
            problems[field] = str(result.refusal)
        elif isinstance(result, Unresolved):
            problems[field] = f"{result}: check the name (pages cannot reach it)"
        elif isinstance(result, BaseException):
            raise result
    return problems


async def clinic_file_problems(
    clinics: ClinicsConfig,
    policy: OutboundPolicy,
    *,
    timeout: float = SAVE_RESOLVE_SECONDS,  # noqa: ASYNC109
) -> tuple[list[str], list[str]]:
    """The clinic file's URLs at start-up: (errors, warnings), each naming the file and key.
    A URL refused as written is an error; a name resolving inside, or not at all, a warning.
    The default PagerDuty URL is not looked up."""
    errors: list[str] = []
    checks: dict[str, Target] = {}
    for index, clinic in enumerate(clinics.clinics):
        for field, url in clinic_urls(clinic).items():
            where = f"{clinics.source}: clinics[{index}].{field}"
            try:
                target = parse_target(url)
            except OutboundRefused as exc:
                errors.append(f"{where}: {exc}")
                continue
            refusal = target_refusal(target, policy)
            if refusal is not None:
                errors.append(f"{where}: {refusal}")
            elif target.address is None and url != DEFAULT_EVENTS_URL:
                checks[where] = target
    results = await asyncio.gather(
        *(check_target(t, policy, timeout=timeout) for t in checks.values()),
        return_exceptions=True,
    )
    warnings = []
    for where, result in zip(checks, results, strict=True):
        if isinstance(result, Blocked):
            warnings.append(f"{where}: {result.refusal}; its pages will be refused")
        elif isinstance(result, Unresolved):
            warnings.append(f"{where}: {result} now; checked again at every send")
        elif isinstance(result, BaseException):
            raise result
    return errors, warnings
