"""Reconcile in partitions, so that its heavy part runs as mapped tasks on several workers:

    plan      one task    the store's records -> a frozen Features table, the overrides as rows, full or
                          incremental (and, incremental, the neighbourhood to resolve again; one that
                          fits a partition it pairs, trains and scores itself, and maps over none)
    pairs     mapped      one partition of the blocking keys: its candidate pairs and their comparison levels
    train     one task    a full run learns the model from every partition's pairs (EM needs them all)
    score     mapped      one partition's pairs scored with that model; the accepted edges kept
    finish    one task    every partition's edges -> clusters, stable ids, survivorship, persisted

The result equals the one-process reconcile (snapshot.resolve) on the same records:
- partitions split the blocking index by key value, so a block (every record sharing one key value)
  lies whole in one partition and is capped and paired exactly as in one process; the union of the
  partitions' pairs is the one-process candidate set (a pair met under two keys in two partitions is
  kept once when they are merged);
- levels and scores are per pair, on the same Features table: the plan freezes it once, every task
  loads that file (term frequencies and common names are properties of the whole table);
- training and clustering see the merged pairs in one order, sorted by row pair, as in one process.
tests/integration/test_reconcile_partitions.py compares both on generated worlds.

Intermediate results are files under CONCORD_WORK_URL (a local directory, var/work by default, or
s3://bucket/prefix with server-side encryption), one per stage and partition, keyed by run: XComs carry
only counts. Every stage is a function of the files before it and writes its own file whole, so any
of them can be re-run. The plan removes older runs' files: they hold normalized personal data."""
from __future__ import annotations

import hashlib
import io
import json
import math
import os
import shutil
from array import array
from copy import copy
from pathlib import Path

import numpy as np

from canonical import blobs, landing, paths, progress
from canonical.reconcile import blocking, snapshot
from canonical.reconcile import model as fs
from canonical.reconcile.compare import Comparator
from canonical.reconcile.engine import Edges, Engine, Overrides, Settings
from canonical.reconcile.features import COLUMNS, Features, Vocab

PARTITION_RECORDS = 50_000  # records per partition when CONCORD_RECONCILE_PARTITIONS does not fix the count
MAX_PARTITIONS = 32


def work_base() -> str:
    return os.environ.get("CONCORD_WORK_URL") or str(paths.var_dir() / "work")


def partition_records() -> int:
    return max(1, int(os.environ.get("CONCORD_RECONCILE_PARTITION_RECORDS") or PARTITION_RECORDS))


def partition_count(records: int, looked_at: int | None = None) -> int:
    """A full run splits the store: CONCORD_RECONCILE_PARTITIONS partitions, else one per
    CONCORD_RECONCILE_PARTITION_RECORDS records. An incremental run splits only the `looked_at` records
    of its neighbourhood, one partition per that many of them, at most the full run's count: a 1% run
    at 100,000 people looks at a few thousand records, and each extra partition is a task that only
    loads the plan file again."""
    size = partition_records()
    fixed = os.environ.get("CONCORD_RECONCILE_PARTITIONS")
    full = max(1, int(fixed)) if fixed else min(MAX_PARTITIONS, max(1, math.ceil(records / size)))
    if looked_at is None:
        return full
    return min(full, max(1, math.ceil(looked_at / size)))


# -- the stages ------------------------------------------------------------------------------------

def plan(run_id: str) -> list[int]:
    """Reads the store, writes the plan file; returns the partition numbers to map over."""
    from canonical.reconcile import overrides, stored_features
    from canonical.store import session

    with session() as s:
        rows, features, changed, previous, latest = stored_features.read(s, run_id)
        start = snapshot.plan(features, changed, previous, overrides.load(s), latest.parameters if latest else None)
        state = _records_digest(rows)
    arrays, meta = _pack_features(start.features)
    within = None
    if start.full:
        count = partition_count(len(start.keys))
    else:
        engine = Engine(start.features, say=progress.say)
        engine.model = fs.Model.from_dict(start.model)
        arrays["previous"] = start.previous
        arrays["within"] = within = engine.neighbourhood(start.previous, start.dirty, start.overrides)
        count = partition_count(len(start.keys), int(within.sum()))
    # A neighbourhood within one partition's size is compared and scored here, in memory: as mapped
    # tasks, each of the three steps would first load this plan file again, and each hand-over
    # between tasks waits for the scheduler. The DAG's mapped steps then map over no partition.
    here = within is not None and int(within.sum()) <= partition_records()
    meta.update(row_keys=start.keys, full=start.full, model=start.model, partitions=1 if here else count,
                records_digest=state, forced=sorted(start.overrides.forced),
                forbidden=sorted(start.overrides.forbidden))
    _remove_other_runs(run_id)
    _put(run_id, "plan.npz", arrays, meta)
    mode = "full" if start.full else f"incremental over {int(within.sum())} records"
    if here:
        planned = _Plan.of(start, meta, within)
        pairs(run_id, 0, planned)
        train(run_id, planned)
        score(run_id, 0, planned)
        progress.say(f"reconcile: {len(start.keys)} records, {mode}, compared and scored in the plan")
        return []
    progress.say(f"reconcile: {len(start.keys)} records in {count} partition(s), {mode}")
    return list(range(count))


