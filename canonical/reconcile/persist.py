"""Writing one reconcile's outcome into the store: golden customers (only when their content
changed), links with the rule and score that made them, the link evidence of the clusters this run
resolved, merge and split events, retired customers and the model a full run learned."""
from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session

from canonical.hashing import digest
from canonical.reconcile import ids as stable_ids
from canonical.reconcile import survive
from canonical.reconcile.live import Live
from canonical.reconcile.snapshot import Snapshot
from canonical.store import GoldenCustomer, Link, SourceRecord
from canonical.store.models import ClusterEvent, MatchEvidence, MatchModel
from canonical.sync import edits

CHUNK = 500  # keys per IN (...): well under every database's bound on parameters
# Past 1/WHOLE of the rows, reading or updating them all at once beats looking them up by key (after a
# write-back burst most records are stale: the settle run of the 100k benchmark spent minutes on IN lists).
WHOLE = 4
EVIDENCE_BATCH = 5_000  # evidence rows per INSERT


def store(s: Session, found: Snapshot, customer_ids: list[str], records: Live, previous: dict,
          run_id: str) -> tuple[dict, set[str]]:
    """`records`: the live records (live.Live): their canonical forms and sync states (edits and consent
    Concord wrote) are fetched for the golden records computed again; its `stale` records are those whose
    golden record has not been computed from them as they are now.
    Returns the stats and the customers whose golden record was computed again.

    A full run recomputes every golden record. An incremental run recomputes those of the clusters it
    resolved again, of clusters holding a stale record and of golden records made with other
    survivorship rules: any other golden record is a function of the same records, states and rules as
    when it was stored, so it is as stored, and so are its links."""
    rules = survive.rules_digest()
    stats = {"records": len(records.keys), "customers": len(found.clusters), "new": 0, "updated": 0, "unchanged": 0,
             "retired": 0, "links_changed": 0, "mode": "full" if found.full else "incremental",
             "resolved_records": sum(len(c) for c, t in zip(found.clusters, found.touched) if t)}
    if found.full:
        redo = list(range(len(found.clusters)))
    else:
        off_rules = _other_rules(s, rules)
        redo = [i for i, (members, cid, touched) in enumerate(zip(found.clusters, customer_ids, found.touched))
                if touched or cid in off_rules or any(key in records.stale for key in members)]
    live = set(customer_ids)
    gone = [key for key in previous if key not in records.keys]  # deleted at their source: linked nowhere now
    canonical, states = records.fetch(key for i in redo for key in found.clusters[i])
    if len(redo) * WHOLE >= len(found.clusters):  # most rows are needed: one query each, not thousands of IN lists
        goldens = {g.customer_id: g for g in s.scalars(select(GoldenCustomer))}
        links = {(l.source, l.source_id): l for l in s.scalars(select(Link))}
    else:
        live_before = set(s.scalars(select(GoldenCustomer.customer_id).where(GoldenCustomer.retired.is_(False))))
        goldens = _rows_by(s, GoldenCustomer, GoldenCustomer.customer_id,
                           {customer_ids[i] for i in redo} | (live_before - live))
        links = _links_of(s, [key for i in redo for key in found.clusters[i]] + gone)
    for i in redo:
        members, cid = found.clusters[i], customer_ids[i]
        fields, lineage = survive.golden(cid, [edits.for_survivorship(canonical[k], states.get(k), run_id)
                                               for k in members])
        stats[_upsert_golden(s, goldens.get(cid), cid, fields, lineage, run_id, rules)] += 1
        for key in members:
            rule, score = found.link_rules.get(key) or _kept(links.get(key))
            stats["links_changed"] += _upsert_link(s, links.pop(key, None), key, cid, rule, score, run_id)
    stats["unchanged"] += len(found.clusters) - len(redo)
    s.flush()
    for key in gone:
        if key in links:
            s.delete(links.pop(key))
    stats["retired"] = _retire(goldens, live, run_id)
    _store_evidence(s, found, customer_ids, run_id)
    stats.update(_store_events(s, found, customer_ids, previous, run_id))
    if found.full:
        s.merge(MatchModel(run_id=run_id, parameters=found.model.as_dict()))
    stats["recomputed"] = len(redo)
    return stats, {customer_ids[i] for i in redo}


def mark_pending(s: Session, customers: set[str], everyone: bool) -> None:
    """These golden records wait for a plan of the writes they call for (a dry run plans nothing, and
    a system left out of a run plans later); `everyone`: all of them, in one statement."""
    if everyone:
        s.execute(update(GoldenCustomer).values(plan_pending=True))
        return
    for chunk in _chunks(customers):
        s.execute(update(GoldenCustomer).where(GoldenCustomer.customer_id.in_(chunk)).values(plan_pending=True))


def mark_fresh(s: Session, stale: set, changed_now: set, live: int) -> None:
    """The stale records' golden records are computed now; those with an edit this run read stay stale
    for the next run, whose survivorship no longer counts the edit as fresh. `live`: how many records
    the reconcile read."""
    if len(stale) * WHOLE >= max(live, 1):
        # At once; safe because the reconcile checked that no record changed since its plan read them.
        s.execute(update(SourceRecord).where(SourceRecord.golden_stale.is_(True)).values(golden_stale=False))
        _set_stale(s, stale & changed_now, True)
    else:
        _set_stale(s, stale - changed_now, False)


