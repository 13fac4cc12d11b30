"""An HTTP request that connects only to addresses already checked (`services/paging/outbound`).

The URL's host stays in the Host header and, for https, in TLS's server name and certificate
check; the connection goes to a checked address, never to one the HTTP client would look up
again. So a name that resolves to a public address when checked and to 127.0.0.1 a moment later
(DNS rebinding) reaches nothing inside. Addresses are tried in the resolver's order while the
connection itself fails.
"""

from __future__ import annotations

import httpx

from bot.domain.outbound import DEFAULT_PORTS, OutboundRefused, Refusal, target_of
from bot.services.paging.outbound import Blocked, Checked


def _same_target(url: httpx.URL, checked: Checked) -> bool:
    """The HTTP client reads the URL's host and port as the check did (URL parsers differ)."""
    target = checked.target
    try:
        seen = target_of(url.scheme, url.raw_host.decode("ascii"), 0)
    except (OutboundRefused, UnicodeError):
        return False
    port = url.port or DEFAULT_PORTS.get(url.scheme)
    return (seen.host, seen.address, port) == (target.host, target.address, target.port)


async def post_pinned(
    client: httpx.AsyncClient,
    url: str,
    checked: Checked,
    *,
    content: bytes,
    headers: dict[str, str],
) -> httpx.Response:
    """POST to `url` over a connection to one of `checked.addresses`; Blocked if the client
    reads the URL differently from the check; httpx's errors as they come."""
    request = client.build_request("POST", url, content=content, headers=headers)
    if not _same_target(request.url, checked):
        raise Blocked(Refusal("the URL's host reads differently to the HTTP client"))
    if request.url.scheme == "https" and checked.target.address is None:
        request.extensions = {**request.extensions, "sni_hostname": checked.target.host}
    original = request.url  # the Host header was set from it, and stays
    for index, address in enumerate(checked.addresses):
        request.url = original.copy_with(host=str(address))
        try:
            return await client.send(request)
        except httpx.ConnectError:
            if index == len(checked.addresses) - 1:
                raise
    raise AssertionError("a checked target has at least one address")
