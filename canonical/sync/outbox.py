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
from canonical.sync.plan import PlannedWrite

OPEN = ("pending", "failed")


def enqueue(s: Session, run_id: str, writes: list[PlannedWrite]) -> int:
    """Adds the planned writes; one already waiting for the same record is replaced, never doubled, and
    a write the system refused for good (a dead letter) is not planned again until it is replayed."""
    dead = _dead_letters(s)
    queued = 0
    for write in writes:
        fields = {f: list(pair) for f, pair in write.fields.items()}
        action = "update" if write.source_id is not None else "create"
        if dead.get(_target(write.system, action, write.source_id, write.customer_id)) == fields:
            continue
        s.execute(update(OutboxEntry)
                  .where(OutboxEntry.system == write.system, OutboxEntry.status.in_(OPEN), OutboxEntry.action == action,
                         OutboxEntry.source_id == write.source_id if action == "update"
                         else OutboxEntry.customer_id == write.customer_id)
                  .values(status="superseded", sent_at=utcnow()))
        s.add(OutboxEntry(run_id=run_id, system=write.system, source_id=write.source_id,
                          customer_id=write.customer_id, action=action, status="pending", attempts=0,
                          fields=fields))
        queued += 1
    return queued


def _target(system: str, action: str, source_id: str | None, customer_id: str | None) -> tuple:
    """What a write is to: a record, or (a create) a customer's missing record in the system."""
    return (system, source_id) if action == "update" else (system, "create", customer_id)


def _dead_letters(s: Session) -> dict[tuple, dict]:
    return {_target(e.system, e.action, e.source_id, e.customer_id): e.fields
            for e in s.scalars(select(OutboxEntry).where(OutboxEntry.status == "dead"))}


def waiting(s: Session, system: str) -> list[OutboxEntry]:
    """What delivery should send for a system, oldest first."""
    return list(s.scalars(select(OutboxEntry).where(OutboxEntry.system == system, OutboxEntry.status.in_(OPEN))
                          .order_by(OutboxEntry.id)))


def revive_dead(s: Session) -> int:
    """Closes every dead letter as replayed (`concord sync --retry-failed`), so that the plan that
    follows queues again each write that is still wanted, and none that no longer is."""
    return s.execute(update(OutboxEntry).where(OutboxEntry.status == "dead").values(status="replayed")).rowcount


def as_planned(entry: OutboxEntry) -> PlannedWrite:
    return PlannedWrite(entry.system, entry.source_id, entry.customer_id,
                        {f: tuple(pair) for f, pair in entry.fields.items()})
