"""conditions that bind a request and the packages delivered under it

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 13:00:00

A conditional acceptance (Budapest 27(6), 28(2)) that the requester accepted binds the
request; its statement digest is kept on the request and copied to every evidence package
delivered while it binds (28(3)).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("requests") as batch:
        batch.add_column(sa.Column("conditions_digest", sa.String(length=64), nullable=True))
    with op.batch_alter_table("evidence_packages") as batch:
        batch.add_column(sa.Column("conditions_digest", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("evidence_packages") as batch:
        batch.drop_column("conditions_digest")
    with op.batch_alter_table("requests") as batch:
        batch.drop_column("conditions_digest")
