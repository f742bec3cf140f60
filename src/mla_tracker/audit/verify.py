"""The checks of an audit, on data already fetched: no network, nothing trusted.

1. The checkpoint is a note signed by the log's key, naming a size and a root.
2. Every entry's leaf hash is recomputed, and the root of all of them equals the checkpoint's
   (so every entry is included, and none is missing or reordered).
3. The key history is rebuilt from the key-event entries (every signature checked); every
   key the hub's directory lists must come from a key event.
4. Every request's chain verifies against that history (signatures by keys valid then,
   links, bodies held, transitions), on every core; every statement is a log entry, and
   every statement entry in the log belongs to a request the hub showed.

An honest hub is the usual case, so `audit` first takes a fast path that can only conclude
"everything holds" (or name failed chains): it matches each statement the hub showed to its
log entry by the exact bytes, lets the workers check what only they decode (canonical
spelling, the digest the hub claims) while the parent recomputes the leaves and the root,
and gives up at the first anomaly. The precise checks above then run from scratch and name
every finding; the fast path never decides that something fails.
"""

from __future__ import annotations

import functools
import gc
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from hashlib import sha256

import msgspec

from .. import protocol
from ..crypto import dsse, merkle, wire
from ..crypto.errors import CryptoError, EncodingError
from ..crypto.keyevents import KEY_EVENT_PAYLOAD_TYPE
from ..crypto.keyhistory import KeyHistory
from ..crypto.keys import VerifyingKey
from ..crypto.log_entry import digest_of, entry_of
from ..crypto.note import Checkpoint
from ..crypto.statement import PAYLOAD_TYPE as STATEMENT_PAYLOAD_TYPE
from ..crypto.statement import digest
from ..domain.errors import DomainError
from .checkpoints import open_checkpoint
from .pool import Sharing
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
    """RFC 6962 MTH of a list of leaf hashes, computed level by level."""
    level = list(leaves)
    if not level:
        return merkle.EMPTY_ROOT
    while len(level) > 1:
        # Pairs from the left; an odd node out moves up unchanged, which is exactly the
        # RFC's split at the largest power of two below n. One call per node, no stack.
        up = [
            sha256(b"\x01" + left + right).digest()
            for left, right in zip(level[::2], level[1::2], strict=False)
        ]
        if len(level) % 2:
            up.append(level[-1])
        level = up
    return level[0]


def _canonical_envelope(item: Entry) -> dsse.Envelope:
    """The entry's envelope, if its bytes are exactly the canonical encoding (crypto.log_entry).

    Re-encoding and comparing is the strict check here: canonical JSON has no duplicate
    keys, no spaces and one member order, and it is much cheaper than a checked parse.
    """
    try:
        envelope = msgspec.json.decode(item.entry, type=dsse.Envelope)
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:  # the latter: msgspec 0.19
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
    _report_recoveries(history, report)
    for agency_id, key_ids in sorted(fetched.directory.items()):
        for key_id in sorted(key_ids - _logged_keys(history, agency_id)):
            report.fail(
                "key without key event",
                f"the directory lists key {key_id} for {agency_id}, but no signed key event "
                "in the log adds it",
            )
    return history


def _report_recoveries(history: KeyHistory, report: Report) -> None:
    for recorded in history.recoveries():
        ev = recorded.event
        report.recoveries.append(
            f"{ev.agency}: recovery key {ev.key_id} added by the operator at "
            f"{ev.issued_at.isoformat()}, usable from "
            f"{(ev.usable_from or ev.issued_at).isoformat()}"
        )


def _logged_keys(history: KeyHistory, agency_id: str) -> set[str]:
    return {k.key_id for k in history.keys_of(agency_id)}


_Failure = tuple[str, str, int | None]
#: Requests as a worker receives them, packed so that a task pickles as a few objects,
#: not several per statement: (request id, number of statements) per request, the entry
#: bytes the hub showed for every statement joined, where each ends, the digests the hub
#: claims (64 characters each) joined, and each body as served (base64) or None.
_Batch = tuple[list[tuple[str, int]], bytes, list[int], str, list[object]]
#: Per request: its id, its number of statements, what failed (title, detail, seq), and
#: whether every statement is a canonical entry encoding with the digest the hub claims.
_Outcome = tuple[str, int, list[_Failure], bool]

#: Statements per batch: the unit of work shared with the workers (a few per message, one
#: at a time near the end, see audit.pool), small enough that the last takes no time.
_BATCH = 100


