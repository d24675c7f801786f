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


def reconcile(run_id: str, writes_for: list[str] | None = None, retry_failed: bool = False) -> dict:
    """`writes_for`: the systems whose change sets go into the outbox in the same transaction."""
    from canonical.reconcile import overrides, snapshot

    with session() as s:
        rows, records, changed, previous, latest = read_store(s, run_id)
        found = snapshot.resolve(records, changed, previous, overrides.load(s),
                                 latest.parameters if latest else None, say=progress.say)
        stats = persist_clusters(s, rows, found, previous, run_id, writes_for, retry_failed)
    progress.say(f"reconcile: {stats['records']} records -> {stats['customers']} customers "
                 f"({stats['new']} new, {stats['updated']} updated, {stats['retired']} retired, "
                 f"{stats['merges']} merges, {stats['splits']} splits, {stats['mode']})")
    return stats


def read_store(s, run_id: str) -> tuple[list, dict, set, dict, MatchModel | None]:
    """What a reconcile starts from: the live source records (rows and canonical forms by key), those
    this run changed, the links as they were, and the latest learned model."""
    rows = list(s.scalars(select(SourceRecord).where(SourceRecord.deleted.is_(False))))
    records = {(r.source, r.source_id): r.canonical for r in rows}
    changed = {(r.source, r.source_id) for r in rows if r.last_changed_run == run_id}
    previous = {(l.source, l.source_id): l.customer_id for l in s.scalars(select(Link))}
    latest = s.scalar(select(MatchModel).order_by(MatchModel.created_at.desc(), MatchModel.run_id.desc()))
    return rows, records, changed, previous, latest


def persist_clusters(s, rows: list, found, previous: dict, run_id: str, writes_for: list[str] | None = None,
                     retry_failed: bool = False) -> dict:
    """Stable ids for the clusters found, then goldens, links, evidence and events in the store; then,
    in the same transaction, each system of `writes_for` gets its change set in the outbox: a golden
    record is never committed without the writes it calls for, nor a write without its golden record.
    `retry_failed` first releases the dead letters, so that what is still wanted is queued again."""
    from canonical.reconcile import ids, persist
    from canonical.sync import outbox
    from canonical.sync.plan import plan

    records = {(r.source, r.source_id): r.canonical for r in rows}
    carried = {k: (c.get("external_ids") or {}).get("concord") for k, c in records.items()}
    customer_ids = ids.assign(found.clusters, previous, carried)
    states = {(r.source, r.source_id): r.sync_state for r in rows if r.sync_state}
    stats = persist.store(s, found, customer_ids, records, previous, run_id, states)
    if writes_for is not None:
        s.flush()
        stats["revived"] = outbox.revive_dead(s) if retry_failed else 0
        stats["planned"] = {system: outbox.enqueue(s, run_id, system, plan(s, system)) for system in writes_for}
    return stats
