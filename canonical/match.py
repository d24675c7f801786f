"""`concord match RECORDS.jsonl --out CLUSTERS.csv`: the offline entry point of reconciliation.
Reads canonical source records (one JSON object a line), clusters them with the same engine the
sync pipeline uses, and writes `source,source_id,customer_id` for every input record exactly once.

Malformed input stops the run with status 2 and a message naming the line (match_input.py)."""
from __future__ import annotations

import csv
import hashlib
import sys
import time
from pathlib import Path

import numpy as np

from canonical.match_input import read_features, silent
from canonical.reconcile.engine import Engine, Settings
from canonical.reconcile.features import Features


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
    say = Say(started) if progress else silent
    features = read_features(records, say)
    result = Engine(features, settings, say).resolve()
    ids = customer_ids(features, result.labels)
    write_clusters(out, features, ids)
    clusters = len(set(ids))
    say(f"match: {clusters} clusters written to {out}")
    return {"records": len(features), "clusters": clusters, "candidate_pairs": result.stats["candidate_pairs"],
            "links": result.stats["accepted"], "em_iterations": result.model.iterations,
            "seconds": round(time.perf_counter() - started, 2)}


class Say:
    """Progress lines on stderr with the seconds since the run started; a class, so that the
    processes reading the input can take it along."""

    def __init__(self, started: float):
        self.started = started

    def __call__(self, message: str) -> None:
        print(f"[concord] {time.perf_counter() - self.started:7.1f}s {message}", file=sys.stderr, flush=True)