def _seq_of(exc: BaseException) -> int | None:
    return next(
        (
            int(n.removeprefix("statement seq "))
            for n in getattr(exc, "__notes__", [])
            if n.startswith("statement seq ")
        ),
        None,
    )


def _verify_one(
    request_id: str,
    served: list[bytes],
    claimed: str,
    bodies: list[object],
    history: KeyHistory,
) -> _Outcome:
    failures: list[_Failure] = []
    envelopes: list[dsse.DecodedEnvelope] | None = None
    digests: list[str] | None = None
    try:
        held = [_held(body, seq) for seq, body in enumerate(bodies, start=1)]
        try:
            envelopes = [dsse.decode_canonical(e) for e in served]
            shown: Sequence[dsse.AnyEnvelope] = envelopes
        except EncodingError:
            # Not the canonical spelling, so not its log entry's either (the precise checks
            # say so); verify what the hub showed all the same. The served bytes are
            # msgspec's encoding of JSON already parsed (no duplicate key survives that), so
            # the plain typed decode is enough; base64 is decoded strictly when verified.
            shown = [msgspec.json.decode(e, type=dsse.Envelope) for e in served]
        verified = protocol.verify_request(shown, history, held)
        digests = list(verified.digests)
        if str(verified.request_id) != request_id:
            # Else the hub could show one request's history under another's id too.
            failures.append(
                ("wrong request", f"its statements belong to request {verified.request_id}", 1)
            )
    except (CryptoError, DomainError, msgspec.DecodeError) as exc:
        failures.append((getattr(exc, "title", "statement"), str(exc), _seq_of(exc)))
    # What the precise path checks of the log entry with these bytes, beyond the chain:
    # its canonical encoding (step 2), and that the digest the hub claims names it.
    if envelopes is None:
        logged = False
    elif digests is None:  # the chain failed before giving every digest
        logged = "".join(digest(e.payload) for e in envelopes) == claimed
    else:
        logged = "".join(digests) == claimed
    return request_id, len(served), failures, logged


def _held(body: object, seq: int) -> bytes | None:
    if not isinstance(body, str):
        return None
    try:
        return wire.b64decode(body, "body")
    except EncodingError as exc:
        exc.add_note(f"statement seq {seq}")
        raise


def _verify_batch(batch: _Batch, history: KeyHistory) -> list[_Outcome]:
    """Unpack a batch and verify each of its requests."""
    requests, served, ends, claimed, bodies = batch
    outcomes: list[_Outcome] = []
    first = 0
    for request_id, count in requests:
        last = first + count
        outcomes.append(
            _verify_one(
                request_id,
                [served[ends[i - 1] if i else 0 : ends[i]] for i in range(first, last)],
                claimed[first * 64 : last * 64],
                bodies[first:last],
                history,
            )
        )
        first = last
    return outcomes


def _worker(events: list[bytes], server_key: bytes) -> Callable[[_Batch], list[_Outcome]]:
    """What a worker process runs: _verify_batch against the history of `events`."""
    envelopes = [wire.decode(e, dsse.Envelope, "key event") for e in events]
    history = KeyHistory.from_events(envelopes, VerifyingKey(server_key))
    return functools.partial(_verify_batch, history=history)


def _batches(
    shown: Iterable[tuple[str, list[Mapping[str, object]]]],
    match: Callable[[bytes, str], None] = lambda _served, _claimed: None,
) -> Iterator[_Batch]:
    """The requests as shown, packed in batches of about _BATCH statements; `match` sees
    each statement's bytes and claimed digest on the way."""
    requests: list[tuple[str, int]] = []
    served: list[bytes] = []
    ends: list[int] = []
    claims: list[str] = []
    bodies: list[object] = []
    end = 0
    for request_id, rows in shown:
        for row in rows:
            data = msgspec.json.encode(row["envelope"])
            claimed = str(row.get("digest", ""))
            match(data, claimed)
            served.append(data)
            end += len(data)
            ends.append(end)
            # A claim of another length cannot be a digest; any 64 characters keep the
            # packing aligned and fail the comparison all the same.
            claims.append(claimed if len(claimed) == 64 else "?" * 64)
            bodies.append(row.get("body"))
        requests.append((request_id, len(rows)))
        if len(served) >= _BATCH:
            yield requests, b"".join(served), ends, "".join(claims), bodies
            requests, served, ends, claims, bodies, end = [], [], [], [], [], 0
    if requests:
        yield requests, b"".join(served), ends, "".join(claims), bodies


