"""The outbound rules (issue 25): which URLs a clinic's webhook and paging service may name, and
where a resolved name may lead. Pure, but the address spellings are checked against what this
machine's C library makes of them (`getaddrinfo`), since that is where a connection would go."""

from __future__ import annotations

import ipaddress
import socket

import pytest
from pydantic import ValidationError

from bot.domain.outbound import (
    OutboundPolicy,
    OutboundRefused,
    addresses_refusal,
    host_address,
    parse_target,
    url_refusal,
)
from bot.settings import Settings

STRICT = OutboundPolicy()
HTTP = OutboundPolicy(allow_http=True)


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("127.255.0.9", "loopback"),
        ("[::1]", "loopback"),
        ("10.0.0.5", "private"),
        ("172.16.3.4", "private"),
        ("192.168.1.1", "private"),
        ("[fc00::1]", "private"),
        ("[fd00:ec2::254]", "private"),  # AWS's IPv6 metadata service
        ("169.254.169.254", "link-local"),  # the cloud metadata service
        ("169.254.0.1", "link-local"),
        ("[fe80::1]", "link-local"),
        ("[fe80::1%25eth0]", "link-local"),
        ("0.0.0.0", "unspecified"),
        ("0.1.2.3", "unspecified"),
        ("[::]", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("[ff02::1]", "multicast"),
        ("240.0.0.1", "reserved"),
        ("255.255.255.255", "reserved"),
        ("100.64.0.1", "shared (CGNAT)"),
        ("100.100.100.200", "shared (CGNAT)"),  # Alibaba Cloud's metadata service
        ("192.0.2.10", "private"),  # documentation
        ("[::ffff:127.0.0.1]", "IPv4-mapped loopback"),
        ("[::ffff:10.0.0.5]", "IPv4-mapped private"),
        ("[::ffff:169.254.169.254]", "IPv4-mapped link-local"),
        ("[64:ff9b::a00:5]", "NAT64 private"),
        ("[2002:7f00:1::]", "6to4 loopback"),
        ("[fec0::1]", "site-local"),
    ],
)
def test_an_address_inside_is_refused_by_its_kind(address: str, kind: str) -> None:
    refusal = url_refusal(f"https://{address}:8443/hook", STRICT)
    assert refusal is not None and refusal.inside, address
    assert f" {kind} address" in refusal.reason
    assert str(refusal).startswith("points inside the network: ")


@pytest.mark.parametrize(
    "url",
    [
        "https://events.pagerduty.com/v2/enqueue",
        "https://hooks.example.org/aftercare?token=x",
        "https://8.8.8.8/",
        "https://[2606:4700:4700::1111]/",
        "https://[::ffff:8.8.8.8]/",  # a mapped public address is that public address
        "https://Bücher.example/",
        "https://user:pass@hooks.example.org:8443/x",
    ],
)
def test_a_public_https_url_is_allowed(url: str) -> None:
    assert url_refusal(url, STRICT) is None


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("2130706433", "127.0.0.1"),  # one number
        ("0x7f.1", "127.0.0.1"),  # hexadecimal, the last part fills three bytes
        ("0X7F.0.0.1", "127.0.0.1"),
        ("0x7f000001", "127.0.0.1"),
        ("017700000001", "127.0.0.1"),  # octal
        ("0177.0.0.01", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("10.1", "10.0.0.1"),
        ("167772165", "10.0.0.5"),
        ("0", "0.0.0.0"),
        ("00", "0.0.0.0"),
        ("1.16777215", "1.255.255.255"),
        ("127.0.0.1.", "127.0.0.1"),  # the trailing dot of a fully qualified name
    ],
)
def test_every_spelling_of_an_address_is_read_as_the_os_connects(host: str, expected: str) -> None:
    """The C library's reading (`getaddrinfo`, `inet_aton`) is the truth: ours must agree."""
    assert host_address(host) == ipaddress.ip_address(expected)
    if not host.endswith("."):  # getaddrinfo sends "127.0.0.1." to DNS; we read the address
        resolved = socket.getaddrinfo(host, 80, socket.AF_INET, socket.SOCK_STREAM)
        assert {info[4][0] for info in resolved} == {expected}


@pytest.mark.parametrize(
    "url", ["http://2130706433/", "http://0x7f.1/", "http://017700000001/", "http://127.1:9/x"]
)
def test_odd_spellings_of_loopback_are_refused(url: str) -> None:
    refusal = url_refusal(url, HTTP)
    assert refusal is not None and refusal.reason == "127.0.0.1 is a loopback address"


