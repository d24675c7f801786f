"""The canonical store's first schema: source records, golden customers, links, cursors, quarantine,
sync log and runs.

Revision ID: 0001
Revises:
"""
import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "source_records",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("source_id", sa.String(255), nullable=False),
        sa.Column("raw", sa.JSON, nullable=False),
        sa.Column("canonical", sa.JSON, nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("source_updated_at", TZ, nullable=False),
        sa.Column("deleted", sa.Boolean, nullable=False),
        sa.Column("first_seen_run", sa.String(255), nullable=False),
        sa.Column("last_changed_run", sa.String(255), nullable=False),
        sa.Column("last_read_run", sa.String(255), nullable=False),
        sa.UniqueConstraint("source", "source_id", name="uq_source_records_key"),
    )
    op.create_table(
        "golden_customers",
        sa.Column("customer_id", sa.String(64), primary_key=True),
        sa.Column("fields", sa.JSON, nullable=False),
        sa.Column("lineage", sa.JSON, nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("created_run", sa.String(255), nullable=False),
        sa.Column("updated_run", sa.String(255), nullable=False),
        sa.Column("retired", sa.Boolean, nullable=False),
    )
    op.create_table(
        "links",
        sa.Column("source", sa.String(64), primary_key=True),
        sa.Column("source_id", sa.String(255), primary_key=True),
        sa.Column("customer_id", sa.String(64), sa.ForeignKey("golden_customers.customer_id"), nullable=False),
        sa.Column("rule", sa.String(128), nullable=False),
        sa.Column("score", sa.Float, nullable=True),
        sa.Column("linked_run", sa.String(255), nullable=False),
    )
    op.create_index("ix_links_customer", "links", ["customer_id"])
    op.create_table(
        "cursors",
        sa.Column("source", sa.String(64), primary_key=True),
        sa.Column("position", sa.JSON, nullable=False),
        sa.Column("run_id", sa.String(255), nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
    )
    op.create_table(
        "quarantine",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.String(255), nullable=False),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("source_id", sa.String(255), nullable=True),
        sa.Column("raw", sa.JSON, nullable=False),
        sa.Column("raw_hash", sa.String(64), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("first_seen_at", TZ, nullable=False),
        sa.Column("resolved_run", sa.String(255), nullable=True),
        sa.UniqueConstraint("source", "raw_hash", name="uq_quarantine_payload"),
    )
    op.create_table(
        "sync_log",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.String(255), nullable=False),
        sa.Column("system", sa.String(64), nullable=False),
        sa.Column("source_id", sa.String(255), nullable=False),
        sa.Column("customer_id", sa.String(64), nullable=True),
        sa.Column("field", sa.String(128), nullable=False),
        sa.Column("before", sa.JSON, nullable=True),
        sa.Column("after", sa.JSON, nullable=True),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("at", TZ, nullable=False),
    )
    op.create_index("ix_sync_log_run", "sync_log", ["run_id"])
    op.create_table(
        "runs",
        sa.Column("run_id", sa.String(255), primary_key=True),
        sa.Column("started_at", TZ, nullable=False),
        sa.Column("finished_at", TZ, nullable=True),
        sa.Column("summary", sa.JSON, nullable=True),
    )


def downgrade() -> None:
    for table in ("runs", "sync_log", "quarantine", "cursors", "links", "golden_customers", "source_records"):
        op.drop_table(table)
