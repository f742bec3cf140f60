"""The tlog-witness `add-checkpoint` wire format, shared by the witness and the hub pushing to it.

Spec: https://c2sp.org/tlog-witness ("§add-checkpoint"); quoted rules are from it.

    old <size>\\n
    <base64 consistency proof hash>\\n    (zero to 63 lines)
    \\n
    <checkpoint signed note>
"""

from __future__ import annotations

import base64
import re
from collections.abc import Sequence
from dataclasses import dataclass

from ..crypto import merkle
from ..crypto.errors import CryptoError, NoteError
from ..crypto.note import strict_b64decode

#: "The response MUST have a `Content-Type` of `text/x.tlog.size`" (a 409's body).
SIZE_CONTENT_TYPE = "text/x.tlog.size"
#: "The client MUST NOT send more than 63 consistency proof lines."
MAX_PROOF_LINES = 63
#: A checkpoint with a few cosignatures and 63 proof lines is a few kilobytes.
MAX_BODY_BYTES = 64 * 1024
# "ASCII decimal with no leading zeroes (unless the size is zero, in which case the encoding
# MUST be `0`)"; 20 digits hold any uint64.
_DECIMAL = re.compile(r"0|[1-9][0-9]{0,19}")


class WitnessRequestError(CryptoError):
    """An add-checkpoint request or response body is malformed."""

    status = 400
    problem = "bad-witness-request"
    title = "Malformed add-checkpoint"


@dataclass(frozen=True)
class AddCheckpoint:
    """One add-checkpoint request: the size the client believes was cosigned, proof, note."""

    old_size: int
    proof: tuple[bytes, ...]
    note: str


def _size(text: str, what: str) -> int:
    if not _DECIMAL.fullmatch(text):
        raise WitnessRequestError(f"{what} {text[:24]!r} is not a canonical decimal")
    value = int(text)
    if value >= 1 << 64:
        raise WitnessRequestError(f"{what} {value} does not fit 64 bits")
    return value


def format_add_checkpoint(old_size: int, proof: Sequence[bytes], note: str) -> bytes:
    """The request body: old size line, proof lines, a blank line, then the checkpoint note."""
    if len(proof) > MAX_PROOF_LINES:
        raise WitnessRequestError(f"a consistency proof has at most {MAX_PROOF_LINES} hashes")
    lines = [f"old {old_size}\n", *(f"{merkle_b64(h)}\n" for h in proof), "\n", note]
    return "".join(lines).encode("utf-8")


def merkle_b64(value: bytes) -> str:
    """One proof hash in standard base64 (RFC 4648 §4)."""
    if len(value) != merkle.HASH_SIZE:
        raise WitnessRequestError(f"a proof hash is {merkle.HASH_SIZE} bytes")
    return base64.b64encode(value).decode("ascii")


def parse_add_checkpoint(body: bytes) -> AddCheckpoint:
    """Parse a request body strictly; WitnessRequestError (a 400) when it is malformed."""
    if len(body) > MAX_BODY_BYTES:
        raise WitnessRequestError(f"the body is larger than {MAX_BODY_BYTES} bytes")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise WitnessRequestError("the body is not UTF-8") from exc
    # "Each line MUST terminate in a newline character (U+000A)." The header ends at the
    # first empty line; the checkpoint note (which has its own blank line) follows it.
    head, sep, note = text.partition("\n\n")
    if not sep:
        raise WitnessRequestError("no empty line between the proof and the checkpoint")
    lines = head.split("\n")
    first = lines[0]
    # "The old size line MUST consist of the string `old`, a single space (0x20), and the tree
    # size of the previous checkpoint".
    if not first.startswith("old "):
        raise WitnessRequestError("the first line is not 'old <size>'")
    old_size = _size(first[4:], "old size")
    proof_lines = lines[1:]
    if len(proof_lines) > MAX_PROOF_LINES:
        raise WitnessRequestError(f"more than {MAX_PROOF_LINES} consistency proof lines")
    proof: list[bytes] = []
    for i, line in enumerate(proof_lines):
        # "Each consistency proof line MUST encode a single hash in base64."
        try:
            value = strict_b64decode(line, f"proof line {i + 1}")
        except NoteError as exc:
            raise WitnessRequestError(str(exc)) from exc
        if len(value) != merkle.HASH_SIZE:
            raise WitnessRequestError(f"proof line {i + 1} is not a {merkle.HASH_SIZE}-byte hash")
        proof.append(value)
    return AddCheckpoint(old_size, tuple(proof), note)


def parse_size_body(text: str) -> int:
    """The witness's size in a 409 body: "the tree size ... in decimal, followed by a newline"."""
    if not text.endswith("\n"):
        raise WitnessRequestError("a size body ends with a newline")
    return _size(text[:-1], "witness size")


def cosignature_lines(text: str) -> list[str]:
    """The signature lines of a 200 body, each with its final newline."""
    # "The response body MUST be a sequence of one or more note signature lines, each starting
    # with the `—` character (U+2014) and ending with a newline character (U+000A)."
    if not text.endswith("\n"):
        raise WitnessRequestError("a cosignature response ends with a newline")
    lines = [line + "\n" for line in text[:-1].split("\n")]
    if not lines or any(not line.startswith("\u2014 ") for line in lines):
        raise WitnessRequestError("a cosignature response is signature lines only")
    return lines
