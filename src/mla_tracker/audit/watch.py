"""An agency watches its own key history: every event it did not sign itself stands out."""

from __future__ import annotations

from typing import Any

import msgspec

from ..crypto import dsse, wire
from ..crypto.keyhistory import KeyHistory
from ..crypto.keys import VerifyingKey


def watch_agency(api: Any, agency_id: str) -> tuple[list[str], list[str]]:
    """Lines describing each key event, and those not signed by the agency's own keys.

    The hub's server key signs an agency's first key (the operator's bootstrap); anything
    else it signs (a recovery key, an operator revocation) is the operator acting on the
    agency's keys, and is reported as foreign.
    """
    server = VerifyingKey.from_base64(api.call("GET", "/v1/server-key")["public_key"])
    events = api.call("GET", f"/v1/agencies/{agency_id}/key-events")
    history = KeyHistory(server)
    lines: list[str] = []
    foreign: list[str] = []
    for item in events:
        envelope = wire.decode(msgspec.json.encode(item["envelope"]), dsse.Envelope, "key event")
        recorded = history.append(envelope)
        ev = recorded.event
        signer = "the hub (operator)" if recorded.signer == "server" else recorded.signer[:16]
        line = (
            f"{ev.seq:>3}  {ev.issued_at.isoformat()}  {ev.event:<8} key {ev.key_id[:16]}…  "
            f"signed by {signer}"
        )
        if recorded.signer == "server" and not (ev.seq == 1 and ev.event == "register"):
            foreign.append(line)
            line += "   <- NOT SIGNED BY THIS AGENCY"
        lines.append(line)
    lines.append(
        f"{len(events)} key events; {len(foreign)} not signed by {agency_id}"
        + ("" if not foreign else ": check them (mla agency revoke-key to revoke a key)")
    )
    return lines, foreign
