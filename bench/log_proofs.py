"""Inclusion-proof latency through the service's own code at 1,000 and 1,000,000 entries.

A proof reads O(log n) stored perfect-subtree hashes (one query) and hashes O(log n)
nodes, so latency should grow with log n, not n. The bench fills a real SQLite database
(the embedded default) with N leaves' worth of nodes, integrated by the log's own code in
batches, then times `workflows.log_reads.inclusion` for random indices against the same at
1,000 entries. Goal: 1,000,000 entries within 3x of 1,000.

    .venv/bin/python bench/log_proofs.py
    BENCH_BIG=200000 .venv/bin/python bench/log_proofs.py
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from sqlalchemy import insert  # noqa: E402

from mla_tracker.crypto import merkle  # noqa: E402
from mla_tracker.crypto.keys import SigningKey  # noqa: E402
from mla_tracker.domain.model import AgencyRole  # noqa: E402
from mla_tracker.storage.db import create_engine, session_factory, transaction  # noqa: E402
from mla_tracker.storage.log_tables import LogEntryRow, LogNodeRow  # noqa: E402
from mla_tracker.storage.migrate import upgrade  # noqa: E402
from mla_tracker.workflows import log, log_reads  # noqa: E402
from mla_tracker.workflows.context import Context, utc_now  # noqa: E402
from mla_tracker.workflows.principals import Principal  # noqa: E402

SMALL = 1_000
BIG = int(os.environ.get("BENCH_BIG", "1000000"))
PROOFS = int(os.environ.get("BENCH_PROOFS", "300"))
AUDITOR = Principal(False, "asean-audit", AgencyRole.AUDITOR)


async def _fill(ctx: Context, count: int) -> None:
    """Insert `count` integrated entries and their perfect nodes, as the integrator would."""
    batch = 50_000
    for start in range(0, count, batch):
        leaves = [
            merkle.leaf_hash(hashlib.sha256(i.to_bytes(8, "big")).digest())
            for i in range(start, min(count, start + batch))
        ]
        async with transaction(ctx.sessions, write=True) as session:
            nodes = await log.load_nodes(session, merkle.batch_new_nodes_coords(start, len(leaves)))
            fresh = merkle.batch_new_nodes(start, leaves, nodes)
            await session.execute(
                insert(LogNodeRow), [{"level": a, "index": b, "hash": h} for a, b, h in fresh]
            )
            await session.execute(
                insert(LogEntryRow),
                [
                    {
                        "leaf_index": start + i,
                        "kind": "statement",
                        "digest": f"{start + i:064x}",
                        "leaf_hash": leaf,
                        "entry": b"{}",
                        "request_id": None,
                        "agency_id": None,
                        "queued_at": utc_now(),
                    }
                    for i, leaf in enumerate(leaves)
                ],
            )
    # One signed checkpoint of the whole tree, through the integrator's own path.
    async with transaction(ctx.sessions, write=True) as session:
        nodes = await log.load_nodes(session, merkle.root_coords(count))
        root = merkle.root(count, nodes)
        from mla_tracker.crypto.note import Checkpoint
        from mla_tracker.storage.log_tables import LogCheckpointRow

        assert ctx.server_key is not None
        note = log.note_signer(ctx.server_key).sign(
            Checkpoint(log.origin_of(ctx.server_key), count, root).to_text()
        )
        session.add(LogCheckpointRow(size=count, root_hash=root, note=note, created_at=utc_now()))


async def _measure(count: int) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        engine = create_engine(f"sqlite+aiosqlite:///{tmp}/bench.db")
        await upgrade(engine)
        ctx = Context(sessions=session_factory(engine), server_key=SigningKey.generate())
        filled = time.perf_counter()
        await _fill(ctx, count)
        print(f"  {count:>9} entries filled in {time.perf_counter() - filled:.1f} s (untimed)")
        rng = random.Random(count)
        times = []
        for _ in range(PROOFS):
            index = rng.randrange(count)
            started = time.perf_counter()
            found = await log_reads.inclusion(ctx, AUDITOR, index=index)
            times.append(time.perf_counter() - started)
            assert found.entry.leaf_index == index
        await engine.dispose()
    return statistics.median(times) * 1000, sorted(times)[int(len(times) * 0.99) - 1] * 1000


async def main() -> None:
    """Measure both sizes; print the ratio of medians."""
    print(f"inclusion proofs on SQLite, {PROOFS} random indices per size")
    small = await _measure(SMALL)
    big = await _measure(BIG)
    print(f"{SMALL:>9} entries: median {small[0]:.2f} ms, p99 {small[1]:.2f} ms")
    print(f"{BIG:>9} entries: median {big[0]:.2f} ms, p99 {big[1]:.2f} ms")
    ratio = big[0] / small[0]
    print(f"ratio {ratio:.2f} (goal <= 3: {'met' if ratio <= 3 else 'missed'})")


if __name__ == "__main__":
    asyncio.run(main())
