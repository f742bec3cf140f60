"""How long accepted statements waited for the log: accepted -> integrated, from the rows.

An entry's wait is the time from its `queued_at` (set in the append's own transaction) to
the `created_at` of the first signed checkpoint whose tree covers its leaf index. Read
from the service's database after a benchmark run (bench/wrk_bench.py), so it measures
the integrator under that load, not a model of it.
"""

from __future__ import annotations

import asyncio
import bisect
import statistics
import time
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from mla_tracker.storage.db import create_engine
from mla_tracker.storage.log_tables import LogCheckpointRow, LogEntryRow


@dataclass(frozen=True)
class Waits:
    """Accepted -> integrated, over the statements queued since a moment."""

    count: int
    not_integrated: int
    p50_ms: float
    p99_ms: float

    def text(self) -> str:
        """One line for the benchmark's table notes."""
        if not self.count:
            return "no statement queued in the run"
        late = f", {self.not_integrated} not integrated" if self.not_integrated else ""
        return (
            f"accepted -> integrated p50 {self.p50_ms:.0f} ms, p99 {self.p99_ms:.0f} ms "
            f"over {self.count} statements{late}"
        )


async def _waits(database_url: str, since: datetime) -> Waits:
    engine = create_engine(database_url, pool=False)
    try:
        async with engine.connect() as conn:
            entries = (
                await conn.execute(
                    select(LogEntryRow.leaf_index, LogEntryRow.queued_at).where(
                        LogEntryRow.kind == "statement", LogEntryRow.queued_at >= since
                    )
                )
            ).all()
            checkpoints = (
                await conn.execute(
                    select(LogCheckpointRow.size, LogCheckpointRow.created_at).order_by(
                        LogCheckpointRow.size
                    )
                )
            ).all()
    finally:
        await engine.dispose()
    sizes = [size for size, _ in checkpoints]
    waits: list[float] = []
    missing = 0
    for index, queued_at in entries:
        at = None if index is None else bisect.bisect_right(sizes, index)
        if at is None or at == len(sizes):
            missing += 1
            continue
        waits.append((checkpoints[at][1] - queued_at).total_seconds() * 1000)
    if len(waits) < 2:
        return Waits(len(entries), missing, waits[0] if waits else 0.0, waits[0] if waits else 0.0)
    cuts = statistics.quantiles(waits, n=100, method="inclusive")
    return Waits(len(entries), missing, statistics.median(waits), cuts[98])


def integration_waits(database_url: str, since: datetime, *, settle: float = 2.0) -> Waits:
    """The waits of statements queued since `since`, after `settle` seconds for the last."""
    time.sleep(settle)
    return asyncio.run(_waits(database_url, since))
