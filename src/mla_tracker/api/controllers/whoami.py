"""`/v1/whoami`: who the presented token belongs to (clients learn their agency id here)."""

from __future__ import annotations

from litestar import get
from litestar.di import NamedDependency

from ...workflows.principals import Principal
from ..schemas import WhoAmI


@get("/v1/whoami", tags=["agencies"])
async def whoami(principal: NamedDependency[Principal]) -> WhoAmI:
    """The caller: the operator, or an agency and its role."""
    return WhoAmI(
        operator=principal.is_operator,
        agency_id=principal.agency_id,
        role=principal.agency_role,
    )
