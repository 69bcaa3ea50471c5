"""mfa api transactions: requested scope and audience

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("mfa_transactions") as batch:
        batch.add_column(sa.Column("scope", sa.Text(), nullable=True))
        batch.add_column(sa.Column("audience", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("mfa_transactions") as batch:
        batch.drop_column("audience")
        batch.drop_column("scope")
