"""Liveness and readiness."""

from __future__ import annotations

from typing import ClassVar

from litestar import Controller, get
from litestar.di import NamedDependency
from sqlalchemy import text

from ...storage.db import transaction
from ...workflows.context import Context
from ...workflows.errors import WorkflowError


class NotReady(WorkflowError):
    """The database does not answer."""

    title = "Not ready"


class HealthController(Controller):
    """`/health` says the process runs; `/ready` that it can reach its database."""

    tags: ClassVar[list[str]] = ["health"]

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
        except OSError as exc:
            raise NotReady(f"database unreachable: {exc.__class__.__name__}") from exc
        return {"status": "ready"}
