"""`concord match RECORDS.jsonl --out CLUSTERS.csv`: the offline entry point of reconciliation.
Reads canonical source records (one JSON object a line), clusters them with the same engine the
sync pipeline uses, and writes `source,source_id,customer_id` for every input record exactly once.

Malformed input stops the run: a line that is not a JSON object, lacks `source` or `source_id`, or
repeats a record already read exits with status 2 and a message naming the line. Dropping such a
line instead would break the contract that every input record appears in the output once."""
from __future__ import annotations

import csv
import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np

from canonical.pii import mask
from canonical.reconcile.engine import Engine, Settings
from canonical.reconcile.features import Features

PROGRESS_EVERY = 100_000


class InputError(ValueError):
    """The input file breaks the records.jsonl contract at a given line."""


def read_features(path: Path, say=lambda message: None) -> Features:
    features, seen = Features(), set()
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            record = _parse(line, number, path)
            key = (record["source"], str(record["source_id"]))
            if key in seen:
                raise InputError(f"{path}:{number}: record {key[0]}:{mask(key[1])} appears a second time")
            seen.add(key)
            features.add(record)
            if number % PROGRESS_EVERY == 0:
                say(f"match: {number} records read")
    say(f"match: {len(features)} records read")
    return features.freeze()


def _parse(line: str, number: int, path: Path) -> dict:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}:{number}: not JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(record, dict):
        raise InputError(f"{path}:{number}: a record must be a JSON object")
    missing = [name for name in ("source", "source_id") if record.get(name) in (None, "")]
    if missing:
        raise InputError(f"{path}:{number}: required field {' and '.join(missing)} missing")
    return record


def customer_ids(features: Features, labels: np.ndarray) -> list[str]:
    """A deterministic id per cluster: a digest of its first member's key, so that the same input
    gives the same file."""
    first: dict[int, str] = {}
    for row, label in enumerate(labels.tolist()):
        if label not in first:
            source, source_id = features.keys[row]
            first[label] = "cus_" + hashlib.sha1(f"{source}\x1f{source_id}".encode()).hexdigest()[:20]
    return [first[label] for label in labels.tolist()]


def write_clusters(path: Path, features: Features, ids: list[str]) -> None:
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["source", "source_id", "customer_id"])
        writer.writerows((source, source_id, cid) for (source, source_id), cid in zip(features.keys, ids))


def run(records: Path, out: Path, progress: bool = False, settings: Settings | None = None) -> dict:
    """The whole offline match; returns counts for the caller to print."""
    started = time.perf_counter()
    say = (lambda message: _stderr(f"{time.perf_counter() - started:7.1f}s {message}")) if progress else (
        lambda message: None)
    features = read_features(records, say)
    result = Engine(features, settings, say).resolve()
    ids = customer_ids(features, result.labels)
    write_clusters(out, features, ids)
    clusters = len(set(ids))
    say(f"match: {clusters} clusters written to {out}")
    return {"records": len(features), "clusters": clusters, "candidate_pairs": result.stats["candidate_pairs"],
            "links": result.stats["accepted"], "em_iterations": result.model.iterations,
            "seconds": round(time.perf_counter() - started, 2)}


def _stderr(message: str) -> None:
    print(f"[concord] {message}", file=sys.stderr, flush=True)
