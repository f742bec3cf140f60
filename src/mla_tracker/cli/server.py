"""`mla serve`, `mla db upgrade` and `mla db erase-bodies`."""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import logging
import os
import sys
import uuid
from typing import Any

import click

from ..config import ConfigError, Settings

#: How long a thread may hold the GIL while another waits for it (Python's default: 5 ms).
SWITCH_INTERVAL_SECONDS = 0.0005


def _settings() -> Settings:
    try:
        return Settings.from_env()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc


async def _upgrade(settings: Settings) -> str | None:
    from ..storage.db import create_engine, is_sqlite
    from ..storage.migrate import current_revision, upgrade

    if is_sqlite(settings.resolved_database_url):
        settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    engine = create_engine(settings.resolved_database_url, pool=False)
    try:
        await upgrade(engine)
        return await current_revision(engine)
    finally:
        await engine.dispose()


def run_upgrade(settings: Settings) -> str | None:
    """Migrate the configured database, with a readable error if it is unreachable."""
    try:
        return asyncio.run(_upgrade(settings))
    except OSError as exc:
        raise click.ClickException(f"cannot reach the database: {exc}") from exc


def _private_files() -> None:
    """Whatever the caller's umask, what this process creates (the SQLite file and its -wal
    and -shm, blobs, keys, tokens, temporary files) is readable by its owner only."""
    os.umask(0o077)


def header_limited_h11(header_timeout: float) -> type[Any]:
    """uvicorn's h11 protocol, closing a connection whose request head takes too long.

    uvicorn has no header-read timeout (its keep-alive timer stops at the first byte), so
    a client trickling a header holds a connection forever (slowloris). The size limit is
    h11's own `max_incomplete_event_size`, set through uvicorn's config.
    """
    import h11
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class HeaderLimitedH11(H11Protocol):
        _head_timer: asyncio.TimerHandle | None = None

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self._watch_head()

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            self._watch_head()

        def connection_lost(self, exc: Exception | None) -> None:
            self._stop_head_timer()
            super().connection_lost(exc)

        def _watch_head(self) -> None:
            # IDLE: h11 waits for (the rest of) a request line and headers.
            if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
                if self._head_timer is None:
                    self._head_timer = self.loop.call_later(header_timeout, self._head_timeout)
            else:
                self._stop_head_timer()

        def _stop_head_timer(self) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
                self._head_timer = None

        def _head_timeout(self) -> None:
            self._head_timer = None
            if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
                self.transport.close()

    return HeaderLimitedH11


@click.command()
@click.option("--host", help="interface to bind [env MLA_HOST, default 127.0.0.1]")
@click.option("--port", type=int, help="port [env MLA_PORT, default 8000]")
@click.option("--no-migrate", is_flag=True, help="do not upgrade the database first")
@click.option(
    "--no-worker",
    is_flag=True,
    help="run no in-process worker (deadlines, webhooks); run `mla worker` instead",
)
def serve(host: str | None, port: int | None, no_migrate: bool, no_worker: bool) -> None:
    """Run the service (migrates the database first) with one in-process worker.

    Example: MLA_DATA_DIR=./data mla serve --port 8000
    """
    import uvicorn

    from ..api.app import create_app
    from ..domain.legal_profile import LegalDataInvalid

    _private_files()
    settings = _settings()
    settings = dataclasses.replace(
        settings,
        host=host or settings.host,
        port=port or settings.port,
        in_process_worker=not no_worker,
    )
    try:
        # Built before migrating so a bad MLA_LEGAL_FILE stops here, touching nothing.
        app = create_app(settings)
    except LegalDataInvalid as exc:
        raise click.ClickException(f"MLA_LEGAL_FILE: {exc}") from exc
    from ..api.logs import configured_logging

    with configured_logging(settings.log_format):
        logging.getLogger("alembic").setLevel(logging.WARNING)
        if not no_migrate:
            revision = run_upgrade(settings)
            logging.getLogger("mla_tracker").info("database at revision %s", revision)
        # Everything loaded so far (modules, routes, schemas, the ORM's mappings) lives as
        # long as the process: out of the collector's sight, a full collection no longer
        # walks it, which stalled requests behind it (p99 of a read 287 -> 170 ms, bench/).
        gc.collect()
        gc.freeze()
        # The SQLite reader and writer threads hand the GIL back and forth with the event
        # loop at every row; with Python's 5 ms switch interval the loop waited up to that
        # long for it after each. At 0.5 ms, SQLite reads under wrk went from 0.63-0.68 to
        # 0.78-0.79 of the baseline (p99 34-37 -> 29-30 ms); PostgreSQL runs unchanged.
        sys.setswitchinterval(SWITCH_INTERVAL_SECONDS)
        uvicorn.run(
            app,
            host=settings.host,
            port=settings.port,
            log_level="info",
            # uvicorn keeps its hands off logging (ours formats every line), and its access
            # log is off: the app logs each request with its id, agency and route.
            log_config=None,
            access_log=False,
            proxy_headers=False,
            http=header_limited_h11(settings.header_timeout_seconds),
            h11_max_incomplete_event_size=settings.max_header_bytes,
        )


@click.group()
def db() -> None:
    """Database maintenance."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply every pending migration to MLA_DATABASE_URL (or the SQLite file in MLA_DATA_DIR).

    Example: MLA_DATABASE_URL=postgresql+asyncpg://mla@db/mla mla db upgrade
    """
    _private_files()
    revision = run_upgrade(_settings())
    click.echo(f"database at revision {revision}")


async def _erase(settings: Settings, request_id: uuid.UUID) -> int:
    from ..storage.db import create_engine, session_factory
    from ..workflows.context import Context
    from ..workflows.retention import erase_bodies

    engine = create_engine(settings.resolved_database_url, pool=False)
    try:
        erased = await erase_bodies(Context(sessions=session_factory(engine)), request_id)
    finally:
        await engine.dispose()
    return erased.bodies


@db.command("erase-bodies")
@click.argument("request_id", type=click.UUID)
@click.confirmation_option(prompt="Delete every statement body and the content of this request?")
def db_erase_bodies(request_id: uuid.UUID) -> None:
    """Delete a request's statement bodies and content after its retention period.

    Its chain still verifies: statements commit to bodies by digest only.
    Example: mla db erase-bodies 7c0e1f2a-… --yes
    """
    from ..errors import MlaError

    try:
        count = asyncio.run(_erase(_settings(), request_id))
    except MlaError as exc:
        raise click.ClickException(str(exc)) from exc
    except OSError as exc:
        raise click.ClickException(f"cannot reach the database: {exc}") from exc
    click.echo(f"erased {count} statement bodies and the content of request {request_id}")
