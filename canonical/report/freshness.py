"""Staleness and trend: when each system/stream was last read successfully (its cursor's age), and this
run's headline numbers next to those of the runs before it."""
from __future__ import annotations

from canonical.report.snapshot import Snapshot

# The figures the trend follows; older runs that predate a figure show it as null.
TREND_FIGURES = ("customers", "changed", "quarantined", "failed_writes", "orphans", "conflicts", "duplicates",
                 "fillable")


def staleness(snap: Snapshot) -> list[dict]:
    rows = []
    for c in sorted(snap.cursors, key=lambda c: c["stream"]):
        age = (snap.now - c["updated_at"]).total_seconds() if c["updated_at"] else None
        rows.append({"stream": c["stream"], "system": c["stream"].split("/", 1)[0],
                     "last_read_at": c["updated_at"].isoformat() if c["updated_at"] else None,
                     "age_seconds": round(age) if age is not None else None, "last_read_run": c["run_id"]})
    return rows


def trend(snap: Snapshot, current: dict) -> list[dict]:
    """Earlier runs, oldest first, then this one; `current` is this run's figures."""
    points = [_point(r["run_id"], r["finished_at"], r["summary"]) for r in snap.runs]
    return points + [{"run_id": snap.run_id, "finished_at": snap.now.isoformat(),
                     **{f: _number(current.get(f)) for f in TREND_FIGURES}}]


def _point(run_id: str, finished_at: str, summary: dict) -> dict:
    gaps = summary.get("gaps") or {}
    return {"run_id": run_id, "finished_at": finished_at,
            **{f: _number(summary.get(f, gaps.get(f))) for f in TREND_FIGURES}}


def _number(value):
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None
