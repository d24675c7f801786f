"""Per source record, what the sync needs to tell a person's edit from Concord's own write: when each
field last changed in the system (an edit), and the consent events Concord wrote there.

Revision ID: 0005
Revises: 0004
"""
import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("source_records") as batch:
        batch.add_column(sa.Column("sync_state", sa.JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("source_records") as batch:
        batch.drop_column("sync_state")
