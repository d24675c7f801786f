"""Concord's matcher against Splink 5 (DuckDB) on generated worlds with ground truth.

For each size: export the world (bench/make_records.py), run `concord match` and Splink (each in a
process of its own, timed with /usr/bin/time -v for wall time and peak memory), score both against
the truth (pairwise precision/recall/F1 on the transitive closure, B-cubed F1, over-merged
clusters), run a 1% incremental delta, and score survivorship per field against each fixed policy.

    .venv/bin/python bench/match_vs_splink.py --sizes 10000 100000 400000 --out var/bench
"""
from __future__ import annotations

import argparse
import csv
import json
import math
import random
import re
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
PYTHON = sys.executable

from bench.make_records import export  # noqa: E402


# --- running ---------------------------------------------------------------------------------

def timed(command: list[str], timeout: float | None = None) -> dict:
    """Runs under /usr/bin/time -v; wall seconds, peak memory in MB, stdout, and whether it finished.
    Peak memory is the larger of the biggest single process (time's maximum RSS) and the most the
    whole process tree held at once (sampled): Concord reads its input in two processes, and the
    biggest one alone would understate what it takes."""
    started = time.perf_counter()
    process = subprocess.Popen(["/usr/bin/time", "-v", *command], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, cwd=ROOT)
    tree = TreeMemory(process.pid)
    tree.start()
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        tree.stop()
        return {"finished": False, "seconds": round(time.perf_counter() - started, 1), "peak_mb": None, "stdout": ""}
    seconds, together = round(time.perf_counter() - started, 1), tree.stop()
    peak = re.search(r"Maximum resident set size \(kbytes\): (\d+)", stderr)
    if process.returncode != 0:
        print(stderr[-3000:], file=sys.stderr)
    largest = round(int(peak.group(1)) / 1024) if peak else 0
    return {"finished": process.returncode == 0, "seconds": seconds, "peak_mb": max(largest, together),
            "largest_process_mb": largest, "tree_mb": together, "stdout": stdout}


class TreeMemory(threading.Thread):
    """The most resident memory a process and all its descendants held at once, sampled every 50 ms.
    Pages a forked child shares with its parent count twice: an over- rather than an understatement."""

    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.pid, self.peak, self.done = pid, 0, threading.Event()

    def run(self) -> None:
        import psutil

        try:
            root = psutil.Process(self.pid)
        except psutil.NoSuchProcess:
            return
        while not self.done.wait(0.05):
            total = 0
            try:
                family = [root, *root.children(recursive=True)]
            except psutil.NoSuchProcess:
                return
            for member in family:
                try:
                    total += member.memory_info().rss
                except psutil.NoSuchProcess:
                    pass
            self.peak = max(self.peak, total)

    def stop(self) -> int:
        self.done.set()
        self.join()
        return round(self.peak / 2**20)


# --- scoring ---------------------------------------------------------------------------------

def read_clusters(path: Path) -> dict[str, str]:
    with path.open(encoding="utf-8") as f:
        return {f"{row['source']}:{row['source_id']}": row["customer_id"] for row in csv.DictReader(f)}


