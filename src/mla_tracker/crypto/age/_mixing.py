"""The one policy age puts on combining recipients that we enforce: no hybrid with X25519."""

from __future__ import annotations

from collections.abc import Iterable

from ._format import Stanza
from .errors import MixedRecipientsError

_PQ_STANZA = "mlkem768x25519"
_CLASSICAL_STANZA = "X25519"


def check_not_mixed(stanzas: Iterable[Stanza], doing: str) -> None:
    """Raise MixedRecipientsError if `stanzas` hold both hybrid and X25519 recipients."""
    types = {s.type for s in stanzas}
    if _PQ_STANZA in types and _CLASSICAL_STANZA in types:
        raise MixedRecipientsError(
            f"{doing} post-quantum (age1pq1…) and classical X25519 (age1…) recipients together: "
            "the X25519 stanza would let a future quantum computer recover the file key, "
            "so the post-quantum protection would be lost (c2sp.org/age: SHOULD NOT)"
        )
