"""Read throughput of each adapter against its sandbox at the vendor's default rate limit, as a share
of the ceiling that limit allows, and the share of requests answered 429.

    .venv/bin/python bench/read_throughput.py --customers 100000 [--systems zendesk shopify ...]

Each system's sandbox is seeded with a world sized so that the system holds about --customers
customers; the adapter reads the customer stream from scratch. The ceiling is the least time the
vendor's limit allows for the requests the read needed (per rate-limit bucket: a window's worth at
once, then one window per further window's worth; for cost-based limits, the adapter's own model).
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path

from adapters import registry
from canonical import mapping as mappings
from canonical.sandboxes import endpoint_of, running

COVERAGE = {"zendesk": 0.45, "shopify": 0.60, "twilio": 0.35, "hubspot": 0.55, "mailchimp": 0.49}


def measure(system: str, customers: int, scratch: Path) -> dict:
    people = math.ceil(customers / COVERAGE[system])
    stream = mappings.load(system).customers.entity
    options = ("--seed", "1", "--customers", str(people), "--state-dir", str(scratch / system))
    with running(system, *options, log_path=scratch / f"{system}.log", timeout=900) as info:
        adapter = registry.adapter_class(system)(endpoint_of(info))
        started, records, pages = time.monotonic(), 0, 0
        for page in adapter.read(stream, None):
            records, pages = records + len(page.records), pages + 1
        elapsed = time.monotonic() - started
    return _result(system, adapter, records, pages, elapsed)


def _result(system: str, adapter, records: int, pages: int, elapsed: float) -> dict:
    stats = adapter.http.stats
    ideal = ideal_seconds(adapter)
    return {
        "system": system, "records": records, "pages": pages, "seconds": round(elapsed, 2),
        "records_per_second": round(records / elapsed, 1), "ideal_seconds": round(ideal, 2),
        "share_of_ceiling": round(min(ideal / elapsed, 1.0), 3) if ideal > 0 else None,
        "requests": stats["requests"], "answered_429": stats["429"],
        "share_429": round(stats["429"] / max(stats["requests"], 1), 4),
    }


def ideal_seconds(adapter) -> float:
    """The least time the vendor's limits allow for what this read sent: per request-count bucket, or
    from the points spent for a cost-based limit (Shopify)."""
    budget = getattr(adapter, "budget", None)
    counted = max((p.ideal_seconds() for p in adapter.http.pacers.values()), default=0.0)
    return max(counted, budget.ideal_seconds() if budget else 0.0)


def run_each(systems: list[str], measure_one, out: Path, meta: dict) -> None:
    """Measures each system in turn in a scratch directory; one JSON line each, all of them in `out`."""
    results = []
    with tempfile.TemporaryDirectory(prefix="concord-bench-") as scratch:
        for system in systems:
            print(f"{system}: {meta}", file=sys.stderr, flush=True)
            results.append(measure_one(system, Path(scratch)))
            print(json.dumps(results[-1]), flush=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({**meta, "results": results}, indent=2))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--systems", nargs="*", default=registry.known())
    parser.add_argument("--out", type=Path, default=Path("bench/results/read_throughput.json"))
    args = parser.parse_args(argv)
    run_each(args.systems, lambda system, scratch: measure(system, args.customers, scratch), args.out,
             {"customers": args.customers})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
