"""The native X25519 recipient type (c2sp.org/age, "The X25519 recipient type")."""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from ._format import Stanza, b64decode, b64encode, hkdf_sha256
from ._keys import X25519_IDENTITY_HRP, X25519_RECIPIENT_HRP, bech32_encode, decode_key
from .errors import HeaderError

STANZA_TYPE = "X25519"
_INFO = b"age-encryption.org/v1/X25519"
_ZERO_NONCE = bytes(12)
FILE_KEY_SIZE = 16


def x25519(scalar: bytes, point: bytes) -> bytes:
    """RFC 7748 X25519; raises HeaderError if the result is the all-zero value."""
    try:
        shared = X25519PrivateKey.from_private_bytes(scalar).exchange(
            X25519PublicKey.from_public_bytes(point)
        )
    except ValueError:
        # OpenSSL refuses all-zero shared secrets (low-order / identity points).
        raise HeaderError("X25519 shared secret is all zero (low-order point)") from None
    if shared == bytes(32):
        raise HeaderError("X25519 shared secret is all zero (low-order point)")
    return shared


def public_of(scalar: bytes) -> bytes:
    """X25519(scalar, basepoint)."""
    return X25519PrivateKey.from_private_bytes(scalar).public_key().public_bytes_raw()


class X25519Recipient:
    """An age X25519 recipient ("age1…")."""

    __slots__ = ("_public",)

    def __init__(self, public: bytes) -> None:
        if len(public) != 32:
            raise ValueError("X25519 public key must be 32 bytes")
        self._public = bytes(public)

    @classmethod
    def from_string(cls, s: str) -> X25519Recipient:
        """Parse an "age1…" recipient string."""
        return cls(decode_key(s, X25519_RECIPIENT_HRP, 32))

    def to_string(self) -> str:
        """Encode as an "age1…" recipient string."""
        return bech32_encode(X25519_RECIPIENT_HRP, self._public)

    @property
    def public_bytes(self) -> bytes:
        """The raw 32-byte Curve25519 public key."""
        return self._public

    def wrap(self, file_key: bytes) -> list[Stanza]:
        """Wrap the file key in one X25519 stanza with a fresh ephemeral share."""
        ephemeral = os.urandom(32)
        share = public_of(ephemeral)
        shared = x25519(ephemeral, self._public)
        wrap_key = hkdf_sha256(shared, share + self._public, _INFO)
        body = ChaCha20Poly1305(wrap_key).encrypt(_ZERO_NONCE, file_key, None)
        return [Stanza((STANZA_TYPE, b64encode(share)), body)]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, X25519Recipient) and other._public == self._public

    def __hash__(self) -> int:
        return hash((STANZA_TYPE, self._public))

    def __repr__(self) -> str:
        return f"X25519Recipient({self.to_string()!r})"


class X25519Identity:
    """An age X25519 identity ("AGE-SECRET-KEY-1…")."""

    __slots__ = ("_public", "_secret")

    def __init__(self, secret: bytes) -> None:
        if len(secret) != 32:
            raise ValueError("X25519 identity must be 32 bytes")
        self._secret = bytes(secret)
        self._public = public_of(self._secret)

    @classmethod
    def generate(cls) -> X25519Identity:
        """Generate a new random identity."""
        return cls(os.urandom(32))

    @classmethod
    def from_string(cls, s: str) -> X25519Identity:
        """Parse an "AGE-SECRET-KEY-1…" identity string."""
        return cls(decode_key(s, X25519_IDENTITY_HRP, 32))

    def to_string(self) -> str:
        """Encode as an "AGE-SECRET-KEY-1…" string (secret!)."""
        return bech32_encode(X25519_IDENTITY_HRP, self._secret)

    def recipient(self) -> X25519Recipient:
        """The corresponding recipient."""
        return X25519Recipient(self._public)

    def unwrap(self, stanza: Stanza) -> bytes | None:
        """Return the file key, None if the stanza is not for us, or raise HeaderError."""
        if stanza.type != STANZA_TYPE:
            return None
        if len(stanza.args) != 2:
            raise HeaderError("X25519 stanza must have exactly one argument")
        share = b64decode(stanza.args[1])
        if len(share) != 32:
            raise HeaderError("X25519 stanza share must be 32 bytes")
        if len(stanza.body) != FILE_KEY_SIZE + 16:
            raise HeaderError("X25519 stanza body must be 32 bytes")
        shared = x25519(self._secret, share)
        wrap_key = hkdf_sha256(shared, share + self._public, _INFO)
        try:
            return ChaCha20Poly1305(wrap_key).decrypt(_ZERO_NONCE, stanza.body, None)
        except InvalidTag:
            return None

    def __repr__(self) -> str:
        return f"X25519Identity(<secret>, recipient={self.recipient().to_string()!r})"
