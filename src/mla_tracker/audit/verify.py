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
from collections.abc import Iterable, Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

import msgspec

from .. import protocol
from ..crypto import dsse, merkle, wire
from ..crypto.errors import CryptoError, EncodingError
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


@dataclass(frozen=True)
class Logged:
    """A log entry whose bytes decoded to an envelope (decoded once, used by every check)."""

    entry: Entry
    envelope: dsse.Envelope

    @property
    def index(self) -> int:
        """The entry's leaf index."""
        return self.entry.index


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


def _canonical_envelope(item: Entry) -> dsse.Envelope:
    """The entry's envelope, if its bytes are exactly the canonical encoding (crypto.log_entry).

    Re-encoding and comparing is the strict check here: canonical JSON has no duplicate
    keys, no spaces and one member order, and it is much cheaper than a checked parse.
    """
    try:
        envelope = msgspec.json.decode(item.entry, type=dsse.Envelope)
    except msgspec.DecodeError as exc:
        raise EncodingError(f"log entry {item.index}", str(exc)) from exc
    if entry_of(envelope) != item.entry:
        raise EncodingError(f"log entry {item.index}", "is not a canonical envelope encoding")
    return envelope


def check_log(fetched: Fetched, checkpoint: Checkpoint, report: Report) -> dict[str, Logged]:
    """Step 2: recompute every leaf and the root; return the entries by payload digest."""
    report.checkpoint_size = checkpoint.size
    by_digest: dict[str, Logged] = {}
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
            envelope = _canonical_envelope(item)
            by_digest[digest_of(envelope)] = Logged(item, envelope)
        except CryptoError as exc:
            report.fail("log entries", f"entry {item.index}: {exc}")
    report.entries = len(leaves)
    if len(leaves) != checkpoint.size:
        report.fail("log", f"{len(leaves)} entries for a checkpoint of size {checkpoint.size}")
    elif root_of(leaves) != checkpoint.root_hash:
        report.fail("log", "the entries do not hash to the checkpoint's root")
    return by_digest


def _key_events(by_digest: Mapping[str, Logged]) -> list[Logged]:
    return sorted(
        (e for e in by_digest.values() if e.envelope.payloadType == KEY_EVENT_PAYLOAD_TYPE),
        key=lambda e: e.index,
    )


def key_history(fetched: Fetched, by_digest: Mapping[str, Logged], report: Report) -> KeyHistory:
    """Step 3: the key history from the log's key events, checked against the directory."""
    history = KeyHistory(fetched.server_key)
    for item in _key_events(by_digest):
        try:
            history.append(item.envelope)
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


#: One request as a worker verifies it: its id and, per statement, the entry bytes (the
#: canonical envelope) and the body's bytes where the reader holds them.
_Chain = tuple[str, list[tuple[bytes, bytes | None]]]
_Outcome = tuple[str, int, list[tuple[str, str, int | None]]]


def _verify_one(chain: _Chain, history: KeyHistory) -> _Outcome:
    request_id, statements = chain
    try:
        # Entry bytes were checked canonical (or equal to a canonical log entry) already,
        # so the plain typed decode is enough; the payload is parsed strictly below.
        envelopes = [msgspec.json.decode(e, type=dsse.Envelope) for e, _ in statements]
        protocol.verify_request(envelopes, history, [b for _, b in statements])
    except (CryptoError, DomainError, msgspec.DecodeError) as exc:
        seq = next(
            (
                int(n.removeprefix("statement seq "))
                for n in getattr(exc, "__notes__", [])
                if n.startswith("statement seq ")
            ),
            None,
        )
        title = getattr(exc, "title", "statement")
        return request_id, len(statements), [(title, str(exc), seq)]
    return request_id, len(statements), []


_WORKER_HISTORY: KeyHistory | None = None


def _init_worker(events: list[bytes], server_key: bytes) -> None:
    global _WORKER_HISTORY
    envelopes = [wire.decode(e, dsse.Envelope, "key event") for e in events]
    _WORKER_HISTORY = KeyHistory.from_events(envelopes, VerifyingKey(server_key))


def _verify_batch(batch: list[_Chain]) -> list[_Outcome]:
    assert _WORKER_HISTORY is not None
    return [_verify_one(chain, _WORKER_HISTORY) for chain in batch]


def _chains(fetched: Fetched, by_digest: Mapping[str, Logged], report: Report) -> list[_Chain]:
    """Match every statement the hub showed with its log entry, and the log's with the hub's."""
    shown: set[str] = set()
    chains: list[_Chain] = []
    for request_id, rows in sorted(fetched.requests.items()):
        statements: list[tuple[bytes, bytes | None]] = []
        for row in rows:
            served = msgspec.json.encode(row["envelope"])
            claimed = str(row.get("digest", ""))
            logged = by_digest.get(claimed)
            body = row.get("body")
            held = wire.b64decode(body, "body") if isinstance(body, str) else None
            if logged is None:
                report.fail("statement not in the log", claimed, request_id, _seq(row))
            elif logged.entry.entry != served:
                report.fail("statement differs from its log entry", claimed, request_id, _seq(row))
            else:
                shown.add(claimed)
            # Verify what the hub showed either way, so a broken chain is named too.
            statements.append((served, held))
        chains.append((request_id, statements))
    for digest, item in by_digest.items():
        if item.envelope.payloadType == STATEMENT_PAYLOAD_TYPE and digest not in shown:
            report.fail(
                "statement hidden",
                f"log entry {item.index} ({digest}) is a statement the hub did not show",
            )
    return chains


def check_requests(
    fetched: Fetched,
    by_digest: Mapping[str, Logged],
    history: KeyHistory,
    report: Report,
    *,
    workers: int | None = None,
) -> None:
    """Step 4: every chain, on every core; every statement in the log and vice versa."""
    chains = _chains(fetched, by_digest, report)
    events = [e.entry.entry for e in _key_events(by_digest)]
    count = workers or os.cpu_count() or 1
    results: Iterable[_Outcome]
    if count > 1 and len(chains) > 1:
        chunk = max(1, len(chains) // (count * 4))
        batches = [chains[i : i + chunk] for i in range(0, len(chains), chunk)]
        with ProcessPoolExecutor(
            count, initializer=_init_worker, initargs=(events, fetched.server_key.raw)
        ) as pool:
            results = [r for done in pool.map(_verify_batch, batches) for r in done]
    else:
        results = [_verify_one(chain, history) for chain in chains]
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
