"""Which party an agency is in a given request."""

from __future__ import annotations

from .model import SERVER_ACTOR, Party


def party_of(
    agency_id: str,
    *,
    requesting_agency: str,
    requested_agency: str,
    executing_agency: str | None,
) -> Party | None:
    """The agency's party in a request, or None when it is not a party at all."""
    if agency_id == SERVER_ACTOR:
        return Party.SERVER
    if agency_id == requesting_agency:
        return Party.REQUESTER
    if agency_id == requested_agency:
        return Party.REQUESTED
    if executing_agency is not None and agency_id == executing_agency:
        return Party.EXECUTOR
    return None
