"""Typed errors of the crypto layer. `verify()` functions raise these, never return False."""

from __future__ import annotations


class CryptoError(Exception):
    """Base of every error raised by mla_tracker.crypto."""


class KeyFormatError(CryptoError):
    """A key could not be parsed."""


class EnvelopeFormatError(CryptoError):
    """A DSSE envelope or its payload is malformed."""


class SignatureError(CryptoError):
    """A signature does not verify, or was made by an unexpected key."""


class ChainError(CryptoError):
    """A request's statements do not form an unbroken hash chain."""


class PackageError(CryptoError):
    """An evidence package cannot be sealed or opened for a reason outside age and BagIt."""
