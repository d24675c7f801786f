"""Activities: tickets, orders, calls and email events, linked to the source record they belong to.

Revision ID: 0002
Revises: 0001
"""
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "activities",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("source_id", sa.String(255), nullable=False),
        sa.Column("customer_ref", sa.String(255), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("raw", sa.JSON, nullable=False),
        sa.Column("canonical", sa.JSON, nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("first_seen_run", sa.String(255), nullable=False),
        sa.Column("last_changed_run", sa.String(255), nullable=False),
        sa.UniqueConstraint("source", "kind", "source_id", name="uq_activities_key"),
    )
    op.create_index("ix_activities_customer", "activities", ["source", "customer_ref"])


def downgrade() -> None:
    op.drop_table("activities")
