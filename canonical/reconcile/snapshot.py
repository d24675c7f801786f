"""One reconcile over the store's records, as data in and data out (no database here): which
records form which clusters, which clusters this run looked at, the link evidence inside them,
and the model it scored with. A first run (or one without a stored model) is full and learns the
model; later runs are incremental: only changed records, records named in overrides, members of
clusters that lost a record, and the clusters these touch are resolved again."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from canonical.reconcile import model as fs
from canonical.reconcile.compare import FIELDS, LEVELS
from canonical.reconcile.engine import RULES, Engine, Overrides, Settings
from canonical.reconcile.features import Features, stored

Key = tuple[str, str]
RETRAIN_GROWTH = 2  # a model learned on half the records or fewer is learned again, in a full run


@dataclass
class Snapshot:
    clusters: list[list[Key]]
    touched: list[bool]                 # per cluster: resolved again in this run
    evidence: list[dict]                # accepted links inside the final clusters that were resolved
    link_rules: dict[Key, tuple[str, float | None]]
    model: fs.Model
    full: bool


@dataclass
class Plan:
    """Where a reconcile starts, whether it runs in one process (resolve) or in partitions
    (partition.py): the records as a Features table, the override pairs as rows, and for an
    incremental run the previous labels and the rows that changed."""
    keys: list[Key]
    features: Features
    overrides: Overrides
    full: bool
    model: dict | None                  # the stored model an incremental run scores with
    previous: np.ndarray | None = None  # incremental: each row's previous cluster label
    dirty: np.ndarray | None = None     # incremental: rows to look at again


def plan(rows: dict[Key, list], changed: set[Key], previous: dict[Key, str],
         overrides: list[tuple[Key, Key, str]], model: dict | None) -> Plan:
    """`rows`: each live record's features as stored (features.stored)."""
    keys = sorted(rows)
    features = Features()
    features.extend_stored(keys, [rows[key] for key in keys])
    features.freeze()
    row = {key: i for i, key in enumerate(keys)}
    full = model is None or not previous or len(keys) > RETRAIN_GROWTH * model.get("records", 0) \
        or not _knows_systems(model, keys)
    found = Plan(keys, features, _override_rows(overrides, row), full, None if full else model)
    if not full:
        found.previous = _previous_labels(keys, previous)
        found.dirty = _dirty(keys, changed, previous, overrides, row)
    return found


def resolve(records: dict[Key, dict], changed: set[Key], previous: dict[Key, str],
            overrides: list[tuple[Key, Key, str]], model: dict | None, settings: Settings | None = None,
            say=lambda message: None) -> Snapshot:
    start = plan({key: stored(record) for key, record in records.items()}, changed, previous, overrides, model)
    engine = Engine(start.features, settings, say)
    if start.full:
        result = engine.resolve(overrides=start.overrides)
        engine.model.records = len(start.keys)
        labels, subset = result.labels, np.ones(len(start.keys), dtype=bool)
    else:
        engine.model = fs.Model.from_dict(start.model)
        labels, subset, result = engine.update(start.previous, start.dirty, start.overrides)
    return assemble(start.keys, labels, subset, result.edges, engine.model, start.full)


def _knows_systems(model: dict, keys: list[Key]) -> bool:
    """Whether the stored model holds the clustering's system rates for every system in the store. A
    model stored before they were kept, or one that never saw a system now connected, is learned again
    in a full run rather than patched from an incremental pass's neighbourhood: that neighbourhood is
    no fair sample of people, and the clusters the old rules made are all decided again once."""
    systems = model.get("systems")
    return systems is not None and {source for source, _ in keys} <= set(systems["sources"])


def _override_rows(overrides, row: dict[Key, int]) -> Overrides:
    found = Overrides()
    for a, b, kind in overrides:
        if a in row and b in row:
            (found.forced if kind == "force" else found.forbidden).add((row[a], row[b]))
    return found


def _previous_labels(keys: list[Key], previous: dict[Key, str]) -> np.ndarray:
    """The row label of each record's previous customer (its first row); a new record is its own."""
    first: dict[str, int] = {}
    labels = np.arange(len(keys), dtype=np.int64)
    for i, key in enumerate(keys):
        cid = previous.get(key)
        if cid is not None:
            labels[i] = first.setdefault(cid, i)
    return labels


def _dirty(keys, changed: set[Key], previous: dict[Key, str], overrides, row: dict[Key, int]) -> np.ndarray:
    """Rows to look at again: changed or new records, records named in an override, and the
    members of customers that lost a record (deleted at its source)."""
    live = set(keys)
    shrunk = {cid for key, cid in previous.items() if key not in live}
    named = {key for a, b, _ in overrides for key in (a, b)}
    return np.fromiter(((key in changed) or (key not in previous) or (key in named)
                        or (previous.get(key) in shrunk) for key in keys), dtype=bool, count=len(keys))


def assemble(keys, labels: np.ndarray, subset: np.ndarray, edges, model, full: bool) -> Snapshot:
    """The snapshot of final labels: clusters, which were resolved, and the accepted links inside them
    (`edges` may hold only the accepted ones)."""
    groups: dict[int, list[int]] = {}
    for i, label in enumerate(labels.tolist()):
        groups.setdefault(label, []).append(i)
    inside = edges.accepted & (labels[edges.a] == labels[edges.b]) & subset[edges.a] & subset[edges.b]
    probability = fs.probability(edges.weight)
    evidence, best = [], {}
    for i in np.flatnonzero(inside).tolist():
        a, b = int(edges.a[i]), int(edges.b[i])
        item = {"a": keys[a], "b": keys[b], "rule": RULES[edges.rule[i]], "weight": float(edges.weight[i]),
                "probability": float(probability[i]), "levels": _levels(edges.gamma[i])}
        evidence.append(item)
        for end in (a, b):
            if end not in best or item["weight"] > best[end]["weight"]:
                best[end] = item
    clusters = [[keys[i] for i in rows] for rows in groups.values()]
    touched = [bool(subset[rows[0]]) for rows in groups.values()]
    link_rules = {keys[i]: ((best[i]["rule"], round(best[i]["probability"], 6)) if i in best else ("own_record", None))
                  for i in range(len(keys)) if subset[i]}
    return Snapshot(clusters, touched, evidence, link_rules, model, full)


def _levels(gamma_row: np.ndarray) -> dict:
    return {name: ("missing" if level == 0 else LEVELS[name][level - 1])
            for name, level in zip(FIELDS, gamma_row.tolist())}
