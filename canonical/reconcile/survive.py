"""Survivorship: the golden value of each field and its lineage. For now one rule for every field,
the most recently updated source that knows a value; per-field rules replace it without changing
this module's shape (field -> value, field -> lineage)."""
from __future__ import annotations

GOLDEN_FIELDS = ("given_name", "family_name", "full_name", "emails", "phones", "address", "birth_date", "consent")
EMPTY = (None, "", [], {})


def golden(customer_id: str, records: list[dict]) -> tuple[dict, dict]:
    """records: canonical source records of one person. Returns (fields, lineage)."""
    newest_first = sorted(records, key=lambda r: (r["updated_at"], r["source"], r["source_id"]), reverse=True)
    fields, lineage = {}, {}
    for name in GOLDEN_FIELDS:
        holders = [r for r in newest_first if r.get(name) not in EMPTY]
        if not holders:
            continue
        fields[name] = holders[0][name]
        lineage[name] = {
            "source": holders[0]["source"], "source_id": holders[0]["source_id"], "rule": "most_recent",
            "others": [{"source": r["source"], "source_id": r["source_id"], "value": r[name]}
                       for r in holders[1:] if r[name] != holders[0][name]],
        }
    fields["external_ids"] = {**_known_external_ids(newest_first), "concord": customer_id}
    return fields, lineage


def _known_external_ids(records: list[dict]) -> dict:
    ids = {}
    for record in reversed(records):  # newest last, so the newest wins
        ids.update({k: v for k, v in (record.get("external_ids") or {}).items() if v and k != "concord"})
    return ids
