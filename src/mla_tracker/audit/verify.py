"""The checks of an audit, on data already fetched: no network, nothing trusted.

1. The checkpoint is a note signed by the log's key, naming a size and a root.
2. Every entry's leaf hash is recomputed, and the root of all of them equals the checkpoint's
   (so every entry is included, and none is missing or reordered).
3. The key history is rebuilt from the key-event entries (every signature checked); every
   key the hub's directory lists must come from a key event.
4. Every request's chain verifies against that history (signatures by keys valid then,
   links, bodies held, transitions), on every core; every statement is a log entry, and
   every statement entry in the log belongs to a request the hub showed.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

import msgspec

from .. import protocol
from ..crypto import dsse, merkle, wire
from ..crypto.errors import CryptoError
from ..crypto.keyevents import KEY_EVENT_PAYLOAD_TYPE
from ..crypto.keyhistory import KeyHistory
from ..crypto.keys import VerifyingKey
from ..crypto.log_entry import digest_of, entry_of
from ..crypto.note import Checkpoint, NoteVerifier, open_note
from ..crypto.statement import PAYLOAD_TYPE as STATEMENT_PAYLOAD_TYPE
from ..domain.errors import DomainError
from .report import Report


@dataclass(frozen=True)
class Entry:
    """One log entry as served: index, exact bytes, and the leaf hash the hub claims."""

    index: int
    entry: bytes
    leaf_hash: bytes


@dataclass
class Fetched:
    """Everything an audit looks at, fetched beforehand."""

    log_note: str
    verifier_key: str
    server_key: VerifyingKey
    entries: list[Entry]
    #: request id -> its statements as the API served them (envelope dict, body or None).
    requests: dict[str, list[Mapping[str, object]]] = field(default_factory=dict)
    #: agency id -> key ids the hub's directory lists.
    directory: dict[str, set[str]] = field(default_factory=dict)


def root_of(leaves: Iterable[bytes]) -> bytes:
    """RFC 6962 MTH of a list of leaf hashes, in one pass with O(log n) memory."""
    stack: list[tuple[int, bytes]] = []
    for leaf in leaves:
        level, node = 0, leaf
        while stack and stack[-1][0] == level:
            node = merkle.node_hash(stack.pop()[1], node)
            level += 1
        stack.append((level, node))
    if not stack:
        return merkle.EMPTY_ROOT
    node = stack.pop()[1]
    while stack:
        node = merkle.node_hash(stack.pop()[1], node)
    return node


def open_checkpoint(note: str, verifier_key: str) -> Checkpoint:
    """The checkpoint a note carries, if the log's key signed it; raises NoteError."""
    return Checkpoint.parse(open_note(note, NoteVerifier.from_vkey(verifier_key)))


def check_log(fetched: Fetched, checkpoint: Checkpoint, report: Report) -> dict[str, Entry]:
    """Steps 2: recompute every leaf and the root; return the entries by payload digest."""
    report.checkpoint_size = checkpoint.size
    by_digest: dict[str, Entry] = {}
    leaves: list[bytes] = []
    for position, item in enumerate(fetched.entries):
        if item.index != position:
            report.fail("log entries", f"entry {position} came with index {item.index}")
            return by_digest
        leaf = merkle.leaf_hash(item.entry)
        if leaf != item.leaf_hash:
            report.fail("log entries", f"entry {item.index}: its leaf hash is not its bytes'")
        leaves.append(leaf)
        try:
            envelope = wire.decode(item.entry, dsse.Envelope, f"log entry {item.index}")
            by_digest[digest_of(envelope)] = item
        except CryptoError as exc:
            report.fail("log entries", f"entry {item.index}: {exc}")
    report.entries = len(leaves)
    if len(leaves) != checkpoint.size:
        report.fail("log", f"{len(leaves)} entries for a checkpoint of size {checkpoint.size}")
    elif root_of(leaves) != checkpoint.root_hash:
        report.fail("log", "the entries do not hash to the checkpoint's root")
    return by_digest


def key_history(fetched: Fetched, by_digest: Mapping[str, Entry], report: Report) -> KeyHistory:
    """Step 3: the key history from the log's key events, checked against the directory."""
    history = KeyHistory(fetched.server_key)
    ordered = sorted(by_digest.values(), key=lambda e: e.index)
    for item in ordered:
        envelope = wire.decode(item.entry, dsse.Envelope, "log entry")
        if envelope.payloadType != KEY_EVENT_PAYLOAD_TYPE:
            continue
        try:
            history.append(envelope)
            report.key_events += 1
        except CryptoError as exc:
            report.fail("key event", f"log entry {item.index}: {exc}")
    for recorded in history.recoveries():
        ev = recorded.event
        report.recoveries.append(
            f"{ev.agency}: recovery key {ev.key_id} added by the operator at "
            f"{ev.issued_at.isoformat()}, usable from "
            f"{(ev.usable_from or ev.issued_at).isoformat()}"
        )
    for agency_id, key_ids in sorted(fetched.directory.items()):
        logged = {k.key_id for k in history.keys_of(agency_id)}
        for key_id in sorted(key_ids - logged):
            report.fail(
                "key without key event",
                f"the directory lists key {key_id} for {agency_id}, but no signed key event "
                "in the log adds it",
            )
    return history


