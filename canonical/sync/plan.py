"""The change set of one system: per linked record, the write-back fields whose golden value differs
from what the system holds. Only changed fields; never a clear of a value the golden record lacks."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from canonical import mapping as mappings
from canonical.mapping import EMPTY, get_path
from canonical.sync.policy import fields_to_sync

UNIQUE_FIELD = "external_ids.concord"
from canonical.store import GoldenCustomer, Link, SourceRecord


@dataclass(frozen=True)
class PlannedWrite:
    system: str
    source_id: str
    customer_id: str
    fields: dict  # canonical field -> (before, after)


def plan(s: Session, system: str) -> list[PlannedWrite]:
    write_back = fields_to_sync(mappings.load(system).customers)
    rows = s.execute(
        select(SourceRecord.source_id, SourceRecord.canonical, Link.customer_id, GoldenCustomer.fields)
        .join(Link, (Link.source == SourceRecord.source) & (Link.source_id == SourceRecord.source_id))
        .join(GoldenCustomer, GoldenCustomer.customer_id == Link.customer_id)
        .where(SourceRecord.source == system, SourceRecord.deleted.is_(False))
        .order_by(SourceRecord.source_id)
    )
    rows = _one_holder_per_customer(list(rows), write_back)
    writes = []
    for source_id, held, customer_id, golden, fields in rows:
        diff = _diff(fields, held, golden)
        if diff:
            writes.append(PlannedWrite(system, source_id, customer_id, diff))
    return writes


def _one_holder_per_customer(rows: list, write_back: tuple[str, ...]) -> list:
    """Systems keep a foreign id unique (Zendesk's external_id, a HubSpot unique property): when one
    customer has several records in a system (duplicates the report lists), only one carries the id:
    the one that already does, else the first by id. The others get every other field."""
    holder = {}
    for source_id, held, customer_id, _golden in rows:
        if customer_id not in holder or get_path(held, UNIQUE_FIELD) == customer_id:
            holder[customer_id] = source_id
    return [(source_id, held, customer_id, golden,
             write_back if holder[customer_id] == source_id else tuple(f for f in write_back if f != UNIQUE_FIELD))
            for source_id, held, customer_id, golden in rows]


def _diff(fields: tuple[str, ...], held: dict, golden: dict) -> dict:
    out = {}
    for field in fields:
        want, have = get_path(golden, field), get_path(held, field)
        if want not in EMPTY and want != have:
            out[field] = (have, want)
    return out


def describe(writes: list[PlannedWrite]) -> dict:
    """A plan in numbers: creates, updates, and how many writes touch each field."""
    fields: dict[str, int] = {}
    for write in writes:
        for field in write.fields:
            fields[field] = fields.get(field, 0) + 1
    creates = sum(1 for w in writes if w.source_id is None)
    return {"creates": creates, "updates": len(writes) - creates, "fields": fields}
