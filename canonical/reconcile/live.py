"""The live source records a reconcile persists its clusters with. Every record's key, Concord id
(for stable ids) and flags are needed; canonical forms and sync states only for the records whose
golden record is computed again, and for those this run changed. `from_rows` serves them from rows
read whole (the one-process reconcile, which has read every canonical form anyway); `read_light`
reads only keys, hashes and flags, and fetches the rest when asked: in a run where 1% changed,
reading every record's canonical form and sync state again was a large part of the finish."""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from sqlalchemy import select

from canonical.reconcile.features import COLUMNS
from canonical.store import SourceRecord

Key = tuple[str, str]
CHUNK = 500  # ids per IN list
CONCORD = COLUMNS.index("concord")  # where a stored features row keeps the Concord id


@dataclass
class Live:
    keys: set[Key]
    carried: dict[Key, str]        # the Concord id a record carries (written back by an earlier run)
    stale: set[Key]                # golden_stale
    changed: set[Key]              # changed by this run's reads
    fetch: Callable[[Iterable[Key]], tuple[dict[Key, dict], dict[Key, dict]]]  # -> canonical forms, sync states


def from_rows(rows: list, run_id: str) -> Live:
    """Rows with source, source_id, canonical, sync_state, golden_stale and last_changed_run."""
    records = {(r.source, r.source_id): r.canonical for r in rows}
    states = {(r.source, r.source_id): r.sync_state for r in rows if r.sync_state}
    return Live(set(records), {k: _carried(c) for k, c in records.items() if _carried(c)},
                {(r.source, r.source_id) for r in rows if r.golden_stale},
                {(r.source, r.source_id) for r in rows if r.last_changed_run == run_id},
                lambda keys: ({k: records[k] for k in keys}, {k: states[k] for k in keys if k in states}))


def _carried(canonical: dict) -> str | None:
    return (canonical.get("external_ids") or {}).get("concord")


def read_light(s, run_id: str) -> tuple[list, Live]:
    """Rows with source, source_id and content_hash (for the plan's digest), and the Live records.
    The Concord ids come from the stored features, which the plan made current for every record."""
    rows = s.execute(select(SourceRecord.id, SourceRecord.source, SourceRecord.source_id, SourceRecord.content_hash,
                            SourceRecord.golden_stale, SourceRecord.last_changed_run, SourceRecord.features_of,
                            SourceRecord.match_features[CONCORD].as_string().label("concord"))
                     .where(SourceRecord.deleted.is_(False))).all()
    row_id = {(r.source, r.source_id): r.id for r in rows}

    def fetch(keys: Iterable[Key]) -> tuple[dict, dict]:
        ids = sorted({row_id[k] for k in keys})
        records, states = {}, {}
        for start in range(0, len(ids), CHUNK):
            for source, source_id, canonical, state in s.execute(
                    select(SourceRecord.source, SourceRecord.source_id, SourceRecord.canonical, SourceRecord.sync_state)
                    .where(SourceRecord.id.in_(ids[start:start + CHUNK]))):
                records[(source, source_id)] = canonical
                if state:
                    states[(source, source_id)] = state
        return records, states

    carried = {(r.source, r.source_id): r.concord for r in rows if r.concord}
    # A row stored without features (none since the plan stores them; kept safe all the same).
    unknown, _ = fetch((r.source, r.source_id) for r in rows if r.features_of is None)
    carried.update({k: _carried(c) for k, c in unknown.items() if _carried(c)})
    return rows, Live(set(row_id), carried, {(r.source, r.source_id) for r in rows if r.golden_stale},
                      {(r.source, r.source_id) for r in rows if r.last_changed_run == run_id}, fetch)
