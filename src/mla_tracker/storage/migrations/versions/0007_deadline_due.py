"""deadline worker: due rows and the requests whose rows need recomputing

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29 14:50:00

Every request starts stale, so the first sweep after this migration computes the due rows
of requests accepted before it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("requests") as batch:
        batch.add_column(
            sa.Column("deadlines_stale", sa.Boolean(), nullable=False, server_default=sa.true())
        )
    op.create_index("ix_requests_deadlines_stale", "requests", ["deadlines_stale"])
    op.create_table(
        "deadline_due",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("request_id", sa.Uuid(), nullable=False),
        sa.Column("deadline_id", sa.String(length=64), nullable=False),
        sa.Column("move", sa.String(length=16), nullable=False),
        sa.Column("act_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("lease_owner", sa.String(length=64), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("statement_digest", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["request_id"], ["requests.id"], name=op.f("fk_deadline_due_request_id_requests")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deadline_due")),
        sa.UniqueConstraint("request_id", "deadline_id", "move", name="uq_deadline_due_move"),
    )
    op.create_index("ix_deadline_due_pending", "deadline_due", ["status", "act_at"])


def downgrade() -> None:
    op.drop_index("ix_deadline_due_pending", table_name="deadline_due")
    op.drop_table("deadline_due")
    op.drop_index("ix_requests_deadlines_stale", table_name="requests")
    with op.batch_alter_table("requests") as batch:
        batch.drop_column("deadlines_stale")
