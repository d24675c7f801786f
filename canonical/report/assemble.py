"""The report of one run, assembled from a store snapshot: every section is a pure function of the
snapshot, and the whole is the machine-readable source of truth (it validates against
report.schema.json). Values are as the sources hold them; masking happens in canonical.report.masking."""
from __future__ import annotations

from canonical.report import conflicts, coverage, duplicates, freshness, missing, orphans, problems
from canonical.report.snapshot import Snapshot

SCHEMA_VERSION = 2


def build(snap: Snapshot, summary: dict, run: dict | None = None) -> dict:
    """`summary` is the run's summary line; `run` carries what the run's tasks said (loads, reconcile, sync)."""
    owner = orphans.owners(snap)  # coverage and orphans both resolve every activity to its record
    report = {
        "schema_version": SCHEMA_VERSION,
        "run_id": snap.run_id,
        "generated_at": snap.now.isoformat(),
        "pii": "raw",
        "systems": snap.systems,
        "summary": summary,
        "run": run or {},
        "coverage": coverage.coverage(snap, owner),
        "missing_fields": missing.missing_fields(snap),
        "conflicts": conflicts.conflicts(snap),
        "duplicates": duplicates.duplicates(snap),
        "orphans": orphans.orphans(snap, owner),
        "quarantine": problems.quarantine(snap),
        "failed_writes": problems.failed_writes(snap),
        "staleness": freshness.staleness(snap),
    }
    report["gaps"] = gap_figures(report)
    report["trend"] = freshness.trend(snap, {**{k: summary.get(k) for k in ("customers", "changed", "quarantined",
                                                                            "failed_writes")}, **report["gaps"]})
    return report


def gap_figures(report: dict) -> dict:
    """The headline count of each section: what the summary line and the trend carry."""
    return {
        "orphans": len(report["orphans"]["items"]),
        "conflicts": len(report["conflicts"]),
        "duplicates": len(report["duplicates"]),
        "fillable": sum(t["fillable"] for t in report["missing_fields"]["totals"].values()),
        "quarantine_open": len(report["quarantine"]),
    }
