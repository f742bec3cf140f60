"""protocol v2: detached statement bodies

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 12:40:00

Statements keep their exact body bytes beside the payload (`body`, NULL once deleted after
retention) and the `body_sha256` the payload commits to; a request's parsed content may be
deleted with its body. Protocol v1 was never deployed: a database holding v1 statements is
refused rather than converted (v1 payloads embed their bodies and cannot be re-signed).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    held = op.get_bind().execute(sa.text("SELECT count(*) FROM statements")).scalar()
    if held:
        raise RuntimeError(
            f"this database holds {held} protocol v1 statements; protocol v2 cannot carry "
            "them over (nothing v1 was deployed): start from an empty database"
        )
    with op.batch_alter_table("statements") as batch:
        batch.add_column(sa.Column("body_sha256", sa.String(length=64), nullable=False))
        batch.add_column(sa.Column("body", sa.LargeBinary(), nullable=True))
    with op.batch_alter_table("requests") as batch:
        batch.alter_column("content", existing_type=sa.JSON(), nullable=True)


def downgrade() -> None:
    with op.batch_alter_table("requests") as batch:
        batch.alter_column("content", existing_type=sa.JSON(), nullable=False)
    with op.batch_alter_table("statements") as batch:
        batch.drop_column("body")
        batch.drop_column("body_sha256")