def _verify_chains(
    batches: Iterable[_Batch],
    history: KeyHistory,
    server_key: VerifyingKey,
    workers: int,
    statements: int,
    meanwhile: Callable[[], None] = lambda: None,
) -> list[_Outcome]:
    """Every chain on `workers` processes, this one included, running `meanwhile` here
    first; in this process alone for one worker."""
    if workers <= 1:
        outcomes = [o for batch in batches for o in _verify_batch(batch, history)]
        meanwhile()
        return outcomes
    # The other workers rebuild the history from the events it accepted, so they judge every
    # statement exactly as this process would.
    events = [entry_of(recorded.envelope) for recorded in history.events()]
    sharing: Sharing[_Batch, list[_Outcome]] = Sharing(
        workers - 1, _worker, (events, server_key.raw), fresh=statements >= FRESH_FROM
    )
    try:
        sharing.add(batches)
        meanwhile()
        # Then this process works too, from the last batch back: no pickling for those.
        while (index := sharing.take_back()) is not None:
            sharing.results[index] = _verify_batch(sharing.tasks[index], history)
        return [outcome for outcomes in sharing.wait() for outcome in outcomes]
    finally:
        sharing.stop()


#: From this many statements on, the workers start as fresh interpreters rather than as
#: forks of this process (see audit.pool): a fork shares this process's memory, so every
#: page this process then writes, if only a reference count of the hub's objects as it
#: reads them, is copied first. Measured on the dev machine (2 vCPU) per 100,000 statements:
#: 0.8-1.2 s of CPU copying pages (117,000 faults), against 0.2 s to start an interpreter
#: and import this package, which it does while this process reads the log.
FRESH_FROM = 20_000


def _match(fetched: Fetched, by_digest: Mapping[str, Logged], report: Report) -> None:
    """Match every statement the hub showed with its log entry, and the log's with the hub's."""
    shown: set[str] = set()
    for request_id, rows in sorted(fetched.requests.items()):
        for row in rows:
            claimed = str(row.get("digest", ""))
            logged = by_digest.get(claimed)
            if logged is None:
                report.fail("statement not in the log", claimed, request_id, _seq(row))
            elif logged.entry.entry != msgspec.json.encode(row["envelope"]):
                report.fail("statement differs from its log entry", claimed, request_id, _seq(row))
            else:
                shown.add(claimed)
    for digest_, item in by_digest.items():
        if item.envelope.payloadType == STATEMENT_PAYLOAD_TYPE and digest_ not in shown:
            report.fail(
                "statement hidden",
                f"log entry {item.index} ({digest_}) is a statement the hub did not show",
            )


def _statements(fetched: Fetched) -> int:
    return sum(len(rows) for rows in fetched.requests.values())


def _workers(fetched: Fetched, workers: int | None) -> int:
    count = workers or os.cpu_count() or 1
    return count if len(fetched.requests) > 1 else 1


def check_requests(
    fetched: Fetched,
    by_digest: Mapping[str, Logged],
    history: KeyHistory,
    report: Report,
    *,
    workers: int | None = None,
) -> None:
    """Step 4: every chain, on every core; every statement in the log and vice versa."""
    _match(fetched, by_digest, report)
    # Verify what the hub showed whether or not it matched, so a broken chain is named too.
    outcomes = _verify_chains(
        _batches(sorted(fetched.requests.items())),
        history,
        fetched.server_key,
        _workers(fetched, workers),
        _statements(fetched),
    )
    for request_id, statements, failures, _logged in outcomes:
        report.requests += 1
        report.statements += statements
        for title, detail, seq in failures:
            report.fail(title, detail, request_id, seq)


def _seq(row: Mapping[str, object]) -> int | None:
    seq = row.get("seq")
    return seq if isinstance(seq, int) else None


#: How a canonical entry starts, by kind: `{"payloadType":"<type>",` (crypto.log_entry).
_STATEMENT_PREFIX = b'{"payloadType":' + msgspec.json.encode(STATEMENT_PAYLOAD_TYPE) + b","
_KEY_EVENT_PREFIX = b'{"payloadType":' + msgspec.json.encode(KEY_EVENT_PAYLOAD_TYPE) + b","


