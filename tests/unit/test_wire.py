"""The strict wire decoder: one spelling of every value, as a standard verifier reads it."""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mla_tracker.crypto import wire
from mla_tracker.crypto.errors import EncodingError


@given(st.binary(max_size=200))
def test_standard_base64_round_trips(data: bytes) -> None:
    assert wire.b64decode(base64.b64encode(data).decode(), "x") == data


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("QQ", "padding"),  # unpadded
        ("QUI", "padding"),
        ("-_8=", "padding"),  # URL-safe alphabet
        ("QR==", "canonical"),  # non-zero pad bits decode to the same byte as QQ==
        ("QQ==\n", "padding"),
        (" QQ==", "padding"),
        ("QQ=", "padding"),
    ],
)
def test_other_base64_spellings_are_refused(text: str, why: str) -> None:
    with pytest.raises(EncodingError, match=why) as refused:
        wire.b64decode(text, "envelope.payload")
    assert refused.value.field == "envelope.payload"


def test_url_safe_base64_of_real_bytes_is_refused() -> None:
    data = bytes([0xFB, 0xFF, 0xBF])  # standard '+/+/', URL-safe '-_-_'
    assert wire.b64decode(base64.b64encode(data).decode(), "x") == data
    with pytest.raises(EncodingError):
        wire.b64decode(base64.urlsafe_b64encode(data).decode(), "x")


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b'{"action":"refuse","action":"acknowledge"}', "twice"),
        (b'{"body":{"grounds":[{"a":1,"a":1}]}}', "twice"),
        (b"\xff\xfe{}", "UTF-8"),
        (b'{"a":"\xc3"}', "UTF-8"),
        ("\ufeff{}".encode(), "byte order mark"),
        (b"[NaN]", "not valid JSON"),
        (b'{"a":Infinity}', "not valid JSON"),
        (b'{"a":1,}', "not valid JSON"),
        (b'{"a":"\\ud800"}', "surrogate"),
        (b"[" + b"1" * 5000 + b"]", "JSON"),
        (b"[" * 33 + b"]" * 33, "nested"),
        (b'{"a":' * 1000 + b"1" + b"}" * 1000, "nested"),
        (b"[" * 100_000, "nested"),
    ],
)
def test_json_that_verifiers_could_read_differently_is_refused(data: bytes, why: str) -> None:
    with pytest.raises(EncodingError, match=why):
        wire.loads(data, "body")


def test_nesting_up_to_the_limit_and_brackets_in_strings_are_fine() -> None:
    assert wire.loads(b"[" * 32 + b"]" * 32, "x") == json.loads(b"[" * 32 + b"]" * 32)
    tricky = json.dumps({"text": "[[[[" * 40 + '\\"{{{{' * 40}).encode()
    assert wire.loads(tricky, "x") == json.loads(tricky)
    assert wire.loads('{"name":"ສະບາຍດີ"}'.encode(), "x") == {"name": "ສະບາຍດີ"}
