"""What a transparency-log leaf holds: one signed envelope, canonically encoded.

A leaf's entry is the envelope as compact JSON with its members in DSSE order and no
spaces: `{"payloadType":…,"payload":…,"signatures":[{"keyid":…,"sig":…}]}`. Base64 is
strict (crypto.wire), so one envelope has exactly one encoding and anyone holding it can
recompute the leaf hash. Bodies are never in the log: statements commit to them by digest.
"""

from __future__ import annotations

from . import dsse
from .custody import CUSTODY_PAYLOAD_TYPE
from .keyevents import KEY_EVENT_PAYLOAD_TYPE
from .merkle import leaf_hash
from .statement import PAYLOAD_TYPE, digest

#: payloadType → the entry kind the log records.
KINDS: dict[str, str] = {
    PAYLOAD_TYPE: "statement",
    KEY_EVENT_PAYLOAD_TYPE: "key_event",
    CUSTODY_PAYLOAD_TYPE: "custody",
}


def entry_of(envelope: dsse.Envelope) -> bytes:
    """The canonical entry bytes of an envelope."""
    return envelope.to_json()


def kind_of(envelope: dsse.Envelope) -> str:
    """The entry's kind, from its payloadType."""
    return KINDS.get(envelope.payloadType, "other")


def leaf_of(envelope: dsse.Envelope) -> bytes:
    """The RFC 6962 leaf hash of an envelope's entry."""
    return leaf_hash(entry_of(envelope))


def digest_of(envelope: dsse.Envelope) -> str:
    """The payload digest an entry is known by (statement, key event or custody digest)."""
    return digest(envelope.payload_bytes())
