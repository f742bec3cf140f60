"""Typed errors of the age implementation.

Every failure raises a subclass of `AgeError`; nothing ever returns a partial result silently.
Plaintext written to a destination before a `PayloadError` was authenticated chunk by chunk but
the file as a whole was not: callers must discard it (decrypt into a temporary file and only
move it into place after `decrypt()` returns).
"""

from __future__ import annotations

from mla_tracker.crypto.errors import CryptoError


class AgeError(CryptoError):
    """Base of every error raised by mla_tracker.crypto.age."""


class KeyFormatError(AgeError, ValueError):
    """An identity or recipient string (or identity file) could not be parsed."""


class HeaderError(AgeError):
    """The header is malformed, non-canonical, or contains an invalid stanza."""


class UnsupportedVersionError(HeaderError):
    """The file uses an age format version other than v1."""


class NoIdentityMatchError(AgeError):
    """None of the given identities can unwrap any recipient stanza of the header."""


class UnsupportedRecipientError(NoIdentityMatchError):
    """The header uses a recipient type this implementation does not support (e.g. scrypt)."""


class HeaderMACError(AgeError):
    """A file key was unwrapped but the header MAC does not verify."""


class PayloadError(AgeError):
    """The payload failed to authenticate, is truncated, or has trailing data."""


class MixedRecipientsError(AgeError):
    """Post-quantum (mlkem768x25519) and classical X25519 recipients in one file.

    The X25519 stanza alone lets a future quantum attacker recover the file key, silently
    dropping the hybrid recipient's protection: c2sp.org/age says such a file SHOULD NOT be
    made, and the reference implementation refuses to make one.
    """
