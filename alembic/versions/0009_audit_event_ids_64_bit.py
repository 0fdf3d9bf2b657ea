"""audit event ids: 64-bit on PostgreSQL

Revision ID: 0009
Revises: 0008

0001 made `audit_events.id` an `Integer` primary key: on PostgreSQL a `serial`, whose
sequence stops at 2,147,483,647. Every token request is audited, and pruning old rows does
not rewind the sequence: at a sustained 1,000 audited requests a second the trail would
stop accepting events after about 25 days. The column and its sequence become `bigint`.
SQLite needs nothing: an `INTEGER PRIMARY KEY` is its 64-bit rowid already (and a `BIGINT`
primary key would not be one, so the column is left as it is there).

The downgrade narrows both back, and fails (leaving the table as it was) if an id above
the 32-bit limit exists.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _on_postgresql() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def upgrade() -> None:
    if _on_postgresql():
        op.execute("ALTER TABLE audit_events ALTER COLUMN id TYPE BIGINT")
        op.execute("ALTER SEQUENCE audit_events_id_seq AS BIGINT MAXVALUE 9223372036854775807")


def downgrade() -> None:
    if _on_postgresql():
        op.execute("ALTER TABLE audit_events ALTER COLUMN id TYPE INTEGER")
        op.execute("ALTER SEQUENCE audit_events_id_seq AS INTEGER MAXVALUE 2147483647")
