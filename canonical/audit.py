"""Audit: the run's data-gap report (canonical.report) stored under var/reports/<run>/ and, when
configured, on S3, plus the run's one-line summary. The stored files hold no raw emails or phones:
the report is masked before it is written; `concord report --show-pii` rebuilds it unmasked on demand.

A run's report is built once. Two audits of one run (the run's own audit task and concord_report,
which the run's outbox event triggers at the same moment) take the run's row in turn, and the second
returns the summary the first stored instead of building the same report again beside it: at 100,000
customers each build takes a core and over 2 GB for most of a minute."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select

from canonical import progress
from canonical.heap import collector_paused
from canonical.report import assemble, mask_report, publish, snapshot
from canonical.store import GoldenCustomer, Run, session
from canonical.store.models import as_utc, utcnow

REPORT_SCHEMA_VERSION = assemble.SCHEMA_VERSION


@collector_paused
def audit(run_id: str, loads: list[dict], recon: dict, synced: dict, published_since: datetime | None = None) -> dict:
    """Builds and stores the run's report, unless it was published at or after `published_since`
    (by default, when this call began: by another audit of the run that held the run's row meanwhile)."""
    since = as_utc(published_since) if published_since else utcnow()
    with session() as s:
        # The run's row, locked until this transaction ends (PostgreSQL; SQLite runs one writer anyway).
        run = s.get(Run, run_id, with_for_update=True)
        if run is not None and run.finished_at is not None and as_utc(run.finished_at) >= since and run.summary:
            progress.say(f"report of run {run_id}: published at {as_utc(run.finished_at).isoformat()}, not built again")
            return run.summary
        report = _report(s, run_id, loads, recon, synced)
        summary = report["summary"]
        files = publish.render_files(mask_report(report))
        publish.write(files, publish.run_dir(run_id))
        uploaded = publish.upload(files, run_id)
        if uploaded:
            summary["report_uploaded"] = len(uploaded)
        _finish_run(s, run_id, summary)
    return summary


def _report(s, run_id: str, loads: list[dict], recon: dict, synced: dict) -> dict:
    customers = s.scalar(select(func.count()).select_from(GoldenCustomer).where(GoldenCustomer.retired.is_(False)))
    directory = publish.run_dir(run_id)
    snap = snapshot.read(s, run_id, utcnow(), systems=sorted({load["system"] for load in loads}))
    summary = {
        "run_id": run_id,
        "read": _per_system(loads, "read"),
        "changed": sum(load["changed"] for load in loads),
        "customers": customers,
        "writes": synced["writes"],
        "quarantined": sum(load["quarantined"] for load in loads),
        "failed_writes": len(snap.sync_log),
        "report": str(directory / "report.json"),
        "report_html": str(directory / "report.html"),
    }
    report = assemble.build(snap, summary, run={"loads": loads, "reconcile": recon, "sync": synced})
    summary["gaps"] = report["gaps"]
    return report


def _per_system(loads: list[dict], key: str) -> dict[str, int]:
    totals: dict[str, int] = {}
    for load in loads:
        totals[load["system"]] = totals.get(load["system"], 0) + load[key]
    return totals


def _finish_run(s, run_id: str, summary: dict) -> None:
    run = s.get(Run, run_id)
    if run is None:
        run = Run(run_id=run_id)
        s.add(run)
    run.finished_at, run.summary = utcnow(), summary


def latest_run() -> Run | None:
    with session() as s:
        return s.scalars(select(Run).where(Run.finished_at.is_not(None)).order_by(Run.finished_at.desc())).first()


def report_path(run_id: str | None = None, name: str = "report.json"):
    """A file of a run's report (the latest finished run by default), or None when there is none."""
    if run_id is None:
        run = latest_run()
        run_id = run.run_id if run else None
    path = publish.run_dir(run_id) / name if run_id else None
    return path if path and path.exists() else None
