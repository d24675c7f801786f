"""Reconcile: source records -> golden customers. Public entry point `reconcile(run_id)`; the steps
(normalize, cluster, ids, survive) live in their own modules."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from canonical import progress
from canonical.hashing import digest
from canonical.reconcile import cluster, ids, survive
from canonical.store import GoldenCustomer, Link, SourceRecord, session


def reconcile(run_id: str) -> dict:
    with session() as s:
        records = {(r.source, r.source_id): r.canonical
                   for r in s.scalars(select(SourceRecord).where(SourceRecord.deleted.is_(False)))}
        previous = {(l.source, l.source_id): l.customer_id for l in s.scalars(select(Link))}
        carried = {k: (c.get("external_ids") or {}).get("concord") for k, c in records.items()}
        clusters = cluster.by_email(records)
        customer_ids = ids.assign(clusters, previous, carried)
        stats = _store(s, clusters, customer_ids, records, run_id)
    progress.say(f"reconcile: {len(records)} records -> {stats['customers']} customers "
                 f"({stats['new']} new, {stats['updated']} updated, {stats['retired']} retired)")
    return stats


def _store(s: Session, clusters, customer_ids, records, run_id) -> dict:
    stats = {"records": len(records), "customers": len(clusters), "new": 0, "updated": 0, "unchanged": 0, "retired": 0,
             "links_changed": 0}
    goldens = {g.customer_id: g for g in s.scalars(select(GoldenCustomer))}
    links = {(l.source, l.source_id): l for l in s.scalars(select(Link))}
    for group, cid in zip(clusters, customer_ids):
        fields, lineage = survive.golden(cid, [records[k] for k in group.members])
        stats[_upsert_golden(s, goldens.get(cid), cid, fields, lineage, run_id)] += 1
        stats["links_changed"] += sum(_upsert_link(s, links.pop(k, None), k, cid, group.rules[k], run_id)
                                      for k in group.members)
    s.flush()
    for gone in links.values():  # records deleted at their source no longer link anywhere
        s.delete(gone)
    live = set(customer_ids)
    for golden in goldens.values():
        if golden.customer_id not in live and not golden.retired:
            golden.retired, golden.updated_run = True, run_id
            stats["retired"] += 1
    return stats


def _upsert_golden(s: Session, row, cid: str, fields: dict, lineage: dict, run_id: str) -> str:
    content = digest({"fields": fields, "lineage": lineage})
    if row is None:
        s.add(GoldenCustomer(customer_id=cid, fields=fields, lineage=lineage, content_hash=content,
                             created_run=run_id, updated_run=run_id, retired=False))
        return "new"
    if row.content_hash == content and not row.retired:
        return "unchanged"
    row.fields, row.lineage, row.content_hash, row.updated_run, row.retired = fields, lineage, content, run_id, False
    return "updated"


def _upsert_link(s: Session, row, key, cid: str, rule: str, run_id: str) -> bool:
    if row is None:
        s.add(Link(source=key[0], source_id=key[1], customer_id=cid, rule=rule, score=None, linked_run=run_id))
        return True
    if (row.customer_id, row.rule) == (cid, rule):
        return False
    row.customer_id, row.rule, row.linked_run = cid, rule, run_id
    return True
