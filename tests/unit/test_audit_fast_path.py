"""`mla audit verify`'s fast path agrees with the precise checks on honest and tampered hubs.

The fast path may only conclude "everything holds" or name failed chains; on anything else
it hands over to the precise checks. Every case here runs both and compares the findings,
in one process and on a pool of two workers.
"""

from __future__ import annotations

import base64
import copy
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, cast

import msgspec
import pytest

from mla_tracker.audit import verify
from mla_tracker.audit.report import Report
from mla_tracker.audit.verify import Entry, Fetched, audit, root_of
from mla_tracker.crypto import dsse, merkle, wire
from mla_tracker.crypto.custody import CUSTODY_PAYLOAD_TYPE
from mla_tracker.crypto.keyevents import encode_key_event, sign_key_event
from mla_tracker.crypto.keys import SigningKey
from mla_tracker.crypto.log_entry import entry_of
from mla_tracker.crypto.note import Checkpoint, NoteSigner
from mla_tracker.crypto.statement import GENESIS, PAYLOAD_TYPE, digest, encode_payload

SERVER = SigningKey.generate()
KEYS = {"la-mps": SigningKey.generate(), "th-oag": SigningKey.generate()}
WHEN = datetime(2026, 11, 29, 12, 0, 0, 123456, tzinfo=UTC)
CONTENT = {"kind": "mla", "urgency": "normal", "requested_agency": "th-oag"}


@dataclass
class Hub:
    """What the hub logs and shows, before it is put together as a Fetched."""

    log: list[dsse.Envelope] = field(default_factory=list)
    #: request id -> rows as the API serves them (envelope JSON, digest, seq).
    requests: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    directory: dict[str, set[str]] = field(default_factory=dict)


def _move(seq: int) -> tuple[str, str, dict[str, str]]:
    if seq == 1:
        return "la-mps", "transmit", dict(CONTENT)
    if seq == 2:
        return "th-oag", "acknowledge", {}
    return ("th-oag", "request_info", {}) if seq % 2 else ("la-mps", "provide_info", {})


def _payload(rid: uuid.UUID, seq: int, prev: str) -> bytes:
    actor, action, meta = _move(seq)
    return encode_payload(
        request_id=rid,
        seq=seq,
        prev=prev,
        action=action,
        actor=actor,
        key_id=KEYS[actor].key_id,
        body_sha256="0" * 64,
        meta=meta,
        issued_at=WHEN,
    )


def _row(envelope: dsse.Envelope, seq: int) -> dict[str, Any]:
    return {
        "seq": seq,
        "digest": digest(envelope.payload_bytes()),
        "envelope": msgspec.json.decode(envelope.to_json()),
    }


def _hub(requests: int = 4, chain: int = 5) -> Hub:
    hub = Hub(directory={a: {k.key_id} for a, k in KEYS.items()})
    for agency, key in KEYS.items():
        event = encode_key_event(
            agency=agency,
            seq=1,
            prev=GENESIS,
            event="register",
            key_id=key.key_id,
            issued_at=WHEN,
            public_key=key.public,
        )
        hub.log.append(sign_key_event(event, SERVER))
    for _ in range(requests):
        rid = uuid.uuid4()
        prev, rows = GENESIS, []
        for seq in range(1, chain + 1):
            envelope = dsse.sign(PAYLOAD_TYPE, _payload(rid, seq, prev), KEYS[_move(seq)[0]])
            hub.log.append(envelope)
            rows.append(_row(envelope, seq))
            prev = digest(envelope.payload_bytes())
        hub.requests[str(rid)] = rows
    # A custody assertion: neither a statement nor a key event.
    hub.log.append(dsse.sign(CUSTODY_PAYLOAD_TYPE, b'{"custody":1}', SERVER))
    return hub


