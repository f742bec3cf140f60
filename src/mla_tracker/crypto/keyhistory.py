"""Offline key history: verify every agency's key-event chain and say which key was valid when.

`KeyHistory.from_events(envelopes, server_key)` checks each chain (seq, prev, signatures,
who may sign what) and then answers `key_for(agency_id, key_id, at)`: the verifying key if
it belonged to that agency and was valid and usable at `at`, else KeyNotValid. The hub runs
the same code before it accepts a key event, so what it accepts is what an auditor accepts.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal

from . import dsse
from .errors import ChainError, EnvelopeFormatError, KeyNotValid
from .keyevents import (
    GENESIS,
    KEY_EVENT_PAYLOAD_TYPE,
    SERVER_SIGNER,
    KeyEvent,
    digest,
    parse_key_event,
    payload_of,
)
from .keys import VerifyingKey

Origin = Literal["bootstrap", "rotation", "recovery"]
_ORIGIN: dict[str, Origin] = {"register": "bootstrap", "add": "rotation", "recover": "recovery"}


def unusable_reason(
    key_id: str,
    *,
    valid_from: datetime,
    usable_from: datetime,
    revoked_at: datetime | None,
    at: datetime,
) -> str | None:
    """Why a key cannot sign at `at` (not yet valid or usable, or revoked), or None if it can.

    The one home of the validity window: the hub's statement and login checks and the
    offline verifier all ask here.
    """
    if at < valid_from:
        return f"key {key_id} is not valid before {valid_from.isoformat()}"
    if at < usable_from:
        return f"recovery key {key_id} is not usable before {usable_from.isoformat()}"
    if revoked_at is not None and revoked_at <= at:
        return f"key {key_id} was revoked at {revoked_at.isoformat()}"
    return None


@dataclass(frozen=True)
class KeyRecord:
    """One key as the history knows it: whose, since when, usable from when, revoked when."""

    agency_id: str
    key: VerifyingKey
    origin: Origin
    valid_from: datetime
    usable_from: datetime
    revoked_at: datetime | None
    added_by: str

    @property
    def key_id(self) -> str:
        """The key id (hex SHA-256 of the raw public key)."""
        return self.key.key_id


@dataclass(frozen=True)
class RecordedEvent:
    """A verified key event with what it takes to store or report it."""

    event: KeyEvent
    digest: str
    signer: str
    payload: bytes
    envelope: dsse.Envelope


@dataclass(frozen=True)
class _Head:
    seq: int
    digest: str
    issued_at: datetime


class KeyHistory:
    """Every agency's keys over time, rebuilt from verified key events."""

    def __init__(self, server_key: VerifyingKey) -> None:
        self.server_key = server_key
        self._keys: dict[str, KeyRecord] = {}
        self._heads: dict[str, _Head] = {}
        self._events: list[RecordedEvent] = []

    @classmethod
    def from_events(
        cls, envelopes: Iterable[dsse.Envelope], server_key: VerifyingKey
    ) -> KeyHistory:
        """Verify key events of any number of agencies (each agency's in seq order)."""
        history = cls(server_key)
        for envelope in envelopes:
            history.append(envelope)
        return history

    # -- answers -------------------------------------------------------------------------

    def key_for(self, agency_id: str, key_id: str, at: datetime) -> VerifyingKey:
        """The key if it was `agency_id`'s and valid and usable at `at`; else KeyNotValid.

        The actor SERVER_SIGNER ("server") is the hub itself: its statements (deadline
        notices, expiry) verify only under the hub's server key.
        """
        if agency_id == SERVER_SIGNER:
            if key_id != self.server_key.key_id:
                raise KeyNotValid(f"the hub signs its statements with {self.server_key.key_id}")
            return self.server_key
        return self.record_at(agency_id, key_id, at).key

    def record_at(self, agency_id: str, key_id: str, at: datetime) -> KeyRecord:
        """The key's record if it was usable by `agency_id` at `at`; else KeyNotValid."""
        record = self._keys.get(key_id)
        if record is None:
            raise KeyNotValid(f"unknown key {key_id}")
        if record.agency_id != agency_id:
            raise KeyNotValid(f"key {key_id} belongs to another agency, not '{agency_id}'")
        reason = unusable_reason(
            key_id,
            valid_from=record.valid_from,
            usable_from=record.usable_from,
            revoked_at=record.revoked_at,
            at=at,
        )
        if reason is not None:
            raise KeyNotValid(reason)
        return record

    def keys_of(self, agency_id: str) -> list[KeyRecord]:
        """An agency's keys, in the order they were added."""
        return [r for r in self._keys.values() if r.agency_id == agency_id]

    def get(self, key_id: str) -> KeyRecord | None:
        """A key's record, whoever it belongs to."""
        return self._keys.get(key_id)

    def head(self, agency_id: str) -> tuple[int, str]:
        """(seq, digest) of the agency's last key event; (0, GENESIS) before the first."""
        head = self._heads.get(agency_id)
        return (0, GENESIS) if head is None else (head.seq, head.digest)

    def events(self, agency_id: str | None = None) -> list[RecordedEvent]:
        """Verified events, in the order they were appended."""
        return [e for e in self._events if agency_id in (None, e.event.agency)]

    def recoveries(self) -> list[RecordedEvent]:
        """Every recovery key the operator added: a verifier reports each one."""
        return [e for e in self._events if e.event.event == "recover"]

    # -- building ------------------------------------------------------------------------

    def append(self, envelope: dsse.Envelope) -> RecordedEvent:
        """Verify the next event of its agency's chain and apply it; raises CryptoError."""
        payload = payload_of(envelope)
        ev = parse_key_event(payload)
        seq, prev = self.head(ev.agency)
        if ev.seq != seq + 1 or ev.prev != prev:
            raise ChainError(
                f"key event of '{ev.agency}' has seq {ev.seq}, prev {ev.prev}; "
                f"the chain's head is seq {seq}, digest {prev}"
            )
        head = self._heads.get(ev.agency)
        if head is not None and ev.issued_at < head.issued_at:
            raise ChainError("a key event's issued_at precedes the previous key event's")
        signer = self._check_signer(envelope, ev)
        verified = dsse.verify(envelope, KEY_EVENT_PAYLOAD_TYPE, lambda _kid: self._key(signer))
        assert verified == payload
        self._apply(ev, signer)
        recorded = RecordedEvent(ev, digest(payload), signer, payload, envelope)
        self._events.append(recorded)
        self._heads[ev.agency] = _Head(ev.seq, recorded.digest, ev.issued_at)
        return recorded

    def _key(self, signer: str) -> VerifyingKey:
        return self.server_key if signer == SERVER_SIGNER else self._keys[signer].key

    def _check_signer(self, envelope: dsse.Envelope, ev: KeyEvent) -> str:
        """Who must have signed this event, by the rules of docs/keys.md; its signer name."""
        if len(envelope.signatures) != 1:
            raise EnvelopeFormatError("a key event carries exactly one signature")
        keyid = envelope.signatures[0].keyid
        by_server = keyid == self.server_key.key_id
        if ev.event in ("register", "recover") and not by_server:
            raise KeyNotValid(f"a '{ev.event}' key event is signed by the hub's server key")
        if ev.event == "add" and by_server:
            raise KeyNotValid("the hub's server key cannot add an agency key; a current key can")
        if by_server:
            return SERVER_SIGNER
        self.record_at(ev.agency, keyid, ev.issued_at)
        return keyid

    def _apply(self, ev: KeyEvent, signer: str) -> None:
        if ev.event == "revoke":
            record = self._keys.get(ev.key_id)
            if record is None or record.agency_id != ev.agency:
                raise KeyNotValid(f"agency '{ev.agency}' has no key {ev.key_id}")
            if record.revoked_at is not None:
                raise KeyNotValid(f"key {ev.key_id} is already revoked")
            self._keys[ev.key_id] = replace(record, revoked_at=ev.issued_at)
            return
        if ev.event == "register" and ev.seq != 1:
            raise ChainError("'register' is only an agency's first key event")
        if ev.event != "register" and ev.seq == 1:
            raise ChainError(f"an agency's first key event is 'register', not '{ev.event}'")
        if ev.key_id in self._keys:
            raise KeyNotValid(f"key {ev.key_id} is already registered")
        usable_from = ev.usable_from or ev.issued_at
        if usable_from < ev.issued_at:
            raise ChainError("usable_from precedes issued_at")
        self._keys[ev.key_id] = KeyRecord(
            agency_id=ev.agency,
            key=ev.verifying_key(),
            origin=_ORIGIN[ev.event],
            valid_from=ev.issued_at,
            usable_from=usable_from,
            revoked_at=None,
            added_by=signer,
        )


def verify_key_events(envelopes: Sequence[dsse.Envelope], server_key: VerifyingKey) -> KeyHistory:
    """Verify key events (the public helper for the CLI and auditors); raises CryptoError."""
    return KeyHistory.from_events(envelopes, server_key)