def pairs(run_id: str, part: int, start: "_Plan | None" = None) -> dict:
    """One partition's candidate pairs with their comparison levels. `start`: the plan, when the
    caller holds it already (else its file is read)."""
    start = start or _Plan.load(run_id)
    a, b = candidate_pairs(start.features, part, start.partitions, Settings().block_cap, start.within)
    if part == 0 and start.overrides.forced:
        # Forced pairs are compared even when no block brought them together; partition 0 holds them.
        forced = np.array(sorted(start.overrides.forced), dtype=np.int32).reshape(-1, 2)
        a, b = np.r_[a, forced.min(axis=1)], np.r_[b, forced.max(axis=1)]
    gamma = Comparator(start.features).levels(a, b)
    _put(run_id, f"pairs-{part:03d}.npz", {"a": a, "b": b, "gamma": gamma}, {})
    progress.say(f"reconcile partition {part}: {len(a)} candidate pairs compared")
    return {"partition": part, "pairs": int(len(a))}


def train(run_id: str, start: "_Plan | None" = None) -> dict:
    """A full run learns the model from all partitions' pairs; an incremental run keeps the stored one."""
    start = start or _Plan.load(run_id)
    if start.full:
        merged = _merge(run_id, "pairs", start.partitions, len(start.features), ("gamma",))
        engine = Engine(start.features, say=progress.say)
        model = engine.train(merged["a"], merged["gamma"])
        model.records = len(start.keys)
        parameters = model.as_dict()
    else:
        parameters = start.model
    _put_json(run_id, "model.json", parameters)
    return {"full": start.full, "prior": parameters["prior"]}


def score(run_id: str, part: int, start: "_Plan | None" = None) -> dict:
    """One partition's pairs weighed with the model and the rules; the accepted edges are kept."""
    start = start or _Plan.load(run_id)
    found = _get(run_id, f"pairs-{part:03d}.npz")[0]
    engine = Engine(start.features)
    engine.model = fs.Model.from_dict(_get_json(run_id, "model.json"))
    edges = engine.score(found["a"], found["b"], found["gamma"], start.overrides)
    keep = edges.accepted
    _put(run_id, f"edges-{part:03d}.npz", {"a": edges.a[keep], "b": edges.b[keep], "gamma": edges.gamma[keep],
                                            "weight": edges.weight[keep], "rule": edges.rule[keep]}, {})
    return {"partition": part, "accepted": int(keep.sum())}


def combine(run_id: str) -> tuple[snapshot.Plan, snapshot.Snapshot, str]:
    """Clusters from every partition's edges, as the one-process pass makes them; and the digest
    of the records the plan read."""
    start = _Plan.load(run_id)
    merged = _merge(run_id, "edges", start.partitions, len(start.features), ("gamma", "weight", "rule"))
    edges = Edges(merged["a"], merged["b"], merged["gamma"], merged["weight"], merged["rule"],
                  np.ones(len(merged["a"]), dtype=bool))
    engine = Engine(start.features)
    engine.model = fs.Model.from_dict(_get_json(run_id, "model.json"))
    # with the model: an incremental run reuses its system rates, a full run's model learns them here
    resolved = engine.cluster_labels(edges, start.overrides, start.within)
    model = engine.model
    if start.full:
        labels, subset = resolved, np.ones(len(start.keys), dtype=bool)
    else:  # as Engine.update: only the neighbourhood takes new labels, every other cluster keeps its own
        labels, subset = start.previous.copy(), start.within
        labels[subset] = resolved[subset]
    return start, snapshot.assemble(start.keys, labels, subset, edges, model, start.full), start.records_digest


