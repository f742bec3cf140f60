"""`/v1/log`: checkpoints, inclusion and consistency proofs, and entries of the log."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import msgspec
from litestar import Controller, MediaType, Response, get
from litestar.di import NamedDependency
from litestar.params import FromPath, QueryParameter

from ...crypto import wire
from ...storage.log_tables import LogEntryRow
from ...workflows import log_reads
from ...workflows.context import Context
from ...workflows.errors import Forbidden, InvalidQuery, NotFound, NotReady
from ...workflows.log import note_signer, origin_of
from ...workflows.principals import Principal
from ..openapi import raises

_NOTE = "text/plain; charset=utf-8"
#: Sizes and indexes fit a 64-bit column; a larger one would fail in the driver as a 500.
_MAX_INT = 2**63 - 1


class LogKeyOut(msgspec.Struct, frozen=True):
    """The log's identity: its origin and the note verifier key that signs checkpoints."""

    origin: str
    verifier_key: str
    key_id: str
    public_key: str


class LogEntryOut(msgspec.Struct, frozen=True, kw_only=True):
    """One integrated entry: the canonical envelope and where it stands in the tree."""

    index: int
    kind: str
    digest: str
    leaf_hash: str
    request_id: uuid.UUID | None
    agency_id: str | None
    #: The entry's exact bytes, standard base64 (the leaf hash is over 0x00 || these).
    entry: str


class InclusionOut(msgspec.Struct, frozen=True):
    """An entry's inclusion proof in the tree of `size` (RFC 9162 §2.1.3)."""

    entry: LogEntryOut
    size: int
    proof: list[str]


class ConsistencyOut(msgspec.Struct, frozen=True):
    """A consistency proof between two tree sizes (RFC 9162 §2.1.4)."""

    first: int
    second: int
    proof: list[str]


def entry_out(row: LogEntryRow) -> LogEntryOut:
    """Map an integrated log entry."""
    assert row.leaf_index is not None  # only integrated entries are served
    return LogEntryOut(
        index=row.leaf_index,
        kind=row.kind,
        digest=row.digest,
        leaf_hash=wire.b64encode(row.leaf_hash),
        request_id=row.request_id,
        agency_id=row.agency_id,
        entry=wire.b64encode(row.entry),
    )


def _key_of(ctx: Context) -> Any:
    if ctx.server_key is None:
        raise NotReady("the service has no log key")
    return ctx.server_key


class LogController(Controller):
    """`/v1/log`: public checkpoints and consistency; entries and inclusion for readers."""

    path = "/v1/log"
    tags = ("log",)

    @get("/checkpoint", media_type=_NOTE, opt=raises(NotFound))
    async def checkpoint(
        self,
        ctx: NamedDependency[Context],
        size: Annotated[int | None, QueryParameter(ge=1, le=_MAX_INT)] = None,
        witnessed: Annotated[
            bool,
            QueryParameter(description="the latest checkpoint a witness cosigned (no size)"),
        ] = False,
    ) -> Response[str]:
        """The latest signed checkpoint (or the one of `size`) as a C2SP signed note, with
        the witnesses' cosignature lines (C2SP tlog-cosignature) after the log's signature."""
        note = await log_reads.checkpoint_note(ctx, size, witnessed=witnessed)
        return Response(note, media_type=_NOTE)

    @get("/key")
    async def key(self, ctx: NamedDependency[Context]) -> LogKeyOut:
        """The log's origin and note verifier key (also at /.well-known/mla-tracker-log-key)."""
        key = _key_of(ctx)
        return LogKeyOut(
            origin_of(key), note_signer(key).verifier_key(), key.key_id, key.public.to_base64()
        )

    @get("/proof/consistency", opt=raises(InvalidQuery, NotFound))
    async def consistency(
        self,
        ctx: NamedDependency[Context],
        first: Annotated[int, QueryParameter(ge=1, le=_MAX_INT)],
        second: Annotated[int, QueryParameter(ge=1, le=_MAX_INT)],
    ) -> ConsistencyOut:
        """A consistency proof between two checkpointed sizes (public)."""
        proof = await log_reads.consistency(ctx, first, second)
        return ConsistencyOut(first, second, [wire.b64encode(h) for h in proof])

    @get("/proof/inclusion", opt=raises(Forbidden, InvalidQuery, NotFound))
    async def inclusion(
        self,
        ctx: NamedDependency[Context],
        principal: NamedDependency[Principal],
        index: Annotated[int | None, QueryParameter(ge=0, le=_MAX_INT)] = None,
        digest: Annotated[str | None, QueryParameter(pattern=r"^[0-9a-f]{64}$(?!\n)")] = None,
        size: Annotated[int | None, QueryParameter(ge=1, le=_MAX_INT)] = None,
    ) -> InclusionOut:
        """An entry (by index or payload digest) and its inclusion proof for a checkpoint."""
        found = await log_reads.inclusion(ctx, principal, index=index, digest=digest, size=size)
        return InclusionOut(
            entry_out(found.entry), found.size, [wire.b64encode(h) for h in found.proof]
        )

    @get("/entries", opt=raises(Forbidden, InvalidQuery))
    async def entries(
        self,
        ctx: NamedDependency[Context],
        principal: NamedDependency[Principal],
        start: Annotated[int, QueryParameter(ge=0, le=_MAX_INT)],
        end: Annotated[int, QueryParameter(ge=1, le=_MAX_INT)],
    ) -> list[LogEntryOut]:
        """Integrated entries start <= index < end (at most 1,000) that you may see."""
        return [entry_out(r) for r in await log_reads.entries(ctx, principal, start, end)]

    @get("/requests/{request_id:uuid}", opt=raises(Forbidden))
    async def request_entries(
        self,
        ctx: NamedDependency[Context],
        principal: NamedDependency[Principal],
        request_id: FromPath[uuid.UUID],
    ) -> list[LogEntryOut]:
        """The integrated log entries of one request (statements, custody), for its readers."""
        rows = await log_reads.request_entries(ctx, principal, request_id)
        return [entry_out(r) for r in rows if r.leaf_index is not None]


@get("/.well-known/mla-tracker-log-key", media_type=MediaType.TEXT, tags=["log"])
async def well_known_log_key(ctx: NamedDependency[Context]) -> str:
    """The note verifier key of the log, one line (C2SP signed-note vkey)."""
    return note_signer(_key_of(ctx)).verifier_key() + "\n"
