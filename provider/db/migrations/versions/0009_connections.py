"""connections: upstream OpenID providers, user identities, federation round trips

Revision ID: 0009
Revises: 0008
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
        "connections",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column("display_name", sa.String(200), nullable=False),
        sa.Column("issuer", sa.String(500), nullable=False),
        sa.Column("client_id", sa.String(500), nullable=False),
        sa.Column("client_secret_sealed", sa.Text(), nullable=False),
        sa.Column("scopes", sa.Text(), nullable=False),
        sa.Column("trust_email_verified", sa.Boolean(), nullable=False),
        sa.Column("allow_linking", sa.Boolean(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "user_identities",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column(
            "user_id",
            sa.String(40),
            sa.ForeignKey("users.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("issuer", sa.String(500), nullable=False),
        sa.Column("subject", sa.String(255), nullable=False),
        sa.Column("connection_id", sa.String(40), nullable=True),
        sa.Column("email", sa.String(320), nullable=True),
        sa.Column("email_verified", sa.Boolean(), nullable=False),
        sa.Column("linked_how", sa.String(32), nullable=False),
        sa.Column("linked_at", sa.BigInteger(), nullable=False),
        sa.Column("last_login_at", sa.BigInteger(), nullable=False),
    )
    op.create_index("ux_user_identities_sub", "user_identities", ["issuer", "subject"], unique=True)
    op.create_index("ix_user_identities_user", "user_identities", ["user_id"])
    op.create_table(
        "federation_states",
        sa.Column("state_hash", sa.String(64), primary_key=True),
        sa.Column("browser_id", sa.String(64), nullable=False),
        sa.Column("connection_id", sa.String(40), nullable=False),
        sa.Column("login_tx_id", sa.String(64), nullable=True),
        sa.Column("nonce", sa.String(128), nullable=False),
        sa.Column("code_verifier_sealed", sa.Text(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
        sa.Column("used_at", sa.BigInteger(), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("federation_states")
    op.drop_index("ix_user_identities_user", table_name="user_identities")
    op.drop_index("ux_user_identities_sub", table_name="user_identities")
    op.drop_table("user_identities")
    op.drop_table("connections")
