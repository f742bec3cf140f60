"""What one accepted move writes, whichever database stores it."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Column, Table


@dataclass(frozen=True)
class MoveRows:
    """What one accepted move writes, as column values."""

    request_id: uuid.UUID
    expected_seq: int
    head: Mapping[str, Any]
    statement: Mapping[str, Any]
    log_entry: Mapping[str, Any]
    events: Sequence[Mapping[str, Any]]


#: Columns the database fills (identities) or the integrator and publisher set later.
_FILLED_LATER = {"id", "leaf_index", "position"}


def written_columns(table: Table) -> list[Column[Any]]:
    """The columns a move writes into `table` (both stores insert exactly these)."""
    return [c for c in table.columns if c.key not in _FILLED_LATER]
