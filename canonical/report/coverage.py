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
    for system, source_id in sorted(snap.links):
        if (system, source_id) in snap.records:
            found[snap.links[system, source_id]].setdefault(system, []).append(source_id)
    return found


def coverage(snap: Snapshot, owner: dict | None = None) -> dict:
    """`owner` is orphans.owners(snap) when the caller has it already (it is the costly part)."""
    where = presence(snap)
    held = _held(where, snap.systems)
    active = _active(snap, owners(snap) if owner is None else owner)
    active_in = _active_in(active)
    lone = Counter(next(iter(systems)) for systems in where.values() if len(systems) == 1)
    records = Counter(key[0] for key in snap.records)
    kinds = _activity_kinds(snap)
    return {
        "customers": len(where),
        "systems": {system: {"customers": len(held[system]), "records": records.get(system, 0)}
                    for system in snap.systems},
        "overlap": {a: {b: len(held[a] & held[b]) for b in snap.systems} for a in snap.systems},
        "gaps": [{"present": a, "missing": b, "customers": len(held[a] - held[b]),
                  "active": len((held[a] - held[b]) & active.get(a, set()))}
                 for a, b in permutations(snap.systems, 2)],
        "activity_kinds": {s: sorted(kinds.get(s, ())) for s in snap.systems},
        "only_in": {system: lone.get(system, 0) for system in snap.systems},
        "in_none": sum(1 for s in where.values() if not s),
        "combinations": _combinations(where),
        "members": [{"customer_id": cid, "records": where[cid], "active_in": active_in.get(cid, [])}
                    for cid in sorted(where)],
    }


def _held(where: dict[str, dict], systems: list[str]) -> dict[str, set[str]]:
    """system -> the customers with a record there."""
    held: dict[str, set[str]] = {system: set() for system in systems}
    for cid, present in where.items():
        for system in present:
            if system in held:
                held[system].add(cid)
    return held


def _active(snap: Snapshot, owner: dict) -> dict[str, set[str]]:
    """system -> the customers with at least one activity there (who bought, called, opened a mail)."""
    active: dict[str, set[str]] = {}
    # An activity belongs to a record of its own system, and most records have several: one pass per record.
    for key in set(owner.values()):
        if key in snap.links:
            active.setdefault(key[0], set()).add(snap.links[key])
    return active


def _active_in(active: dict[str, set[str]]) -> dict[str, list[str]]:
    """customer_id -> the systems they are active in, sorted."""
    found: dict[str, list[str]] = {}
    for system in sorted(active):
        for cid in active[system]:
            found.setdefault(cid, []).append(system)
    return found


def _activity_kinds(snap: Snapshot) -> dict[str, set[str]]:
    kinds: dict[str, set[str]] = {}
    for a in snap.activities:
        kinds.setdefault(a["system"], set()).add(a["kind"])
    return kinds


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
