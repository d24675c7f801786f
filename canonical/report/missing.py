"""Missing fields: for every live record, each field its system reads but holds empty, sorted into
fillable (another system knows the value and this system's write-back list accepts it), not_writable
(another system knows it, this system does not accept it from Concord) and unfillable (nobody knows)."""
from __future__ import annotations

from collections import defaultdict

from canonical.mapping import EMPTY
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
        counts[system], found = _system_gaps(snap, system, sorted(by_system.get(system, ())), by_customer)
        items += found
    return {"by_system": counts, "totals": _totals(counts), "items": items}


def _system_gaps(snap: Snapshot, system: str, keys: list, by_customer: dict) -> tuple[dict, list[dict]]:
    """The system's counts per field and its fillable and not-writable holes, record by record. Each
    record's fields are read once, and its peers' only for the fields it lacks."""
    fields, accepted = readable_fields(system), set(write_back(system))
    counts = {f: {"missing": 0, **dict.fromkeys(STATUSES, 0)} for f in fields}
    paths = [name.split(".") for name in fields]
    items = []
    for key in keys:
        cid, peers = snap.links.get(key), None
        for name, path, value in zip(fields, paths, _values(snap.records[key], paths)):
            if value not in EMPTY:
                continue
            if peers is None:  # only other systems' records can know what this one lacks
                peers = [(p, snap.records[p]) for p in by_customer.get(cid, ()) if p[0] != system]
            known = [{"system": p[0], "source_id": p[1], "value": v} for p, record in peers
                     if (v := _value(record, path)) not in EMPTY]
            status = "unfillable" if not known else "fillable" if name in accepted else "not_writable"
            counts[name]["missing"] += 1
            counts[name][status] += 1
            if status != "unfillable":
                items.append({"system": system, "source_id": key[1], "customer_id": cid, "field": name,
                              "status": status, "known_by": known})
    return counts, items


def _values(record: dict, paths: list[list[str]]) -> list:
    """get_path of every field in one call: the names are split once per system, not once per record."""
    values = []
    for path in paths:
        data = record
        for key in path:
            data = data.get(key) if isinstance(data, dict) else None
        values.append(data)
    return values


def _value(data, path: list[str]):
    """get_path with the name split beforehand."""
    for key in path:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


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
