"""What one accepted move writes, whichever database stores it."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class MoveRows:
    """What one accepted move writes, as column values."""

    request_id: uuid.UUID
    expected_seq: int
    head: Mapping[str, Any]
    statement: Mapping[str, Any]
    log_entry: Mapping[str, Any]
    events: Sequence[Mapping[str, Any]]
