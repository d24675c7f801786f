"""Delivery from the outbox: reverse-mapped patches through the adapter in batches, each entry's outcome
recorded (sent, failed and retried next run, or dead with its reason), one sync-log row per field, and
what we wrote remembered as what the system now holds, so that our own write reads back as no change
(no echo)."""
from __future__ import annotations

import copy
import logging
import os
from itertools import islice

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from adapters.base import Adapter, Change, WriteResult
from canonical import mapping as mappings
from canonical import progress
from canonical.hashing import content_hash
from canonical.pii import mask_id
from canonical.reconcile import features
from canonical.store import GoldenCustomer, OutboxEntry, SourceRecord, SyncLogEntry, session
from canonical.store.db import DELIVERY_TABLES, refresh_statistics
from canonical.store.models import utcnow
from canonical.sync import edits, outbox
from canonical.sync import policy as policies
from canonical.sync.plan import PlannedWrite

log = logging.getLogger(__name__)
# Changes per adapter.write() call: the adapter's `write_batch` (what its bulk endpoints use well), else
# BATCH; CONCORD_WRITE_BATCH overrides both (smaller: finer progress and checkpoints, more requests).
BATCH = 100
MAX_ATTEMPTS = 5  # a write still retriable after this many runs is a dead letter too


def deliver(adapter: Adapter, run_id: str) -> dict:
    """Sends what the outbox holds for the adapter's system; returns counts of sent and failed."""
    mapping = mappings.load(adapter.name).customers
    create_with = policies.load(adapter.name).create_with
    with session() as s:
        queue = [(entry.id, outbox.as_planned(entry)) for entry in outbox.waiting(s, adapter.name)]
    done = {"ok": 0, "failed": 0}
    it = iter(queue)
    size = int(os.environ.get("CONCORD_WRITE_BATCH") or getattr(adapter, "write_batch", BATCH))
    while batch := list(islice(it, size)):
        # Only an adapter that writes conditionally reads the records back; the others would load raw
        # payloads for nothing.
        seen = _seen(adapter.name, [w.source_id for _, w in batch if w.source_id is not None]) \
            if getattr(adapter, "conditional_writes", False) else {}
        changes = [Change(w.source_id, mapping.to_source({f: after for f, (_, after) in w.fields.items()}, create_with),
                          key=w.customer_id if w.source_id is None else None, seen=seen.get(w.source_id))
                   for _, w in batch]
        results = adapter.write(changes)
        # One transaction a batch, its bookkeeping in a few statements (one ORM object per write held
        # delivery to a fraction of the faster vendors' limits).
        with session() as s:
            entries = {e.id: e for e in s.scalars(select(OutboxEntry).where(OutboxEntry.id.in_([i for i, _ in batch])))}
            for (entry_id, _), result in zip(batch, results):
                _settle(entries[entry_id], result)
                done["ok" if result.ok else "failed"] += 1
            _log(s, [(write, result) for (_, write), result in zip(batch, results)], run_id)
            # A created record arrives with the next read.
            _remember(s, adapter.name, [w for (_, w), r in zip(batch, results) if r.ok and w.source_id is not None])
        progress.say(f"sync {adapter.name}: {done['ok']} written, {done['failed']} failed of {len(queue)}")
    with session() as s:
        refresh_statistics(s, DELIVERY_TABLES, at_least=len(queue))
    return done


def _seen(system: str, source_ids: list[str]) -> dict[str, dict]:
    """The raw records as last read, for adapters that write conditionally on them."""
    found = {}
    with session() as s:
        for start in range(0, len(source_ids), 500):
            found.update(s.execute(select(SourceRecord.source_id, SourceRecord.raw).where(
                SourceRecord.source == system, SourceRecord.source_id.in_(source_ids[start:start + 500]))).all())
    return found


def _settle(entry: OutboxEntry, result: WriteResult) -> None:
    entry.attempts += 1
    entry.reason = result.reason
    if result.ok:
        entry.status, entry.sent_at = "sent", utcnow()
    elif result.retriable and entry.attempts < MAX_ATTEMPTS:
        entry.status = "failed"
    else:
        entry.status = "dead"


def _log(s: Session, outcomes: list[tuple[PlannedWrite, WriteResult]], run_id: str) -> None:
    rows = []
    for write, result in outcomes:
        outcome = "ok" if result.ok else ("retriable" if result.retriable else "failed")
        if not result.ok:
            log.warning("write to %s record %s failed: %s", write.system, mask_id(write.source_id), result.reason)
        rows += [{"run_id": run_id, "system": write.system, "source_id": write.source_id or result.source_id or "",
                  "customer_id": write.customer_id, "field": field, "before": before, "after": after,
                  "outcome": outcome, "reason": result.reason, "at": utcnow()}
                 for field, (before, after) in write.fields.items()]
    if rows:
        s.execute(insert(SyncLogEntry), rows)


def _remember(s: Session, system: str, writes: list[PlannedWrite]) -> None:
    """What we held plus what we wrote. Not the vendor's answer: some answer with the written fields
    only (HubSpot's batch upsert), and a partial record would read back as a change. The fields we
    wrote are no longer the system's own edits, and a consent we wrote keeps the time of its event."""
    if not writes:
        return
    held = {source_id: (row_id, canonical, state) for row_id, source_id, canonical, state in s.execute(
        select(SourceRecord.id, SourceRecord.source_id, SourceRecord.canonical, SourceRecord.sync_state).where(
            SourceRecord.source == system, SourceRecord.source_id.in_([w.source_id for w in writes])))}
    consent = dict(s.execute(select(GoldenCustomer.customer_id, GoldenCustomer.fields["consent"]).where(
        GoldenCustomer.customer_id.in_({w.customer_id for w in writes}))).all())
    changed = {}
    for write in writes:  # in order: a record written twice in a batch keeps both writes
        row_id, canonical, state = changed.get(write.source_id) or held[write.source_id]
        canonical = copy.deepcopy(canonical)
        for field, (_, after) in write.fields.items():
            mappings.set_path(canonical, field, after)
        state = edits.wrote(state, {f: after for f, (_, after) in write.fields.items()}, consent.get(write.customer_id))
        changed[write.source_id] = (row_id, canonical, state)
    hashes = {row_id: content_hash(canonical) for row_id, canonical, _ in changed.values()}
    s.execute(update(SourceRecord), [
        {"id": row_id, "canonical": canonical, "content_hash": hashes[row_id], "sync_state": state,
         "golden_stale": True, "match_features": features.stored(canonical),
         "features_of": features.stamp(hashes[row_id])} for row_id, canonical, state in changed.values()])
