"""The checkpoint an audit rests on: the log's signature, and the witnesses' cosignatures.

A checkpoint signed by the log's key proves what the hub claims; a cosignature by a witness
(C2SP tlog-cosignature) proves that the witness saw the same tree and that it extends every
tree the witness cosigned before. An auditor that requires witnesses (`--witness`) therefore
knows it is shown the history everyone else is shown, not a view made for it alone.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from ..crypto.cosignature import WitnessVerifier
from ..crypto.errors import CryptoError
from ..crypto.note import Checkpoint, NoteVerifier, open_note
from .report import Report


def open_checkpoint(note: str, verifier_key: str) -> Checkpoint:
    """The checkpoint a note carries, if the log's key signed it; raises NoteError."""
    # open_note skips the witnesses' lines: "Verifiers MUST ignore signatures from unknown keys".
    return Checkpoint.parse(open_note(note, NoteVerifier.from_vkey(verifier_key)))


def check_witnesses(
    note: str, checkpoint: Checkpoint, witness_keys: Iterable[str], report: Report
) -> None:
    """Require a valid cosignature by each witness key on the note; name each one missing."""
    for vkey in witness_keys:
        try:
            witness = WitnessVerifier.from_vkey(vkey)
        except CryptoError as exc:
            report.fail("witness", f"{vkey!r} is not a witness verifier key: {exc}")
            continue
        try:
            cosigned = witness.verify(note)
        except CryptoError as exc:
            report.fail(
                "witness",
                f"{witness.name}: {exc} (checkpoint of size {checkpoint.size})",
            )
            continue
        when = datetime.fromtimestamp(cosigned.timestamp, UTC).isoformat().replace("+00:00", "Z")
        report.witnesses.append(f"{witness.name} cosigned tree size {checkpoint.size} at {when}")
