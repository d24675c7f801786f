"""SQLAlchemy models of the canonical store. The Alembic migrations under migrations/ create exactly
these tables; a test compares the two so that neither drifts."""
from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import (JSON, Boolean, DateTime, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint,
                        true)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def as_utc(value: datetime) -> datetime:
    """SQLite hands timezone-aware columns back naive; they were stored in UTC."""
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


class Base(DeclarativeBase):
    pass


class SourceRecord(Base):
    """One customer as one system holds it: the raw payload, its canonical form and a content hash
    (of the canonical form without updated_at) that tells a real change from a re-read or an echo."""

    __tablename__ = "source_records"
    __table_args__ = (UniqueConstraint("source", "source_id", name="uq_source_records_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(64))
    source_id: Mapped[str] = mapped_column(String(255))
    raw: Mapped[dict] = mapped_column(JSON)
    canonical: Mapped[dict] = mapped_column(JSON)
    content_hash: Mapped[str] = mapped_column(String(64))
    source_updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    first_seen_run: Mapped[str] = mapped_column(String(255))
    last_changed_run: Mapped[str] = mapped_column(String(255))
    last_read_run: Mapped[str] = mapped_column(String(255))
    # {"edits": {field: {"at", "run"}}, "consent": {channel: {"status", "at"}}}: see
    # canonical/sync/edits.py. Null until the record is first edited or written.
    sync_state: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    # Its customer's golden record has not been computed from it as it is now: set when a read or a
    # write-back changes the record (its updated_at included), cleared by the reconcile that recomputes
    # the golden record. A record with an edit read by a run stays set for one more run, since
    # survivorship counts an edit fresh only in the run that read it.
    golden_stale: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    # The record's comparison features (canonical.reconcile.features.stored), and features.stamp() of
    # the content and code they were computed from: written with the record, so that a reconcile
    # plan reads them instead of normalizing every record of the store again.
    match_features: Mapped[list | None] = mapped_column(JSON, nullable=True)
    features_of: Mapped[str | None] = mapped_column(String(80), nullable=True)


class Activity(Base):
    """A ticket, order, call or email event as its source holds it, linked by `customer_ref` to the
    source record it belongs to (an orphan when no record has that id)."""

    __tablename__ = "activities"
    __table_args__ = (UniqueConstraint("source", "kind", "source_id", name="uq_activities_key"),
                      Index("ix_activities_customer", "source", "customer_ref"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(32))
    source_id: Mapped[str] = mapped_column(String(255))
    customer_ref: Mapped[str] = mapped_column(String(255))
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    raw: Mapped[dict] = mapped_column(JSON)
    canonical: Mapped[dict] = mapped_column(JSON)
    content_hash: Mapped[str] = mapped_column(String(64))
    first_seen_run: Mapped[str] = mapped_column(String(255))
    last_changed_run: Mapped[str] = mapped_column(String(255))


class GoldenCustomer(Base):
    """One real person: the surviving value of each field and, per field, where it came from."""

    __tablename__ = "golden_customers"

    customer_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    fields: Mapped[dict] = mapped_column(JSON)
    lineage: Mapped[dict] = mapped_column(JSON)
    content_hash: Mapped[str] = mapped_column(String(64))
    created_run: Mapped[str] = mapped_column(String(255))
    updated_run: Mapped[str] = mapped_column(String(255))
    retired: Mapped[bool] = mapped_column(Boolean, default=False)
    # The survivorship rules it was computed with (canonical/survivorship.yaml): changed rules recompute it.
    rules_digest: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # Computed again since the systems' writes were last planned for it (a dry run plans nothing).
    plan_pending: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())


class Link(Base):
    """Which golden customer a source record belongs to, and the rule that put it there."""

    __tablename__ = "links"
    __table_args__ = (Index("ix_links_customer", "customer_id"),)

    source: Mapped[str] = mapped_column(String(64), primary_key=True)
    source_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("golden_customers.customer_id"))
    rule: Mapped[str] = mapped_column(String(128))
    score: Mapped[float | None] = mapped_column(Float, nullable=True)
    linked_run: Mapped[str] = mapped_column(String(255))


class Cursor(Base):
    """Where the next incremental read of a source starts; moved only with the records it covers."""

    __tablename__ = "cursors"

    source: Mapped[str] = mapped_column(String(64), primary_key=True)
    position: Mapped[dict] = mapped_column(JSON)
    run_id: Mapped[str] = mapped_column(String(255))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class QuarantinedRecord(Base):
    """A record that broke the contract, kept whole with the reason, until a later read fixes it."""

    __tablename__ = "quarantine"
    __table_args__ = (UniqueConstraint("source", "raw_hash", name="uq_quarantine_payload"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(String(255))
    source: Mapped[str] = mapped_column(String(64))
    source_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    raw: Mapped[dict] = mapped_column(JSON)
    raw_hash: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text)
    first_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    resolved_run: Mapped[str | None] = mapped_column(String(255), nullable=True)


class SyncLogEntry(Base):
    """One field written (or not) to one record of one system in one run, with its outcome."""

    __tablename__ = "sync_log"
    __table_args__ = (Index("ix_sync_log_run", "run_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(String(255))
    system: Mapped[str] = mapped_column(String(64))
    source_id: Mapped[str] = mapped_column(String(255))
    customer_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    field: Mapped[str] = mapped_column(String(128))
    before: Mapped[object | None] = mapped_column(JSON, nullable=True)
    after: Mapped[object | None] = mapped_column(JSON, nullable=True)
    outcome: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Run(Base):
    """One sync cycle, and the summary line it ended with."""

    __tablename__ = "runs"

    run_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    summary: Mapped[dict | None] = mapped_column(JSON, nullable=True)


class MatchOverride(Base):
    """A person's decision on two source records: `force` (one person) or `forbid` (never one person).
    Applied on every reconcile; a forbid outranks any score, a force joins the two clusters. The pair
    is stored in key order, so that one pair has one row."""

    __tablename__ = "match_overrides"
    __table_args__ = (UniqueConstraint("source_a", "source_id_a", "source_b", "source_id_b",
                                       name="uq_match_overrides_pair"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    source_a: Mapped[str] = mapped_column(String(64))
    source_id_a: Mapped[str] = mapped_column(String(255))
    source_b: Mapped[str] = mapped_column(String(64))
    source_id_b: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ClusterEvent(Base):
    """A merge (a customer took in records of other customers) or a split (a customer's records now
    belong to several customers), as one reconcile run decided it."""

    __tablename__ = "cluster_events"
    __table_args__ = (Index("ix_cluster_events_customer", "customer_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(16))
    customer_id: Mapped[str] = mapped_column(String(64))
    others: Mapped[list] = mapped_column(JSON)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class MatchModel(Base):
    """The matching model a full reconcile learned (m and u per comparison level, the prior, and the
    system rates its weak links are judged by); incremental runs score and cluster with the latest one."""

    __tablename__ = "match_models"

    run_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    parameters: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class MatchEvidence(Base):
    """One accepted link between two source records of a customer: the rule or the score that made
    it, with the comparison level of every field behind the score. What `concord explain` shows."""

    __tablename__ = "match_evidence"
    __table_args__ = (Index("ix_match_evidence_customer", "customer_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    customer_id: Mapped[str] = mapped_column(String(64))
    source_a: Mapped[str] = mapped_column(String(64))
    source_id_a: Mapped[str] = mapped_column(String(255))
    source_b: Mapped[str] = mapped_column(String(64))
    source_id_b: Mapped[str] = mapped_column(String(255))
    rule: Mapped[str] = mapped_column(String(64))
    weight: Mapped[float] = mapped_column(Float)
    probability: Mapped[float] = mapped_column(Float)
    levels: Mapped[dict] = mapped_column(JSON)
    run_id: Mapped[str] = mapped_column(String(255))
