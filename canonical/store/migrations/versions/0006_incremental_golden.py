"""What an incremental reconcile needs to recompute only the golden records that can have changed:
per source record, whether its golden record was computed from it as it is now; per golden record,
the survivorship rules it was computed with and whether the writes it calls for have been planned
since; per system, the policy its writes were last planned under. Existing rows start stale and
pending, so that the first run after the upgrade recomputes and plans every golden record once.

Plain ADD COLUMNs (no batch copy of the tables: SQLite would drop golden_customers, which links refer to).

Revision ID: 0006
Revises: 0005
"""
import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("source_records", sa.Column("golden_stale", sa.Boolean, nullable=False, server_default=sa.true()))
    op.add_column("golden_customers", sa.Column("rules_digest", sa.String(64), nullable=True))
    op.add_column("golden_customers", sa.Column("plan_pending", sa.Boolean, nullable=False, server_default=sa.true()))
    op.create_table(
        "plan_states",
        sa.Column("system", sa.String(64), primary_key=True),
        sa.Column("policy_digest", sa.String(64), nullable=False),
        sa.Column("run_id", sa.String(255), nullable=False),
        sa.Column("planned_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("plan_states")
    with op.batch_alter_table("golden_customers") as batch:
        batch.drop_column("plan_pending")
        batch.drop_column("rules_digest")
    with op.batch_alter_table("source_records") as batch:
        batch.drop_column("golden_stale")
