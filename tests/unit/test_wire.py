"""The strict wire decoder: one spelling of every value, as a standard verifier reads it."""

from __future__ import annotations

import base64
import json
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mla_tracker.crypto import wire
from mla_tracker.crypto.dsse import Envelope
from mla_tracker.crypto.errors import EncodingError
from mla_tracker.crypto.statement import Statement


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


# --- Typed decoding: the fast path (msgspec's own spelling) is exactly as strict ----------

_CANONICAL_STATEMENT = (
    b'{"type":"https://mla-tracker.dev/statement/v2",'
    b'"request_id":"6f1c1d1e-8a55-4c1b-9a64-2f0f6c1de001","seq":2,"prev":"' + b"1" * 64 + b'",'
    b'"action":"assign","actor":"th-oag","key_id":"' + b"2" * 64 + b'",'
    b'"issued_at":"2026-11-29T12:36:58.693630Z","body_sha256":"' + b"3" * 64 + b'",'
    b'"meta":{"executing_agency":"th-ccib"}}'
)


def _strict(data: bytes, type_: type[Any]) -> Any:
    """The strict parse alone, without the fast path: the reference."""
    wire._parse(data, "x", wire.MAX_DEPTH)
    try:
        return msgspec.json.decode(data, type=type_)
    except msgspec.DecodeError as exc:
        raise EncodingError("x", str(exc)) from exc


def test_the_canonical_statement_is_msgspecs_own_spelling() -> None:
    # Else the fast path would never be taken and these tests would prove nothing about it.
    value = msgspec.json.decode(_CANONICAL_STATEMENT, type=Statement)
    assert msgspec.json.encode(value) == _CANONICAL_STATEMENT
    assert wire.decode(_CANONICAL_STATEMENT, Statement, "x") == value


@pytest.mark.parametrize(
    ("data", "why"),
    [
        # a duplicate at the top, with either value first, and in meta
        (_CANONICAL_STATEMENT[:-1] + b',"action":"close"}', "twice"),
        (b'{"action":"close",' + _CANONICAL_STATEMENT[1:], "twice"),
        (_CANONICAL_STATEMENT.replace(b'"seq":2', b'"seq":2,"seq":2'), "twice"),
        (_CANONICAL_STATEMENT.replace(b'"meta":{', b'"meta":{"executing_agency":"x",'), "twice"),
        (
            _CANONICAL_STATEMENT.replace(b'"th-ccib"', b'"th-ccib","executing_agency":"th-ccib"'),
            "twice",
        ),
        # a lone surrogate escape (msgspec calls it "truncated" input)
        (_CANONICAL_STATEMENT.replace(b'"th-ccib"', b'"\\ud800"'), "payload"),
        (_CANONICAL_STATEMENT.replace(b'"th-ccib"', b'"\xed\xa0\x80"'), "UTF-8"),
        (_CANONICAL_STATEMENT.replace(b'"seq":2', b'"seq":NaN'), "not valid JSON"),
        (b"\xef\xbb\xbf" + _CANONICAL_STATEMENT, "byte order mark"),
        (_CANONICAL_STATEMENT + b"x", "not valid JSON"),
    ],
)
def test_a_statement_with_a_duplicate_key_or_bad_text_is_refused(data: bytes, why: str) -> None:
    with pytest.raises(EncodingError, match=why):
        wire.decode(data, Statement, "statement payload")
    with pytest.raises(EncodingError):
        _strict(data, Statement)


@pytest.mark.parametrize(
    "data",
    [
        b'{"payloadType":"t","payload":"","signatures":[{"keyid":"k","sig":"","sig":""}]}',
        b'{"payloadType":"t","payload":"","payload":"","signatures":[]}',
        b'{"payloadType":"t","payload":"","signatures":[],"signatures":[]}',
    ],
)
def test_an_envelope_with_a_duplicate_key_at_any_depth_is_refused(data: bytes) -> None:
    with pytest.raises(EncodingError, match="twice"):
        wire.decode(data, Envelope, "envelope")


class _Deep(msgspec.Struct):
    x: Any


