"""The change set of one system: per linked record, the write-back fields whose golden value differs
from what the system holds. Only changed fields; never a clear of a value the golden record lacks."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from canonical import mapping as mappings
from canonical.mapping import EMPTY, get_path
from canonical.sync.policy import fields_to_sync
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
    writes = []
    for source_id, held, customer_id, golden in rows:
        diff = _diff(write_back, held, golden)
        if diff:
            writes.append(PlannedWrite(system, source_id, customer_id, diff))
    return writes


def _diff(fields: tuple[str, ...], held: dict, golden: dict) -> dict:
    out = {}
    for field in fields:
        want, have = get_path(golden, field), get_path(held, field)
        if want not in EMPTY and want != have:
            out[field] = (have, want)
    return out
