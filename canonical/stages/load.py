"""Load: maps each landed raw record to the canonical contract, validates it, stores it as a customer's
source record or an activity (or puts it in quarantine with a reason that names the record and the
field), then moves the stream's cursor, all in one transaction per page."""
from __future__ import annotations

import logging
from collections import Counter
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from canonical import landing, progress, suppression
from canonical import mapping as mappings
from canonical.hashing import content_hash, digest
from canonical.pii import mask_id
from canonical.reconcile import features
from canonical.stages.extract import cursor_key
from canonical.store import Activity, Cursor, QuarantinedRecord, SourceRecord, session
from canonical.store.db import GrowthStatistics
from canonical.store.models import as_utc, utcnow
from canonical.sync import edits
from canonical.validate import problems

log = logging.getLogger(__name__)


def load(manifest: dict) -> dict:
    system, stream, run_id = manifest["system"], manifest["stream"], manifest["run_id"]
    mapping = mappings.load(system).stream(stream)
    outcomes = Counter()
    with session() as s:
        suppressed = suppression.loaded(s)
    statistics = GrowthStatistics((Activity if mapping.kind == "activity" else SourceRecord).__tablename__)
    for uri in manifest["pages"]:
        page = landing.get_page(uri)
        with session() as s:
            added = load_page(s, mapping, page["records"], run_id, suppressed)
            save_cursor(s, cursor_key(system, stream), page["cursor"], run_id)
        outcomes += added
        statistics.grew(added["new"])
        progress.say(f"load {system}/{stream}: page {page['page']}, {dict(outcomes)}")
    changed = outcomes["new"] + outcomes["changed"]
    return {"system": system, "stream": stream, "kind": mapping.kind, "read": manifest["read"], "changed": changed,
            "new": outcomes["new"], "unchanged": outcomes["unchanged"] + outcomes["stale"],
            "quarantined": outcomes["quarantined"], "suppressed": outcomes["suppressed"]}


def load_page(s: Session, mapping: mappings.Mapping, raws: list[dict], run_id: str,
              suppressed: frozenset | set = frozenset()) -> Counter:
    """One page: the rows it may update fetched in one query (not one per record), the quarantine
    entries it fixes closed in one statement, then each record; returns the outcomes counted."""
    known = _stored_rows(s, mapping, raws)
    outcomes, valid = Counter(), []
    with s.no_autoflush:
        for raw in raws:
            outcome = load_record(s, mapping, raw, run_id, suppressed, known)
            outcomes[outcome] += 1
            if outcome not in ("quarantined", "suppressed"):
                valid.append(_source_id(mapping, raw))
    if mapping.kind != "activity":
        _resolve_quarantine(s, mapping.system, valid, run_id)
    return outcomes


def load_record(s: Session, mapping: mappings.Mapping, raw: dict, run_id: str,
                suppressed: frozenset | set = frozenset(), known: dict | None = None) -> str:
    """Stores one raw record; says what happened: new, changed, unchanged, stale, quarantined, or
    suppressed (an erased person a source still or again holds: never stored, never synced).
    `known`: the page's stored rows by source id (load_page), kept current as rows are added."""
    canonical, found = mapping.to_canonical(raw)
    if suppressed and suppression.digests_of(canonical) & suppressed:
        return "suppressed"
    kind = "activity" if mapping.kind == "activity" else "source_record"
    found += problems(canonical, kind)
    if found:
        return _quarantine(s, mapping, raw, canonical.get("source_id"), found, run_id)
    if known is None:
        known = _stored_rows(s, mapping, [raw])
        if kind != "activity":
            _resolve_quarantine(s, mapping.system, [canonical["source_id"]], run_id)
    if kind == "activity":
        return _upsert_activity(s, raw, canonical, run_id, known)
    return _upsert(s, raw, canonical, run_id, known)


def _stored_rows(s: Session, mapping: mappings.Mapping, raws: list[dict]) -> dict:
    """source id -> the stored row of this stream (source record or activity), for the page's ids."""
    ids = sorted({i for i in (_source_id(mapping, raw) for raw in raws) if i})
    model = Activity if mapping.kind == "activity" else SourceRecord
    where = [model.source == mapping.system] + ([Activity.kind == mapping.activity] if model is Activity else [])
    found = {}
    for start in range(0, len(ids), 500):
        found.update({row.source_id: row for row in s.scalars(
            select(model).where(*where, model.source_id.in_(ids[start:start + 500])))})
    return found


