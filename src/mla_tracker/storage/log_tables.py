"""Tables of the transparency log: queued and integrated entries, tree nodes, checkpoints.

An append transaction only inserts its entry (leaf_index NULL); the integrator assigns
dense indices in batches, stores the perfect-subtree hashes a proof needs (O(log n) reads
per proof) and records a signed checkpoint. See docs/audit.md.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, Index, Integer, LargeBinary, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from .tables import Base
from .types import UTCDateTime


class LogEntryRow(Base):
    """One log entry: a signed envelope (never a body), queued until integrated."""

    __tablename__ = "log_entries"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    #: Dense from 0 in integration order; NULL while queued.
    leaf_index: Mapped[int | None] = mapped_column(BigInteger, nullable=True, unique=True)
    #: "statement", "key_event" or "custody".
    kind: Mapped[str] = mapped_column(String(16))
    #: The payload digest of the envelope (what statements and key events are known by).
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    leaf_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    #: The leaf's entry bytes: the canonical envelope JSON (docs/audit.md).
    entry: Mapped[bytes] = mapped_column(LargeBinary())
    request_id: Mapped[uuid.UUID | None] = mapped_column(Uuid(), nullable=True)
    agency_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    queued_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (Index("ix_log_entries_request", "request_id"),)


class LogNodeRow(Base):
    """The hash of a perfect subtree: level L, index i covers leaves [i·2^L, (i+1)·2^L)."""

    __tablename__ = "log_nodes"
    level: Mapped[int] = mapped_column(Integer, primary_key=True)
    index: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))


class LogCheckpointRow(Base):
    """A signed checkpoint (C2SP tlog-checkpoint in a signed note) of one tree size."""

    __tablename__ = "log_checkpoints"
    size: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    root_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    note: Mapped[str] = mapped_column(Text())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class LogCosignatureRow(Base):
    """A witness's cosignature (C2SP tlog-cosignature) of the checkpoint of one tree size.

    Stored only once it verified with the witness's key; served appended to that
    checkpoint's note (docs/audit.md, "Witnesses").
    """

    __tablename__ = "log_cosignatures"
    size: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    #: The witness's verifier key `<name>+<hex id>+<base64(0x04 || key)>` (MLA_WITNESSES).
    witness_key: Mapped[str] = mapped_column(String(512), primary_key=True)
    witness_name: Mapped[str] = mapped_column(String(256))
    #: The note signature line, with its final newline.
    line: Mapped[str] = mapped_column(Text())
    #: The time the witness states in its cosignature (unix seconds).
    timestamp: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (Index("ix_log_cosignatures_witness", "witness_key", "size"),)
