"""The witness's checks: every rule of tlog-witness `add-checkpoint`, with no HTTP in sight.

`Witness.add_checkpoint(body)` answers a status, a content type and a body, in the order the
spec lists its checks (https://c2sp.org/tlog-witness, quoted below). The state is persisted
before the cosignature is made, and the check and the update run under one lock, so two
requests can never roll the state back (the race the spec describes).
"""

from __future__ import annotations

import base64
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from ..crypto import merkle
from ..crypto.cosignature import Cosigner
from ..crypto.errors import CryptoError, NoteError
from ..crypto.note import Checkpoint, NoteVerifier, open_note, parse_note
from . import state as stored
from .protocol import SIZE_CONTENT_TYPE, WitnessRequestError, parse_add_checkpoint

log = logging.getLogger("mla_tracker.witness")

TEXT = "text/plain; charset=utf-8"


@dataclass(frozen=True)
class Answer:
    """What the HTTP layer sends back."""

    status: int
    body: str
    content_type: str = TEXT


def _refuse(status: int, why: str) -> Answer:
    return Answer(status, why.rstrip("\n") + "\n")


class Witness:
    """Cosigns checkpoints of the logs it trusts, never two inconsistent ones, never smaller."""

    def __init__(
        self,
        cosigner: Cosigner,
        logs: Iterable[NoteVerifier],
        state_file: Path,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.cosigner = cosigner
        # "Each witness is configured with a list of supported log public keys"; a log is
        # "uniquely identified by its origin line", which is its note key's name.
        self.logs: dict[str, list[NoteVerifier]] = {}
        for verifier in logs:
            self.logs.setdefault(verifier.name, []).append(verifier)
        self.state_file = state_file
        self.clock = clock
        self._lock = threading.Lock()
        self._state = stored.load(state_file)

    def latest(self, origin: str) -> tuple[int, bytes] | None:
        """The size and root hash of the latest checkpoint cosigned for `origin`, if any."""
        seen = self._state.logs.get(origin)
        if seen is None:
            return None
        return seen.size, base64.b64decode(seen.root_hash)

    def add_checkpoint(self, body: bytes) -> Answer:
        """Check one add-checkpoint request and cosign it, or refuse it with the spec's status."""
        try:
            request = parse_add_checkpoint(body)
            text, _ = parse_note(request.note)
            checkpoint = Checkpoint.parse(text)
        except (WitnessRequestError, NoteError) as exc:
            return _refuse(400, str(exc))
        verifiers = self.logs.get(checkpoint.origin)
        # "If the checkpoint origin is unknown, the witness MUST respond with a "404 Not Found"".
        if not verifiers:
            return _refuse(404, f"unknown log origin {checkpoint.origin!r}")
        # "The witness MUST verify the checkpoint signature against the public key(s) it trusts
        # for the checkpoint origin, and it MUST ignore signatures from unknown keys" (open_note
        # skips them). "If none of the signatures verify against a trusted public key, the
        # witness MUST respond with a "403 Forbidden" HTTP status code."
        if not any(_signed_by(request.note, v) for v in verifiers):
            return _refuse(403, f"no valid signature by a key trusted for {checkpoint.origin}")
        # "The old size MUST be equal to or lower than the checkpoint size. Otherwise, the
        # witness MUST respond with a "400 Bad Request" HTTP status code."
        if request.old_size > checkpoint.size:
            return _refuse(400, f"old size {request.old_size} > checkpoint size {checkpoint.size}")
        with self._lock:  # the check and the update, atomically
            return self._check_and_cosign(request.old_size, request.proof, text, checkpoint)

    def _check_and_cosign(
        self, old_size: int, proof: tuple[bytes, ...], text: str, checkpoint: Checkpoint
    ) -> Answer:
        latest = self.latest(checkpoint.origin)
        cosigned = 0 if latest is None else latest[0]
        # "The witness MUST check that the old size matches the size of the latest checkpoint
        # it cosigned for the checkpoint's origin (or zero if it never cosigned a checkpoint for
        # that origin). If it doesn't match, the witness MUST respond with a "409 Conflict" ...
        # The response body MUST consist of the tree size of the latest cosigned checkpoint in
        # decimal, followed by a newline" with Content-Type text/x.tlog.size.
        if old_size != cosigned:
            return Answer(409, f"{cosigned}\n", SIZE_CONTENT_TYPE)
        # "The proof MUST be empty if the old size is zero."
        if old_size == 0 and proof:
            return _refuse(422, "a consistency proof from size 0 must be empty")
        if latest is not None:
            old_root = latest[1]
            # "If the old size matches the checkpoint size, the witness MUST check that the root
            # hashes are also identical. If they don't match, the witness MUST respond with a
            # "409 Conflict" HTTP status code." That is a fork: log it as evidence.
            if old_size == checkpoint.size and old_root != checkpoint.root_hash:
                log.warning("fork: %s signed another root for size %d", checkpoint.origin, old_size)
                return Answer(409, f"{cosigned}\n", SIZE_CONTENT_TYPE)
            # "If the Merkle Consistency Proof doesn't verify, the witness MUST respond with a
            # "422 Unprocessable Entity"". The witness "MAY log the request ... as it might be
            # proof of log misbehavior".
            try:
                merkle.verify_consistency(
                    old_size, checkpoint.size, old_root, checkpoint.root_hash, proof
                )
            except CryptoError as exc:
                log.warning(
                    "inconsistent checkpoint from %s: size %d -> %d: %s",
                    checkpoint.origin,
                    old_size,
                    checkpoint.size,
                    exc,
                )
                return _refuse(422, f"consistency proof does not verify: {exc}")
        # "the witness MUST update its record of the latest cosigned checkpoint" and "MUST
        # persist the new checkpoint before responding".
        logs = dict(self._state.logs)
        logs[checkpoint.origin] = stored.LogState(
            checkpoint.size, base64.b64encode(checkpoint.root_hash).decode("ascii")
        )
        new_state = stored.WitnessState(logs=logs)
        stored.save(self.state_file, new_state)
        self._state = new_state
        line = self.cosigner.cosign(text, int(self.clock()))
        log.info("cosigned %s at size %d", checkpoint.origin, checkpoint.size)
        return Answer(200, line)


def _signed_by(note: str, verifier: NoteVerifier) -> bool:
    try:
        open_note(note, verifier)
    except NoteError:
        return False
    return True
