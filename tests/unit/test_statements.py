"""DSSE statements and the per-request hash chain: signatures, links, tampering."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mla_tracker.crypto import dsse
from mla_tracker.crypto.errors import (
    BodyMismatch,
    ChainError,
    CryptoError,
    EncodingError,
    EnvelopeFormatError,
    KeyFormatError,
    SignatureError,
)
from mla_tracker.crypto.keys import SigningKey, VerifyingKey, key_id_of
from mla_tracker.crypto.statement import (
    GENESIS,
    PAYLOAD_TYPE,
    body_digest,
    digest,
    encode_payload,
    parse_statement,
    sign_statement,
    verify_chain,
    verify_statement,
)

KEYS = [SigningKey.generate() for _ in range(3)]
DIRECTORY = {k.key_id: k.public for k in KEYS}
RID = uuid.UUID("6f1c1d1e-8a55-4c1b-9a64-2f0f6c1de001")


def _key_for(key_id: str) -> VerifyingKey:
    try:
        return DIRECTORY[key_id]
    except KeyError:
        raise SignatureError(f"unknown key {key_id}") from None


class AgencyKeys:
    """agency-i holds KEYS[i], at any time (key validity is KeyHistory's job, tested there)."""

    def key_for(self, agency_id: str, key_id: str, at: datetime) -> VerifyingKey:
        key = _key_for(key_id)
        if f"agency-{KEYS.index(next(k for k in KEYS if k.key_id == key_id))}" != agency_id:
            raise SignatureError(f"key {key_id} is not {agency_id}'s")
        return key


RESOLVER = AgencyKeys()


def _body(seq: int) -> bytes:
    return b'{"n":%d}' % seq


def _chain(actions: list[tuple[int, str]]) -> list[dsse.Envelope]:
    prev = GENESIS
    out = []
    for seq, (signer, action) in enumerate(actions, start=1):
        key = KEYS[signer]
        payload = encode_payload(
            request_id=RID,
            seq=seq,
            prev=prev,
            action=action,
            actor=f"agency-{signer}",
            key_id=key.key_id,
            body_sha256=body_digest(_body(seq)),
        )
        out.append(sign_statement(payload, key))
        prev = digest(payload)
    return out


def test_pae_matches_the_dsse_spec_example() -> None:
    # From the DSSE protocol document: PAE("http://example.com/HelloWorld", "hello world")
    assert dsse.pae("http://example.com/HelloWorld", b"hello world") == (
        b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    )


def test_rfc8032_test_vector_1_signature() -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    secret = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
    key = SigningKey(Ed25519PrivateKey.from_private_bytes(secret))
    assert key.public.raw.hex() == (
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
    )
    assert key.sign(b"").hex() == (
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
        "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
    )
    assert key.key_id == key_id_of(key.public.raw)


def test_sign_verify_round_trip_and_exact_bytes() -> None:
    payload = encode_payload(
        request_id=RID,
        seq=1,
        prev=GENESIS,
        action="transmit",
        actor="la-mps",
        key_id=KEYS[0].key_id,
        body_sha256=body_digest(b"{}"),
        issued_at=datetime(2026, 11, 22, 1, 2, 3, tzinfo=UTC),
    )
    env = sign_statement(payload, KEYS[0])
    again = dsse.parse_envelope(env.to_json())
    statement, raw = verify_statement(again, _key_for)
    assert raw == payload
    assert statement.issued_at == datetime(2026, 11, 22, 1, 2, 3, tzinfo=UTC)
    assert b'"issued_at":"2026-11-22T01:02:03.000000Z"' in payload


@pytest.mark.parametrize(
    ("mutate", "error"),
    [
        (lambda e: msgspec.structs.replace(e, payloadType="text/plain"), EnvelopeFormatError),
        (lambda e: msgspec.structs.replace(e, signatures=[]), SignatureError),
        (lambda e: msgspec.structs.replace(e, signatures=e.signatures * 2), SignatureError),
        (lambda e: msgspec.structs.replace(e, payload="***"), EnvelopeFormatError),
        (
            lambda e: msgspec.structs.replace(
                e, payload=base64.b64encode(b'{"type":"x"}').decode()
            ),
            SignatureError,
        ),
    ],
)
def test_bad_envelopes_raise_typed_errors(mutate: object, error: type[CryptoError]) -> None:
    env = _chain([(0, "transmit")])[0]
    with pytest.raises(error):
        verify_statement(mutate(env), _key_for)  # type: ignore[operator]


def test_bad_keys_raise_key_format_error() -> None:
    with pytest.raises(KeyFormatError):
        VerifyingKey(b"short")
    with pytest.raises(KeyFormatError):
        VerifyingKey.from_base64("not base64!")
    with pytest.raises(KeyFormatError):
        SigningKey.from_pem(b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
    pem = KEYS[0].to_pem()
    assert SigningKey.from_pem(pem).key_id == KEYS[0].key_id


actions_strategy = st.lists(
    st.tuples(st.integers(0, 2), st.sampled_from(["transmit", "acknowledge", "accept"])),
    min_size=1,
    max_size=12,
)


@settings(max_examples=60, deadline=None)
@given(actions=actions_strategy)
def test_any_valid_chain_verifies(actions: list[tuple[int, str]]) -> None:
    envelopes = _chain(actions)
    statements = verify_chain(envelopes, RESOLVER)
    assert [s.seq for s in statements] == list(range(1, len(envelopes) + 1))
    bodies = [_body(i) for i in range(1, len(envelopes) + 1)]
    assert len(verify_chain(envelopes, RESOLVER, bodies)) == len(envelopes)
    # Bodies withheld (auditors) or deleted (retention) break nothing.
    assert len(verify_chain(envelopes, RESOLVER, [None] * len(envelopes))) == len(envelopes)


@settings(max_examples=80, deadline=None)
@given(actions=actions_strategy, data=st.data())
def test_any_altered_byte_is_caught(actions: list[tuple[int, str]], data: st.DataObject) -> None:
    envelopes = _chain(actions)
    index = data.draw(st.integers(0, len(envelopes) - 1))
    payload = bytearray(envelopes[index].payload_bytes())
    pos = data.draw(st.integers(0, len(payload) - 1))
    payload[pos] ^= data.draw(st.integers(1, 255))
    envelopes[index] = msgspec.structs.replace(
        envelopes[index], payload=base64.b64encode(bytes(payload)).decode()
    )
    with pytest.raises(CryptoError):
        verify_chain(envelopes, RESOLVER)


@settings(max_examples=60, deadline=None)
@given(
    actions=st.lists(st.tuples(st.integers(0, 2), st.just("x")), min_size=2, max_size=10),
    data=st.data(),
)
def test_reordering_or_gaps_are_caught(actions: list[tuple[int, str]], data: st.DataObject) -> None:
    envelopes = _chain(actions)
    if data.draw(st.booleans()):
        i = data.draw(st.integers(0, len(envelopes) - 2))
        envelopes[i], envelopes[i + 1] = envelopes[i + 1], envelopes[i]
    else:
        del envelopes[data.draw(st.integers(0, len(envelopes) - 2))]
    with pytest.raises(ChainError):
        verify_chain(envelopes, RESOLVER)


def test_statement_from_another_request_breaks_the_chain() -> None:
    envelopes = _chain([(0, "transmit"), (1, "acknowledge")])
    payload = encode_payload(
        request_id=uuid.uuid4(),
        seq=3,
        prev=digest(envelopes[-1].payload_bytes()),
        action="accept",
        actor="agency-1",
        key_id=KEYS[1].key_id,
        body_sha256=body_digest(b"{}"),
    )
    envelopes.append(sign_statement(payload, KEYS[1]))
    with pytest.raises(ChainError):
        verify_chain(envelopes, RESOLVER)


def test_payload_type_constant() -> None:
    assert PAYLOAD_TYPE == "application/vnd.mla-tracker.statement.v2+json"


@settings(max_examples=40, deadline=None)
@given(actions=actions_strategy, data=st.data())
def test_a_body_that_does_not_match_its_digest_is_caught(
    actions: list[tuple[int, str]], data: st.DataObject
) -> None:
    envelopes = _chain(actions)
    bodies: list[bytes | None] = [_body(i) for i in range(1, len(envelopes) + 1)]
    index = data.draw(st.integers(0, len(envelopes) - 1))
    bodies[index] = b'{"n":%d} ' % (index + 1)  # one trailing space: other bytes
    with pytest.raises(BodyMismatch) as caught:
        verify_chain(envelopes, RESOLVER, bodies)
    assert f"statement seq {index + 1}" in caught.value.__notes__


def test_a_key_of_another_agency_is_refused() -> None:
    envelopes = _chain([(0, "transmit")])
    forged = encode_payload(
        request_id=RID,
        seq=1,
        prev=GENESIS,
        action="transmit",
        actor="agency-1",  # claims to be agency-1, signs with agency-0's key
        key_id=KEYS[0].key_id,
        body_sha256=body_digest(b"{}"),
    )
    with pytest.raises(SignatureError, match="not agency-1's"):
        verify_chain([sign_statement(forged, KEYS[0])], RESOLVER)
    assert verify_chain(envelopes, RESOLVER)


def _signed(payload: bytes) -> dsse.Envelope:
    return sign_statement(payload, KEYS[0])


@pytest.mark.parametrize(
    "edit",
    [
        lambda p: p[:-1] + b',"seq":1}',  # top level, the repeat last
        lambda p: b'{"seq":2,' + p[1:],  # top level, the repeat first
        lambda p: p.replace(b'"meta":{', b'"meta":{"kind":"mla","kind":"mla"'),  # in meta
        lambda p: p.replace(b'"meta":{}', b'"meta":{"kind":"mla","kind":"preservation"}'),
    ],
)
def test_a_validly_signed_payload_with_a_duplicate_key_is_refused(edit: Any) -> None:
    payload = edit(_payload_bytes())
    with pytest.raises(EncodingError, match="twice"):
        verify_statement(_signed(payload), _key_for)
    with pytest.raises(EncodingError, match="twice"):
        parse_statement(payload)


def test_non_canonical_base64_in_a_signed_envelope_is_refused() -> None:
    env = _signed(_payload_bytes())
    sig = env.signatures[0].sig  # 64 bytes: "==" and four pad bits, zero in canonical form
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    bad_sig = sig[:-3] + alphabet[alphabet.index(sig[-3]) + 1] + "=="
    assert base64.b64decode(bad_sig) == base64.b64decode(sig)
    bad = msgspec.structs.replace(
        env, signatures=[msgspec.structs.replace(env.signatures[0], sig=bad_sig)]
    )
    with pytest.raises(EncodingError, match="canonical"):
        verify_statement(bad, _key_for)
    for payload in (env.payload.rstrip("="), env.payload + "\n", env.payload.replace("+", "-")):
        if payload != env.payload:
            with pytest.raises(EncodingError):
                verify_statement(msgspec.structs.replace(env, payload=payload), _key_for)


def _payload_bytes() -> bytes:
    return encode_payload(
        request_id=RID,
        seq=1,
        prev=GENESIS,
        action="acknowledge",
        actor="agency-0",
        key_id=KEYS[0].key_id,
        body_sha256=body_digest(b"{}"),
    )


@pytest.mark.parametrize("field", ["prev", "key_id", "body_sha256"])
@pytest.mark.parametrize(
    "spelling", ["{h}\n", "{H}", "{h}0", "{h63}", " {h63}", "{h62} 0", "{h63}g", "{h63}\u0660"]
)
def test_each_digest_is_exactly_64_lowercase_hex_digits(field: str, spelling: str) -> None:
    payload = _payload_bytes().replace(GENESIS.encode(), digest(b"previous").encode())
    value = msgspec.json.decode(payload)[field]
    bad = spelling.format(h=value, H=value.upper(), h63=value[:63], h62=value[:62])
    edited = payload.replace(msgspec.json.encode(value), msgspec.json.encode(bad), 1)
    assert edited != payload
    with pytest.raises(EncodingError, match="64 lowercase hex digits"):
        parse_statement(edited)


def _with_signature_of(env: dsse.Envelope, other: dsse.Envelope) -> dsse.Envelope:
    """The same envelope carrying another statement's signature by the same key id."""
    sig = msgspec.structs.replace(env.signatures[0], sig=other.signatures[0].sig)
    return msgspec.structs.replace(env, signatures=[sig])


def _failure(envelopes: list[dsse.Envelope]) -> tuple[type[CryptoError], list[str]]:
    with pytest.raises(CryptoError) as raised:
        verify_chain(envelopes, RESOLVER)
    return type(raised.value), raised.value.__notes__


def test_the_first_failure_in_seq_order_is_the_one_raised() -> None:
    """Signatures are verified in a row after the other checks; the order of failures holds."""
    one, two, three, four = _chain([(0, "transmit"), (0, "acknowledge"), (0, "accept"), (0, "x")])
    unknown = msgspec.structs.replace(
        three,
        signatures=[msgspec.structs.replace(three.signatures[0], keyid="f" * 64)],
    )
    bad_two = _with_signature_of(two, three)
    # a bad signature, then a gap, then an unknown key: the signature
    assert _failure([one, bad_two, four, unknown]) == (SignatureError, ["statement seq 2"])
    # a bad signature and a gap in the same statement: the signature is checked first
    assert _failure([one, _with_signature_of(three, two)]) == (SignatureError, ["statement seq 2"])
    # a gap, then a bad signature: the gap
    assert _failure([one, three, bad_two]) == (ChainError, ["statement seq 2"])
    # an unknown key before a bad signature: the key
    assert _failure([one, unknown, bad_two]) == (EnvelopeFormatError, ["statement seq 2"])
    # a bad signature last, everything else fine
    assert _failure([one, two, three, _with_signature_of(four, one)]) == (
        SignatureError,
        ["statement seq 4"],
    )
