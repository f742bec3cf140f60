"""C2SP tlog-cosignature v1 (Ed25519): a witness's timestamped signature on a checkpoint.

Spec: https://c2sp.org/tlog-cosignature. A cosignature is an ordinary signed-note signature
line, so it rides in the checkpoint's note beside the log's own signature (crypto/note.py
parses both; a verifier ignores lines from keys it does not know). Quoted rules below are
from tlog-cosignature unless marked otherwise.

    — <witness name> base64(key ID (4) || timestamp (8, big-endian) || Ed25519 signature (64))

The signature is over `cosignature/v1\\ntime <timestamp>\\n` followed by the checkpoint's
note text. Witness keys are verifier keys of signature type 0x04; a key file holds the
golang.org/x/mod/sumdb/note private key string `PRIVATE+KEY+<name>+<hex id>+<base64(0x04 ||
seed)>`, which other witness implementations (transparency-dev/formats) also read.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from .errors import CosignatureError, CryptoError, NoteError
from .keys import SigningKey, VerifyingKey
from .note import (
    check_key_name,
    check_note_text,
    format_vkey,
    key_id_for,
    parse_note,
    parse_vkey,
    signature_line,
    strict_b64decode,
)

# "The key ID for Ed25519 cosignatures MUST be computed as
#  SHA-256(<name> || "\n" || 0x04 || 32-byte Ed25519 cosigner public key)[:4]"
SIG_TYPE_COSIGNATURE_V1 = 0x04
# "The header line MUST be the fixed string `cosignature/v1`, and provides domain separation."
HEADER = "cosignature/v1"
# "`timestamp` ... MUST NOT exceed 2^63 - 1".
MAX_TIMESTAMP = (1 << 63) - 1
_TIMESTAMP_SIZE = 8
_ED25519_SIG_SIZE = 64
_SKEY_PREFIX = "PRIVATE+KEY+"


def signed_message(text: str, timestamp: int) -> bytes:
    """The bytes a cosignature signs: header line, time line, then the checkpoint's note text."""
    # "two newline (U+000A) terminated lines (one header line and one timestamp line) followed
    # by the whole note body of the cosigned checkpoint (including the final newline, but not
    # including any signature lines)."
    check_note_text(text)
    _check_timestamp(timestamp)
    # "the string `time`, a single space (0x20), and `timestamped_signature.timestamp` encoded
    # as an ASCII decimal with no leading zeroes."
    return f"{HEADER}\ntime {timestamp}\n{text}".encode()


def _check_timestamp(timestamp: int) -> None:
    if isinstance(timestamp, bool) or not isinstance(timestamp, int):
        raise CosignatureError("a cosignature timestamp is an integer")
    if not 0 <= timestamp <= MAX_TIMESTAMP:
        raise CosignatureError(f"cosignature timestamp {timestamp} is out of range")


@dataclass(frozen=True)
class Cosignature:
    """A verified cosignature: who made it, over which text, and the time it states."""

    witness: str
    key_id: int
    timestamp: int
    line: str


