"""The litestar application factory."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from pathlib import Path

from litestar import Litestar
from litestar.datastructures import State
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme
from litestar.static_files import create_static_files_router
from sqlalchemy import select

from .. import __version__
from ..config import Settings
from ..domain.legal_profile import DEFAULT_PROFILE, load_profile
from ..storage.db import create_engine, transaction
from ..storage.tables import TokenRow
from ..workflows import log as transparency_log
from ..workflows import worker
from ..workflows.context import Context, utc_now
from ..workflows.principals import FailedAuthLimiter, hash_token, new_token
from ..workflows.runtime import context_for
from ..workflows.webhooks import WebhookConfig
from .controllers.agencies import AgencyController, all_key_events
from .controllers.deadlines import (
    STATE_KEY,
    DeadlineController,
    RequestDeadlineController,
    configured_rules,
)
from .controllers.events import EventController
from .controllers.evidence import EvidenceController
from .controllers.health import HealthController, server_key
from .controllers.log import LogController, well_known_log_key
from .controllers.requests import RequestController
from .controllers.sessions import SessionController
from .controllers.webhooks import STATE_KEY as WEBHOOK_STATE_KEY
from .controllers.webhooks import WebhookController
from .controllers.whoami import whoami
from .deps import provide_context
from .metrics import metrics
from .observability import ObservabilityMiddleware, provide_observed_principal
from .openapi import FinishedJson, FinishedSwagger
from .problems import EXCEPTION_HANDLERS
from .strict_json import strict_json_body

log = logging.getLogger("mla_tracker")
OPERATOR_TOKEN_FILE = "operator.token"


def _swagger_assets() -> Path:
    import swagger_ui_bundle  # type: ignore[import-untyped]

    return Path(str(swagger_ui_bundle.swagger_ui_path))


async def ensure_operator_token(ctx: Context, settings: Settings) -> str | None:
    """Without MLA_OPERATOR_TOKEN, make sure an operator token exists; return a new one's path."""
    if settings.operator_token:
        return None
    async with transaction(ctx.sessions, write=True) as session:
        existing = await session.scalar(
            select(TokenRow).where(TokenRow.is_operator.is_(True), TokenRow.revoked_at.is_(None))
        )
        if existing is not None:
            return None
        token = new_token()
        settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        path = settings.data_dir / OPERATOR_TOKEN_FILE
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(token + "\n")
        session.add(
            TokenRow(
                token_hash=hash_token(token),
                agency_id=None,
                is_operator=True,
                created_at=utc_now(),
                revoked_at=None,
            )
        )
    return str(path.resolve())


@asynccontextmanager
async def _worker(settings: Settings, ctx: Context) -> AsyncIterator[None]:
    """`mla serve`'s in-process worker (deadlines, webhooks), unless turned off."""
    if not settings.in_process_worker:
        yield
        return
    stop = asyncio.Event()
    task = asyncio.create_task(
        worker.run(
            ctx,
            stop,
            interval=settings.worker_interval_seconds,
            lease=timedelta(seconds=settings.worker_lease_seconds),
        ),
        name="mla-worker",
    )
    try:
        yield
    finally:
        stop.set()
        await task


def create_app(
    settings: Settings | None = None, *, clock: Callable[[], datetime] = utc_now
) -> Litestar:
    """Build the service from settings (default: the environment); `clock` is for tests."""
    settings = settings or Settings.from_env()
    # Read and checked here, not in the lifespan, so a bad file stops `mla serve` before it
    # migrates or binds, with the file, line and entry (LegalDataInvalid) instead of a trace.
    legal = load_profile(settings.legal_file) if settings.legal_file else DEFAULT_PROFILE
    deadline_rules = configured_rules()  # MLA_DEADLINES_FILE, same fail-fast (line, reason)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        engine = create_engine(settings.resolved_database_url, pool_size=settings.db_pool_size)
        ctx = context_for(settings, engine, legal=legal, deadline_rules=deadline_rules, clock=clock)
        written = await ensure_operator_token(ctx, settings)
        if written:
            log.warning("operator token written to %s (mode 0600); keep it secret", written)
        assert ctx.blobs is not None
        if removed := await asyncio.to_thread(ctx.blobs.remove_stale_parts):
            log.warning("removed %d partial upload(s) left by an earlier crash", removed)
        app.state.auth_limiter = FailedAuthLimiter(
            settings.auth_failure_limit, settings.auth_failure_window_seconds
        )
        try:
            async with transparency_log.running(ctx) as integrator:
                app.state.ctx = integrator.ctx = dataclasses.replace(ctx, integrator=integrator)
                async with _worker(settings, integrator.ctx):
                    yield
        finally:
            await engine.dispose()

    assets = "/static/swagger"
    openapi = OpenAPIConfig(
        title="mla-tracker",
        version=__version__,
        description="Signed, deadline-aware tracking of cross-border MLA requests.",
        path="/schema",
        # Both finish the generated document (api/openapi.py): problems, public routes, bodies.
        render_plugins=[
            FinishedSwagger(
                path="/",
                js_url=f"{assets}/swagger-ui-bundle.js",
                css_url=f"{assets}/swagger-ui.css",
                standalone_preset_js_url=f"{assets}/swagger-ui-standalone-preset.js",
                favicon="",
            ),
            FinishedJson(),
        ],
        components=Components(
            security_schemes={
                "bearer": SecurityScheme(
                    type="http", scheme="bearer", description="agency or operator token"
                )
            }
        ),
        security=[{"bearer": []}],
    )
    app = Litestar(
        route_handlers=[
            HealthController,
            AgencyController,
            SessionController,
            all_key_events,
            RequestController,
            RequestDeadlineController,
            DeadlineController,
            EvidenceController,
            EventController,
            WebhookController,
            LogController,
            well_known_log_key,
            server_key,
            whoami,
            metrics,
            create_static_files_router(
                path=assets, directories=[_swagger_assets()], include_in_schema=False
            ),
        ],
        dependencies={
            "ctx": Provide(provide_context, sync_to_thread=False),
            "principal": Provide(provide_observed_principal),
        },
        exception_handlers=EXCEPTION_HANDLERS,
        before_request=strict_json_body,
        lifespan=[lifespan],
        state=State(
            {
                STATE_KEY: deadline_rules,
                WEBHOOK_STATE_KEY: WebhookConfig.from_settings(settings),
            }
        ),
        openapi_config=openapi,
        request_max_body_size=settings.max_body_bytes,
        # Logging is the process's business (`mla serve`), not each app's: litestar's default
        # would reconfigure the root logger in its own format.
        logging_config=None,
        debug=False,
    )
    # Outermost, around litestar's router: unrouted 404s are logged and get a request id too.
    app.asgi_handler = ObservabilityMiddleware(app.asgi_handler)
    return app
