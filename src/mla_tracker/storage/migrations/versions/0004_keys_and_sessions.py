"""keys the agency controls, sessions the agency mints

Key events (the signed chain of every agency's keys), login challenges, and tokens that
name the key that minted them and expire. Nothing is deployed: existing agency tokens
(operator-issued, without a key) simply stop authenticating.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 09:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("agency_keys", schema=None) as batch_op:
        batch_op.add_column(sa.Column("usable_from", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(
            sa.Column("origin", sa.String(length=16), nullable=False, server_default="bootstrap")
        )
    op.execute("UPDATE agency_keys SET usable_from = valid_from")
    with op.batch_alter_table("agency_keys", schema=None) as batch_op:
        batch_op.alter_column(
            "usable_from", existing_type=sa.DateTime(timezone=True), nullable=False
        )

    with op.batch_alter_table("tokens", schema=None) as batch_op:
        batch_op.add_column(sa.Column("key_id", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_tokens_key_id_agency_keys"), "agency_keys", ["key_id"], ["key_id"]
        )
        batch_op.create_index(batch_op.f("ix_tokens_key_id"), ["key_id"], unique=False)

    op.create_table(
        "session_challenges",
        sa.Column("challenge", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("challenge", name=op.f("pk_session_challenges")),
    )
    with op.batch_alter_table("session_challenges", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_session_challenges_expires_at"), ["expires_at"], unique=False
        )

    op.create_table(
        "key_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("agency_id", sa.String(length=64), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("prev", sa.String(length=64), nullable=False),
        sa.Column("event", sa.String(length=16), nullable=False),
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("signer_key_id", sa.String(length=64), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("envelope", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["agency_id"], ["agencies.id"], name=op.f("fk_key_events_agency_id_agencies")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_key_events")),
        sa.UniqueConstraint("digest", name=op.f("uq_key_events_digest")),
        sa.UniqueConstraint("agency_id", "seq", name="uq_key_events_agency_seq"),
    )


def downgrade() -> None:
    op.drop_table("key_events")
    with op.batch_alter_table("session_challenges", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_session_challenges_expires_at"))
    op.drop_table("session_challenges")
    with op.batch_alter_table("tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tokens_key_id"))
        batch_op.drop_constraint(batch_op.f("fk_tokens_key_id_agency_keys"), type_="foreignkey")
        batch_op.drop_column("expires_at")
        batch_op.drop_column("key_id")
    with op.batch_alter_table("agency_keys", schema=None) as batch_op:
        batch_op.drop_column("origin")
        batch_op.drop_column("usable_from")
