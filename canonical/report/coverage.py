"""Coverage: which golden customer has a record in which system. Counts per system, the overlap of every
pair, the gaps ("N customers in shopify have no hubspot record", and how many of them have activity
there: "M of them placed orders") and, per customer, where they live."""
from __future__ import annotations

from collections import Counter
from itertools import permutations

from canonical.report.orphans import owners
from canonical.report.snapshot import Snapshot


def presence(snap: Snapshot) -> dict[str, dict[str, list[str]]]:
    """customer_id -> {system: [source_id, ...]} over live, linked records; every golden customer appears."""
    found: dict[str, dict[str, list[str]]] = {cid: {} for cid in snap.goldens}
    for (system, source_id), cid in sorted(snap.links.items()):
        if (system, source_id) in snap.records:
            found[cid].setdefault(system, []).append(source_id)
    return found


def coverage(snap: Snapshot) -> dict:
    where = presence(snap)
    held = {system: {cid for cid, systems in where.items() if system in systems} for system in snap.systems}
    active = _active(snap)
    active_systems = sorted(active)
    return {
        "customers": len(where),
        "systems": {system: {"customers": len(held[system]), "records": _records(snap, system)}
                    for system in snap.systems},
        "overlap": {a: {b: len(held[a] & held[b]) for b in snap.systems} for a in snap.systems},
        "gaps": [{"present": a, "missing": b, "customers": len(held[a] - held[b]),
                  "active": len((held[a] - held[b]) & active.get(a, set()))}
                 for a, b in permutations(snap.systems, 2)],
        "activity_kinds": {s: sorted({a["kind"] for a in snap.activities if a["system"] == s}) for s in snap.systems},
        "only_in": {system: sum(1 for s in where.values() if set(s) == {system}) for system in snap.systems},
        "in_none": sum(1 for s in where.values() if not s),
        "combinations": _combinations(where),
        "members": [{"customer_id": cid, "records": where[cid],
                     "active_in": [s for s in active_systems if cid in active[s]]}
                    for cid in sorted(where)],
    }


def _active(snap: Snapshot) -> dict[str, set[str]]:
    """system -> the customers with at least one activity there (who bought, called, opened a mail)."""
    active: dict[str, set[str]] = {}
    for (system, _), key in owners(snap).items():
        if key in snap.links:
            active.setdefault(system, set()).add(snap.links[key])
    return active


def _records(snap: Snapshot, system: str) -> int:
    return sum(1 for key in snap.records if key[0] == system)


def _combinations(where: dict[str, dict]) -> list[dict]:
    counts = Counter(tuple(sorted(systems)) for systems in where.values())
    return [{"systems": list(combo), "customers": n}
            for combo, n in sorted(counts.items(), key=lambda item: (-item[1], item[0]))]


def gap_rows(report: dict) -> list[dict]:
    """One row per (customer, system holding them, system missing them): the coverage_gaps list."""
    systems = list(report["coverage"]["systems"])
    rows = []
    for member in report["coverage"]["members"]:
        held = member["records"]
        where = sorted(held)
        absent = [s for s in systems if s not in held]
        if not absent:
            continue
        for present in where:
            row = {"customer_id": member["customer_id"], "present": present,
                   "present_source_ids": " ".join(held[present]),
                   "active_in_present": present in member["active_in"],
                   "also_in": " ".join(s for s in where if s != present)}
            rows += [{**row, "missing": missing} for missing in absent]
    return rows
