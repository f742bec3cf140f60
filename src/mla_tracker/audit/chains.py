"""Step 4's unit of work: a batch of requests' chains verified against the key history.

What every process of an audit runs, the parent and its workers alike (audit.pool starts
the workers with `worker`); audit.verify packs the batches and shares them out. Kept apart
so that a fresh worker interpreter imports only what it runs.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

import msgspec

from .. import protocol
from ..crypto import dsse, wire
from ..crypto.errors import CryptoError, EncodingError
from ..crypto.keyhistory import KeyHistory
from ..crypto.keys import VerifyingKey
from ..crypto.statement import digest
from ..domain.errors import DomainError

Failure = tuple[str, str, int | None]
#: Requests as a worker receives them, packed so that a task pickles as a few objects,
#: not several per statement: (request id, number of statements) per request, the entry
#: bytes the hub showed for every statement joined, where each ends, the digests the hub
#: claims (64 characters each) joined, and each body as served (base64) or None.
Batch = tuple[list[tuple[str, int]], bytes, list[int], str, list[object]]
#: Per request: its id, its number of statements, what failed (title, detail, seq), and
#: whether every statement is a canonical entry encoding with the digest the hub claims.
Outcome = tuple[str, int, list[Failure], bool]


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
) -> Outcome:
    failures: list[Failure] = []
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


def verify_batch(batch: Batch, history: KeyHistory) -> list[Outcome]:
    """Unpack a batch and verify each of its requests."""
    requests, served, ends, claimed, bodies = batch
    outcomes: list[Outcome] = []
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


def worker(events: list[bytes], server_key: bytes) -> Callable[[Batch], list[Outcome]]:
    """What a worker process runs: verify_batch against the history of `events`."""
    envelopes = [wire.decode(e, dsse.Envelope, "key event") for e in events]
    history = KeyHistory.from_events(envelopes, VerifyingKey(server_key))
    return functools.partial(verify_batch, history=history)