def scores(predicted: dict[str, str], truth: dict[str, str]) -> dict:
    """Pairwise P/R/F1 over the clusters' transitive closure, B-cubed F1, over-merged share."""
    assert set(predicted) == set(truth), "the clusters file must hold every record exactly once"
    cells = Counter((predicted[k], truth[k]) for k in truth)
    sizes_p, sizes_t = Counter(predicted.values()), Counter(truth.values())

    def pairs(counts):
        return sum(n * (n - 1) // 2 for n in counts.values())

    together = pairs(cells)
    precision, recall = together / max(pairs(sizes_p), 1), together / max(pairs(sizes_t), 1)
    b_precision = sum(n * n / sizes_p[c] for (c, _), n in cells.items()) / len(truth)
    b_recall = sum(n * n / sizes_t[t] for (_, t), n in cells.items()) / len(truth)
    people = defaultdict(set)
    for (cluster, person) in cells:
        people[cluster].add(person)
    return {"precision": precision, "recall": recall, "f1": _f1(precision, recall),
            "bcubed_f1": _f1(b_precision, b_recall), "clusters": len(sizes_p),
            "over_merged_pct": 100 * sum(len(p) > 1 for p in people.values()) / len(people)}


def _f1(p: float, r: float) -> float:
    return 2 * p * r / (p + r) if p + r else 0.0


# --- the two tools ---------------------------------------------------------------------------

def run_concord(records: Path, out: Path, truth: dict) -> dict:
    run = timed([PYTHON, "-m", "canonical.cli", "match", str(records), "--out", str(out / "concord.csv")])
    return {**run, "stdout": "", **(scores(read_clusters(out / "concord.csv"), truth) if run["finished"] else {})}


def run_splink(records: Path, out: Path, truth: dict, timeout: float) -> dict:
    run = timed([PYTHON, str(ROOT / "bench" / "splink_run.py"), str(records), str(out / "splink")], timeout)
    if not run["finished"]:
        return {**run, "stdout": ""}
    timings = json.loads(run["stdout"].strip().splitlines()[-1])
    sweep = {t: scores(read_clusters(out / "splink" / f"splink_{t}.csv"), truth) for t in timings["cluster"]}
    best = max(sweep, key=lambda t: sweep[t]["f1"])
    # The sweep clusters once per threshold; a user would cluster once, at the chosen one.
    others = sum(seconds for t, seconds in timings["cluster"].items() if t != best)
    return {**run, "stdout": "", "seconds": round(run["seconds"] - others, 1), "threshold": float(best),
            **sweep[best], "sweep": {t: round(s["f1"], 4) for t, s in sweep.items()}, "timings": timings}


# --- incremental -----------------------------------------------------------------------------

def incremental(records: Path, share: float = 0.01) -> dict:
    """In one process: a full pass over 99% of the records, then the remaining 1% arrive and are
    reconciled incrementally. Times both passes (features already built, as the store keeps them)
    and counts id churn among the customers of the first pass."""
    import numpy as np

    from canonical.match_input import read_features
    from canonical.reconcile.engine import Engine

    features = read_features(records)
    rng = np.random.default_rng(1)
    delta = np.zeros(len(features), dtype=bool)
    delta[rng.choice(len(features), int(len(features) * share), replace=False)] = True
    engine = Engine(features)
    started = time.perf_counter()
    before = engine.resolve(within=~delta).labels
    full_seconds = time.perf_counter() - started
    started = time.perf_counter()
    after, looked_at, _ = engine.update(before, delta)
    incremental_seconds = time.perf_counter() - started
    return {"records": len(features), "delta": int(delta.sum()), "full_seconds": round(full_seconds, 2),
            "incremental_seconds": round(incremental_seconds, 2),
            "time_ratio_pct": round(100 * incremental_seconds / full_seconds, 2),
            "looked_at": int(looked_at.sum()), **_churn(before, after, delta)}


def _churn(before, after, delta) -> dict:
    """A first-pass customer is touched when a new record joined it; it churns unless its records
    are, after the delta, exactly the old records of one customer. The target is about the
    untouched ones; changes among the touched are the delta's evidence at work (merges)."""
    old, new, gained = defaultdict(set), defaultdict(set), set()
    for row in range(len(delta)):
        if delta[row]:
            gained.add(int(after[row]))
        else:
            old[int(before[row])].add(row)
            new[int(after[row])].add(row)
    untouched = churned = touched_changed = 0
    for rows in old.values():
        labels = {int(after[r]) for r in rows}
        changed = len(labels) > 1 or new[next(iter(labels))] != rows
        if labels & gained:
            touched_changed += changed
        else:
            untouched += 1
            churned += changed
    return {"customers": len(old), "untouched": untouched, "churned_untouched": churned,
            "churn_pct": round(100 * churned / max(untouched, 1), 4), "touched_changed": touched_changed}


# --- survivorship ----------------------------------------------------------------------------

def survivorship(records: Path, truth_path: Path, sample: int | None = None) -> dict:
    """Per field, how often the golden value equals the person's true current value: Concord's
    configured rules against each fixed policy alone, over the true clusters (so that matching
    errors do not blur survivorship). Every person by default: the policies disagree on a few
    hundred customers in 100,000, and a sample would leave too few to tell them apart."""
    from canonical.reconcile import normalize, survive

    truth = json.loads(truth_path.read_text(encoding="utf-8"))
    by_person = defaultdict(list)
    with records.open(encoding="utf-8") as f:
        for line in f:
            record = json.loads(line)
            by_person[truth["records"][f"{record['source']}:{record['source_id']}"]].append(record)
    people = sorted(by_person)
    if sample is not None:
        people = random.Random(1).sample(people, min(sample, len(people)))
    config = survive.load_config()
    priority = yaml_default_priority()
    # recency_weighted is not a fixed policy: it is most_frequent and most_recent blended, which is
    # what Concord's configuration adds to them.
    policies = {"concord": config, **{rule: {f: {"rules": [rule], "priority": priority} for f in config}
                                      for rule in survive.RULES if rule != "recency_weighted"}}
    fields = {"given_name": "given_name", "family_name": "family_name", "emails": "email", "phones": "phone",
              "address": "address", "birth_date": "birth_date"}
    hits = {p: Counter() for p in policies}
    alone = {p: Counter() for p in policies}  # (field, "concord") / (field, "policy"): only that one is right
    asked = Counter()
    for person in people:
        current = truth["people"][person]
        for field, true_name in fields.items():
            expected = _expected(field, current.get(true_name), normalize, survive)
            if expected is None or not any(survive.candidates(field, r) for r in by_person[person]):
                continue
            asked[field] += 1
            right = {}
            for name, policy in policies.items():
                spec = policy[field]
                won = survive.choose(field, by_person[person], spec["rules"], spec["priority"],
                                     spec.get("half_life_days", survive.HALF_LIFE_DAYS))
                right[name] = won is not None and _key(field, won["value"], survive) == expected
                hits[name][field] += right[name]
            for name in policies:
                if right[name] != right["concord"]:
                    alone[name][field, "concord" if right["concord"] else "policy"] += 1
    found = {field: {name: round(100 * hits[name][field] / asked[field], 2) for name in policies}
             for field in fields if asked[field]}
    found["_paired"] = {field: {name: [alone[name][field, "concord"], alone[name][field, "policy"],
                                       sign_test(alone[name][field, "concord"], alone[name][field, "policy"])]
                                for name in policies if name != "concord"} for field in fields if asked[field]}
    return found


def sign_test(wins: int, losses: int) -> float:
    """Two-sided exact sign test: the chance of a split at least this uneven if each disagreement
    were a fair coin. Only the customers on whom the two policies disagree say anything."""
    n = wins + losses
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, k) for k in range(min(wins, losses) + 1))
    return min(1.0, 2 * tail / 2 ** n)


