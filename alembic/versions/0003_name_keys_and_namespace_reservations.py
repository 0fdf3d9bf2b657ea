"""name keys (users, service IDs, access groups, namespaces) and namespace reservations

Revision ID: 0003
Revises: 0002

Names are compared by a normalised key (NFKC, case-folded; `iam.validation.name_key`) held
in a `name_key` column with a unique index: per account for users, service IDs and access
groups, per region for namespaces. Service IDs had no uniqueness rule before; users and
groups were unique by exact name only. A database may therefore hold names that now share
a key (`ci-robot` twice, `Alice` beside `alice`): nothing is lost, the first row of each
key (oldest, then lowest id) keeps the plain key and every later one gets the key plus a
space and its row id. Row ids carry upper-case ASCII letters (`ServiceId-`, `iam-User-`,
`AccessGroup-`, `Namespace-`) that no case-folded key contains, so these keys can collide
neither with each other nor with any name created later; renaming such a row gives it a
plain key again (or a 409 while the other holds it).

`namespace_names` records who holds each namespace name per region: the live namespace's
account, or (with `deleted_at`) the account a deleted name stays reserved to until the
system operator releases it. It is filled here from the existing namespaces.

The columns are added with plain `ADD COLUMN` and the indexes with plain `CREATE INDEX`:
on SQLite a batch (copy-and-move) migration would drop the authorization-generation
triggers of migration 0002. On PostgreSQL those triggers are deferred, and PostgreSQL
refuses to alter a table with pending trigger events, so they are made immediate first.
"""

import unicodedata
from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KEY_LENGTH = 1100
#: table, primary key, the scope a name is unique in, the new unique index's columns
TABLES = (
    ("users", "iam_id", "account_id", ("name_key", "account_id")),
    ("service_ids", "id", "account_id", ("account_id", "name_key")),
    ("access_groups", "id", "account_id", ("account_id", "name_key")),
    ("namespaces", "id", "region", ("region", "name_key")),
)


def _key(name: str) -> str:
    """iam.validation.name_key as of this revision (frozen: later changes to the rule need
    their own migration)."""
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", name).casefold())
    return " ".join(folded.split())


def _fill_keys(table: str, pk: str, scope: str) -> None:
    conn = op.get_bind()
    rows = conn.execute(sa.text(
        f"SELECT {pk}, {scope}, name FROM {table} ORDER BY {scope}, created_at, {pk}")).all()
    seen: set[tuple[str, str]] = set()
    updates = []
    for row_id, scope_value, name in rows:
        key = _key(name)
        if (scope_value, key) in seen:
            key = f"{key} {row_id}"
        seen.add((scope_value, key))
        updates.append({"id": row_id, "key": key})
    if updates:
        conn.execute(sa.text(f"UPDATE {table} SET name_key = :key WHERE {pk} = :id"), updates)


def upgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    if postgresql:
        op.execute("SET CONSTRAINTS ALL IMMEDIATE")
    for table, pk, scope, columns in TABLES:
        op.add_column(table, sa.Column("name_key", sa.String(length=KEY_LENGTH),
                                       nullable=False, server_default=""))
        if postgresql:  # SQLite cannot drop a default without rebuilding the table
            op.alter_column(table, "name_key", server_default=None)
        _fill_keys(table, pk, scope)
        op.create_index(f"uq_{table}_name_key", table, list(columns), unique=True)
    op.create_table(
        "namespace_names",
        sa.Column("region", sa.String(length=64), nullable=False),
        sa.Column("name_key", sa.String(length=KEY_LENGTH), nullable=False),
        sa.Column("name", sa.String(length=30), nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"]),
        sa.PrimaryKeyConstraint("region", "name_key"),
    )
    op.create_index("ix_namespace_names_account_id", "namespace_names", ["account_id"])
    op.execute("INSERT INTO namespace_names (region, name_key, name, account_id) "
               "SELECT region, name_key, name, account_id FROM namespaces")


def downgrade() -> None:
    """Reservations are forgotten (0002 has no notion of them); names stay as they are."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute("SET CONSTRAINTS ALL IMMEDIATE")
    op.drop_index("ix_namespace_names_account_id", table_name="namespace_names")
    op.drop_table("namespace_names")
    for table, _pk, _scope, _columns in reversed(TABLES):
        op.drop_index(f"uq_{table}_name_key", table_name=table)
        op.drop_column(table, "name_key")
