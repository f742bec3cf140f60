"""The worker loop: deadline sweeps, witness pushes and webhook dispatch, every `interval` s.

`mla worker` runs it on its own; `mla serve` runs one in-process unless `--no-worker`.
Any number may run against one database: each step coordinates through it (deadline_worker
and webhooks say how), so two workers never act twice on one thing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from datetime import timedelta

from ..errors import MlaError
from . import deadline_worker, webhooks, witnessing
from .context import Context

log = logging.getLogger("mla_tracker.worker")


def worker_name() -> str:
    """A name unique to this worker (host, process, random): what its leases are held by."""
    return f"{socket.gethostname()[:32]}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


async def tick(ctx: Context, owner: str, *, lease: timedelta) -> deadline_worker.SweepReport:
    """One round: a deadline sweep, the latest checkpoint to the witnesses, a webhook dispatch."""
    report = await deadline_worker.sweep(ctx, owner, lease=lease)
    if report.acted or report.outcomes.get("busy"):
        log.info(
            "deadline sweep: %d refreshed, %d claimed, %s",
            report.refreshed,
            report.claimed,
            report.outcomes,
        )
    try:
        await witnessing.push_once(ctx)
    except Exception:  # witnesses are optional: whatever went wrong, deadlines and webhooks go on
        log.exception("witness push failed")
    await webhooks.dispatch_once(ctx, owner=owner)
    return report


async def run(
    ctx: Context,
    stop: asyncio.Event,
    *,
    owner: str | None = None,
    interval: float = 1.0,
    lease: timedelta = timedelta(seconds=60),
) -> None:
    """Tick until `stop` is set; a failing tick is logged and the next one tries again."""
    owner = owner or worker_name()
    log.info("worker %s started (every %.1f s)", owner, interval)
    while not stop.is_set():
        try:
            await tick(ctx, owner, lease=lease)
        except MlaError as exc:  # the database away (503) and the like: say it briefly
            log.warning("worker tick failed: %s", exc)
        except Exception:  # keep the loop alive whatever one tick hit; the trace is logged
            log.exception("worker tick failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval)
    log.info("worker %s stopped", owner)
