"""Reconciliation: match overrides, cluster events (merges and splits), learned match models and
the evidence behind every accepted link.

Revision ID: 0004
Revises: 0003_outbox
"""
import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003_outbox"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "match_overrides",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("source_a", sa.String(64), nullable=False),
        sa.Column("source_id_a", sa.String(255), nullable=False),
        sa.Column("source_b", sa.String(64), nullable=False),
        sa.Column("source_id_b", sa.String(255), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.UniqueConstraint("source_a", "source_id_a", "source_b", "source_id_b", name="uq_match_overrides_pair"),
    )
    op.create_table(
        "cluster_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.String(255), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("customer_id", sa.String(64), nullable=False),
        sa.Column("others", sa.JSON, nullable=False),
        sa.Column("at", TZ, nullable=False),
    )
    op.create_index("ix_cluster_events_customer", "cluster_events", ["customer_id"])
    op.create_table(
        "match_models",
        sa.Column("run_id", sa.String(255), primary_key=True),
        sa.Column("parameters", sa.JSON, nullable=False),
        sa.Column("created_at", TZ, nullable=False),
    )
    op.create_table(
        "match_evidence",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("customer_id", sa.String(64), nullable=False),
        sa.Column("source_a", sa.String(64), nullable=False),
        sa.Column("source_id_a", sa.String(255), nullable=False),
        sa.Column("source_b", sa.String(64), nullable=False),
        sa.Column("source_id_b", sa.String(255), nullable=False),
        sa.Column("rule", sa.String(64), nullable=False),
        sa.Column("weight", sa.Float, nullable=False),
        sa.Column("probability", sa.Float, nullable=False),
        sa.Column("levels", sa.JSON, nullable=False),
        sa.Column("run_id", sa.String(255), nullable=False),
    )
    op.create_index("ix_match_evidence_customer", "match_evidence", ["customer_id"])


def downgrade() -> None:
    for table in ("match_evidence", "match_models", "cluster_events", "match_overrides"):
        op.drop_table(table)