def _source_id(mapping: mappings.Mapping, raw: dict) -> str | None:
    try:
        value = mapping.transforms[mapping.source_id.transform].forward(mappings.get_path(raw, mapping.source_id.source))
    except (TypeError, ValueError):
        return None  # load_record quarantines it, naming the field
    return str(value) if value not in (None, "") else None


def _upsert_activity(s: Session, raw: dict, canonical: dict, run_id: str, known: dict) -> str:
    row = known.get(canonical["source_id"])
    new_hash = content_hash(canonical)
    if row is None:
        known[canonical["source_id"]] = row = Activity(
            source=canonical["source"], kind=canonical["kind"], source_id=canonical["source_id"],
            customer_ref=canonical["customer_ref"], occurred_at=_timestamp(canonical["occurred_at"]),
            raw=raw, canonical=canonical, content_hash=new_hash, first_seen_run=run_id, last_changed_run=run_id)
        s.add(row)
        return "new"
    if row.content_hash == new_hash:
        return "unchanged"
    row.raw, row.canonical, row.content_hash, row.last_changed_run = raw, canonical, new_hash, run_id
    row.customer_ref, row.occurred_at = canonical["customer_ref"], _timestamp(canonical["occurred_at"])
    return "changed"


def _upsert(s: Session, raw: dict, canonical: dict, run_id: str, known: dict) -> str:
    source, source_id = canonical["source"], canonical["source_id"]
    updated_at = _timestamp(canonical["updated_at"])
    row = known.get(source_id)
    new_hash = content_hash(canonical)
    if row is None:
        known[source_id] = row = SourceRecord(
            source=source, source_id=source_id, raw=raw, canonical=canonical, content_hash=new_hash,
            source_updated_at=updated_at, deleted=bool(canonical.get("deleted")),
            first_seen_run=run_id, last_changed_run=run_id, last_read_run=run_id,
            match_features=features.stored(canonical), features_of=features.stamp(new_hash))
        s.add(row)
        return "new"
    row.last_read_run = run_id
    if as_utc(row.source_updated_at) > updated_at:
        return "stale"  # an overlap re-read brought an older version; what we hold is newer
    outcome = "unchanged" if row.content_hash == new_hash else "changed"
    if outcome == "changed":
        row.sync_state = edits.observe(row.sync_state, row.canonical, canonical, run_id)
    if canonical != row.canonical:  # a new updated_at alone can turn a most_recent survivorship rule
        row.golden_stale = True
    row.raw, row.canonical, row.source_updated_at = raw, canonical, updated_at
    if outcome == "changed":
        row.content_hash, row.deleted, row.last_changed_run = new_hash, bool(canonical.get("deleted")), run_id
        row.match_features, row.features_of = features.stored(canonical), features.stamp(new_hash)
    return outcome


def _quarantine(s: Session, mapping, raw: dict, source_id, found: list, run_id: str) -> str:
    reason = "; ".join(str(p) for p in found)
    log.warning("quarantined %s/%s record %s: %s", mapping.system, mapping.entity, mask_id(source_id) or "(no id)",
                reason)
    raw_hash = digest(raw)
    exists = s.scalar(select(QuarantinedRecord.id).where(
        QuarantinedRecord.source == mapping.system, QuarantinedRecord.raw_hash == raw_hash))
    if exists is None:
        s.add(QuarantinedRecord(run_id=run_id, source=mapping.system, source_id=source_id, raw=raw,
                                raw_hash=raw_hash, reason=reason))
    return "quarantined"


def _resolve_quarantine(s: Session, source: str, source_ids: list[str], run_id: str) -> None:
    """A valid version of a quarantined record closes its quarantine entry."""
    for start in range(0, len(source_ids), 500):
        s.execute(update(QuarantinedRecord)
                  .where(QuarantinedRecord.source == source, QuarantinedRecord.source_id.in_(source_ids[start:start + 500]),
                         QuarantinedRecord.resolved_run.is_(None))
                  .values(resolved_run=run_id))


def save_cursor(s: Session, key: str, position: dict, run_id: str) -> None:
    row = s.get(Cursor, key)
    if row is None:
        s.add(Cursor(source=key, position=position, run_id=run_id, updated_at=utcnow()))
    else:
        row.position, row.run_id, row.updated_at = position, run_id, utcnow()


def _timestamp(value: str) -> datetime:
    return as_utc(datetime.fromisoformat(value.replace("Z", "+00:00")))