@pytest.mark.parametrize(
    "host", ["08.1.1.1", "0x.1", "1.2.3.4.5", "4294967296", "0x100.1", "1.2.3.0400"]
)
def test_what_the_c_library_does_not_read_as_an_address_is_a_name(host: str) -> None:
    assert host_address(host) is None
    with pytest.raises(socket.gaierror):
        socket.getaddrinfo(host, 80, socket.AF_INET, socket.SOCK_STREAM)


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("https://localhost/", "localhost is a local name"),
        ("https://LOCALHOST./x", "localhost is a local name"),
        ("https://api.localhost/", "api.localhost is a local name"),
        ("https://metadata.google.internal/computeMetadata/v1/", "is a local name"),
        ("https://metadata.goog/", "is a local name"),
        ("https://printer.local/", "is a local name"),
        ("https://router.home.arpa/", "is a local name"),
        ("https://intranet/", "intranet is not a fully qualified name"),
    ],
)
def test_local_names_are_refused_whatever_they_resolve_to(url: str, said: str) -> None:
    refusal = url_refusal(url, STRICT)
    assert refusal is not None and refusal.inside and said in refusal.reason


def test_https_only_unless_the_operator_allows_http() -> None:
    refusal = url_refusal("http://hooks.example.org/x", STRICT)
    assert refusal is not None and not refusal.inside
    assert "must be https://" in str(refusal) and "AFTERCARE_OUTBOUND_ALLOW_HTTP" in str(refusal)
    assert url_refusal("http://hooks.example.org/x", HTTP) is None
    assert url_refusal("ftp://hooks.example.org/x", HTTP) is not None


@pytest.mark.parametrize(
    "url",
    [
        "https://u:p4ss@/x",
        "https://u:p4ss@[::1/x",
        "https://u:p4ss@h.example:99999/",
        "https://u:p4ss@ex ample.org/",
    ],
)
def test_a_url_without_a_usable_host_is_refused_without_echoing_its_password(url: str) -> None:
    refusal = url_refusal(url, STRICT)
    assert refusal is not None and not refusal.inside
    assert "p4ss" not in refusal.reason


def test_every_resolved_address_must_be_public() -> None:
    target = parse_target("https://hooks.example.org/x")
    public, inside = ipaddress.ip_address("93.184.215.14"), ipaddress.ip_address("10.0.0.5")
    assert addresses_refusal(target, [public], STRICT) is None
    refusal = addresses_refusal(target, [public, inside], STRICT)
    assert refusal is not None
    assert refusal.reason == "hooks.example.org resolves to a private address 10.0.0.5"
    none = addresses_refusal(target, [], STRICT)
    assert none is not None and not none.inside


def test_the_operator_allows_networks_and_names_explicitly() -> None:
    policy = OutboundPolicy.parse(
        " 10.1.2.0/24, ::1 ,relay.corp.example, *.hooks.corp.example,", allow_http=True
    )
    assert url_refusal("http://10.1.2.7:8080/x", policy) is None
    assert url_refusal("http://10.1.3.7/x", policy) is not None  # outside the network allowed
    assert url_refusal("http://[::1]:9/x", policy) is None
    assert url_refusal("http://127.0.0.1/x", policy) is not None
    # an allowed name is allowed wherever it resolves; a name under an allowed one too
    for host in ("relay.corp.example", "RELAY.corp.example.", "a.hooks.corp.example"):
        target = parse_target(f"http://{host}/x")
        assert url_refusal(f"http://{host}/x", policy) is None
        assert addresses_refusal(target, [ipaddress.ip_address("10.9.9.9")], policy) is None
    other = parse_target("http://other.corp.example/x")
    assert addresses_refusal(other, [ipaddress.ip_address("10.1.2.7")], policy) is None
    assert addresses_refusal(other, [ipaddress.ip_address("10.9.9.9")], policy) is not None
    assert url_refusal("http://hooks.corp.example/x", policy) is None  # public unless resolved
    assert url_refusal("https://localhost/", OutboundPolicy.parse("localhost")) is None


@pytest.mark.parametrize("entry", ["10.0.0.5/8", "300.1.1.1/32", "not a host", "2130706433", "*."])
def test_an_allow_list_it_cannot_read_stops_the_settings(entry: str) -> None:
    with pytest.raises(ValueError, match=r"CIDR|network"):
        OutboundPolicy.parse(f"127.0.0.1,{entry}")
    with pytest.raises(ValidationError, match="outbound_allow"):
        Settings(_env_file=None, outbound_allow=entry)  # type: ignore[call-arg]


def test_the_settings_default_to_public_https_only() -> None:
    policy = Settings(_env_file=None).outbound_policy()  # type: ignore[call-arg]
    assert policy == OutboundPolicy()
    chosen = Settings(  # type: ignore[call-arg]
        _env_file=None, outbound_allow="127.0.0.0/8,relay.example.org", outbound_allow_http=True
    ).outbound_policy()
    assert chosen.allow_http and chosen.allows_name("relay.example.org")
    assert chosen.allows_address(ipaddress.ip_address("127.0.0.2"))


def test_a_bad_ipv6_literal_is_refused() -> None:
    with pytest.raises(OutboundRefused):
        host_address("[fe80::zz]")
