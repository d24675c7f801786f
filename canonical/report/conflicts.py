"""Conflicts: fields where the records of one golden customer disagree, read from the golden customer's
lineage: the winning source and value, the rule that chose it, and what the other records hold.

The lineage is read defensively, since the reconciler owns its shape: an entry is {"source",
"source_id", "rule", "others": [...]}, or a group of such entries one level down (consent holds one per
channel: "consent.email"); other values of the other records come as "value", or as the rest of the
entry (a consent event's status and time). Unknown keys are ignored."""
from __future__ import annotations

from canonical.report.snapshot import Snapshot

_RECORD_KEYS = ("source", "source_id")


def conflicts(snap: Snapshot) -> list[dict]:
    found = []
    for cid in sorted(snap.goldens):
        golden = snap.goldens[cid]
        for name, entry, value in _entries(golden.get("lineage") or {}, golden.get("fields") or {}):
            others = [o for o in _others(entry) if _disagrees(o["value"], value)]
            if others:
                winner = {"system": entry.get("source"), "source_id": entry.get("source_id"), "value": value}
                found.append({"customer_id": cid, "field": name, "rule": str(entry.get("rule") or "unknown"),
                              # Two systems edited the field differently since the last sync; the newer won.
                              "conflicting_edits": bool(entry.get("conflict")),
                              "systems": sorted({winner["system"], *(o["system"] for o in others)} - {None}),
                              "winner": winner, "others": others})
    return found


def _entries(lineage: dict, fields: dict, prefix: str = ""):
    """(field name, lineage entry, golden value) for every entry that names other records, one level of
    grouping unfolded. An entry without others is no conflict: most are, and they are skipped here."""
    for name, entry in sorted(lineage.items()):
        if not isinstance(entry, dict):
            continue
        if "rule" in entry or "others" in entry:
            if entry.get("others"):
                yield f"{prefix}{name}", entry, fields.get(name) if isinstance(fields, dict) else None
        elif not prefix:
            value = fields.get(name) if isinstance(fields, dict) else None
            yield from _entries(entry, value if isinstance(value, dict) else {}, f"{name}.")


def _others(entry: dict) -> list[dict]:
    return [{"system": o.get("source"), "source_id": o.get("source_id"), "value": _held(o)}
            for o in entry.get("others") or [] if isinstance(o, dict)]


def _held(other: dict):
    if "value" in other:
        return other["value"]
    return {k: v for k, v in other.items() if k not in _RECORD_KEYS}


def _disagrees(held, winning) -> bool:
    # A consent event agrees when its status does, whatever its time.
    if isinstance(held, dict) and isinstance(winning, dict) and "status" in held:
        return held.get("status") != winning.get("status")
    return held != winning


def conflict_rows(report: dict) -> list[dict]:
    """The conflicts list: one row per disagreeing record, next to the value that won."""
    return [{"customer_id": c["customer_id"], "field": c["field"], "rule": c["rule"],
             "conflicting_edits": c.get("conflicting_edits", False),
             "winner_system": c["winner"]["system"], "winner_source_id": c["winner"]["source_id"],
             "winner_value": c["winner"]["value"], "other_system": o["system"], "other_source_id": o["source_id"],
             "other_value": o["value"]} for c in report["conflicts"] for o in c["others"]]