def _fetched(hub: Hub, entries: list[bytes] | None = None) -> Fetched:
    """The hub's answers, with a checkpoint it signed over exactly these entries."""
    data = [entry_of(e) for e in hub.log] if entries is None else entries
    items = [Entry(i, d, merkle.leaf_hash(d)) for i, d in enumerate(data)]
    signer = NoteSigner("test/log", SERVER)
    root = root_of(e.leaf_hash for e in items)
    return Fetched(
        log_note=signer.sign(Checkpoint("test/log", len(items), root).to_text()),
        verifier_key=signer.verifier_key(),
        server_key=SERVER.public,
        entries=items,
        requests=cast("dict[str, list[Mapping[str, object]]]", copy.deepcopy(hub.requests)),
        directory=copy.deepcopy(hub.directory),
    )


def _precise(fetched: Fetched, workers: int, monkeypatch: pytest.MonkeyPatch) -> Report:
    def give_up(*_args: object) -> Report:
        raise verify._Anomaly

    with monkeypatch.context() as patch:
        patch.setattr(verify, "_fast", give_up)
        report, _ = audit(fetched, workers=workers)
    return report


WORKERS = pytest.mark.parametrize("workers", [1, 2])


@WORKERS
def test_an_honest_hub_is_verified_by_the_fast_path_alone(
    workers: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    fetched = _fetched(_hub())

    def not_here(*_args: object) -> None:
        raise AssertionError("the precise checks ran on an honest hub")

    monkeypatch.setattr(verify, "check_log", not_here)
    report, checkpoint = audit(fetched, workers=workers)
    assert report.ok, report.lines()
    assert checkpoint is not None and checkpoint.size == len(fetched.entries)
    assert (report.entries, report.key_events, report.requests, report.statements) == (
        23,
        2,
        4,
        20,
    )
    monkeypatch.undo()
    assert _precise(fetched, workers, monkeypatch) == report


def _served(fetched: Fetched, index: int = 1, seq: int = 2) -> dict[str, Any]:
    return cast("dict[str, Any]", sorted(fetched.requests.items())[index][1][seq - 1])


def _flip_shown_payload(fetched: Fetched) -> None:
    envelope = _served(fetched)["envelope"]
    payload = bytearray(wire.b64decode(envelope["payload"], "p"))
    payload[payload.index(b"acknowledge")] ^= 0x01
    envelope["payload"] = wire.b64encode(bytes(payload))


def _delete_shown(fetched: Fetched) -> None:
    rows = sorted(fetched.requests.items())[0][1]
    del rows[2]


def _swap_shown(fetched: Fetched) -> None:
    rows = sorted(fetched.requests.items())[2][1]
    rows[1], rows[2] = rows[2], rows[1]


def _wrong_claimed_digest(fetched: Fetched) -> None:
    _served(fetched)["digest"] = "ab" * 32


def _wrong_leaf_hash(fetched: Fetched) -> None:
    fetched.entries[5] = replace(fetched.entries[5], leaf_hash=b"\x00" * 32)


def _shifted_index(fetched: Fetched) -> None:
    fetched.entries[4] = replace(fetched.entries[4], index=5)


def _extra_directory_key(fetched: Fetched) -> None:
    fetched.directory["th-oag"].add(SigningKey.generate().key_id)


def _same_request_twice(fetched: Fetched) -> None:
    rows = sorted(fetched.requests.items())[0][1]
    fetched.requests[str(uuid.uuid4())] = copy.deepcopy(rows)


def _other_checkpoint(fetched: Fetched) -> None:
    fetched.log_note = _fetched(_hub(requests=1)).log_note


def _no_statements_shown(fetched: Fetched) -> None:
    fetched.requests.clear()


TAMPERED_VIEWS: dict[str, Callable[[Fetched], None]] = {
    "flipped byte in a shown statement": _flip_shown_payload,
    "deleted statement": _delete_shown,
    "swapped statements": _swap_shown,
    "wrong claimed digest": _wrong_claimed_digest,
    "wrong leaf hash": _wrong_leaf_hash,
    "shifted index": _shifted_index,
    "directory key without key event": _extra_directory_key,
    "a request shown twice": _same_request_twice,
    "checkpoint of another log": _other_checkpoint,
    "every request hidden": _no_statements_shown,
}


@WORKERS
@pytest.mark.parametrize("name", sorted(TAMPERED_VIEWS))
def test_a_tampered_view_fails_as_the_precise_checks_say(
    name: str, workers: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    fetched = _fetched(_hub())
    TAMPERED_VIEWS[name](fetched)
    report, _ = audit(fetched, workers=workers)
    assert not report.ok
    assert report == _precise(fetched, workers, monkeypatch)


def _sign_as(hub: Hub, request: int, seq: int, payload: bytes) -> None:
    """The statement's agency signs another payload, and the hub logs and shows it."""
    rid = sorted(hub.requests)[request]
    envelope = dsse.sign(PAYLOAD_TYPE, payload, KEYS[_move(seq)[0]])
    old = hub.requests[rid][seq - 1]
    position = next(
        i for i, e in enumerate(hub.log) if e.to_json() == msgspec.json.encode(old["envelope"])
    )
    hub.log[position] = envelope
    hub.requests[rid][seq - 1] = _row(envelope, seq)


def _payload_of(hub: Hub, request: int, seq: int) -> dict[str, Any]:
    rid = sorted(hub.requests)[request]
    row = hub.requests[rid][seq - 1]
    loaded: dict[str, Any] = msgspec.json.decode(wire.b64decode(row["envelope"]["payload"], "p"))
    return loaded


def _envelope(shown: dict[str, Any]) -> dsse.Envelope:
    return msgspec.json.decode(msgspec.json.encode(shown), type=dsse.Envelope)


def _duplicate_top_level_key(hub: Hub) -> None:
    payload = msgspec.json.encode(_payload_of(hub, 1, 3))
    _sign_as(hub, 1, 3, payload[:-1] + b',"action":"close"}')


def _duplicate_meta_key(hub: Hub) -> None:
    payload = msgspec.json.encode(_payload_of(hub, 2, 1))
    _sign_as(hub, 2, 1, payload.replace(b'"meta":{', b'"meta":{"kind":"preservation",'))


def _bad_signature(hub: Hub) -> None:
    rid = sorted(hub.requests)[0]
    row = hub.requests[rid][1]
    old = msgspec.json.encode(row["envelope"])
    sig = bytearray(wire.b64decode(row["envelope"]["signatures"][0]["sig"], "s"))
    sig[0] ^= 0x01
    row["envelope"]["signatures"][0]["sig"] = wire.b64encode(bytes(sig))
    position = next(i for i, e in enumerate(hub.log) if e.to_json() == old)
    hub.log[position] = msgspec.json.decode(
        msgspec.json.encode(row["envelope"]), type=dsse.Envelope
    )


def _payload_with_spaces(hub: Hub) -> None:
    payload = _payload_of(hub, 0, 5)  # the last statement: no link depends on its digest
    _sign_as(hub, 0, 5, msgspec.json.encode(payload).replace(b'","', b'", "'))


def _non_canonical_payload_base64(hub: Hub) -> None:
    raw = msgspec.json.encode(_payload_of(hub, 3, 5))
    if len(raw) % 3 == 0:
        raw += b" "  # strict JSON still, and now its base64 ends in padding
    _sign_as(hub, 3, 5, raw)
    rid = sorted(hub.requests)[3]
    envelope = hub.requests[rid][4]["envelope"]
    old = msgspec.json.encode(envelope)
    text = envelope["payload"].rstrip("=")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    # The canonical last character has its pad bits zero; the next one sets the lowest.
    padding = "=" * (-len(text) % 4)
    envelope["payload"] = text[:-1] + alphabet[alphabet.index(text[-1]) + 1] + padding
    # A lenient decoder reads the same payload; the strict one must not.
    assert base64.b64decode(envelope["payload"]) == raw
    position = next(i for i, e in enumerate(hub.log) if e.to_json() == old)
    hub.log[position] = _envelope(envelope)


def _forged_key_event(hub: Hub) -> None:
    forged = SigningKey.generate()
    event = encode_key_event(
        agency="th-oag",
        seq=2,
        prev=digest(hub.log[1].payload_bytes()),
        event="add",
        key_id=forged.key_id,
        issued_at=WHEN,
        public_key=forged.public,
    )
    hub.log.insert(2, sign_key_event(event, forged))


def _statement_logged_twice(hub: Hub) -> None:
    hub.log.append(hub.log[5])


TAMPERED_LOGS: dict[str, Callable[[Hub], None]] = {
    "duplicate key at the top of a signed payload": _duplicate_top_level_key,
    "duplicate key in a signed payload's meta": _duplicate_meta_key,
    "bad signature, logged and shown": _bad_signature,
    "payload with spaces (strict but not msgspec's spelling)": _payload_with_spaces,
    "payload base64 with non-zero pad bits": _non_canonical_payload_base64,
    "key event signed by a key nobody registered": _forged_key_event,
    "a statement logged twice": _statement_logged_twice,
}


@WORKERS
@pytest.mark.parametrize("name", sorted(TAMPERED_LOGS))
def test_a_tampered_log_is_judged_as_the_precise_checks_judge_it(
    name: str, workers: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub = _hub()
    TAMPERED_LOGS[name](hub)
    fetched = _fetched(hub)
    report, _ = audit(fetched, workers=workers)
    assert report == _precise(fetched, workers, monkeypatch)
    if name.startswith("payload with spaces"):
        assert report.ok, report.lines()  # strict JSON, only not the fast spelling
    elif name != "a statement logged twice":
        assert not report.ok


def test_failures_name_the_request_and_seq(monkeypatch: pytest.MonkeyPatch) -> None:
    hub = _hub()
    _duplicate_meta_key(hub)
    _bad_signature(hub)
    fetched = _fetched(hub)
    report, _ = audit(fetched, workers=2)
    rids = sorted(hub.requests)
    named = {(f.request_id, f.seq) for f in report.findings}
    assert named == {(rids[2], 1), (rids[0], 2)}
    assert any("twice" in f.detail for f in report.findings)


def test_a_non_canonical_log_entry_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    hub = _hub()
    entries = [entry_of(e) for e in hub.log]
    entries[-1] = entries[-1].replace(b'","', b'", "', 1)
    report, _ = audit(_fetched(hub, entries), workers=2)
    assert any("not a canonical envelope" in f.detail for f in report.findings)


def _mth(leaves: list[bytes]) -> bytes:
    """RFC 6962 §2.1 as written: split at the largest power of two below n."""
    if not leaves:
        return merkle.EMPTY_ROOT
    if len(leaves) == 1:
        return leaves[0]
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    return merkle.node_hash(_mth(leaves[:k]), _mth(leaves[k:]))


@pytest.mark.parametrize("size", [*range(70), 127, 128, 129, 1000])
def test_root_of_is_the_rfc_6962_tree_hash(size: int) -> None:
    leaves = [merkle.leaf_hash(b"%d" % i) for i in range(size)]
    assert root_of(leaves) == _mth(leaves)


@pytest.mark.parametrize("fresh_from", [0, 10**9])
def test_forked_and_fresh_workers_agree_with_one_process(
    fresh_from: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(verify, "FRESH_FROM", fresh_from)
    monkeypatch.setattr(verify, "_BATCH", 7)  # many batches, so both ends take some
    hub = _hub(requests=30, chain=5)
    _bad_signature(hub)
    _duplicate_meta_key(hub)
    fetched = _fetched(hub)
    report, _ = audit(fetched, workers=3)
    alone, _ = audit(fetched, workers=1)
    assert report == alone
    assert len(report.findings) == 2 and report.statements == 150
