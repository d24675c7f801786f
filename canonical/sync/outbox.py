"""The outbox: planned writes are committed here before anything is sent, and delivery works from it.
A write leaves it as sent, stays as failed (retriable: tried again next run) or becomes dead (a fatal
answer, kept with its reason until an operator replays it with `concord sync --retry-failed`).
Closed entries stay as the record of what was sent: sent, superseded (a newer plan replaced it),
replayed (a dead letter an operator released)."""
from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from canonical.store import OutboxEntry
from canonical.store.models import utcnow
from canonical.store.sync_models import OUTBOX_OPEN
from canonical.sync.plan import PlannedWrite


def enqueue(s: Session, run_id: str, system: str, writes: list[PlannedWrite], scope: set[str] | None = None) -> int:
    """Makes the outbox hold exactly the system's plan; returns how many writes wait for delivery.
    The plan is complete (for the customers of `scope`, when a plan covers only those): a waiting write
    it no longer contains is closed as superseded (the record holds the value now, or a person changed
    it since: sending it late would overwrite their edit); waiting writes of other customers stay.
    A waiting write planned again unchanged stays as it is, with its attempts; a write the system
    refused for good (a dead letter) is not planned again until it is replayed."""
    dead = _dead_letters(s)
    waiting = {_target(e.system, e.action, e.source_id, e.customer_id): e
               for e in s.scalars(select(OutboxEntry).where(OutboxEntry.system == system, OutboxEntry.status.in_(OUTBOX_OPEN)))
               if scope is None or e.customer_id in scope}
    kept = 0
    for write in writes:
        fields = {f: list(pair) for f, pair in write.fields.items()}
        action = "update" if write.source_id is not None else "create"
        target = _target(write.system, action, write.source_id, write.customer_id)
        if dead.get(target) == fields:
            continue
        kept += 1
        previous = waiting.pop(target, None)
        if previous is not None and previous.fields == fields:
            continue
        if previous is not None:
            previous.status, previous.sent_at = "superseded", utcnow()
        s.add(OutboxEntry(run_id=run_id, system=write.system, source_id=write.source_id,
                          customer_id=write.customer_id, action=action, status="pending", attempts=0,
                          fields=fields))
    for stale in waiting.values():
        stale.status, stale.sent_at = "superseded", utcnow()
    return kept


def _target(system: str, action: str, source_id: str | None, customer_id: str | None) -> tuple:
    """What a write is to: a record, or (a create) a customer's missing record in the system."""
    return (system, source_id) if action == "update" else (system, "create", customer_id)


def _dead_letters(s: Session) -> dict[tuple, dict]:
    return {_target(e.system, e.action, e.source_id, e.customer_id): e.fields
            for e in s.scalars(select(OutboxEntry).where(OutboxEntry.status == "dead"))}


def waiting(s: Session, system: str) -> list[OutboxEntry]:
    """What delivery should send for a system, oldest first."""
    return list(s.scalars(select(OutboxEntry).where(OutboxEntry.system == system, OutboxEntry.status.in_(OUTBOX_OPEN))
                          .order_by(OutboxEntry.id)))


def revive_dead(s: Session) -> list[str | None]:
    """Closes every dead letter as replayed (`concord sync --retry-failed`), so that the plan that
    follows queues again each write that is still wanted, and none that no longer is. Returns the
    customer of each (the plan must cover them)."""
    customers = list(s.scalars(select(OutboxEntry.customer_id).where(OutboxEntry.status == "dead")))
    s.execute(update(OutboxEntry).where(OutboxEntry.status == "dead").values(status="replayed"))
    return customers


def as_planned(entry: OutboxEntry) -> PlannedWrite:
    return PlannedWrite(entry.system, entry.source_id, entry.customer_id,
                        {f: tuple(pair) for f, pair in entry.fields.items()})
