"""Orphan activities: tickets, orders, calls and email events whose customer reference resolves to no
live customer record of the same system. A reference resolves by the record's id, or by its email
address where a system links events by recipient (HubSpot's email events)."""
from __future__ import annotations

from collections import Counter

from canonical.report.snapshot import Snapshot


def orphans(snap: Snapshot, owner: dict | None = None) -> dict:
    """`owner` is owners(snap) when the caller has it already (coverage needs it too)."""
    owner = owners(snap) if owner is None else owner
    quarantined = {(q["system"], q["source_id"]) for q in snap.quarantine if q["source_id"]}
    items = [{**a, "reason": _why((a["system"], a["customer_ref"]), snap.deleted, quarantined)}
             for a in sorted(snap.activities, key=lambda a: (a["system"], a["kind"], a["occurred_at"], a["source_id"]))
             if (a["system"], a["source_id"]) not in owner]
    by_system = Counter(i["system"] for i in items)
    return {"by_system": {s: by_system.get(s, 0) for s in snap.systems}, "items": items}


def owners(snap: Snapshot) -> dict[tuple[str, str], tuple[str, str]]:
    """(system, activity id) -> the live record it belongs to, for every activity that resolves."""
    by_ref = {key: key for key in snap.records}
    for key, record in snap.records.items():
        for email in record.get("emails") or []:
            if isinstance(email, str):
                by_ref.setdefault((key[0], _folded(email)), key)
    found = {}
    for a in snap.activities:
        key = by_ref.get((a["system"], a["customer_ref"])) or by_ref.get((a["system"], _folded(a["customer_ref"])))
        if key:
            found[(a["system"], a["source_id"])] = key
    return found


def _folded(value: str) -> str:
    return value.strip().lower()


def _why(key, deleted: set, quarantined: set) -> str:
    # Only no_record is a true orphan at the source; the other two clear up when the record does.
    if key in quarantined:
        return "record_quarantined"
    if key in deleted:
        return "record_deleted"
    return "no_record"


def orphan_rows(report: dict) -> list[dict]:
    return [{k: i[k] for k in ("system", "kind", "source_id", "customer_ref", "occurred_at", "reason")}
            for i in report["orphans"]["items"]]
