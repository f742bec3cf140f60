"""Liveness and readiness."""

from __future__ import annotations

from litestar import Controller, get
from litestar.di import NamedDependency
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from ...storage.db import DatabaseUnavailable, transaction
from ...workflows.context import Context
from ...workflows.errors import NotReady
from ..schemas import ServerKeyOut


class HealthController(Controller):
    """`/health` says the process runs; `/ready` that it can reach its database."""

    tags = ("health",)

    @get("/health", sync_to_thread=False)
    def health(self) -> dict[str, str]:
        """The process is up."""
        return {"status": "ok"}

    @get("/ready")
    async def ready(self, ctx: NamedDependency[Context]) -> dict[str, str]:
        """The database answers."""
        try:
            async with transaction(ctx.sessions, write=False) as session:
                await session.execute(text("SELECT 1"))
        except DatabaseUnavailable as exc:
            raise NotReady(str(exc)) from exc
        except (OSError, SQLAlchemyError) as exc:
            raise NotReady(f"database unreachable: {exc.__class__.__name__}") from exc
        return {"status": "ready"}


@get("/v1/server-key", tags=["agencies"])
async def server_key(ctx: NamedDependency[Context]) -> ServerKeyOut:
    """The hub's public log key, which signs its custody assertions."""
    if ctx.server_key is None:
        raise NotReady("the service has no server key")
    return ServerKeyOut(ctx.server_key.key_id, ctx.server_key.public.to_base64())
