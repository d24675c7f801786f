"""Duplicates inside one system: several live records of the same system linked to one golden customer
(one person, two Zendesk users). The fix is a merge in that system."""
from __future__ import annotations

from collections import defaultdict

from canonical.report.snapshot import Snapshot


def duplicates(snap: Snapshot) -> list[dict]:
    groups = defaultdict(list)
    for key, cid in snap.links.items():
        if key in snap.records:
            groups[(key[0], cid)].append(key[1])
    shared = sorted((group, ids) for group, ids in groups.items() if len(ids) > 1)
    return [{"system": system, "customer_id": cid, "source_ids": sorted(ids),
             "rules": sorted({snap.link_rules.get((system, i), "unknown") for i in ids})}
            for (system, cid), ids in shared]


def duplicate_rows(report: dict) -> list[dict]:
    """The duplicates list: one row per record, grouped by the customer they share."""
    return [{"system": d["system"], "customer_id": d["customer_id"], "source_id": source_id,
             "records_in_group": len(d["source_ids"])} for d in report["duplicates"] for source_id in d["source_ids"]]
