"""What went wrong on the way in and on the way out: records still in quarantine with their reasons, and
this run's writes that did not succeed (dead-lettered when fatal, to be retried when retriable)."""
from __future__ import annotations

from collections import Counter

from canonical.report.snapshot import Snapshot


def quarantine(snap: Snapshot) -> list[dict]:
    return sorted(snap.quarantine, key=lambda q: (q["system"], q["source_id"] or ""))


def failed_writes(snap: Snapshot) -> dict:
    items = sorted(snap.sync_log, key=lambda e: (e["system"], e["source_id"], e["field"]))
    outcomes = Counter(e["outcome"] for e in items)
    return {"dead_lettered": outcomes.get("failed", 0), "retriable": outcomes.get("retriable", 0),
            "records": len({(e["system"], e["source_id"]) for e in items}), "items": items}


def quarantine_rows(report: dict) -> list[dict]:
    return [{k: q[k] for k in ("system", "source_id", "reason", "first_seen_run", "first_seen_at")}
            for q in report["quarantine"]]


def failed_write_rows(report: dict) -> list[dict]:
    return [dict(e) for e in report["failed_writes"]["items"]]