def yaml_default_priority() -> list[str]:
    import yaml

    from canonical.reconcile.survive import CONFIG

    return yaml.safe_load(CONFIG.read_text())["default_priority"]


def _expected(field, value, normalize, survive):
    if value in (None, "", {}):
        return None
    if field == "emails":
        return normalize.email(value)
    if field == "phones":
        return normalize.phone(value)
    return _key(field, value, survive)


def _key(field, value, survive):
    if field in ("emails", "phones", "birth_date"):
        return value
    if field == "address":
        return survive.candidates("address", {"address": value})[0]
    return value.casefold()  # names: exact up to case, accents count


# --- report ----------------------------------------------------------------------------------

def run_size(people: int, out: Path, splink_timeout: float, skip_splink: bool) -> dict:
    data = out / f"p{people}"
    if not (data / "records.jsonl").exists():
        export(people, 1, data)
    records, truth_path = data / "records.jsonl", data / "truth.json"
    truth = json.loads(truth_path.read_text(encoding="utf-8"))["records"]
    result = {"people": people, "records": len(truth)}
    print(f"[bench] {people} people: concord", file=sys.stderr, flush=True)
    result["concord"] = run_concord(records, data, truth)
    if not skip_splink:
        print(f"[bench] {people} people: splink", file=sys.stderr, flush=True)
        result["splink"] = run_splink(records, data, truth, splink_timeout)
    print(f"[bench] {people} people: incremental", file=sys.stderr, flush=True)
    inc = timed([PYTHON, str(Path(__file__).resolve()), "--incremental", str(records)])
    result["incremental"] = json.loads(inc["stdout"].strip().splitlines()[-1]) if inc["finished"] else None
    print(f"[bench] {people} people: survivorship", file=sys.stderr, flush=True)
    result["survivorship"] = survivorship(records, truth_path)
    return result


