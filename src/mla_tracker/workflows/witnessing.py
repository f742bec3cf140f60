"""Pushing the log's checkpoints to witnesses (C2SP tlog-witness) and keeping their cosignatures.

`push_once` is one step of a worker tick. For each witness in MLA_WITNESSES it sends the
latest checkpoint with a consistency proof from the size that witness last cosigned (as far
as this hub recorded; a 409 names the witness's own size, and the push is retried once from
there), verifies the cosignature that comes back with the witness's key, and stores it. The
checkpoint endpoint then serves the note with every stored cosignature line appended.

Only checkpoints and consistency proofs leave the hub: never an entry, never a body.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import httpx
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from ..crypto import merkle
from ..crypto.cosignature import WitnessVerifier
from ..crypto.errors import CryptoError
from ..storage.db import transaction
from ..storage.log_batches import load_nodes
from ..storage.log_tables import LogCheckpointRow, LogCosignatureRow
from ..witness.protocol import (
    SIZE_CONTENT_TYPE,
    cosignature_lines,
    format_add_checkpoint,
    parse_size_body,
)
from .context import Context

log = logging.getLogger("mla_tracker.witnessing")

#: Seconds one add-checkpoint call may take.
TIMEOUT_SECONDS = 10.0
#: A cosignature stamped further ahead of the hub's clock than this is refused.
MAX_CLOCK_SKEW_SECONDS = 300
USER_AGENT = "mla-tracker-witnessing/1"


class WitnessRefused(Exception):
    """A witness did not cosign, or answered something the hub cannot accept."""


@dataclass(frozen=True)
class Pushed:
    """What one witness did with the latest checkpoint."""

    witness: str
    size: int
    outcome: str  # "cosigned", "up to date" or "failed: <why>"


async def push_once(ctx: Context, *, client: httpx.AsyncClient | None = None) -> list[Pushed]:
    """Send the latest checkpoint to every configured witness; a failing witness is logged."""
    if not ctx.witnesses:
        return []
    async with transaction(ctx.sessions, write=False) as session:
        latest = await session.scalar(
            select(LogCheckpointRow).order_by(LogCheckpointRow.size.desc()).limit(1)
        )
    if latest is None:
        return []
    http = client or httpx.AsyncClient(timeout=TIMEOUT_SECONDS, headers={"User-Agent": USER_AGENT})
    results: list[Pushed] = []
    try:
        for vkey, url in ctx.witnesses:
            verifier = WitnessVerifier.from_vkey(vkey)  # checked when the settings were read
            try:
                outcome = await _push(ctx, http, verifier, url, latest)
            except (WitnessRefused, CryptoError, httpx.HTTPError) as exc:
                log.warning("witness %s: %s", verifier.name, exc)
                outcome = f"failed: {exc}"
            results.append(Pushed(verifier.name, latest.size, outcome))
    finally:
        if client is None:
            await http.aclose()
    return results


async def _last_cosigned(ctx: Context, witness_key: str) -> int:
    """The largest size this witness cosigned, as recorded here (0: none)."""
    async with transaction(ctx.sessions, write=False) as session:
        size = await session.scalar(
            select(func.max(LogCosignatureRow.size)).where(
                LogCosignatureRow.witness_key == witness_key
            )
        )
    return int(size or 0)


async def _proof(ctx: Context, old: int, new: int) -> list[bytes]:
    """The consistency proof from `old` to `new` (empty from 0, or between equal sizes)."""
    if old == 0 or old == new:
        return []
    async with transaction(ctx.sessions, write=False) as session:
        nodes = await load_nodes(session, merkle.consistency_coords(old, new))
    return merkle.consistency_proof(old, new, nodes)


async def _push(
    ctx: Context,
    http: httpx.AsyncClient,
    verifier: WitnessVerifier,
    url: str,
    checkpoint: LogCheckpointRow,
) -> str:
    witness_key = verifier.vkey()
    old = await _last_cosigned(ctx, witness_key)
    if old == checkpoint.size:
        return "up to date"
    if old > checkpoint.size:
        raise WitnessRefused(
            f"it cosigned size {old}, larger than this log's latest checkpoint {checkpoint.size}"
        )
    endpoint = url.rstrip("/") + "/add-checkpoint"
    for _ in range(2):
        body = format_add_checkpoint(old, await _proof(ctx, old, checkpoint.size), checkpoint.note)
        resp = await http.post(endpoint, content=body)
        if resp.status_code == 409 and resp.headers.get("content-type", "").startswith(
            SIZE_CONTENT_TYPE
        ):
            # tlog-witness: the body is "the tree size of the latest cosigned checkpoint".
            theirs = parse_size_body(resp.text)
            if theirs > checkpoint.size:
                raise WitnessRefused(
                    f"it has cosigned size {theirs} of this log, larger than the latest "
                    f"checkpoint {checkpoint.size}: a rollback, or another view of the log"
                )
            if theirs == old:
                raise WitnessRefused(
                    f"409: it cosigned another root for size {old} (a forked view of the log)"
                )
            old = theirs
            continue
        if resp.status_code != 200:
            raise WitnessRefused(f"HTTP {resp.status_code}: {resp.text.strip()[:300]}")
        return await _store(ctx, verifier, checkpoint, cosignature_lines(resp.text))
    raise WitnessRefused("409 twice: its size keeps changing")


async def _store(
    ctx: Context, verifier: WitnessVerifier, checkpoint: LogCheckpointRow, lines: list[str]
) -> str:
    # tlog-witness: "The client MUST ignore any cosignatures from unknown keys. To parse the
    # response, the client MAY concatenate it to the checkpoint, and use a note verification
    # function configured with the witness keys it trusts."
    now = int(ctx.clock().timestamp())
    cosignature = verifier.verify(
        checkpoint.note + "".join(lines), not_after=now + MAX_CLOCK_SKEW_SECONDS
    )
    witness_key = verifier.vkey()
    try:
        async with transaction(ctx.sessions, write=True) as session:
            if await session.get(LogCosignatureRow, (checkpoint.size, witness_key)) is None:
                session.add(
                    LogCosignatureRow(
                        size=checkpoint.size,
                        witness_key=witness_key,
                        witness_name=verifier.name,
                        line=cosignature.line,
                        timestamp=cosignature.timestamp,
                        created_at=ctx.clock(),
                    )
                )
    except IntegrityError:
        pass  # another worker stored this witness's cosignature of this size first
    log.info("witness %s cosigned size %d", verifier.name, checkpoint.size)
    return "cosigned"
