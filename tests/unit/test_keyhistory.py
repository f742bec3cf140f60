"""KeyHistory on its own (no database): which key events verify, and which key was valid when."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from mla_tracker.crypto.dsse import Envelope
from mla_tracker.crypto.errors import ChainError, CryptoError, EncodingError, KeyNotValid
from mla_tracker.crypto.keyevents import (
    GENESIS,
    EventKind,
    digest,
    encode_key_event,
    parse_key_event,
    sign_key_event,
)
from mla_tracker.crypto.keyhistory import KeyHistory
from mla_tracker.crypto.keys import SigningKey

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
SERVER = SigningKey.generate()


@dataclass
class Chain:
    """One agency's key events, built the way the hub and its agencies sign them."""

    agency: str = "la-mps"
    envelopes: list[Envelope] = field(default_factory=list)
    head: str = GENESIS

    def event(
        self,
        event: EventKind,
        subject: SigningKey,
        signer: SigningKey,
        at: datetime,
        *,
        usable_from: datetime | None = None,
        seq: int | None = None,
        prev: str | None = None,
    ) -> Envelope:
        payload = encode_key_event(
            agency=self.agency,
            seq=len(self.envelopes) + 1 if seq is None else seq,
            prev=self.head if prev is None else prev,
            event=event,
            key_id=subject.key_id,
            issued_at=at,
            public_key=None if event == "revoke" else subject.public,
            usable_from=usable_from,
        )
        envelope = sign_key_event(payload, signer)
        self.envelopes.append(envelope)
        self.head = digest(payload)
        return envelope

    def history(self) -> KeyHistory:
        return KeyHistory.from_events(self.envelopes, SERVER.public)


K1, K2, K3 = SigningKey.generate(), SigningKey.generate(), SigningKey.generate()


def _rotated() -> Chain:
    chain = Chain()
    chain.event("register", K1, SERVER, T0)
    chain.event("add", K2, K1, T0 + timedelta(days=1))
    chain.event("revoke", K1, K2, T0 + timedelta(days=2))
    return chain


def test_key_for_follows_validity_windows() -> None:
    history = _rotated().history()
    assert history.key_for("la-mps", K1.key_id, T0).key_id == K1.key_id
    assert history.key_for("la-mps", K1.key_id, T0 + timedelta(days=2, microseconds=-1))
    for key, at, match in [
        (K1, T0 - timedelta(seconds=1), "not valid before"),
        (K1, T0 + timedelta(days=2), "revoked"),
        (K2, T0 + timedelta(hours=23), "not valid before"),
        (K3, T0, "unknown"),
    ]:
        with pytest.raises(KeyNotValid, match=match):
            history.key_for("la-mps", key.key_id, at)
    with pytest.raises(KeyNotValid, match="another agency"):
        history.key_for("th-oag", K2.key_id, T0 + timedelta(days=3))
    assert [r.origin for r in history.keys_of("la-mps")] == ["bootstrap", "rotation"]


def test_recovery_key_is_usable_only_after_its_delay_and_is_reported() -> None:
    chain = Chain()
    chain.event("register", K1, SERVER, T0)
    usable = T0 + timedelta(days=1, hours=72)
    chain.event("recover", K2, SERVER, T0 + timedelta(days=1), usable_from=usable)
    history = chain.history()
    with pytest.raises(KeyNotValid, match="not usable before"):
        history.key_for("la-mps", K2.key_id, usable - timedelta(microseconds=1))
    assert history.key_for("la-mps", K2.key_id, usable).key_id == K2.key_id
    assert [r.event.key_id for r in history.recoveries()] == [K2.key_id]
    # Before the delay the recovery key signs no key event either.
    chain.event("add", K3, K2, usable - timedelta(hours=1))
    with pytest.raises(KeyNotValid, match="not usable before"):
        chain.history()


def _bad(build: Callable[[Chain], None]) -> Chain:
    chain = Chain()
    chain.event("register", K1, SERVER, T0)
    build(chain)
    return chain


CASES: list[tuple[str, Callable[[Chain], None], type[CryptoError]]] = [
    ("agency signs a register", lambda c: c.event("register", K2, K1, T0), KeyNotValid),
    ("server adds a key", lambda c: c.event("add", K2, SERVER, T0), KeyNotValid),
    (
        "agency signs a recovery",
        lambda c: c.event("recover", K2, K1, T0, usable_from=T0),
        KeyNotValid,
    ),
    ("unknown key adds", lambda c: c.event("add", K2, K3, T0), KeyNotValid),
    ("seq gap", lambda c: c.event("add", K2, K1, T0, seq=3), ChainError),
    ("wrong prev", lambda c: c.event("add", K2, K1, T0, prev="1" * 64), ChainError),
    ("second register", lambda c: c.event("register", K2, SERVER, T0), ChainError),
    ("time goes back", lambda c: c.event("add", K2, K1, T0 - timedelta(seconds=1)), ChainError),
    (
        "revoked key adds",
        lambda c: (c.event("revoke", K1, SERVER, T0), c.event("add", K2, K1, T0)),
        KeyNotValid,
    ),
    ("key added twice", lambda c: c.event("add", K1, K1, T0), KeyNotValid),
    ("revoke unknown key", lambda c: c.event("revoke", K3, K1, T0), KeyNotValid),
    (
        "revoke twice",
        lambda c: (c.event("revoke", K1, SERVER, T0), c.event("revoke", K1, SERVER, T0)),
        KeyNotValid,
    ),
]


@pytest.mark.parametrize(("name", "build", "error"), CASES, ids=[c[0] for c in CASES])
def test_broken_chains_are_refused(
    name: str, build: Callable[[Chain], None], error: type[CryptoError]
) -> None:
    with pytest.raises(error):
        _bad(build).history()


def test_a_key_belongs_to_one_agency_only() -> None:
    lao, thai = Chain("la-mps"), Chain("th-oag")
    lao.event("register", K1, SERVER, T0)
    thai.event("register", K1, SERVER, T0)
    with pytest.raises(KeyNotValid, match="already registered"):
        KeyHistory.from_events(lao.envelopes + thai.envelopes, SERVER.public)


def test_tampered_payload_and_foreign_server_key_are_refused() -> None:
    chain = _rotated()
    with pytest.raises(CryptoError):
        KeyHistory.from_events(chain.envelopes, SigningKey.generate().public)
    first = chain.envelopes[0]
    other = Chain("th-oag")
    forged = other.event("register", K3, SERVER, T0)
    mixed = Envelope(first.payloadType, forged.payload, first.signatures)
    with pytest.raises(CryptoError):
        KeyHistory.from_events([mixed], SERVER.public)


def test_payload_is_strict() -> None:
    good = encode_key_event(
        agency="la-mps",
        seq=1,
        prev=GENESIS,
        event="register",
        key_id=K1.key_id,
        issued_at=T0,
        public_key=K1.public,
    )
    assert parse_key_event(good).key_id == K1.key_id
    for bad in [
        good.replace(b'"seq":1', b'"seq":1,"seq":2'),
        good.replace(b'"agency"', b'"extra":1,"agency"'),
        good.replace(b'Z"', b'"'),
        good.replace(K1.public.to_base64().encode(), K1.public.to_base64().rstrip("=").encode()),
        good.replace(K1.key_id.encode(), K2.key_id.encode()),
    ]:
        with pytest.raises((EncodingError, CryptoError)):
            parse_key_event(bad)
