"""The clinic webhook's signature (`X-Aftercare-Signature: t=…,v1=…`) as a receiver checks it:
a known vector (computed with `openssl dgst -sha256 -hmac`), the tolerance window, two `v1`
entries during a rotation, and a body of another clinic."""

from __future__ import annotations

import json

from bot.channels.webhook.body import (
    TOLERANCE_SECONDS,
    headers,
    parse_header,
    signature,
    signature_header,
    signature_matches,
)

T = 1_700_000_000
BODY = b'{"clinic":"north","event":"case.trigger"}'
# printf '%s' '1700000000.{"clinic":"north","event":"case.trigger"}' \
#   | openssl dgst -sha256 -hmac 'whsec_test'   (and -hmac 'whsec_older')
NEW = "ed9fb9b701fb6fc680d9428e391543fcbc600ec7c4828616bd976dbe06535be7"
OLD = "b618bd767feb32d27589d9ab4f17a1dcad6d800e66c8f6611558f669af67e136"


def test_known_vector() -> None:
    assert signature(BODY, "whsec_test", timestamp=T) == NEW
    assert signature_header(BODY, ["whsec_test"], timestamp=T) == f"t={T},v1={NEW}"
    assert headers(event_id=1, body=BODY, secrets=["whsec_test"], at=T) == {
        "X-Aftercare-Signature": f"t={T},v1={NEW}"
    }
    assert signature_matches(BODY, "whsec_test", f"t={T},v1={NEW}", now=T)


def test_no_secret_no_header() -> None:
    assert headers(event_id=1, body=BODY, secrets=[], at=T) == {}


def test_the_tolerance_window() -> None:
    header = signature_header(BODY, ["whsec_test"], timestamp=T)
    assert signature_matches(BODY, "whsec_test", header, now=T + TOLERANCE_SECONDS)
    assert signature_matches(BODY, "whsec_test", header, now=T - TOLERANCE_SECONDS)
    assert not signature_matches(BODY, "whsec_test", header, now=T + TOLERANCE_SECONDS + 1)
    assert not signature_matches(BODY, "whsec_test", header, now=T - TOLERANCE_SECONDS - 1)
    assert signature_matches(BODY, "whsec_test", header, now=T + 3600, tolerance=3600)


def test_a_changed_timestamp_body_or_secret_fails() -> None:
    assert not signature_matches(BODY, "whsec_test", f"t={T + 1},v1={NEW}", now=T)
    assert not signature_matches(BODY + b" ", "whsec_test", f"t={T},v1={NEW}", now=T)
    assert not signature_matches(BODY, "whsec_other", f"t={T},v1={NEW}", now=T)
    for broken in (None, "", f"v1={NEW}", f"t={T}", f"t=soon,v1={NEW}", f"t={T},t={T},v1={NEW}"):
        assert not signature_matches(BODY, "whsec_test", broken, now=T), broken
    # the old scheme (an HMAC of the body alone) is no longer accepted
    assert not signature_matches(BODY, "whsec_test", "sha256=" + NEW, now=T)


def test_two_v1_entries_during_a_rotation() -> None:
    header = signature_header(BODY, ["whsec_test", "whsec_older"], timestamp=T)
    assert header == f"t={T},v1={NEW},v1={OLD}"
    assert parse_header(header) == (T, [NEW, OLD])
    # a receiver still on the old secret and one already on the new both accept it
    assert signature_matches(BODY, "whsec_older", header, now=T)
    assert signature_matches(BODY, "whsec_test", header, now=T)
    assert not signature_matches(BODY, "whsec_third", header, now=T)
    # an unknown scheme beside them is skipped
    assert signature_matches(BODY, "whsec_test", f"t={T},v0=abc,v1={NEW}", now=T)


def test_a_body_of_another_clinic_fails() -> None:
    south = json.dumps({"clinic": "south", "event": "case.trigger"}).encode()
    south_header = signature_header(south, ["whsec_south"], timestamp=T)
    assert signature_matches(south, "whsec_south", south_header, now=T, clinic_id="south")
    # north's receiver: its own secret does not verify south's event...
    assert not signature_matches(south, "whsec_test", south_header, now=T, clinic_id="north")
    # ...and even under one shared secret, the body names the wrong clinic
    shared = signature_header(south, ["whsec_shared"], timestamp=T)
    assert signature_matches(south, "whsec_shared", shared, now=T)
    assert not signature_matches(south, "whsec_shared", shared, now=T, clinic_id="north")
    assert not signature_matches(b"not json", "whsec_shared", "t=1,v1=x", now=1, clinic_id="x")
