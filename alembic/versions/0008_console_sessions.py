"""console sessions: the signed-in browsers of the web console

Revision ID: 0008
Revises: 0006 (written on 0003; chained after 0004, 0005 and 0006 as they were merged)

One row per signed-in browser (`iam.identity.console_sessions`): the HMAC digest of the
random token its cookie carries (never the token), the identity and the credential it was
opened with (API key id, or the password fingerprint of a user), when it was opened, last
used and when it ends. Sessions decide nothing on the token path, so the table is not
watched by the authorization-generation triggers of 0002.
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0008"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "console_sessions",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("iam_id", sa.String(length=80), nullable=False),
        sa.Column("apikey_id", sa.String(length=64), nullable=True),
        sa.Column("credential", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_index("ix_console_sessions_account_id", "console_sessions", ["account_id"])
    op.create_index("ix_console_sessions_iam_id", "console_sessions", ["iam_id"])


def downgrade() -> None:
    op.drop_index("ix_console_sessions_iam_id", table_name="console_sessions")
    op.drop_index("ix_console_sessions_account_id", table_name="console_sessions")
    op.drop_table("console_sessions")
