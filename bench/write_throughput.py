"""Write-back throughput of each adapter against its sandbox at the vendor's default rate limit, as a
share of the ceiling that limit allows (batch endpoints count their records), and the share of
requests answered 429.

    .venv/bin/python bench/write_throughput.py --writes 2000 [--systems zendesk shopify ...]

Each system's sandbox serves a seeded world; the adapter first reads the customers, then writes one
field to --writes of them: the golden customer id where the system has a place for it, else the given
name. The ceiling is the least time the vendor's limit allows for the requests the writes needed.
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

from adapters import registry
from adapters.base import Change
from canonical import mapping as mappings
from canonical.sandboxes import endpoint_of, running

sys.path.insert(0, str(Path(__file__).parent))
from read_throughput import COVERAGE, ideal_seconds, run_each  # noqa: E402  (the same ceiling model)


def changes_for(system: str, raws: list[dict], count: int) -> list[Change]:
    mapping = mappings.load(system).customers
    field = "external_ids.concord" if "external_ids.concord" in mapping.write_back else "given_name"
    out = []
    for n, raw in enumerate(raws[:count]):
        source_id = mapping.to_canonical(raw)[0]["source_id"]
        value = f"cus_bench_{n:06d}" if field == "external_ids.concord" else f"Bench{n:06d}"
        out.append(Change(source_id, mapping.to_source({field: value})))
    return out


def measure(system: str, writes: int, scratch: Path) -> dict:
    people = math.ceil(writes * 1.2 / COVERAGE[system])
    stream = mappings.load(system).customers.entity
    options = ("--seed", "1", "--customers", str(people), "--state-dir", str(scratch / system))
    with running(system, *options, log_path=scratch / f"{system}.log", timeout=600) as info:
        raws = [r for page in registry.adapter_class(system)(endpoint_of(info)).read(stream, None) for r in page.records]
        adapter = registry.adapter_class(system)(endpoint_of(info))  # fresh pacers: count the writes only
        changes = changes_for(system, raws, writes)
        started = time.monotonic()
        results = adapter.write(changes)
        elapsed = time.monotonic() - started
    ideal = ideal_seconds(adapter)
    stats = adapter.http.stats
    return {"system": system, "writes": len(changes), "ok": sum(r.ok for r in results), "seconds": round(elapsed, 2),
            "writes_per_second": round(len(changes) / elapsed, 1), "ideal_seconds": round(ideal, 2),
            "share_of_ceiling": round(min(ideal / elapsed, 1.0), 3) if ideal > 0 else None,
            "requests": stats["requests"], "answered_429": stats["429"],
            "share_429": round(stats["429"] / max(stats["requests"], 1), 4)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--writes", type=int, default=2000)
    parser.add_argument("--systems", nargs="*", default=registry.known())
    parser.add_argument("--out", type=Path, default=Path("bench/results/write_throughput.json"))
    args = parser.parse_args(argv)
    run_each(args.systems, lambda system, scratch: measure(system, args.writes, scratch), args.out,
             {"writes": args.writes})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
