"""namespace removal: a namespace's state, and the removals in progress

Revision ID: 0005
Revises: 0004

`namespaces.state` is `active`, or `deleting` while the namespace's images are removed from
the registries of its region; authorization withholds push from a deleting namespace. The
column is added with a plain `ADD COLUMN` (a batch migration on SQLite would drop the
authorization-generation triggers of 0002); its server default fills existing rows.

`namespace_removals` holds each removal in progress, keyed like `namespace_names` (region,
name key): when it started and who started it, when its name may be released (no registry
token minted before the start can push after `release_after`), the lease of the process
running it, and its retries. It is deliberately not among the tables whose changes bump
the authorization generation: renewing a lease must not empty the token caches.

Downgrading drops the removals in progress and the state: a namespace that was `deleting`
becomes an ordinary namespace again (its images, what is left of them, stay).
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KEY_LENGTH = 1100


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("SET CONSTRAINTS ALL IMMEDIATE")  # see 0003: deferred triggers pending
    op.add_column("namespaces", sa.Column("state", sa.String(length=16), nullable=False,
                                          server_default="active"))
    op.create_table(
        "namespace_removals",
        sa.Column("region", sa.String(length=64), nullable=False),
        sa.Column("name_key", sa.String(length=KEY_LENGTH), nullable=False),
        sa.Column("name", sa.String(length=30), nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("namespace_id", sa.String(length=64), nullable=True),
        sa.Column("started_by", sa.String(length=80), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("release_after", sa.DateTime(timezone=True), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lease_holder", sa.String(length=64), nullable=False),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.String(length=1024), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"]),
        sa.PrimaryKeyConstraint("region", "name_key"),
    )
    op.create_index("ix_namespace_removals_account_id", "namespace_removals", ["account_id"])
    op.create_index("ix_namespace_removals_next_attempt_at", "namespace_removals",
                    ["next_attempt_at"])


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("SET CONSTRAINTS ALL IMMEDIATE")
    op.drop_index("ix_namespace_removals_next_attempt_at", table_name="namespace_removals")
    op.drop_index("ix_namespace_removals_account_id", table_name="namespace_removals")
    op.drop_table("namespace_removals")
    op.drop_column("namespaces", "state")
