"""Delivery from the outbox: reverse-mapped patches through the adapter in batches, each entry's outcome
recorded (sent, failed and retried next run, or dead with its reason), one sync-log row per field, and
what we wrote remembered as what the system now holds, so that our own write reads back as no change
(no echo)."""
from __future__ import annotations

import copy
import logging
import os
from itertools import islice

from sqlalchemy import select
from sqlalchemy.orm import Session

from adapters.base import Adapter, Change, WriteResult
from canonical import mapping as mappings
from canonical import progress
from canonical.hashing import content_hash
from canonical.pii import mask_id
from canonical.store import GoldenCustomer, OutboxEntry, SourceRecord, SyncLogEntry, session
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
        with session() as s:
            for (entry_id, write), result in zip(batch, results):
                _settle(s.get(OutboxEntry, entry_id), result)
                _log(s, write, result, run_id)
                if result.ok and write.source_id is not None:
                    _remember(s, write)  # a created record arrives with the next read
                done["ok" if result.ok else "failed"] += 1
        progress.say(f"sync {adapter.name}: {done['ok']} written, {done['failed']} failed of {len(queue)}")
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


def _log(s: Session, write: PlannedWrite, result: WriteResult, run_id: str) -> None:
    outcome = "ok" if result.ok else ("retriable" if result.retriable else "failed")
    if not result.ok:
        log.warning("write to %s record %s failed: %s", write.system, mask_id(write.source_id), result.reason)
    for field, (before, after) in write.fields.items():
        s.add(SyncLogEntry(run_id=run_id, system=write.system, source_id=write.source_id or result.source_id or "",
                           customer_id=write.customer_id, field=field, before=before, after=after,
                           outcome=outcome, reason=result.reason))


def _remember(s: Session, write: PlannedWrite) -> None:
    """What we held plus what we wrote. Not the vendor's answer: some answer with the written fields
    only (HubSpot's batch upsert), and a partial record would read back as a change. The fields we
    wrote are no longer the system's own edits, and a consent we wrote keeps the time of its event."""
    row = s.scalar(select(SourceRecord).where(SourceRecord.source == write.system,
                                              SourceRecord.source_id == write.source_id))
    canonical = copy.deepcopy(row.canonical)  # a fresh object, so the ORM sees the JSON change
    for field, (_, after) in write.fields.items():
        mappings.set_path(canonical, field, after)
    row.canonical, row.content_hash, row.golden_stale = canonical, content_hash(canonical), True
    golden = s.get(GoldenCustomer, write.customer_id)
    row.sync_state = edits.wrote(row.sync_state, {f: after for f, (_, after) in write.fields.items()},
                                 (golden.fields if golden else {}).get("consent"))
