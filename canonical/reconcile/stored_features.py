"""The store's live records as a reconcile plan reads them: each record's comparison features as the
load (or a write-back) stored them with it, not its canonical form. Normalizing every record again
(names, nicknames, phone numbers, addresses) was most of the plan's time in a run where 1% changed.
Rows stored without features, or under another features.VERSION (an upgrade), are computed here
from their canonical form and stored back, once."""
from __future__ import annotations

from sqlalchemy import select, update

from canonical import progress
from canonical.reconcile import read_links
from canonical.reconcile.features import stamp, stored
from canonical.store import SourceRecord
from canonical.store.models import MatchModel

Key = tuple[str, str]
BATCH = 500  # rows per IN list and per UPDATE batch


def read(s, run_id: str) -> tuple[list, dict[Key, list], set[Key], dict[Key, str], MatchModel | None]:
    """(rows with source, source_id and content_hash; features by key; keys this run changed; the
    links as they were; the latest learned model)."""
    rows = s.execute(select(SourceRecord.id, SourceRecord.source, SourceRecord.source_id, SourceRecord.content_hash,
                            SourceRecord.last_changed_run, SourceRecord.match_features, SourceRecord.features_of)
                     .where(SourceRecord.deleted.is_(False))).all()
    found = {(r.source, r.source_id): r.match_features for r in rows
             if r.match_features is not None and r.features_of == stamp(r.content_hash)}
    missing = [r.id for r in rows if (r.source, r.source_id) not in found]
    if missing:
        found.update(_compute(s, missing))
    changed = {(r.source, r.source_id) for r in rows if r.last_changed_run == run_id}
    previous = read_links(s)
    latest = s.scalar(select(MatchModel).order_by(MatchModel.created_at.desc(), MatchModel.run_id.desc()))
    return rows, found, changed, previous, latest


def _compute(s, ids: list[int]) -> dict[Key, list]:
    computed = {}
    for start in range(0, len(ids), BATCH):
        batch = s.execute(select(SourceRecord.id, SourceRecord.source, SourceRecord.source_id, SourceRecord.canonical,
                                 SourceRecord.content_hash).where(SourceRecord.id.in_(ids[start:start + BATCH]))).all()
        values = [{"id": r.id, "match_features": stored(r.canonical), "features_of": stamp(r.content_hash)}
                  for r in batch]
        s.execute(update(SourceRecord), values)
        computed.update({(r.source, r.source_id): v["match_features"] for r, v in zip(batch, values)})
    progress.say(f"reconcile: features of {len(ids)} records computed and stored "
                 "(stored without them, or by another version of the normalization)")
    return computed
