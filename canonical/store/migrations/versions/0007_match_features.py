"""Per source record, its comparison features and the content and code version they were computed
from, so that a reconcile plan reads them instead of normalizing every record again. Existing rows
start without them: the next plan computes and stores theirs once.

Plain ADD COLUMNs, as in 0006 (SQLite's batch copy would drop the table links refer to).

Revision ID: 0007
Revises: 0006
"""
import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("source_records", sa.Column("match_features", sa.JSON, nullable=True))
    op.add_column("source_records", sa.Column("features_of", sa.String(80), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("source_records") as batch:
        batch.drop_column("features_of")
        batch.drop_column("match_features")
