"""Reconcile: source records -> golden customers. The public entry point is `reconcile(run_id)`,
which the pipeline calls once per sync run: it resolves the store's records into clusters
(snapshot.py: normalize, block, compare, learn, score, cluster; incremental after the first run),
keeps customer ids stable (ids.py), applies survivorship (survive.py) and stores goldens, links,
link evidence, merge/split events and the learned model (persist.py)."""
from __future__ import annotations

from sqlalchemy import select

from canonical import progress
from canonical.store import Link, SourceRecord, session
from canonical.store.models import MatchModel


def reconcile(run_id: str) -> dict:
    from canonical.reconcile import ids, overrides, persist, snapshot

    with session() as s:
        rows = list(s.scalars(select(SourceRecord).where(SourceRecord.deleted.is_(False))))
        records = {(r.source, r.source_id): r.canonical for r in rows}
        changed = {(r.source, r.source_id) for r in rows if r.last_changed_run == run_id}
        previous = {(l.source, l.source_id): l.customer_id for l in s.scalars(select(Link))}
        latest = s.scalar(select(MatchModel).order_by(MatchModel.created_at.desc(), MatchModel.run_id.desc()))
        found = snapshot.resolve(records, changed, previous, overrides.load(s),
                                 latest.parameters if latest else None, say=progress.say)
        carried = {k: (c.get("external_ids") or {}).get("concord") for k, c in records.items()}
        customer_ids = ids.assign(found.clusters, previous, carried)
        states = {(r.source, r.source_id): r.sync_state for r in rows if r.sync_state}
        stats = persist.store(s, found, customer_ids, records, previous, run_id, states)
    progress.say(f"reconcile: {stats['records']} records -> {stats['customers']} customers "
                 f"({stats['new']} new, {stats['updated']} updated, {stats['retired']} retired, "
                 f"{stats['merges']} merges, {stats['splits']} splits, {stats['mode']})")
    return stats
