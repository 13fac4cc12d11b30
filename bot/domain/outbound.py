"""Which outbound URLs the bot may post to: a clinic's webhook and paging-service URL (and the
operator's SMTP host) must not reach inside the operator's network (issue 25).

A URL is allowed when its scheme is https (http too with AFTERCARE_OUTBOUND_ALLOW_HTTP), its host
is a fully qualified name that is not a local one (`localhost`, `*.internal`, …) or a public
address, however spelled (`0x7f.1` and `2130706433` are 127.0.0.1, as the C library's
`inet_aton` reads them), and every address the name resolves to is public: not loopback,
private (RFC 1918, ULA), link-local (169.254.169.254, the cloud metadata service), unspecified,
multicast, reserved, shared (CGNAT, RFC 6598), nor an IPv4-mapped, NAT64 or 6to4 form of one.
AFTERCARE_OUTBOUND_ALLOW names hosts and networks the operator allows all the same (a receiver
on the operator's own network, the tests' local receivers).

Pure: the addresses a host resolves to are passed in; `bot/services/paging/outbound.py` resolves
them.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

INSIDE = "points inside the network"
DEFAULT_PORTS = {"http": 80, "https": 443}

_SHARED = ipaddress.IPv4Network("100.64.0.0/10")  # RFC 6598, carrier-grade NAT
_THIS_NETWORK = ipaddress.IPv4Network("0.0.0.0/8")  # 0.0.0.0 reaches this host on Linux
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # RFC 6052: the IPv4 address in the last 32 bits
_SITE_LOCAL = ipaddress.IPv6Network("fec0::/10")  # deprecated (RFC 3879), still routed inside

# Names that are this host or the local network, whatever DNS says (RFC 6761 `localhost`,
# RFC 6762 `.local`, RFC 8375 `.home.arpa`, ICANN's private-use `.internal` with
# `metadata.google.internal`, Google's `metadata.goog`).
_LOCAL_NAMES = frozenset({"localhost", "metadata.goog"})
_LOCAL_SUFFIXES = (".localhost", ".local", ".localdomain", ".internal", ".home.arpa")

_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?")
_TOP_LABEL = re.compile(r"[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?")  # a name, never all digits
_NUMERIC = re.compile(r"[0-9a-fx.]+")


class OutboundRefused(ValueError):
    """A URL the rules refuse; the message says why, without any credential of the URL."""


@dataclass(frozen=True)
class OutboundPolicy:
    """The operator's exceptions (AFTERCARE_OUTBOUND_ALLOW, AFTERCARE_OUTBOUND_ALLOW_HTTP); the
    default allows public https only."""

    allow_http: bool = False
    networks: tuple[IPNetwork, ...] = ()
    names: frozenset[str] = frozenset()
    suffixes: tuple[str, ...] = ()  # from `*.example.org`: any name under it

    @classmethod
    def parse(cls, allow: str, *, allow_http: bool = False) -> OutboundPolicy:
        """A comma-separated list of CIDRs (`10.1.2.0/24`, `127.0.0.1`, `::1`) and host names
        (`relay.corp.example`, `*.corp.example`); ValueError naming the entry it cannot read."""
        networks: list[IPNetwork] = []
        names: set[str] = set()
        suffixes: list[str] = []
        for raw in allow.split(","):
            entry = raw.strip().lower()
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry))
                continue
            except ValueError as exc:
                if "/" in entry or ":" in entry:
                    raise ValueError(f"{raw.strip()!r} is not a network: {exc}") from None
            wildcard = entry.startswith("*.")
            try:
                name = _host_name(entry.removeprefix("*."))
            except OutboundRefused:
                name = None
            if name is None or _legacy_ipv4(entry) is not None:
                raise ValueError(
                    f"{raw.strip()!r} is neither a CIDR (10.0.0.0/8, ::1) nor a host name "
                    "(relay.example.org, *.example.org)"
                )
            if wildcard:
                suffixes.append("." + name)
            else:
                names.add(name)
        return cls(allow_http, tuple(networks), frozenset(names), tuple(suffixes))

    def allows_name(self, host: str) -> bool:
        return host in self.names or host.endswith(self.suffixes)

    def allows_address(self, address: IPAddress) -> bool:
        plain = _unscoped(address)
        return any(plain in network for network in self.networks)


@dataclass(frozen=True)
class Target:
    """Where a URL connects: its scheme, its host as an address (however it was spelled) or as
    a normalised name (lower case, IDNA, no trailing dot), and its port."""

    scheme: str
    host: str
    port: int
    address: IPAddress | None = field(default=None)

    @property
    def shown(self) -> str:
        """The host as a person reads it in a message."""
        return str(self.address) if self.address is not None else self.host


def parse_target(url: str, *, ports: dict[str, int] | None = None) -> Target:
    """The target of an `http(s)://` URL (or of `ports`' schemes); OutboundRefused when it has
    none. Messages quote no part of the URL but its host (a URL may carry a password)."""
    ports = ports or DEFAULT_PORTS
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        raise OutboundRefused("not a URL with a host and a valid port") from None
    scheme = parts.scheme.lower()
    if scheme not in ports:
        raise OutboundRefused(f"must start with {' or '.join(f'{s}://' for s in ports)}")
    if not parts.hostname:
        raise OutboundRefused("has no host")
    return target_of(scheme, parts.hostname, port or ports[scheme])


def target_of(scheme: str, host: str, port: int) -> Target:
    """The target of a host and port (an SMTP relay's); OutboundRefused if the host is neither
    an address nor a valid name."""
    address = host_address(host)
    name = _host_name(host) if address is None else str(address)
    return Target(scheme, name, port, address)


def host_address(host: str) -> IPAddress | None:
    """The host as an IP address if it is one in any spelling the C library accepts (IPv6;
    IPv4 dotted, shortened, octal, hexadecimal or one number), else None (a name)."""
    host = host.strip().lower().removesuffix(".")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if ":" in host:
        try:
            return ipaddress.IPv6Address(host.split("%", 1)[0])
        except ValueError:
            raise OutboundRefused(f"{host!r} is not a valid IPv6 address") from None
    return _legacy_ipv4(host)


def _legacy_ipv4(host: str) -> ipaddress.IPv4Address | None:
    """`inet_aton`'s reading: one to four parts, each decimal, 0-octal or 0x-hex; the last part
    fills the remaining bytes (`127.1`, `0x7f.1`, `2130706433`, `017700000001`)."""
    if not _NUMERIC.fullmatch(host):
        return None
    parts = host.split(".")
    if len(parts) > 4:
        return None
    values = []
    for part in parts:
        if part.startswith("0x"):
            digits, base = part[2:], 16
        elif len(part) > 1 and part.startswith("0"):
            digits, base = part[1:], 8
        else:
            digits, base = part, 10
        if not digits:
            return None
        try:
            values.append(int(digits, base))
        except ValueError:
            return None
    *head, last = values
    if any(v > 255 for v in head) or last >= 256 ** (4 - len(head)):
        return None
    number = last
    for index, value in enumerate(head):
        number += value << (8 * (3 - index))
    return ipaddress.IPv4Address(number)


def _host_name(host: str) -> str:
    """A host name in the form DNS sees it (lower case, IDNA, no trailing dot); OutboundRefused
    if it is not one."""
    name = host.strip().lower().removesuffix(".")
    try:
        name = name.encode("idna").decode("ascii")
    except UnicodeError:
        raise OutboundRefused(f"{host!r} is not a valid host name") from None
    labels = name.split(".")
    if (
        len(name) > 253
        or not all(_LABEL.fullmatch(label) for label in labels)
        or not _TOP_LABEL.fullmatch(labels[-1])
    ):
        raise OutboundRefused(f"{host!r} is not a valid host name")
    return name


def _unscoped(address: IPAddress) -> IPAddress:
    if isinstance(address, ipaddress.IPv6Address) and address.scope_id:
        return ipaddress.IPv6Address(str(address).split("%", 1)[0])
    return address


def address_kind(address: IPAddress) -> str | None:
    """What kind of non-public address this is ("loopback", "private", …), None if public."""
    address = _unscoped(address)
    if isinstance(address, ipaddress.IPv6Address):
        embedded, form = _embedded_ipv4(address)
        if embedded is not None:
            kind = address_kind(embedded)
            return f"{form} {kind}" if kind is not None else None
        if address in _SITE_LOCAL:
            return "site-local"
    elif address in _THIS_NETWORK:
        return "unspecified"
    checks: tuple[tuple[bool, str], ...] = (
        (address.is_unspecified, "unspecified"),
        (address.is_loopback, "loopback"),
        (address.is_link_local, "link-local"),
        (address.is_multicast, "multicast"),
        (isinstance(address, ipaddress.IPv4Address) and address in _SHARED, "shared (CGNAT)"),
        (address.is_reserved, "reserved"),
        (address.is_private, "private"),
        (not address.is_global, "non-public"),
    )
    return next((kind for hit, kind in checks if hit), None)


def _embedded_ipv4(
    address: ipaddress.IPv6Address,
) -> tuple[ipaddress.IPv4Address | None, str]:
    """The IPv4 address an IPv6 one reaches: IPv4-mapped, NAT64 (RFC 6052) or 6to4."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped, "IPv4-mapped"
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF), "NAT64"
    if address.sixtofour is not None:
        return address.sixtofour, "6to4"
    return None, ""


@dataclass(frozen=True)
class Refusal:
    """Why a URL is refused: `inside` when it points inside the network, else its form."""

    reason: str
    inside: bool = True

    def __str__(self) -> str:
        return f"{INSIDE}: {self.reason}" if self.inside else self.reason


def _name_problem(host: str) -> str | None:
    if host in _LOCAL_NAMES or host.endswith(_LOCAL_SUFFIXES):
        return f"{host} is a local name"
    if "." not in host:
        return f"{host} is not a fully qualified name (a single label resolves inside)"
    return None


def target_refusal(target: Target, policy: OutboundPolicy) -> Refusal | None:
    """Why the URL's own text is refused (its scheme, a local name, an inside address), before
    any lookup; None when only resolving its name can tell."""
    if target.scheme == "http" and not policy.allow_http:
        return Refusal(
            "must be https:// (http:// only with AFTERCARE_OUTBOUND_ALLOW_HTTP)", inside=False
        )
    if target.address is not None:
        return addresses_refusal(target, [target.address], policy)
    if policy.allows_name(target.host):
        return None
    problem = _name_problem(target.host)
    return Refusal(problem) if problem is not None else None


def addresses_refusal(
    target: Target, addresses: list[IPAddress], policy: OutboundPolicy
) -> Refusal | None:
    """Why connecting to these addresses (what the target's host resolved to) is refused; None
    when every one is public or allowed. A name the operator allows is allowed wherever it
    resolves to; one inside address among public ones refuses them all."""
    if target.address is None and policy.allows_name(target.host):
        return None
    if not addresses:
        return Refusal(f"{target.host} resolves to no address", inside=False)
    for address in addresses:
        if policy.allows_address(address):
            continue
        kind = address_kind(address)
        if kind is None:
            continue
        article = "an" if kind[0] in "aeiouIU" else "a"
        if target.address is not None:
            return Refusal(f"{target.shown} is {article} {kind} address")
        return Refusal(f"{target.host} resolves to {article} {kind} address {_unscoped(address)}")
    return None


def url_refusal(url: str, policy: OutboundPolicy) -> Refusal | None:
    """Why this http(s) URL is refused before any lookup, None if only resolving can tell."""
    try:
        target = parse_target(url)
    except OutboundRefused as exc:
        return Refusal(str(exc), inside=False)
    return target_refusal(target, policy)
