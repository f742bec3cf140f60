"""The hub's own statements on a request (design.md §2.4, §5): deadline notices and expiry.

They are statements like any agency's: the same payload (actor `server`, the hub's server
key), the same chain (seq and prev on the request's head), the same transition table
(party SERVER) and the same transparency log. What the hub asserts is therefore as
verifiable as what the agencies sign, and an auditor checks it with the same code.
"""

from __future__ import annotations

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from ..crypto.statement import body_digest, encode_payload, parse_statement, sign_statement
from ..domain import request as aggregate
from ..domain.model import SERVER_ACTOR, Action, Party
from ..storage.facts import load_facts, reads_in, request_facts
from ..storage.tables import RequestRow, StatementRow
from .appends import head_values, store_move
from .context import Context
from .errors import NotReady
from .statements import Verified, statement_row


async def assert_as_hub(
    ctx: Context,
    session: AsyncSession,
    row: RequestRow,
    action: Action,
    body: msgspec.Struct,
) -> StatementRow | None:
    """Sign, decide and store the hub's statement on `row` in the caller's transaction.

    Returns None when another statement took the head first (the caller retries later);
    raises a DomainError when the move is not allowed in the request's state.
    """
    key = ctx.server_key
    if key is None:
        raise NotReady("the hub's server key is not loaded")
    now = ctx.clock()
    body_bytes = msgspec.json.encode(body)
    meta = aggregate.expected_meta(action, body)
    payload = encode_payload(
        request_id=row.id,
        seq=row.head_seq + 1,
        prev=row.head_digest,
        action=action.value,
        actor=SERVER_ACTOR,
        key_id=key.key_id,
        body_sha256=body_digest(body_bytes),
        meta=meta,
        issued_at=now,
    )
    envelope = sign_statement(payload, key)
    st = parse_statement(payload)
    current = request_facts(row)
    move = aggregate.Move(action=action, actor=SERVER_ACTOR, issued_at=now, meta=meta, body=body)
    facts = await load_facts(
        reads_in(session),
        aggregate.references(action, body, current),
        request_id=row.id,
        max_package_bytes=ctx.policy.max_package_bytes,
    )
    decision = aggregate.decide(current, Party.SERVER, move, facts)
    statement = statement_row(Verified(st, payload, body_bytes, move), envelope.to_json(), now)
    # The row itself is not updated here: the ORM would flush a second UPDATE.
    values = head_values(decision, statement, now)
    if not await store_move(session, ctx, row, statement, values, envelope):
        return None
    return statement
