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

Steps 1-3 are in audit.log_checks, the checks of one batch of chains (what every process
runs) in audit.chains; here, step 4 packed and shared across the processes, the fast path,
and `audit`, which runs them all.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from hashlib import sha256

import msgspec

from ..crypto import dsse
from ..crypto.errors import CryptoError
from ..crypto.keyevents import KEY_EVENT_PAYLOAD_TYPE
from ..crypto.keyhistory import KeyHistory
from ..crypto.keys import VerifyingKey
from ..crypto.log_entry import digest_of, entry_of
from ..crypto.note import Checkpoint
from ..crypto.statement import PAYLOAD_TYPE as STATEMENT_PAYLOAD_TYPE
from . import chains
from .checkpoints import open_checkpoint
from .log_checks import (
    Entry,
    Fetched,
    Logged,
    canonical_envelope,
    check_log,
    key_history,
    logged_keys,
    report_recoveries,
    root_of,
)
from .pool import Sharing
from .report import Report

__all__ = [
    "FRESH_FROM",
    "Entry",
    "Fetched",
    "Logged",
    "audit",
    "check_log",
    "check_requests",
    "key_history",
    "root_of",
]

#: Statements per batch: the unit of work shared with the workers (a few per message, one
#: at a time near the end, see audit.pool), small enough that the last takes no time.
_BATCH = 100


def _batches(
    shown: Iterable[tuple[str, list[Mapping[str, object]]]],
    match: Callable[[bytes, str], None] = lambda _served, _claimed: None,
) -> Iterator[chains.Batch]:
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
    batches: Iterable[chains.Batch],
    history: KeyHistory,
    server_key: VerifyingKey,
    workers: int,
    statements: int,
    meanwhile: Callable[[], None] = lambda: None,
) -> list[chains.Outcome]:
    """Every chain on `workers` processes, this one included, running `meanwhile` here
    first; in this process alone for one worker."""
    if workers <= 1:
        outcomes = [o for batch in batches for o in chains.verify_batch(batch, history)]
        meanwhile()
        return outcomes
    # The other workers rebuild the history from the events it accepted, so they judge every
    # statement exactly as this process would.
    events = [entry_of(recorded.envelope) for recorded in history.events()]
    sharing: Sharing[chains.Batch, list[chains.Outcome]] = Sharing(
        workers - 1, chains.worker, (events, server_key.raw), fresh=statements >= FRESH_FROM
    )
    try:
        sharing.add(batches)
        meanwhile()
        # Then this process works too, from the last batch back: no pickling for those.
        while (index := sharing.take_back()) is not None:
            sharing.results[index] = chains.verify_batch(sharing.tasks[index], history)
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
        if not key_ids <= logged_keys(history, agency_id):
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
    report_recoveries(history, report)
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
        return canonical_envelope(item)
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
