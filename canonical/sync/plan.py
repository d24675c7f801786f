"""The change set of one system: per linked record, the write-back fields whose golden value the
record does not hold yet (values.equivalent decides), and the records the creation policy asks for.
Only changed fields; never a clear of a value the golden record lacks; never an opt-in over a newer
opt-out."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from canonical.mapping import EMPTY, get_path
from canonical.reconcile import normalize
from canonical.store import GoldenCustomer, Link, OutboxEntry, SourceRecord
from canonical.store.sync_models import OUTBOX_OPEN
from canonical.sync import policy as policies
from canonical.sync.values import equivalent, wanted

CHUNK = 500  # customer ids per IN (...)


@dataclass(frozen=True)
class PlannedWrite:
    system: str
    source_id: str | None  # None: a record to create
    customer_id: str
    fields: dict  # canonical field -> (before, after)


def plan(s: Session, system: str, scope: set[str] | None = None) -> list[PlannedWrite]:
    """Every write the system needs; with `scope`, only those of these customers (an incremental run's,
    whose other customers are as the last plan saw them)."""
    policy = policies.load(system)
    query = (select(SourceRecord.source_id, SourceRecord.canonical, Link.customer_id, GoldenCustomer.fields)
             .join(Link, (Link.source == SourceRecord.source) & (Link.source_id == SourceRecord.source_id))
             .join(GoldenCustomer, GoldenCustomer.customer_id == Link.customer_id)
             .where(SourceRecord.source == system, SourceRecord.deleted.is_(False), GoldenCustomer.retired.is_(False)))
    if scope is None:
        rows = list(s.execute(query.order_by(SourceRecord.source_id)))
        taken = _taken(rows, policy)
    else:
        rows = _rows_for(s, query, Link.customer_id, scope)
        taken = _taken_in_store(s, policy)
    writes = []
    for source_id, held, customer_id, golden, fields in _fields_per_record(rows, policy):
        diff = _diff(fields, held, golden, policy, lambda f, v: taken.get((f, _unique_key(f, v)), customer_id) != customer_id)
        if diff:
            _reserve(taken, diff, customer_id, policy)
            writes.append(PlannedWrite(system, source_id, customer_id, diff))
    return writes + _creates(s, policy, {customer_id for _, _, customer_id, _ in rows}, scope)


def _rows_for(s: Session, query, column, customers: set[str]) -> list:
    """The query's rows for these customers (CHUNK to an IN list), ordered by their first column."""
    chosen = sorted(customers)
    return sorted((row for start in range(0, len(chosen), CHUNK)
                   for row in s.execute(query.where(column.in_(chosen[start:start + CHUNK])))), key=lambda row: row[0])


def _fields_per_record(rows: list, policy: policies.Policy) -> list:
    """A unique field (Zendesk's external_id, HubSpot's email) goes to one record per customer when a
    customer has several in the system (the duplicates the report lists): the one that holds the value
    already, else the first by id. The others get every other field."""
    holder: dict[tuple[str, str], tuple[str, bool]] = {}  # (field, customer) -> (source id, holds it already)
    for field in policy.unique:
        for source_id, held, customer_id, golden in rows:
            holds = equivalent(field, get_path(held, field), wanted(golden, field))
            if (field, customer_id) not in holder or (holds and not holder[(field, customer_id)][1]):
                holder[(field, customer_id)] = (source_id, holds)
    return [(source_id, held, customer_id, golden,
             tuple(f for f in policy.fields if f not in policy.unique or holder[(f, customer_id)][0] == source_id))
            for source_id, held, customer_id, golden in rows]


def _taken_in_store(s: Session, policy: policies.Policy) -> dict:
    """_taken over every linked record of the system, reading only the unique fields; and the unique
    values that writes still waiting in the outbox give their customers (_reserve's, from earlier plans)."""
    if not policy.unique:
        return {}
    paths = [SourceRecord.canonical[tuple(field.split("."))] for field in policy.unique]
    rows = s.execute(select(Link.customer_id, *paths)
                     .join(Link, (Link.source == SourceRecord.source) & (Link.source_id == SourceRecord.source_id))
                     .where(SourceRecord.source == policy.system, SourceRecord.deleted.is_(False)))
    taken = {}
    for customer_id, *values in rows:
        for field, value in zip(policy.unique, values):
            if value not in EMPTY:
                taken[(field, _unique_key(field, value))] = customer_id
    for customer_id, fields in s.execute(select(OutboxEntry.customer_id, OutboxEntry.fields).where(
            OutboxEntry.system == policy.system, OutboxEntry.status.in_(OUTBOX_OPEN))):
        for field in policy.unique:
            if field in (fields or {}):
                taken[(field, _unique_key(field, fields[field][1]))] = customer_id
    return taken


def _taken(rows: list, policy: policies.Policy) -> dict:
    """Unique values and the customer whose record in this system holds them: writing one into another
    customer's record would only be refused (a household's shared number, a family's shared email)."""
    return {(field, _unique_key(field, get_path(held, field))): customer_id
            for field in policy.unique for _, held, customer_id, _ in rows if get_path(held, field) not in EMPTY}


def _unique_key(field: str, value):
    value = value[0] if isinstance(value, list) and value else value
    if field == "phones":
        return normalize.phone(value)
    return normalize.email(value) if field == "emails" else value