def markdown(results: list[dict]) -> str:
    return "\n\n".join((_quality_table(results), _ratio_table(results), _incremental_table(results),
                         _survivorship_table(results)))


def _ratio_table(results: list[dict]) -> str:
    lines = ["| people | F1 Concord / Splink | B-cubed F1 Concord / Splink | wall time Concord / Splink | "
             "peak memory Concord / Splink |", "|---|---|---|---|---|"]
    for r in results:
        c, s = r.get("concord"), r.get("splink")
        if c and s and c.get("finished") and s.get("finished"):
            lines.append(f"| {r['people']} | {c['f1'] / s['f1']:.2f} | {c['bcubed_f1'] / s['bcubed_f1']:.2f} | "
                         f"{c['seconds'] / s['seconds']:.2f} | {c['peak_mb'] / s['peak_mb']:.2f} |")
    return "\n".join(lines)


def _incremental_table(results: list[dict]) -> str:
    lines = ["| people | delta records | full pass s | incremental pass s | incremental / full | records looked at | "
             "untouched customers | id churn among untouched | touched customers that changed |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        i = r.get("incremental")
        if i:
            lines.append(f"| {r['people']} | {i['delta']} | {i['full_seconds']} | {i['incremental_seconds']} | "
                         f"{i['time_ratio_pct']}% | {i['looked_at']} | {i['untouched']} | {i['churn_pct']}% | "
                         f"{i['touched_changed']} |")
    return "\n".join(lines)


def _survivorship_table(results: list[dict]) -> str:
    r = results[-1]
    scored = {field: row for field, row in r["survivorship"].items() if not field.startswith("_")}
    policies = list(next(iter(scored.values())))
    lines = [f"Survivorship at {r['people']} people, % of customers whose golden value is the true current value:",
             "", "| field | " + " | ".join(policies) + " |", "|---" * (len(policies) + 1) + "|"]
    for field, row in scored.items():
        lines.append(f"| {field} | " + " | ".join(f"{row[p]:.2f}" for p in policies) + " |")
    paired = r["survivorship"].get("_paired")
    if paired:
        others = policies[1:]
        lines += ["", "Where Concord and a fixed policy disagree: customers only Concord gets right / only the "
                  "policy gets right (exact two-sided sign test p):", "",
                  "| field | " + " | ".join(others) + " |", "|---" * (len(others) + 1) + "|"]
        for field, row in paired.items():
            lines.append(f"| {field} | " + " | ".join(f"{w} / {l} (p {p:.2g})" for w, l, p in
                                                      (row[name] for name in others)) + " |")
    return "\n".join(lines)


def _quality_table(results: list[dict]) -> str:
    head = ("| people | records | tool | pairwise P | pairwise R | pairwise F1 | B-cubed F1 | over-merged | wall s | "
            "peak MB |\n|---|---|---|---|---|---|---|---|---|---|")
    lines = [head]
    for r in results:
        for tool in ("concord", "splink"):
            m = r.get(tool)
            if not m:
                continue
            if not m.get("finished"):
                lines.append(f"| {r['people']} | {r['records']} | {tool} | did not finish in {m['seconds']} s |||||||")
                continue
            label = tool if tool == "concord" else f"splink (threshold {m['threshold']})"
            lines.append(f"| {r['people']} | {r['records']} | {label} | {m['precision']:.4f} | {m['recall']:.4f} | "
                         f"{m['f1']:.4f} | {m['bcubed_f1']:.4f} | {m['over_merged_pct']:.2f}% | {m['seconds']} | "
                         f"{m['peak_mb']} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[10_000, 100_000, 400_000])
    parser.add_argument("--out", type=Path, default=ROOT / "var" / "bench")
    parser.add_argument("--splink-timeout", type=float, default=2400)
    parser.add_argument("--skip-splink", action="store_true")
    parser.add_argument("--incremental", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--report", type=Path, help="print the tables of an earlier run's results.json")
    args = parser.parse_args()
    if args.report:
        print(markdown(json.loads(args.report.read_text())))
        return 0
    if args.incremental:
        print(json.dumps(incremental(args.incremental)))
        return 0
    results = []
    for people in args.sizes:
        results.append(run_size(people, args.out, args.splink_timeout, args.skip_splink))
        (args.out / "results.json").write_text(json.dumps(results, indent=1))
    print(markdown(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