def test_deep_nesting_is_refused_even_in_msgspecs_own_spelling() -> None:
    data = b'{"x":' + b"[" * 40 + b"]" * 40 + b"}"
    assert msgspec.json.encode(msgspec.json.decode(data, type=_Deep)) == data
    with pytest.raises(EncodingError, match="nested"):
        wire.decode(data, _Deep, "x")
    shallow = b'{"x":' + b"[" * 31 + b"]" * 31 + b"}"
    assert wire.decode(shallow, _Deep, "x") == _strict(shallow, _Deep)


def _spellings(data: bytes) -> st.SearchStrategy[bytes]:
    """Other spellings of a JSON object: spaces, escapes, repeated or reordered members."""
    members = data[1:-1].split(b',"')
    members = [members[0]] + [b'"' + m for m in members[1:]]
    edits = st.sampled_from(["space", "escape", "repeat", "reorder", "none"])

    @st.composite
    def spelled(draw: st.DrawFn) -> bytes:
        parts = list(members)
        for edit in draw(st.lists(edits, min_size=1, max_size=3)):
            i = draw(st.integers(0, len(parts) - 1))
            if edit == "space":
                parts[i] = parts[i].replace(b'":', b'" : ', 1)
            elif edit == "escape":
                parts[i] = parts[i].replace(b"a", b"\\u0061", 1)
            elif edit == "repeat":
                parts.insert(draw(st.integers(0, len(parts))), parts[i])
            elif edit == "reorder":
                parts.insert(draw(st.integers(0, len(parts) - 1)), parts.pop(i))
        return b"{" + b",".join(parts) + b"}"

    return spelled()


@given(_spellings(_CANONICAL_STATEMENT))
def test_every_spelling_is_judged_as_the_strict_parse_judges_it(data: bytes) -> None:
    try:
        expected = _strict(data, Statement)
    except EncodingError:
        with pytest.raises(EncodingError):
            wire.decode(data, Statement, "x")
        return
    assert wire.decode(data, Statement, "x") == expected


@given(st.binary(max_size=64), st.sampled_from(["", "=", "==", "\n", " ", "A", "-", "_"]))
def test_base64_is_judged_as_the_pattern_and_round_trip_judge_it(data: bytes, extra: str) -> None:
    text = base64.b64encode(data).decode()
    for candidate in (text + extra, extra + text, text[:-1] + extra):
        canonical = (
            wire._BASE64.fullmatch(candidate) is not None
            and base64.b64encode(base64.b64decode(candidate)).decode() == candidate
        )
        if canonical:
            assert wire.b64decode(candidate, "x") == base64.b64decode(candidate)
        else:
            with pytest.raises(EncodingError):
                wire.b64decode(candidate, "x")


@pytest.mark.parametrize("value", [None, 12, b"QQ==", "QQ==\u00e9", "ＱＱ=="])
def test_base64_that_is_not_ascii_text_is_refused(value: object) -> None:
    with pytest.raises(EncodingError, match="padding"):
        wire.b64decode(value, "x")  # type: ignore[arg-type]


class _Nested(msgspec.Struct):
    items: list[dict[str, int]]
    maybe: _Nested | None = None


def test_depth_is_bounded_by_the_type_or_counted() -> None:
    assert wire._depth_bound(Statement) == 2
    assert wire._depth_bound(Envelope) == 3
    assert wire._depth_bound(dict[str, list[int]]) == 2
    # Unbounded: Any, and a struct that may hold itself; their bytes are counted.
    assert wire._depth_bound(_Deep) is None
    assert wire._depth_bound(_Nested) is None
    deep = b'{"items":[],"maybe":' * 40 + b'{"items":[],"maybe":null}' + b"}" * 40
    assert msgspec.json.encode(msgspec.json.decode(deep, type=_Nested)) == deep
    with pytest.raises(EncodingError, match="nested"):
        wire.decode(deep, _Nested, "x")


@pytest.mark.parametrize("junk", [b'{"\xf4ayloadType":"x"}', b'{"payloadType":"\xed\xa0\x80"}'])
def test_bad_utf8_in_a_canonical_envelope_is_an_encoding_error(junk: bytes) -> None:
    """Every msgspec this project allows (0.19 raised UnicodeDecodeError) gives the typed error."""
    from mla_tracker.crypto import dsse

    with pytest.raises(EncodingError):
        dsse.decode_canonical(junk)
