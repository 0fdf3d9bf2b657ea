"""trusted profiles, their claim rules, and the OIDC issuers workload tokens come from

Revision ID: 0006
Revises: 0005

`issuers`: per account, the `iss` it trusts, with accepted audiences, allowed algorithms,
the oldest token accepted, and either a static JWKS or none (keys from OIDC discovery).
`trusted_profiles`: identities without keys (`iam-Profile-...`), unique by name key in their
account. `claim_rules`: who may become a profile (a token of `issuer_url` meeting every
condition), deleted with their profile.

All three decide authentication, so the authorization-generation triggers of 0002 watch
them too (the same function on PostgreSQL; deferred constraint triggers and TRUNCATE).
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WATCHED = ("issuers", "trusted_profiles", "claim_rules")
BUMP = "UPDATE authz_generation SET value = value + 1 WHERE id = 1"
KEY_LENGTH = 1100


def _stamps() -> list[sa.Column]:  # type: ignore[type-arg]
    return [sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("modified_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("entity_tag", sa.String(length=32), nullable=False)]


def upgrade() -> None:
    op.create_table(
        "issuers",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("url", sa.String(length=1024), nullable=False),
        sa.Column("audiences", sa.String(length=4096), nullable=False),
        sa.Column("algorithms", sa.String(length=64), nullable=False),
        sa.Column("jwks", sa.Text(), nullable=True),
        sa.Column("static_jwks", sa.Boolean(), nullable=False),
        sa.Column("allow_http", sa.Boolean(), nullable=False),
        sa.Column("max_token_age", sa.Integer(), nullable=False),
        sa.Column("description", sa.String(length=1024), nullable=False),
        *_stamps(),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("account_id", "url", name="uq_issuers_account_url"),
    )
    op.create_index("ix_issuers_account_id", "issuers", ["account_id"])
    op.create_index("ix_issuers_url", "issuers", ["url"])
    op.create_table(
        "trusted_profiles",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("iam_id", sa.String(length=80), nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("name_key", sa.String(length=KEY_LENGTH), nullable=False),
        sa.Column("description", sa.String(length=1024), nullable=False),
        *_stamps(),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("iam_id"),
    )
    op.create_index("ix_trusted_profiles_account_id", "trusted_profiles", ["account_id"])
    op.create_index("uq_trusted_profiles_name_key", "trusted_profiles",
                    ["account_id", "name_key"], unique=True)
    op.create_table(
        "claim_rules",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("profile_id", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("issuer_url", sa.String(length=1024), nullable=False),
        sa.Column("expiration", sa.Integer(), nullable=False),
        sa.Column("conditions", sa.Text(), nullable=False),
        *_stamps(),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"]),
        sa.ForeignKeyConstraint(["profile_id"], ["trusted_profiles.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_claim_rules_account_id", "claim_rules", ["account_id"])
    op.create_index("ix_claim_rules_profile_id", "claim_rules", ["profile_id"])
    op.create_index("ix_claim_rules_issuer_url", "claim_rules", ["issuer_url"])
    if op.get_bind().dialect.name == "postgresql":
        for table in WATCHED:  # iam_bump_authz_generation() is 0002's
            op.execute(f"CREATE CONSTRAINT TRIGGER authz_generation_{table} "
                       f"AFTER INSERT OR UPDATE OR DELETE ON {table} "
                       "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW "
                       "EXECUTE FUNCTION iam_bump_authz_generation()")
            op.execute(f"CREATE TRIGGER authz_generation_{table}_truncate AFTER TRUNCATE "
                       f"ON {table} FOR EACH STATEMENT "
                       "EXECUTE FUNCTION iam_bump_authz_generation()")
        return
    for table in WATCHED:
        for event in ("INSERT", "UPDATE", "DELETE"):
            op.execute(f"CREATE TRIGGER authz_generation_{table}_{event.lower()} "
                       f"AFTER {event} ON {table} BEGIN {BUMP}; END")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("SET CONSTRAINTS ALL IMMEDIATE")
    # Dropping a table drops its triggers on both backends.
    op.drop_table("claim_rules")
    op.drop_table("trusted_profiles")
    op.drop_table("issuers")
