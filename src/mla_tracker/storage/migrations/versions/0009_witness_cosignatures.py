"""witness cosignatures of log checkpoints (C2SP tlog-cosignature)

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29 18:00:00

Checkpoints signed before this migration have no cosignatures; the hub's next push sends
the latest checkpoint to each configured witness (MLA_WITNESSES).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "log_cosignatures",
        sa.Column("size", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("witness_key", sa.String(length=512), nullable=False),
        sa.Column("witness_name", sa.String(length=256), nullable=False),
        sa.Column("line", sa.Text(), nullable=False),
        sa.Column("timestamp", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("size", "witness_key", name=op.f("pk_log_cosignatures")),
    )
    op.create_index("ix_log_cosignatures_witness", "log_cosignatures", ["witness_key", "size"])


def downgrade() -> None:
    op.drop_index("ix_log_cosignatures_witness", table_name="log_cosignatures")
    op.drop_table("log_cosignatures")
