"""registries: the registries this service issues tokens for, managed as data

Revision ID: 0004
Revises: 0003

Until 0003 the list of registries lived in the settings (`IAM_REGISTRIES` / the config
file), repeated on every process. From here it is a table the system operator manages
(`iam registry-add` ...); the settings only seed it, at `iam init` and `iam serve`, with
the registries it does not hold yet.

A removed registry keeps its row with `removed_at` set: seeding never brings back what an
operator removed, and a `registry-add` of the same service revives the row.

Every change bumps the authorization generation (the triggers of migration 0002), so each
process reloads the list within one poll of the counter: the token path reads the list
from memory, never from the database.
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "registries"
BUMP = "UPDATE authz_generation SET value = value + 1 WHERE id = 1"


def upgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    if postgresql:  # pending deferred trigger events (0002) forbid altering tables
        op.execute("SET CONSTRAINTS ALL IMMEDIATE")
    op.create_table(
        TABLE,
        sa.Column("service", sa.String(length=256), nullable=False),
        sa.Column("region", sa.String(length=64), nullable=False),
        sa.Column("url", sa.String(length=2048), nullable=False),
        sa.Column("ca_file", sa.String(length=4096), nullable=True),
        sa.Column("tls_verify", sa.Boolean(), nullable=False),
        sa.Column("delete_enabled", sa.Boolean(), nullable=False),
        sa.Column("trust", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("modified_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("removed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("entity_tag", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("service"),
    )
    if postgresql:  # iam_bump_authz_generation() is migration 0002's
        op.execute(f"CREATE CONSTRAINT TRIGGER authz_generation_{TABLE} "
                   f"AFTER INSERT OR UPDATE OR DELETE ON {TABLE} "
                   "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW "
                   "EXECUTE FUNCTION iam_bump_authz_generation()")
        op.execute(f"CREATE TRIGGER authz_generation_{TABLE}_truncate AFTER TRUNCATE "
                   f"ON {TABLE} FOR EACH STATEMENT "
                   "EXECUTE FUNCTION iam_bump_authz_generation()")
        return
    for event in ("INSERT", "UPDATE", "DELETE"):
        op.execute(f"CREATE TRIGGER authz_generation_{TABLE}_{event.lower()} "
                   f"AFTER {event} ON {TABLE} BEGIN {BUMP}; END")


def downgrade() -> None:
    """The registries go back to the settings: set `IAM_REGISTRIES` to what `iam
    registries --output json` listed before downgrading."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute("SET CONSTRAINTS ALL IMMEDIATE")
        op.execute(f"DROP TRIGGER authz_generation_{TABLE}_truncate ON {TABLE}")
        op.execute(f"DROP TRIGGER authz_generation_{TABLE} ON {TABLE}")
    else:
        for event in ("insert", "update", "delete"):
            op.execute(f"DROP TRIGGER authz_generation_{TABLE}_{event}")
    op.drop_table(TABLE)
