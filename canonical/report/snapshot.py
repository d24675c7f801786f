"""One consistent read of everything a report is built from: the store's rows copied into plain data,
so that every section of the report is a pure function of this snapshot (and tests can build one
without a database)."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from canonical import mapping as mappings
from canonical.store import (Activity, Cursor, GoldenCustomer, Link, QuarantinedRecord, Run, SourceRecord,
                             SyncLogEntry)
from canonical.store.models import as_utc

Key = tuple[str, str]  # (system, source_id)


@dataclass
class Snapshot:
    run_id: str
    now: datetime
    records: dict[Key, dict] = field(default_factory=dict)       # live records: canonical form
    deleted: set[Key] = field(default_factory=set)               # records their source deleted
    links: dict[Key, str] = field(default_factory=dict)          # record -> customer_id
    link_rules: dict[Key, str] = field(default_factory=dict)
    goldens: dict[str, dict] = field(default_factory=dict)       # customer_id -> {"fields", "lineage"}
    activities: list[dict] = field(default_factory=list)
    quarantine: list[dict] = field(default_factory=list)
    sync_log: list[dict] = field(default_factory=list)           # this run's entries that did not succeed
    cursors: list[dict] = field(default_factory=list)
    runs: list[dict] = field(default_factory=list)               # earlier finished runs, oldest first
    systems: list[str] = field(default_factory=list)


def read(s: Session, run_id: str, now: datetime, systems: list[str] | None = None, history: int = 10) -> Snapshot:
    snap = Snapshot(run_id=run_id, now=now)
    _read_records(s, snap)
    _read_links_and_goldens(s, snap)
    snap.activities = _read_activities(s)
    snap.quarantine = [_quarantined(q) for q in s.scalars(
        select(QuarantinedRecord).where(QuarantinedRecord.resolved_run.is_(None)))]
    snap.sync_log = [_sync_entry(e) for e in s.scalars(
        select(SyncLogEntry).where(SyncLogEntry.run_id == run_id, SyncLogEntry.outcome != "ok"))]
    snap.cursors = [_cursor(c) for c in s.scalars(select(Cursor))]
    snap.runs = _earlier_runs(s, run_id, history)
    snap.systems = systems_of(snap, systems or [])
    return snap


def systems_of(snap: Snapshot, named: list[str]) -> list[str]:
    """Every system the run named or the store has seen, in a stable order."""
    seen = set(named) | {k[0] for k in snap.records} | {a["system"] for a in snap.activities}
    seen |= {q["system"] for q in snap.quarantine} | {c["stream"].split("/", 1)[0] for c in snap.cursors}
    return sorted(seen)


def _columns(s: Session, statement):
    """The rows of a select of columns, in the session's transaction, without the ORM's per-row work
    (rows of plain columns do not need it, and the snapshot reads every record, link and activity)."""
    return s.connection().execute(statement)


def _read_records(s: Session, snap: Snapshot) -> None:
    rows = _columns(s, select(SourceRecord.source, SourceRecord.source_id, SourceRecord.canonical, SourceRecord.deleted))
    for source, source_id, canonical, deleted in rows:
        if deleted:
            snap.deleted.add((source, source_id))
        else:
            snap.records[(source, source_id)] = canonical or {}


def _read_links_and_goldens(s: Session, snap: Snapshot) -> None:
    for customer_id, fields, lineage in _columns(s, select(
            GoldenCustomer.customer_id, GoldenCustomer.fields, GoldenCustomer.lineage).where(GoldenCustomer.retired.is_(False))):
        snap.goldens[customer_id] = {"fields": fields or {}, "lineage": lineage or {}}
    for source, source_id, customer_id, rule in _columns(s, select(Link.source, Link.source_id, Link.customer_id, Link.rule)):
        if customer_id in snap.goldens:
            snap.links[(source, source_id)] = customer_id
            snap.link_rules[(source, source_id)] = rule


def _read_activities(s: Session) -> list[dict]:
    # Columns, not ORM rows: activities are the largest table, and their payloads are not reported.
    rows = _columns(s, select(Activity.source, Activity.kind, Activity.source_id, Activity.customer_ref,
                              Activity.occurred_at))
    return [{"system": source, "kind": kind, "source_id": source_id, "customer_ref": customer_ref,
             "occurred_at": as_utc(occurred_at).isoformat()}
            for source, kind, source_id, customer_ref, occurred_at in rows]


def _quarantined(q: QuarantinedRecord) -> dict:
    return {"system": q.source, "source_id": q.source_id, "reason": q.reason, "first_seen_run": q.run_id,
            "first_seen_at": as_utc(q.first_seen_at).isoformat() if q.first_seen_at else None}


def _sync_entry(e: SyncLogEntry) -> dict:
    return {"system": e.system, "source_id": e.source_id, "customer_id": e.customer_id, "field": e.field,
            "outcome": e.outcome, "reason": e.reason}


def _cursor(c: Cursor) -> dict:
    return {"stream": c.source, "run_id": c.run_id, "updated_at": as_utc(c.updated_at) if c.updated_at else None}


def _earlier_runs(s: Session, run_id: str, history: int) -> list[dict]:
    rows = s.scalars(select(Run).where(Run.finished_at.is_not(None), Run.run_id != run_id)
                     .order_by(Run.finished_at.desc()).limit(history))
    return [{"run_id": r.run_id, "finished_at": as_utc(r.finished_at).isoformat(), "summary": r.summary or {}}
            for r in reversed(list(rows))]


def write_back(system: str) -> tuple[str, ...]:
    """The canonical fields the system accepts from Concord (none when it has no mapping)."""
    try:
        return mappings.load(system).customers.write_back
    except FileNotFoundError:
        return ()


def readable_fields(system: str) -> tuple[str, ...]:
    """The customer fields the system's mapping reads, as the report counts them (no ids, no extras)."""
    try:
        rules = mappings.load(system).customers.rules
    except FileNotFoundError:
        return ()
    return tuple(r.canonical for r in rules if _reportable(r.canonical))


def _reportable(name: str) -> bool:
    if name.startswith(("attributes.", "external_ids")) or name in ("updated_at", "deleted"):
        return False
    return not (name.startswith("consent.") and name.endswith(".updated_at"))