def _verify_one(
    request_id: str, rows: Sequence[Mapping[str, object]], history: KeyHistory
) -> tuple[str, int, list[tuple[str, str, int | None]]]:
    envelopes, bodies = protocol.parse_statement_list(rows)
    try:
        protocol.verify_request(envelopes, history, bodies)
    except (CryptoError, DomainError) as exc:
        seq = next(
            (
                int(n.removeprefix("statement seq "))
                for n in getattr(exc, "__notes__", [])
                if n.startswith("statement seq ")
            ),
            None,
        )
        return request_id, len(rows), [(exc.title, str(exc), seq)]
    return request_id, len(rows), []


_WORKER_HISTORY: KeyHistory | None = None


def _init_worker(events: list[bytes], server_key: bytes) -> None:
    global _WORKER_HISTORY
    envelopes = [wire.decode(e, dsse.Envelope, "key event") for e in events]
    _WORKER_HISTORY = KeyHistory.from_events(envelopes, VerifyingKey(server_key))


def _verify_batch(
    batch: list[tuple[str, list[Mapping[str, object]]]],
) -> list[tuple[str, int, list[tuple[str, str, int | None]]]]:
    assert _WORKER_HISTORY is not None
    return [_verify_one(rid, rows, _WORKER_HISTORY) for rid, rows in batch]


def check_requests(
    fetched: Fetched,
    by_digest: Mapping[str, Entry],
    history: KeyHistory,
    report: Report,
    *,
    workers: int | None = None,
) -> None:
    """Step 4: every chain, on every core; every statement in the log and vice versa."""
    shown: set[str] = set()
    for request_id, rows in fetched.requests.items():
        for row in rows:
            envelope = wire.decode(
                msgspec.json.encode(row["envelope"]), dsse.Envelope, "statement envelope"
            )
            digest = digest_of(envelope)
            shown.add(digest)
            logged = by_digest.get(digest)
            if logged is None:
                report.fail("statement not in the log", digest, request_id, _seq(row))
            elif logged.entry != entry_of(envelope):
                report.fail("statement differs from its log entry", digest, request_id, _seq(row))
    for digest, item in by_digest.items():
        envelope = wire.decode(item.entry, dsse.Envelope, "log entry")
        if envelope.payloadType == STATEMENT_PAYLOAD_TYPE and digest not in shown:
            report.fail(
                "statement hidden",
                f"log entry {item.index} ({digest}) is a statement the hub did not show",
            )
    events = [
        e.entry
        for e in sorted(by_digest.values(), key=lambda e: e.index)
        if wire.decode(e.entry, dsse.Envelope, "log entry").payloadType == KEY_EVENT_PAYLOAD_TYPE
    ]
    items = sorted(fetched.requests.items())
    count = workers or os.cpu_count() or 1
    results: Iterable[tuple[str, int, list[tuple[str, str, int | None]]]]
    if count > 1 and len(items) > 1:
        chunk = max(1, len(items) // (count * 4))
        batches = [items[i : i + chunk] for i in range(0, len(items), chunk)]
        with ProcessPoolExecutor(
            count, initializer=_init_worker, initargs=(events, fetched.server_key.raw)
        ) as pool:
            results = [r for done in pool.map(_verify_batch, batches) for r in done]
    else:
        results = [_verify_one(rid, rows, history) for rid, rows in items]
    for request_id, statements, failures in results:
        report.requests += 1
        report.statements += statements
        for title, detail, seq in failures:
            report.fail(title, detail, request_id, seq)


def _seq(row: Mapping[str, object]) -> int | None:
    seq = row.get("seq")
    return seq if isinstance(seq, int) else None


def audit(fetched: Fetched, *, workers: int | None = None) -> tuple[Report, Checkpoint | None]:
    """Every check of an audit; the checkpoint is returned only when it verified."""
    report = Report()
    try:
        checkpoint = open_checkpoint(fetched.log_note, fetched.verifier_key)
    except CryptoError as exc:
        report.fail("checkpoint", str(exc))
        return report, None
    by_digest = check_log(fetched, checkpoint, report)
    history = key_history(fetched, by_digest, report)
    check_requests(fetched, by_digest, history, report, workers=workers)
    return report, checkpoint