def _diff(fields: tuple[str, ...], held: dict, golden: dict, policy: policies.Policy, is_taken) -> dict:
    out = {}
    for field in (f for f in fields if not _is_consent(f)):
        want, have = wanted(golden, field), get_path(held, field)
        if equivalent(field, have, want) or (field in policy.unique and is_taken(field, want)):
            continue
        out[field] = (have, want)
    for field in filter(_is_consent, fields):  # after the addresses: consent may depend on them
        want, have = wanted(golden, field), get_path(held, field)
        # Where consent belongs to an address (HubSpot's and Mailchimp's do), a new address arrives with
        # no status: the consent goes with it, or the next run would find it missing.
        moved = CONSENT_ADDRESS.get(field.split(".")[1]) in out
        if (moved or not equivalent(field, have, want)) and want and _consent_allows(field, held, golden, policy, out):
            out[field] = (have, want)
    return out


def _is_consent(field: str) -> bool:
    return field.startswith("consent.") and field.endswith(".status")


CONSENT_ADDRESS = {"email": "emails", "sms": "phones"}


def _consent_allows(field: str, held: dict, golden: dict, policy: policies.Policy, writing: dict) -> bool:
    """A consent goes only to a record with an address on its channel, held or in this write (vendors
    refuse it otherwise). An opt-out always travels. An opt-in travels only where the policy lets it,
    never over an opt-out the system holds that is as new as the opt-in or newer (the golden rule
    already says so; this keeps a wrong golden value from re-subscribing anyone), and never over any
    opt-out where the policy forbids re-subscribing (Mailchimp: only the member may undo that)."""
    channel = field.split(".")[1]
    address = CONSENT_ADDRESS.get(channel)
    if address and get_path(held, address) in EMPTY and address not in writing:
        return False
    if wanted(golden, field) != "subscribed":
        return True
    have = get_path(held, f"consent.{channel}") or {}
    opted_out = have.get("status") == "unsubscribed"
    opted_out_since = opted_out and \
        (have.get("updated_at") or "") >= (get_path(golden, f"consent.{channel}.updated_at") or "")
    return policy.consent_opt_in and not opted_out_since and not (opted_out and not policy.consent_resubscribe)


def _reserve(taken: dict, diff: dict, customer_id: str, policy: policies.Policy) -> None:
    """A unique value this plan gives a customer is theirs for the rest of the plan: two customers of
    one household may both want their shared number, and the system would refuse the second."""
    for field in policy.unique:
        if field in diff:
            taken[(field, _unique_key(field, diff[field][1]))] = customer_id


def _creates(s: Session, policy: policies.Policy, present: set[str], scope: set[str] | None = None) -> list[PlannedWrite]:
    if policy.create_for == "none" or scope == set():
        return []
    held_ids = set(s.scalars(select(SourceRecord.source_id).where(SourceRecord.source == policy.system)))
    tombstones = _addresses(s.scalars(select(SourceRecord.canonical).where(
        SourceRecord.source == policy.system, SourceRecord.deleted.is_(True))))
    creates = []
    goldens = select(GoldenCustomer.customer_id, GoldenCustomer.fields).where(GoldenCustomer.retired.is_(False))
    if scope is None:
        chosen = s.execute(goldens.order_by(GoldenCustomer.customer_id))
    else:
        chosen = _rows_for(s, goldens, GoldenCustomer.customer_id, scope)
    for customer_id, golden in chosen:
        if not _wants_a_record(policy, customer_id, golden, present, held_ids) or _addresses([golden]) & tombstones:
            continue  # a record the system deleted is not brought back by a create
        fields = {f: (None, wanted(golden, f)) for f in policy.create_with if wanted(golden, f) not in EMPTY}
        creates.append(PlannedWrite(policy.system, None, customer_id, fields))
    return creates


def _wants_a_record(policy: policies.Policy, customer_id: str, golden: dict, present: set[str],
                    held_ids: set[str]) -> bool:
    if any(wanted(golden, f) in EMPTY for f in policy.create_require):
        return False
    if policy.create_consent and get_path(golden, f"consent.{policy.create_consent}.status") != "subscribed":
        return False
    if policy.identity:
        # A record per identity value (the directory's number): the customer's current one is missing,
        # and no record of anybody holds it (two people may share a number; the first keeps it).
        identity = _identity(policy.identity, golden)
        return bool(identity) and identity not in held_ids and (policy.create_for == "all" or customer_id in present)
    return customer_id not in present


def _addresses(records) -> set[str]:
    """Normalized emails and phones of canonical records (or golden fields)."""
    out = set()
    for record in records:
        out |= {normalize.email(e) for e in record.get("emails") or []} | {normalize.phone(p) for p in record.get("phones") or []}
    return out - {None}


def _identity(field: str, golden: dict) -> str | None:
    value = (wanted(golden, field) or [None])[0] if field in ("emails", "phones") else wanted(golden, field)
    return normalize.phone(value) if field == "phones" else value


def describe(writes: list[PlannedWrite]) -> dict:
    """A plan in numbers: creates, updates, and how many writes touch each field."""
    fields: dict[str, int] = {}
    for write in writes:
        for field in write.fields:
            fields[field] = fields.get(field, 0) + 1
    creates = sum(1 for w in writes if w.source_id is None)
    return {"creates": creates, "updates": len(writes) - creates, "fields": fields}
