"""Steps 1-3 of an audit on data already fetched: what an audit looks at, every log entry
recomputed into the checkpoint's root, and the key history from the log's key events.

audit.verify runs them (after its fast path gave up) with step 4 and names what fails.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from hashlib import sha256

import msgspec

from ..crypto import dsse, merkle
from ..crypto.errors import CryptoError, EncodingError
from ..crypto.keyevents import KEY_EVENT_PAYLOAD_TYPE
from ..crypto.keyhistory import KeyHistory
from ..crypto.keys import VerifyingKey
from ..crypto.log_entry import digest_of, entry_of
from ..crypto.note import Checkpoint
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


def canonical_envelope(item: Entry) -> dsse.Envelope:
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
            envelope = canonical_envelope(item)
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
    report_recoveries(history, report)
    for agency_id, key_ids in sorted(fetched.directory.items()):
        for key_id in sorted(key_ids - logged_keys(history, agency_id)):
            report.fail(
                "key without key event",
                f"the directory lists key {key_id} for {agency_id}, but no signed key event "
                "in the log adds it",
            )
    return history


def report_recoveries(history: KeyHistory, report: Report) -> None:
    """Each recovery key the operator added, as a line of the report."""
    for recorded in history.recoveries():
        ev = recorded.event
        report.recoveries.append(
            f"{ev.agency}: recovery key {ev.key_id} added by the operator at "
            f"{ev.issued_at.isoformat()}, usable from "
            f"{(ev.usable_from or ev.issued_at).isoformat()}"
        )


def logged_keys(history: KeyHistory, agency_id: str) -> set[str]:
    """The key ids a signed key event gave the agency."""
    return {k.key_id for k in history.keys_of(agency_id)}
