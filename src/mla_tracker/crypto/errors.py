"""Typed errors of the crypto layer. `verify()` functions raise these, never return False."""

from __future__ import annotations

from typing import Any, ClassVar

from ..errors import MlaError


class CryptoError(MlaError):
    """Base of every error raised by mla_tracker.crypto."""

    status: ClassVar[int] = 422
    problem: ClassVar[str] = "statement-rejected"
    title: ClassVar[str] = "Statement rejected"


class KeyFormatError(CryptoError):
    """A key could not be parsed."""

    problem: ClassVar[str] = "key-format"
    title: ClassVar[str] = "Malformed key"


class EnvelopeFormatError(CryptoError):
    """A DSSE envelope or its payload is malformed."""


class EncodingError(EnvelopeFormatError):
    """Bytes on the wire break the strict encoding rules (base64, UTF-8, JSON)."""

    problem: ClassVar[str] = "bad-encoding"
    title: ClassVar[str] = "Encoding refused"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field

    def extra(self) -> dict[str, Any]:
        """Name the offending field."""
        return {"field": self.field}


class SignatureError(CryptoError):
    """A signature does not verify, or was made by an unexpected key."""


class ChainError(CryptoError):
    """A request's statements do not form an unbroken hash chain."""

    problem: ClassVar[str] = "chain-broken"
    title: ClassVar[str] = "Chain broken"


class BodyMismatch(CryptoError):
    """A detached body's bytes do not hash to the statement's `body_sha256`."""

    problem: ClassVar[str] = "body-mismatch"
    title: ClassVar[str] = "Body does not match its digest"


class PackageError(CryptoError):
    """An evidence package cannot be sealed or opened for a reason outside age and BagIt."""

    problem: ClassVar[str] = "package-error"
    title: ClassVar[str] = "Package error"


class KeyNotValid(CryptoError):
    """A key is unknown, another agency's, not yet valid or usable, or revoked at that time."""

    problem: ClassVar[str] = "key-not-valid"
    title: ClassVar[str] = "Signing key not valid"


class ProofError(CryptoError):
    """A Merkle inclusion or consistency proof is malformed or does not verify."""

    problem: ClassVar[str] = "bad-proof"
    title: ClassVar[str] = "Merkle proof refused"


class NoteError(CryptoError):
    """A signed note or checkpoint is malformed, unsigned by a known key, or does not verify."""

    problem: ClassVar[str] = "bad-note"
    title: ClassVar[str] = "Signed note refused"


class CosignatureError(NoteError):
    """A witness cosignature (C2SP tlog-cosignature) is malformed, missing or does not verify."""

    problem: ClassVar[str] = "bad-cosignature"
    title: ClassVar[str] = "Cosignature refused"
