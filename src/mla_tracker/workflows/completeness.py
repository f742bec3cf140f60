"""The completeness dry run: missing essentials plus legal-basis warnings for the two states."""

from __future__ import annotations

from ..domain.completeness import check_completeness
from ..domain.content import RequestContent
from ..domain.errors import MissingItem
from ..domain.legal_profile import instrument_warnings
from ..storage import repositories as repo
from ..storage.db import transaction
from .context import Context


async def check_request(ctx: Context, content: RequestContent) -> list[MissingItem]:
    """What the request lacks, then warnings if its instrument may not bind both states."""
    found = check_completeness(content)
    async with transaction(ctx.sessions, write=False) as session:
        requesting = await repo.get_agency(session, content.requesting_agency)
        requested = await repo.get_agency(session, content.requested_agency)
    # An unknown agency has no known state; transmitting such a request is refused anyway.
    if requesting is None or requested is None:
        return found
    return found + instrument_warnings(
        content, requesting.country, requested.country, ctx.legal, on=ctx.clock().date()
    )
