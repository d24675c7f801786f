"""Reconcile: source records -> golden customers. The public entry point is `reconcile(run_id)`,
which the pipeline calls once per sync run: it resolves the store's records into clusters
(snapshot.py: normalize, block, compare, learn, score, cluster; incremental after the first run),
keeps customer ids stable (ids.py), applies survivorship (survive.py) and stores goldens, links,
link evidence, merge/split events and the learned model (persist.py)."""
from __future__ import annotations

from sqlalchemy import func, select, update

from canonical import progress
from canonical.store import GoldenCustomer, Link, SourceRecord, session
from canonical.store.models import MatchModel


def reconcile(run_id: str, writes_for: list[str] | None = None, retry_failed: bool = False) -> dict:
    """`writes_for`: the systems whose change sets go into the outbox in the same transaction."""
    from canonical.reconcile import live, overrides, snapshot

    with session() as s:
        rows, records, changed, previous, latest = read_store(s, run_id)
        found = snapshot.resolve(records, changed, previous, overrides.load(s),
                                 latest.parameters if latest else None, say=progress.say)
        stats = persist_clusters(s, live.from_rows(rows, run_id), found, previous, run_id, writes_for, retry_failed)
    progress.say(f"reconcile: {stats['records']} records -> {stats['customers']} customers "
                 f"({stats['new']} new, {stats['updated']} updated, {stats['retired']} retired, "
                 f"{stats['merges']} merges, {stats['splits']} splits, {stats['mode']})")
    return stats


def read_store(s, run_id: str) -> tuple[list, dict, set, dict, MatchModel | None]:
    """What a reconcile starts from: the live source records (rows and canonical forms by key), those
    this run changed, the links as they were, and the latest learned model."""
    # Columns, not ORM objects: no raw payloads, no identity map (a few hundred thousand rows).
    rows = s.execute(select(SourceRecord.source, SourceRecord.source_id, SourceRecord.canonical,
                            SourceRecord.content_hash, SourceRecord.last_changed_run, SourceRecord.sync_state,
                            SourceRecord.golden_stale).where(SourceRecord.deleted.is_(False))).all()
    records = {(r.source, r.source_id): r.canonical for r in rows}
    changed = {(r.source, r.source_id) for r in rows if r.last_changed_run == run_id}
    latest = s.scalar(select(MatchModel).order_by(MatchModel.created_at.desc(), MatchModel.run_id.desc()))
    return rows, records, changed, read_links(s), latest


def read_links(s) -> dict[tuple[str, str], str]:
    """Each linked record's customer, as the links are before this reconcile."""
    return {(source, source_id): customer_id for source, source_id, customer_id
            in s.execute(select(Link.source, Link.source_id, Link.customer_id))}


def persist_clusters(s, records, found, previous: dict, run_id: str, writes_for: list[str] | None = None,
                     retry_failed: bool = False) -> dict:
    """_persist, with PostgreSQL's planner statistics refreshed before it (for its lookups, of what
    earlier stages changed) and after it (for the next run's, of what it changed)."""
    from canonical.store.db import RECONCILE_TABLES, refresh_statistics

    refresh_statistics(s, RECONCILE_TABLES)
    stats = _persist(s, records, found, previous, run_id, writes_for, retry_failed)
    refresh_statistics(s, RECONCILE_TABLES)
    return stats


def _persist(s, records, found, previous: dict, run_id: str, writes_for: list[str] | None,
             retry_failed: bool) -> dict:
    """Stable ids for the clusters found, then goldens, links, evidence and events in the store; then,
    in the same transaction, each system of `writes_for` gets its change set in the outbox: a golden
    record is never committed without the writes it calls for, nor a write without its golden record.
    `retry_failed` first releases the dead letters, so that what is still wanted is queued again.
    `records`: the live records (canonical.reconcile.live)."""
    from canonical.reconcile import ids, persist
    from canonical.sync import outbox
    from canonical.sync.plan import plan

    customer_ids = ids.assign(found.clusters, previous, records.carried)
    stats, recomputed = persist.store(s, found, customer_ids, records, previous, run_id)
    _, states = records.fetch(records.changed)
    persist.mark_fresh(s, records.stale, {key for key, state in states.items() if _edited_in(state, run_id)},
                       len(records.keys))
    whole = len(recomputed) * persist.WHOLE >= max(len(found.clusters), 1)
    if writes_for is None:  # nothing planned: the next run that plans covers them
        persist.mark_pending(s, recomputed, whole)
        return stats
    s.flush()
    progress.say(f"reconcile: {stats['recomputed']} golden records computed and stored; planning the writes")
    stats["revived"], scope = _released(s, retry_failed, found.full or whole, recomputed)
    stats["planned"] = {system: outbox.enqueue(s, run_id, system, plan(s, system, scope(system)), scope(system))
                        for system in writes_for}
    if not _planned(s, writes_for, run_id):
        persist.mark_pending(s, recomputed, whole)
    return stats


def _edited_in(state: dict | None, run_id: str) -> bool:
    """Whether the run read a person's edit of the record: survivorship counts it fresh in this run only."""
    return any(edit.get("run") == run_id for edit in ((state or {}).get("edits") or {}).values())


def _released(s, retry_failed: bool, complete: bool, recomputed: set[str]) -> tuple[int, callable]:
    """Releases the dead letters when asked. Returns how many, and per system the customers to plan for
    (None: the system's plan must be complete). An incremental run's plan covers the golden records it
    computed again, those still waiting for a plan (plan_pending: computed by a dry run, or while a
    system was left out) and the customers of released dead letters, where the system was planned
    before under the same policy: every other customer's records and golden record are as that plan
    saw them. A full run (or one that recomputed most), a new system or a new policy plans everyone."""
    from canonical.reconcile import persist
    from canonical.store import PlanState
    from canonical.sync import outbox

    revived = outbox.revive_dead(s) if retry_failed else []
    if complete:
        return len(revived), lambda system: None
    same = {state.system for state in s.scalars(select(PlanState)) if state.policy_digest == policy_digest(state.system)}
    pending = recomputed | set(s.scalars(select(GoldenCustomer.customer_id).where(
        GoldenCustomer.plan_pending.is_(True), GoldenCustomer.retired.is_(False))))
    pending |= {cid for cid in revived if cid}
    live = s.scalar(select(func.count()).select_from(GoldenCustomer).where(GoldenCustomer.retired.is_(False)))
    if len(pending) * persist.WHOLE >= max(live, 1):  # a complete plan costs less than looking most of them up
        return len(revived), lambda system: None
    return len(revived), lambda system: pending if system in same else None


def _planned(s, systems: list[str], run_id: str) -> bool:
    """Records the plans made. Returns whether every system planned before was planned now; then no
    golden record waits for a plan any more."""
    from canonical.store import PlanState
    from canonical.store.models import utcnow

    states = {state.system: state for state in s.scalars(select(PlanState))}
    for system in systems:
        state = states.get(system) or s.merge(PlanState(system=system, policy_digest="", run_id=run_id))
        state.policy_digest, state.run_id, state.planned_at = policy_digest(system), run_id, utcnow()
    if not set(states) <= set(systems):
        return False
    s.execute(update(GoldenCustomer).where(GoldenCustomer.plan_pending.is_(True)).values(plan_pending=False))
    return True


def policy_digest(system: str) -> str:
    from dataclasses import asdict

    from canonical.hashing import digest
    from canonical.sync import policy

    return digest(asdict(policy.load(system)))
