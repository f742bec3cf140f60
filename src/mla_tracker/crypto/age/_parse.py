"""Parsing age identity and recipient strings and identity files into key objects."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._hybrid import HybridIdentity, HybridRecipient
from ._keys import (
    HYBRID_IDENTITY_HRP,
    HYBRID_RECIPIENT_HRP,
    X25519_IDENTITY_HRP,
    X25519_RECIPIENT_HRP,
    bech32_decode,
)
from ._x25519 import X25519Identity, X25519Recipient
from .errors import KeyFormatError

if TYPE_CHECKING:
    from ._core import Identity, Recipient


def parse_identity(s: str) -> Identity:
    """Parse an "AGE-SECRET-KEY-1…" or "AGE-SECRET-KEY-PQ-1…" identity string."""
    s = s.strip()
    hrp, _ = bech32_decode(s)
    if hrp == X25519_IDENTITY_HRP.lower():
        return X25519Identity.from_string(s)
    if hrp == HYBRID_IDENTITY_HRP.lower():
        return HybridIdentity.from_string(s)
    if hrp.startswith("age-plugin-"):
        raise KeyFormatError("age plugin identities are not supported")
    raise KeyFormatError("unknown identity type")


def parse_recipient(s: str) -> Recipient:
    """Parse an "age1…" (X25519) or "age1pq1…" (MLKEM768-X25519) recipient string."""
    s = s.strip()
    hrp, _ = bech32_decode(s)
    if hrp == X25519_RECIPIENT_HRP:
        return X25519Recipient.from_string(s)
    if hrp == HYBRID_RECIPIENT_HRP:
        return HybridRecipient.from_string(s)
    raise KeyFormatError(f"unsupported recipient type {hrp!r}")


def parse_identity_file(text: str) -> list[Identity]:
    """Parse an age identity file: one identity per line, '#' comments and blank lines ignored."""
    identities: list[Identity] = []
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        try:
            identities.append(parse_identity(line))
        except KeyFormatError as exc:
            # Never echo the line itself: it may be secret key material.
            raise KeyFormatError(f"identity file line {lineno}: {exc}") from None
    if not identities:
        raise KeyFormatError("no identities found in identity file")
    return identities