def _set_stale(s: Session, keys: set, value: bool) -> None:
    for source, ids in _by_source(keys):
        s.execute(update(SourceRecord).where(SourceRecord.source == source, SourceRecord.source_id.in_(ids))
                  .values(golden_stale=value))


def _chunks(values) -> Iterator[list]:
    """The values in order, CHUNK at a time (one IN list each)."""
    values = sorted(values)
    for start in range(0, len(values), CHUNK):
        yield values[start:start + CHUNK]


def _by_source(keys) -> Iterator[tuple[str, list[str]]]:
    """(source, source ids) chunks of record keys."""
    grouped: dict[str, list[str]] = {}
    for source, source_id in keys:
        grouped.setdefault(source, []).append(source_id)
    for source, ids in grouped.items():
        for chunk in _chunks(ids):
            yield source, chunk


def _other_rules(s: Session, rules: str) -> set[str]:
    return set(s.scalars(select(GoldenCustomer.customer_id).where(
        GoldenCustomer.retired.is_(False),
        (GoldenCustomer.rules_digest.is_(None)) | (GoldenCustomer.rules_digest != rules))))


def _rows_by(s: Session, model, column, values: set) -> dict:
    return {getattr(row, column.key): row for chunk in _chunks(values)
            for row in s.scalars(select(model).where(column.in_(chunk)))}


def _links_of(s: Session, keys: list) -> dict:
    return {(l.source, l.source_id): l for source, ids in _by_source(keys)
            for l in s.scalars(select(Link).where(Link.source == source, Link.source_id.in_(ids)))}


def _kept(row) -> tuple[str, float | None]:
    return (row.rule, row.score) if row is not None else ("own_record", None)


def _retire(goldens: dict, live: set, run_id: str) -> int:
    retired = 0
    for golden in goldens.values():
        if golden.customer_id not in live and not golden.retired:
            golden.retired, golden.updated_run = True, run_id
            retired += 1
    return retired


def _store_evidence(s: Session, found: Snapshot, customer_ids: list[str], run_id: str) -> None:
    """The evidence of every resolved cluster is replaced; untouched clusters keep theirs."""
    resolved = [cid for cid, touched in zip(customer_ids, found.touched) if touched]
    owner = {key: cid for members, cid in zip(found.clusters, customer_ids) for key in members}
    for start in range(0, len(resolved), 500):
        s.execute(delete(MatchEvidence).where(MatchEvidence.customer_id.in_(resolved[start:start + 500])))
    # Rows, not ORM objects: a resolved neighbourhood can hold tens of thousands of links, and
    # building and flushing an object per link took longer than the clustering.
    rows = [{"customer_id": owner[item["a"]], "source_a": item["a"][0], "source_id_a": item["a"][1],
             "source_b": item["b"][0], "source_id_b": item["b"][1], "rule": item["rule"], "weight": item["weight"],
             "probability": item["probability"], "levels": item["levels"], "run_id": run_id}
            for item in found.evidence]
    for start in range(0, len(rows), EVIDENCE_BATCH):
        s.execute(insert(MatchEvidence), rows[start:start + EVIDENCE_BATCH])


def _store_events(s: Session, found: Snapshot, customer_ids: list[str], previous: dict, run_id: str) -> dict:
    touched = [(members, cid) for members, cid, t in zip(found.clusters, customer_ids, found.touched) if t]
    events = stable_ids.events([m for m, _ in touched], [c for _, c in touched], previous)
    for event in events:
        s.add(ClusterEvent(run_id=run_id, kind=event["kind"], customer_id=event["customer_id"], others=event["others"]))
    return {"merges": sum(e["kind"] == "merge" for e in events), "splits": sum(e["kind"] == "split" for e in events)}


def _upsert_golden(s: Session, row, cid: str, fields: dict, lineage: dict, run_id: str, rules: str) -> str:
    content = digest({"fields": fields, "lineage": lineage})
    if row is None:
        s.add(GoldenCustomer(customer_id=cid, fields=fields, lineage=lineage, content_hash=content,
                             created_run=run_id, updated_run=run_id, retired=False, rules_digest=rules,
                             plan_pending=False))  # pending is marked for the run as a whole (mark_pending)
        return "new"
    if row.rules_digest != rules:
        row.rules_digest = rules
    if row.content_hash == content and not row.retired:
        return "unchanged"
    row.fields, row.lineage, row.content_hash, row.updated_run, row.retired = fields, lineage, content, run_id, False
    return "updated"


def _upsert_link(s: Session, row, key, cid: str, rule: str, score: float | None, run_id: str) -> bool:
    if row is None:
        s.add(Link(source=key[0], source_id=key[1], customer_id=cid, rule=rule, score=score, linked_run=run_id))
        return True
    if (row.customer_id, row.rule) == (cid, rule):
        row.score = score
        return False
    row.customer_id, row.rule, row.score, row.linked_run = cid, rule, score, run_id
    return True