@dataclass(frozen=True)
class WitnessVerifier:
    """A trusted witness key: its name and Ed25519 public key (a type 0x04 verifier key)."""

    name: str
    key: VerifyingKey

    def __post_init__(self) -> None:
        check_key_name(self.name)

    @property
    def key_id(self) -> int:
        """The 32-bit key ID that prefixes this witness's cosignatures (type byte 0x04)."""
        return key_id_for(self.name, SIG_TYPE_COSIGNATURE_V1, self.key.raw)

    def vkey(self) -> str:
        """This key as a verifier key string `<name>+<hex id>+<base64(0x04 || key)>`."""
        return format_vkey(self.name, SIG_TYPE_COSIGNATURE_V1, self.key.raw)

    @classmethod
    def from_vkey(cls, vkey: str) -> WitnessVerifier:
        """Parse a witness verifier key (type 0x04), checking its key ID; NoteError otherwise."""
        # "Ed25519 public keys MAY be encoded as vkeys with signature type 0x04 and the 32-byte
        # Ed25519 cosigner public key as the public key material." A 0x01 key is refused: it
        # names a log's plain note key, not a cosigner.
        name, raw = parse_vkey(vkey, SIG_TYPE_COSIGNATURE_V1, "Ed25519 cosignature")
        return cls(name, VerifyingKey(raw))

    def verify_signature(self, text: str, blob: bytes) -> int:
        """The timestamp of `blob` (timestamp || signature, no key ID) if it signs `text`."""
        # "The signature MUST be a `timestamped_signature` structure": u64 timestamp, then the
        # 64-byte Ed25519 signature, "serialized in sequence, with the timestamp encoded in
        # big-endian order."
        if len(blob) != _TIMESTAMP_SIZE + _ED25519_SIG_SIZE:
            raise CosignatureError(f"a cosignature by {self.name} is not 72 bytes")
        timestamp = int.from_bytes(blob[:_TIMESTAMP_SIZE], "big")
        message = signed_message(text, timestamp)
        try:
            self.key.verify(blob[_TIMESTAMP_SIZE:], message)
        except CryptoError as exc:
            raise CosignatureError(
                f"cosignature by {self.name}+{self.key_id:08x} does not verify"
            ) from exc
        return timestamp

    def verify(self, note: str, *, not_after: int | None = None) -> Cosignature:
        """This witness's cosignature in the signed `note`; CosignatureError if none verifies.

        `not_after` (unix seconds) refuses a cosignature stamped later, e.g. now plus a skew.
        """
        try:
            text, signatures = parse_note(note)
        except NoteError as exc:
            raise CosignatureError(f"not a signed note: {exc}") from exc
        found: Cosignature | None = None
        for sig in signatures:
            # signed-note: "Verifiers MUST ignore signatures from unknown keys, even if they
            # share a name or ID (but not both) with a known key." The log's own line is one.
            if sig.name != self.name or sig.key_id != self.key_id:
                continue
            # "If the key name and ID match a known key, verifiers MUST verify the signature."
            timestamp = self.verify_signature(text, sig.signature)
            # "verifiers MAY reject cosignatures with timestamps in the future."
            if not_after is not None and timestamp > not_after:
                raise CosignatureError(
                    f"cosignature by {self.name} is dated {timestamp}, in the future"
                )
            if found is None or timestamp > found.timestamp:
                line = signature_line(sig.name, sig.key_id, sig.signature)
                found = Cosignature(self.name, self.key_id, timestamp, line)
        if found is None:
            raise CosignatureError(f"no cosignature by witness {self.name}+{self.key_id:08x}")
        return found


class Cosigner:
    """A witness's signing key under its name: makes cosignature lines."""

    def __init__(self, name: str, private: Ed25519PrivateKey) -> None:
        check_key_name(name)
        self.name = name
        self._private = private
        self._key = SigningKey(private)
        self.verifier = WitnessVerifier(name, self._key.public)

    @classmethod
    def generate(cls, name: str) -> Cosigner:
        """A fresh random witness key under `name`."""
        return cls(name, Ed25519PrivateKey.generate())

    @property
    def key_id(self) -> int:
        """The key ID of this witness's cosignatures."""
        return self.verifier.key_id

    def verifier_key(self) -> str:
        """The public verifier key string (type 0x04) that auditors pin."""
        return self.verifier.vkey()

    def cosign(self, text: str, timestamp: int) -> str:
        """The signature line cosigning the checkpoint note `text` at `timestamp` (unix s)."""
        signature = self._key.sign(signed_message(text, timestamp))
        blob = timestamp.to_bytes(_TIMESTAMP_SIZE, "big") + signature
        return signature_line(self.name, self.key_id, blob)

    def to_skey(self) -> str:
        """The private key string `PRIVATE+KEY+<name>+<hex id>+<base64(0x04 || seed)>`."""
        seed = self._private.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
        key64 = base64.b64encode(bytes([SIG_TYPE_COSIGNATURE_V1]) + seed).decode("ascii")
        return f"{_SKEY_PREFIX}{self.name}+{self.key_id:08x}+{key64}"

    @classmethod
    def from_skey(cls, skey: str) -> Cosigner:
        """Parse a private key string made by to_skey (or by a Go note tool, type 0x04)."""
        if not skey.startswith(_SKEY_PREFIX):
            raise CosignatureError("a witness key starts with PRIVATE+KEY+")
        parts = skey[len(_SKEY_PREFIX) :].split("+", 2)
        if len(parts) != 3:
            raise CosignatureError("a witness key is PRIVATE+KEY+<name>+<key id>+<key>")
        name, key_id, key64 = parts
        blob = strict_b64decode(key64, "witness key")
        if len(blob) != 33 or blob[0] != SIG_TYPE_COSIGNATURE_V1:
            raise CosignatureError("a witness key is type 0x04 and a 32-byte Ed25519 seed")
        cosigner = cls(name, Ed25519PrivateKey.from_private_bytes(blob[1:]))
        if key_id != f"{cosigner.key_id:08x}":
            raise CosignatureError(f"witness key id {key_id} does not match its name and key")
        return cosigner