def finish(run_id: str, writes_for: list[str] | None = None, retry_failed: bool = False) -> dict:
    """Combines the partitions and persists the outcome, with the outbox's change sets for the
    systems of `writes_for`, in one transaction, as reconcile() does."""
    from canonical.reconcile import live, persist_clusters, read_links
    from canonical.store import session

    start, found, digest = combine(run_id)
    progress.say(f"reconcile: {len(found.clusters)} clusters combined from {start.partitions} partition(s); storing")
    with session() as s:
        rows, records = live.read_light(s, run_id)
        if _records_digest(rows) != digest:
            raise RuntimeError("reconcile: the store's records changed since reconcile_plan read them; "
                               "run the reconcile again from its plan")
        stats = persist_clusters(s, records, found, read_links(s), run_id, writes_for, retry_failed)
    stats["partitions"] = start.partitions
    progress.say(f"reconcile: {stats['records']} records -> {stats['customers']} customers "
                 f"({stats['new']} new, {stats['updated']} updated, {stats['retired']} retired, "
                 f"{stats['merges']} merges, {stats['splits']} splits, {stats['mode']}, "
                 f"{start.partitions} partition(s))")
    return stats


def run_all(run_id: str) -> dict:
    """Every stage in this process, in order: what the DAG's mapped tasks do, one after another."""
    parts = plan(run_id)
    for part in parts:
        pairs(run_id, part)
    if parts:  # none: the plan compared and scored its small neighbourhood itself
        train(run_id)
    for part in parts:
        score(run_id, part)
    return finish(run_id)


# -- partitions of the blocking index ---------------------------------------------------------------

def partition_of(codes: np.ndarray, count: int) -> np.ndarray:
    """The partition of each key value: a multiplicative hash, so that neighbouring ids (interned
    values are numbered in order of appearance) spread over the partitions."""
    mixed = codes.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    return ((mixed >> np.uint64(32)) % np.uint64(count)).astype(np.int64)


