"""authorization generation: a counter every change to who-may-do-what bumps

Revision ID: 0002
Revises: 0001

The token path keeps what it reads (key -> principal, principal -> held actions) in memory
for as long as this counter stays the same; each process polls it (`iam.authcache`). The
database bumps it itself, by trigger, so no write path (the API, the CLI, another replica,
an operator's SQL) can forget to. On PostgreSQL the triggers are deferred constraint
triggers: the counter's row is locked only at commit, after every other lock the
transaction takes, so two admin transactions cannot deadlock on it.
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: Every table whose rows decide authentication or authorization.
WATCHED = ("accounts", "service_ids", "users", "api_keys", "namespaces", "access_groups",
           "group_members", "policies")
#: api_keys columns whose updates do not matter to authorization: the activity counters,
#: written in batches while tokens are served (bumping on them would empty every cache).
ACTIVITY_COLUMNS = ("last_authn", "authn_count")
API_KEY_COLUMNS = ("id", "account_id", "iam_id", "name", "description", "key_hash", "locked",
                   "disabled", "created_at", "modified_at", "expires_at", "entity_tag")
BUMP = "UPDATE authz_generation SET value = value + 1 WHERE id = 1"


def _update_of(table: str) -> str:
    return f"UPDATE OF {', '.join(API_KEY_COLUMNS)}" if table == "api_keys" else "UPDATE"


def upgrade() -> None:
    op.create_table(
        "authz_generation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.execute("INSERT INTO authz_generation (id, value) VALUES (1, 1)")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE FUNCTION iam_bump_authz_generation() RETURNS trigger "
                   f"LANGUAGE plpgsql AS $$ BEGIN {BUMP}; RETURN NULL; END $$")
        for table in WATCHED:
            op.execute(f"CREATE CONSTRAINT TRIGGER authz_generation_{table} "
                       f"AFTER INSERT OR {_update_of(table)} OR DELETE ON {table} "
                       "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW "
                       "EXECUTE FUNCTION iam_bump_authz_generation()")
            op.execute(f"CREATE TRIGGER authz_generation_{table}_truncate AFTER TRUNCATE "
                       f"ON {table} FOR EACH STATEMENT "
                       "EXECUTE FUNCTION iam_bump_authz_generation()")
        return
    for table in WATCHED:  # SQLite: one writer at a time, no lock order to worry about
        for event in ("INSERT", _update_of(table), "DELETE"):
            name = f"authz_generation_{table}_{event.split()[0].lower()}"
            op.execute(f"CREATE TRIGGER {name} AFTER {event} ON {table} "
                       f"BEGIN {BUMP}; END")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in WATCHED:
            op.execute(f"DROP TRIGGER authz_generation_{table}_truncate ON {table}")
            op.execute(f"DROP TRIGGER authz_generation_{table} ON {table}")
        op.execute("DROP FUNCTION iam_bump_authz_generation()")
    else:
        for table in WATCHED:
            for event in ("insert", "update", "delete"):
                op.execute(f"DROP TRIGGER authz_generation_{table}_{event}")
    op.drop_table("authz_generation")
