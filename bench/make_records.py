"""Exports a generated world as the interchange files the matching benchmark reads: canonical
source records (records.jsonl, one a line, as the mappings would produce them) and the ground
truth (truth.json: record -> person, person -> true current values).

    .venv/bin/python bench/make_records.py --people 10000 --seed 1 --out var/bench/10k
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from adapters.world import SYSTEMS, World  # noqa: E402


def canonical(view) -> dict:
    """A View as the canonical source record a mapping would make of it: values as the source
    holds them, missing fields left out."""
    record = {"source": view.system, "source_id": view.source_id, "updated_at": view.updated_at}
    for name in ("given_name", "family_name", "full_name", "birth_date"):
        if getattr(view, name):
            record[name] = getattr(view, name)
    if view.email:
        record["emails"] = [view.email]
    if view.phone:
        record["phones"] = [view.phone]
    if view.address:
        record["address"] = view.address
    if view.consent:
        record["consent"] = view.consent
    return record


def export(people: int, seed: int, out: Path) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    world, count = World(seed=seed, people=people), 0
    with (out / "records.jsonl").open("w", encoding="utf-8") as f:
        for system in SYSTEMS:
            for view in world.views(system):
                f.write(json.dumps(canonical(view), ensure_ascii=False) + "\n")
                count += 1
    world.write_truth(out / "truth.json")
    return {"people": people, "seed": seed, "records": count}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, required=True)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    started = time.perf_counter()
    stats = export(args.people, args.seed, args.out)
    print(json.dumps({**stats, "seconds": round(time.perf_counter() - started, 1)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
