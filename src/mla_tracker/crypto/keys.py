"""Ed25519 signing keys and their key ids (hex SHA-256 of the raw public key)."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from functools import cached_property, lru_cache

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from .errors import KeyFormatError, SignatureError


def key_id_of(public_raw: bytes) -> str:
    """The key id of a raw 32-byte Ed25519 public key."""
    return hashlib.sha256(public_raw).hexdigest()


@lru_cache(maxsize=4096)
def _public_key(raw: bytes) -> Ed25519PublicKey:
    # Loading decompresses the curve point, a few microseconds that an auditor checking
    # thousands of statements by a handful of keys would otherwise pay on every signature.
    return Ed25519PublicKey.from_public_bytes(raw)


@dataclass(frozen=True)
class VerifyingKey:
    """An Ed25519 public key with its key id."""

    raw: bytes

    def __post_init__(self) -> None:
        if len(self.raw) != 32:
            raise KeyFormatError(f"an Ed25519 public key is 32 bytes, got {len(self.raw)}")

    @cached_property
    def key_id(self) -> str:
        """Hex SHA-256 of the raw public key."""
        return key_id_of(self.raw)

    def to_base64(self) -> str:
        """Standard base64 of the raw 32 bytes."""
        return base64.b64encode(self.raw).decode()

    @classmethod
    def from_base64(cls, text: str) -> VerifyingKey:
        """Parse standard base64 of the raw 32 bytes."""
        try:
            raw = base64.b64decode(text.strip(), validate=True)
        except ValueError as exc:
            raise KeyFormatError("public key is not valid base64") from exc
        return cls(raw)

    def verify(self, signature: bytes, message: bytes) -> None:
        """Raise SignatureError unless signature is this key's over message."""
        try:
            _public_key(self.raw).verify(signature, message)
        except InvalidSignature as exc:
            raise SignatureError(f"signature does not verify with key {self.key_id}") from exc


class SigningKey:
    """An agency's Ed25519 private key; never leaves the agency's machine."""

    def __init__(self, private: Ed25519PrivateKey) -> None:
        self._private = private
        raw = private.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        self.public = VerifyingKey(raw)

    @classmethod
    def generate(cls) -> SigningKey:
        """A fresh random key."""
        return cls(Ed25519PrivateKey.generate())

    @property
    def key_id(self) -> str:
        """The key id of the public half."""
        return self.public.key_id

    def sign(self, message: bytes) -> bytes:
        """Ed25519 signature over message."""
        return self._private.sign(message)

    def to_pem(self) -> bytes:
        """PKCS#8 PEM, unencrypted (the file holding it must be mode 0600)."""
        return self._private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    @classmethod
    def from_pem(cls, data: bytes) -> SigningKey:
        """Load a PKCS#8 PEM Ed25519 private key."""
        try:
            key = serialization.load_pem_private_key(data, password=None)
        except (ValueError, TypeError) as exc:
            raise KeyFormatError(f"not a PEM private key: {exc}") from exc
        if not isinstance(key, Ed25519PrivateKey):
            raise KeyFormatError("the PEM key is not an Ed25519 key")
        return cls(key)