def candidate_pairs(features: Features, part: int, count: int, cap: int,
                    within: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The candidate pairs of the blocks whose key value falls in partition `part`: blocking's own
    candidate_pairs run on the slice of its index that holds those key values (the index is sorted
    by key value, and a slice of it stays sorted, so blocks stay whole)."""
    index = blocking._index(features)  # blocking's cached index: built once per table
    sliced = {}
    for kind, (codes, rows) in index.items():
        mine = partition_of(codes, count) == part
        sliced[kind] = (codes[mine], rows[mine])
    view = copy(features)  # shares the columns; only its derived index differs
    view.derived = {"index": sliced}
    a, b, _ = blocking.candidate_pairs(view, cap, within)
    return a.astype(np.int32), b.astype(np.int32)


# -- files ------------------------------------------------------------------------------------------

class _Plan:
    """The plan file, read back."""

    @classmethod
    def load(cls, run_id: str) -> "_Plan":
        arrays, meta = _get(run_id, "plan.npz")
        found = cls()
        found.features = _unpack_features(arrays, meta)
        found.keys = [tuple(key) for key in meta["row_keys"]]
        found.full, found.model, found.partitions = meta["full"], meta["model"], meta["partitions"]
        found.records_digest = meta["records_digest"]
        found.overrides = Overrides({tuple(p) for p in meta["forced"]}, {tuple(p) for p in meta["forbidden"]})
        found.previous = arrays.get("previous")
        found.within = arrays.get("within")
        return found

    @classmethod
    def of(cls, start: snapshot.Plan, meta: dict, within: np.ndarray | None) -> "_Plan":
        """The plan as load() would read it back, from the plan step's own objects."""
        found = cls()
        found.features, found.keys, found.overrides = start.features, start.keys, start.overrides
        found.full, found.model, found.partitions = meta["full"], meta["model"], meta["partitions"]
        found.records_digest, found.previous, found.within = meta["records_digest"], start.previous, within
        return found


def _merge(run_id: str, stage: str, count: int, n: int, columns: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Every partition's file of `stage` as one table of distinct pairs, sorted by (a, b)."""
    parts = [_get(run_id, f"{stage}-{part:03d}.npz")[0] for part in range(count)]
    a = np.concatenate([p["a"] for p in parts]).astype(np.int64)
    b = np.concatenate([p["b"] for p in parts]).astype(np.int64)
    _, first = np.unique(a * n + b, return_index=True)
    merged = {"a": a[first].astype(np.int32), "b": b[first].astype(np.int32)}
    for column in columns:
        merged[column] = np.concatenate([p[column] for p in parts])[first]
    return merged


def _key(run_id: str, name: str) -> str:
    return f"reconcile/{landing.run_key(run_id)}/{name}"


def _uri(key: str) -> str:
    base = work_base()
    return f"{base.rstrip('/')}/{key}" if base.startswith("s3://") else str(Path(base) / key)


def _put(run_id: str, name: str, arrays: dict[str, np.ndarray], meta: dict) -> None:
    buffer = io.BytesIO()
    np.savez(buffer, __meta__=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8), **arrays)
    blobs.put(_key(run_id, name), buffer.getvalue(), base=work_base(), content_type="application/octet-stream")


def _get(run_id: str, name: str) -> tuple[dict[str, np.ndarray], dict]:
    key = _key(run_id, name)
    try:
        data = blobs.get(_uri(key))
    except FileNotFoundError:
        raise FileNotFoundError(f"reconcile: {key} is missing under {work_base()}: its stage has not run for "
                                f"this run (or a later run's plan removed it)") from None
    with np.load(io.BytesIO(data), allow_pickle=False) as found:  # no pickles: files could be tampered with
        arrays = {name: found[name] for name in found.files if name != "__meta__"}
        meta = json.loads(found["__meta__"].tobytes())
    return arrays, meta


def _put_json(run_id: str, name: str, value: dict) -> None:
    blobs.put(_key(run_id, name), json.dumps(value).encode(), base=work_base())


def _get_json(run_id: str, name: str) -> dict:
    return json.loads(blobs.get(_uri(_key(run_id, name))))


def _remove_other_runs(run_id: str) -> None:
    """Older runs' work files go: they are only needed to re-run a stage of their own run."""
    base = work_base()
    if base.startswith("s3://"):
        bucket, prefix = blobs._split(base)  # blobs' own S3 client and URI rules
        root = (f"{prefix.rstrip('/')}/" if prefix else "") + "reconcile/"
        mine = f"{root}{landing.run_key(run_id)}/"
        client = blobs._s3()
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=root):
            stale = [{"Key": o["Key"]} for o in page.get("Contents", []) if not o["Key"].startswith(mine)]
            if stale:
                client.delete_objects(Bucket=bucket, Delete={"Objects": stale})
        return
    root = Path(base) / "reconcile"
    if root.exists():
        for entry in root.iterdir():
            if entry.name != landing.run_key(run_id):
                shutil.rmtree(entry, ignore_errors=True)


def _records_digest(rows) -> str:
    """What the plan read: every live record and its content hash. The finish step checks that the
    records it persists with are the ones the plan clustered."""
    digest = hashlib.sha256()
    for source, source_id, content in sorted((r.source, r.source_id, r.content_hash or "") for r in rows):
        digest.update(f"{source}\x1f{source_id}\x1f{content}\x1e".encode())
    return digest.hexdigest()


def _pack_features(features: Features) -> tuple[dict[str, np.ndarray], dict]:
    arrays = {f"column:{name}": features.column(name) for name in COLUMNS}
    owners, shared = {}, {}
    for name in COLUMNS:  # email2 and phone2 share the vocabulary of email1 and phone1
        owner = next(other for other in COLUMNS if features.vocab[other] is features.vocab[name])
        if owner == name:
            owners[name] = features.vocab[name].values
            arrays[f"counts:{name}"] = np.asarray(features.vocab[name].counts, dtype=np.int64)
        else:
            shared[name] = owner
    meta = {"keys": features.keys, "claims": features.claims, "values": owners, "shared": shared}
    return arrays, meta


def _unpack_features(arrays: dict[str, np.ndarray], meta: dict) -> Features:
    features = Features()
    for name, values in meta["values"].items():
        vocab = Vocab()
        vocab.values = list(values)
        vocab.ids = {value: i for i, value in enumerate(vocab.values)}
        vocab.counts = array("l", arrays[f"counts:{name}"].tolist())
        features.vocab[name] = vocab
    for name, owner in meta["shared"].items():
        features.vocab[name] = features.vocab[owner]
    features.keys = [tuple(key) for key in meta["keys"]]
    features.claims = [tuple(claim) for claim in meta["claims"]]
    features.arrays = {name: arrays[f"column:{name}"] for name in COLUMNS}
    features.derived = {}
    return features
