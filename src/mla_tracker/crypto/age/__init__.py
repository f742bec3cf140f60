"""age v1 file encryption (c2sp.org/age): X25519 and MLKEM768-X25519 hybrid recipients.

Only the binary format is supported (no ASCII armor), and scrypt passphrase stanzas are rejected
with `UnsupportedRecipientError`. See `errors` for the failure taxonomy.
"""

from __future__ import annotations

from ._core import Decryptor, Encryptor, Identity, Recipient, decrypt, encrypt
from ._format import Stanza
from ._hybrid import HybridIdentity, HybridRecipient
from ._parse import parse_identity, parse_identity_file, parse_recipient
from ._sink import OUTPUT_BATCH, LendingSink
from ._x25519 import X25519Identity, X25519Recipient
from .errors import (
    AgeError,
    HeaderError,
    HeaderMACError,
    KeyFormatError,
    MixedRecipientsError,
    NoIdentityMatchError,
    PayloadError,
    UnsupportedRecipientError,
    UnsupportedVersionError,
)

__all__ = [
    "OUTPUT_BATCH",
    "AgeError",
    "Decryptor",
    "Encryptor",
    "HeaderError",
    "HeaderMACError",
    "HybridIdentity",
    "HybridRecipient",
    "Identity",
    "KeyFormatError",
    "LendingSink",
    "MixedRecipientsError",
    "NoIdentityMatchError",
    "PayloadError",
    "Recipient",
    "Stanza",
    "UnsupportedRecipientError",
    "UnsupportedVersionError",
    "X25519Identity",
    "X25519Recipient",
    "decrypt",
    "encrypt",
    "parse_identity",
    "parse_identity_file",
    "parse_recipient",
]