class _Anomaly(Exception):
    """Something the fast path does not vouch for; the precise checks will name it."""


def _fast(fetched: Fetched, checkpoint: Checkpoint, workers: int | None) -> Report:
    """Steps 2-4 for a log that holds together; raises _Anomaly at anything unexpected.

    Why its "everything holds" is the precise checks' answer: every entry is found
    canonical (here, or by a worker for each statement it decodes), so the precise path's
    `by_digest` would hold every entry and its key events are exactly the entries starting
    with the key-event prefix, in the same order. Every digest is distinct (the claimed
    ones, which the workers confirm, and the others computed here), so each claimed digest
    names exactly the entry whose bytes the statement has; every statement entry is shown
    exactly once, so none is hidden. The chains are verified by the same function.
    """
    entries = fetched.entries
    statements: dict[bytes, int] = {}
    key_events: list[Entry] = []
    others: list[Entry] = []
    for position, item in enumerate(entries):
        if item.index != position:
            raise _Anomaly
        if item.entry.startswith(_STATEMENT_PREFIX):
            if statements.setdefault(item.entry, position) != position:
                raise _Anomaly  # the same statement entry twice
        elif item.entry.startswith(_KEY_EVENT_PREFIX):
            key_events.append(item)
        else:
            others.append(item)
    digests: set[str] = set()
    history = KeyHistory(fetched.server_key)
    for item in key_events:
        envelope = _canonical(item)
        try:
            history.append(envelope)
        except CryptoError as exc:
            raise _Anomaly from exc
        digests.add(digest_of(envelope))
    for item in others:
        digests.add(digest_of(_canonical(item)))
    for agency_id, key_ids in fetched.directory.items():
        if not key_ids <= _logged_keys(history, agency_id):
            raise _Anomaly

    seen = bytearray(len(entries))
    others_digests = len(digests)

    def match(served: bytes, claimed: str) -> None:
        position = statements.get(served)
        if position is None or seen[position]:
            raise _Anomaly  # not in the log, or shown twice
        seen[position] = 1
        digests.add(claimed)

    def meanwhile() -> None:
        # Runs while the workers verify the chains.
        leaves = [sha256(b"\x00" + item.entry).digest() for item in entries]
        if any(leaf != item.leaf_hash for leaf, item in zip(leaves, entries, strict=True)):
            raise _Anomaly
        if len(leaves) != checkpoint.size or root_of(leaves) != checkpoint.root_hash:
            raise _Anomaly
        if seen.count(1) != len(statements):
            raise _Anomaly  # a statement entry the hub did not show
        if len(digests) != others_digests + len(statements):
            raise _Anomaly  # two claimed digests alike, or one naming another entry

    outcomes = _verify_chains(
        _batches(sorted(fetched.requests.items()), match),
        history,
        fetched.server_key,
        _workers(fetched, workers),
        len(statements),
        meanwhile,
    )
    report = Report(checkpoint_size=checkpoint.size, entries=len(entries))
    report.key_events = len(key_events)
    _report_recoveries(history, report)
    for request_id, count, failures, logged in outcomes:
        if not logged:
            raise _Anomaly
        report.requests += 1
        report.statements += count
        for title, detail, seq in failures:
            report.fail(title, detail, request_id, seq)
    return report


def _canonical(item: Entry) -> dsse.Envelope:
    try:
        return _canonical_envelope(item)
    except CryptoError as exc:
        raise _Anomaly from exc


def audit(fetched: Fetched, *, workers: int | None = None) -> tuple[Report, Checkpoint | None]:
    """Every check of an audit; the checkpoint is returned only when it verified."""
    report = Report()
    try:
        checkpoint = open_checkpoint(fetched.log_note, fetched.verifier_key)
    except CryptoError as exc:
        report.fail("checkpoint", str(exc))
        return report, None
    # The hub's data is hundreds of thousands of objects that outlive the audit: a full
    # collection would walk them all (a third of a second per 100,000 statements) and, in a
    # forked worker, copy every page it touches. Frozen, collections see only new objects.
    gc.freeze()
    try:
        try:
            return _fast(fetched, checkpoint, workers), checkpoint
        except _Anomaly:
            pass  # the precise checks below name what does not hold
        by_digest = check_log(fetched, checkpoint, report)
        history = key_history(fetched, by_digest, report)
        check_requests(fetched, by_digest, history, report, workers=workers)
        return report, checkpoint
    finally:
        gc.unfreeze()
