"""evidence packages and custody

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 07:44:58.983149
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "evidence_packages",
        sa.Column("request_id", sa.Uuid(), nullable=False),
        sa.Column("package_id", sa.String(length=128), nullable=False),
        sa.Column("ciphertext_sha256", sa.String(length=64), nullable=False),
        sa.Column("ciphertext_size", sa.BigInteger(), nullable=False),
        sa.Column("delivered_by", sa.String(length=64), nullable=False),
        sa.Column("statement_digest", sa.String(length=64), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("uploaded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("custody_seq", sa.Integer(), nullable=False),
        sa.Column("custody_head", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["delivered_by"],
            ["agencies.id"],
            name=op.f("fk_evidence_packages_delivered_by_agencies"),
        ),
        sa.ForeignKeyConstraint(
            ["request_id"], ["requests.id"], name=op.f("fk_evidence_packages_request_id_requests")
        ),
        sa.PrimaryKeyConstraint("request_id", "package_id", name=op.f("pk_evidence_packages")),
    )
    op.create_table(
        "custody_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("request_id", sa.Uuid(), nullable=False),
        sa.Column("package_id", sa.String(length=128), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("event", sa.String(length=32), nullable=False),
        sa.Column("agency_id", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("envelope", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id", "package_id"],
            ["evidence_packages.request_id", "evidence_packages.package_id"],
            name="fk_custody_events_package",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_custody_events")),
        sa.UniqueConstraint("digest", name=op.f("uq_custody_events_digest")),
        sa.UniqueConstraint("request_id", "package_id", "seq", name="uq_custody_events_seq"),
    )


def downgrade() -> None:
    op.drop_table("custody_events")
    op.drop_table("evidence_packages")
