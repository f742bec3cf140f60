"""Digests and identifiers are exact: Python's `$` also matches before a final newline."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest

from mla_tracker.crypto.errors import EnvelopeFormatError
from mla_tracker.crypto.keyevents import GENESIS, encode_key_event, parse_key_event
from mla_tracker.crypto.keys import SigningKey
from mla_tracker.crypto.login import encode_login, parse_login
from mla_tracker.domain import content

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
KEY = SigningKey.generate()


def _key_event(**changes: str) -> bytes:
    fields: dict[str, Any] = {
        "agency": "la-mps",
        "seq": 2,
        "prev": "ab" * 32,
        "event": "revoke",
        "key_id": KEY.key_id,
        "issued_at": NOW,
    }
    return encode_key_event(**{**fields, **changes})


@pytest.mark.parametrize("field", ["prev", "key_id"])
def test_a_key_events_digests_refuse_a_final_newline(field: str) -> None:
    assert parse_key_event(_key_event()).prev == "ab" * 32
    value = "ab" * 32 if field == "prev" else KEY.key_id
    with pytest.raises(EnvelopeFormatError, match=field):
        parse_key_event(_key_event(**{field: value + "\n"}))
    with pytest.raises(EnvelopeFormatError, match="prev"):
        parse_key_event(_key_event(prev=GENESIS + "\n"))


def test_a_logins_key_id_refuses_a_final_newline() -> None:
    def payload(key_id: str) -> bytes:
        return encode_login(agency="la-mps", key_id=key_id, challenge="c" * 44, issued_at=NOW)

    assert parse_login(payload(KEY.key_id)).key_id == KEY.key_id
    with pytest.raises(EnvelopeFormatError, match="key_id"):
        parse_login(payload(KEY.key_id + "\n"))


@pytest.mark.parametrize(
    ("type_", "good"),
    [
        (content.Sha256Hex, "cd" * 32),
        (content.AgencyId, "la-mps"),
        (content.CountryCode, "LA"),
        (content.PackageId, "pkg-1.age"),
    ],
)
def test_content_identifiers_refuse_a_final_newline(type_: Any, good: str) -> None:
    assert msgspec.convert(good, type_) == good
    for bad in (good + "\n", good + "\n\n", "\n" + good):
        with pytest.raises(msgspec.ValidationError):
            msgspec.convert(bad, type_)


def test_published_patterns_mean_the_same_to_an_ecma_262_reader() -> None:
    """OpenAPI readers use ECMA-262 regexes, which have no `\\Z`: the patterns avoid it."""
    for type_ in (content.Sha256Hex, content.AgencyId, content.CountryCode, content.PackageId):
        pattern = msgspec.json.schema(type_)["pattern"]
        assert "\\Z" not in pattern and pattern.endswith("$(?!\\n)")
