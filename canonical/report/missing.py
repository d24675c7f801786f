"""Missing fields: for every live record, each field its system reads but holds empty, sorted into
fillable (another system knows the value and this system's write-back list accepts it), not_writable
(another system knows it, this system does not accept it from Concord) and unfillable (nobody knows)."""
from __future__ import annotations

from collections import defaultdict

from canonical.mapping import EMPTY, get_path
from canonical.report.snapshot import Snapshot, readable_fields, write_back

STATUSES = ("fillable", "not_writable", "unfillable")


def missing_fields(snap: Snapshot) -> dict:
    by_customer = _records_by_customer(snap)
    by_system = defaultdict(list)
    for key in snap.records:
        by_system[key[0]].append(key)
    counts: dict[str, dict[str, dict[str, int]]] = {}
    items = []
    for system in snap.systems:
        fields, accepted = readable_fields(system), set(write_back(system))
        counts[system] = {f: {"missing": 0, **dict.fromkeys(STATUSES, 0)} for f in fields}
        for key in sorted(by_system.get(system, ())):
            peers = by_customer.get(snap.links.get(key), [])
            for item in _gaps(snap, key, fields, accepted, peers):
                counts[system][item["field"]]["missing"] += 1
                counts[system][item["field"]][item["status"]] += 1
                if item["status"] != "unfillable":
                    items.append(item)
    return {"by_system": counts, "totals": _totals(counts), "items": items}


def _gaps(snap: Snapshot, key, fields, accepted: set, peers: list) -> list[dict]:
    record, found = snap.records[key], []
    for name in fields:
        if get_path(record, name) not in EMPTY:
            continue
        known = [{"system": p[0], "source_id": p[1], "value": v} for p in peers
                 if p[0] != key[0] and (v := get_path(snap.records[p], name)) not in EMPTY]
        status = "unfillable" if not known else "fillable" if name in accepted else "not_writable"
        found.append({"system": key[0], "source_id": key[1], "customer_id": snap.links.get(key), "field": name,
                      "status": status, "known_by": known})
    return found


def _records_by_customer(snap: Snapshot) -> dict[str, list]:
    grouped = defaultdict(list)
    for key, cid in snap.links.items():
        if key in snap.records:
            grouped[cid].append(key)
    for keys in grouped.values():
        keys.sort()
    return grouped


def _totals(counts: dict) -> dict[str, dict[str, int]]:
    return {system: {status: sum(c[status] for c in fields.values()) for status in ("missing", *STATUSES)}
            for system, fields in counts.items()}


def missing_rows(report: dict) -> list[dict]:
    """The missing_fields list: one row per fillable or not-writable hole, with who knows the value."""
    return [{"system": i["system"], "source_id": i["source_id"], "customer_id": i["customer_id"],
             "field": i["field"], "status": i["status"],
             "known_by": " ".join(f"{k['system']}:{k['source_id']}" for k in i["known_by"]),
             "value": i["known_by"][0]["value"] if i["known_by"] else None} for i in report["missing_fields"]["items"]]
