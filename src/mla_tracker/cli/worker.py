"""`mla worker`: deadline sweeps, webhook dispatch and log integration, beside `mla serve`."""

from __future__ import annotations

import asyncio
import signal
from datetime import timedelta

import click

from ..config import Settings
from .server import _private_files, _settings


async def _run(settings: Settings, once: bool, interval: float) -> None:
    from ..api.controllers.deadlines import configured_rules
    from ..domain.legal_profile import DEFAULT_PROFILE, load_profile
    from ..storage.db import create_engine
    from ..workflows import log as transparency_log
    from ..workflows import worker
    from ..workflows.runtime import context_for

    legal = load_profile(settings.legal_file) if settings.legal_file else DEFAULT_PROFILE
    engine = create_engine(settings.resolved_database_url, pool_size=settings.db_pool_size)
    ctx = context_for(settings, engine, legal=legal, deadline_rules=configured_rules())
    lease = timedelta(seconds=settings.worker_lease_seconds)
    try:
        if once:
            report = await worker.tick(ctx, worker.worker_name(), lease=lease)
            click.echo(
                f"refreshed {report.refreshed} request(s), claimed {report.claimed} due "
                f"move(s): {report.outcomes or 'nothing to do'}"
            )
            return
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        # The worker's own statements reach the log even when no server process runs.
        async with transparency_log.running(ctx) as integrator:
            integrator.ctx = ctx
            await worker.run(ctx, stop, interval=interval, lease=lease)
    finally:
        await engine.dispose()


@click.command()
@click.option("--once", is_flag=True, help="one sweep and dispatch, then exit (for cron)")
@click.option(
    "--interval",
    type=click.FloatRange(min=0.05),
    help="seconds between sweeps [env MLA_WORKER_INTERVAL_MS, default 1 s]",
)
def worker(once: bool, interval: float | None) -> None:
    """Warn before deadlines, assert misses, expire lapsed preservations, send webhooks.

    Signs each of the hub's statements with its server key (MLA_DATA_DIR/server.key) and
    appends it to the request's chain and the log. Run as many as you like against one
    database: they never act twice on one deadline (docs/deadlines.md). `mla serve` runs
    one in-process unless `--no-worker`.

    Example: MLA_DATABASE_URL=postgresql://mla@db/mla mla worker
    """
    _private_files()
    settings = _settings()
    from ..api.logs import configured_logging
    from ..domain.legal_profile import LegalDataInvalid

    try:
        with configured_logging(settings.log_format):
            asyncio.run(_run(settings, once, interval or settings.worker_interval_seconds))
    except LegalDataInvalid as exc:  # MLA_LEGAL_FILE or MLA_DEADLINES_FILE, with its line
        raise click.ClickException(str(exc)) from exc
