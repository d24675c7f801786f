"""Audit: the run's report (JSON under var/reports/<run>/) and its one-line summary. Holds no PII:
reasons are masked where they are made, and records are named by system and id only."""
from __future__ import annotations

import json

from sqlalchemy import func, select

from canonical import landing, paths
from canonical.store import GoldenCustomer, QuarantinedRecord, Run, SyncLogEntry, session
from canonical.store.models import utcnow

REPORT_SCHEMA_VERSION = 1


def audit(run_id: str, loads: list[dict], recon: dict, synced: dict) -> dict:
    with session() as s:
        quarantine = _open_quarantine(s)
        failed = _failed_writes(s, run_id)
        customers = s.scalar(select(func.count()).select_from(GoldenCustomer).where(GoldenCustomer.retired.is_(False)))
        path = paths.ensure(paths.reports_dir() / landing.run_key(run_id)) / "report.json"
        summary = {
            "run_id": run_id,
            "read": _per_system(loads, "read"),
            "changed": sum(load["changed"] for load in loads),
            "customers": customers,
            "writes": synced["writes"],
            "quarantined": sum(load["quarantined"] for load in loads),
            "failed_writes": len(failed),
            "report": str(path),
        }
        report = {"schema_version": REPORT_SCHEMA_VERSION, "run_id": run_id, "generated_at": utcnow().isoformat(),
                  "summary": summary, "systems": loads, "reconcile": recon, "quarantine": quarantine,
                  "failed_writes": failed}
        path.write_text(json.dumps(report, indent=2, default=str))
        _finish_run(s, run_id, summary)
    return summary


def _per_system(loads: list[dict], key: str) -> dict[str, int]:
    totals: dict[str, int] = {}
    for load in loads:
        totals[load["system"]] = totals.get(load["system"], 0) + load[key]
    return totals


def _open_quarantine(s) -> list[dict]:
    rows = s.scalars(select(QuarantinedRecord).where(QuarantinedRecord.resolved_run.is_(None))
                     .order_by(QuarantinedRecord.source, QuarantinedRecord.source_id))
    return [{"system": q.source, "source_id": q.source_id, "reason": q.reason, "first_seen_run": q.run_id}
            for q in rows]


def _failed_writes(s, run_id: str) -> list[dict]:
    rows = s.scalars(select(SyncLogEntry).where(SyncLogEntry.run_id == run_id, SyncLogEntry.outcome != "ok"))
    return [{"system": e.system, "source_id": e.source_id, "field": e.field, "outcome": e.outcome,
             "reason": e.reason} for e in rows]


def _finish_run(s, run_id: str, summary: dict) -> None:
    run = s.get(Run, run_id)
    if run is None:
        run = Run(run_id=run_id)
        s.add(run)
    run.finished_at, run.summary = utcnow(), summary


def latest_run() -> Run | None:
    with session() as s:
        return s.scalars(select(Run).where(Run.finished_at.is_not(None)).order_by(Run.finished_at.desc())).first()


def report_path(run_id: str | None = None):
    """The report of a run (the latest finished one by default), or None when there is none."""
    if run_id is None:
        run = latest_run()
        run_id = run.run_id if run else None
    path = paths.reports_dir() / landing.run_key(run_id) / "report.json" if run_id else None
    return path if path and path.exists() else None
