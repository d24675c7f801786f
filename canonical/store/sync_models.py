"""The sync side of the store: the outbox of planned writes and the suppression list of erased people."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, DateTime, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from canonical.store.models import Base, utcnow

OUTBOX_OPEN = ("pending", "failed")  # the statuses of a write that still waits for delivery


class OutboxEntry(Base):
    """One planned write to one record of one system, committed before anything is sent, so that a
    crash between planning and delivery loses nothing and a re-run sends each write once more at most
    (writes are upserts, so once more changes nothing). Status: pending, sent, failed (retriable, tried
    again next run) or dead (a fatal answer, kept with its reason until `concord sync --retry-failed`)."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_status", "system", "status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(String(255))
    system: Mapped[str] = mapped_column(String(64))
    source_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    customer_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    action: Mapped[str] = mapped_column(String(16))
    fields: Mapped[dict] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class Suppression(Base):
    """An erased person, by a salted hash of a normalized email or phone: no source may bring them back."""

    __tablename__ = "suppression"

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class PlanState(Base):
    """When a system's writes were last planned, and under which write-back policy: an incremental run
    plans only the customers whose golden record changed since, and only while the policy is the same
    (a new policy, such as creation turned on, can want writes for anybody)."""

    __tablename__ = "plan_states"

    system: Mapped[str] = mapped_column(String(64), primary_key=True)
    policy_digest: Mapped[str] = mapped_column(String(64))
    run_id: Mapped[str] = mapped_column(String(255))
    planned_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
