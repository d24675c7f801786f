"""Write-back throughput of each adapter against its sandbox at the vendor's default rate limit, as a
share of the ceiling that limit allows with the best write endpoint the vendor offers (batch endpoints
count their records), and the share of requests answered 429.

    .venv/bin/python bench/write_throughput.py [--systems zendesk hubspot ...] [--scale 1.0]

Each system's sandbox serves a seeded world at its default limits. The benchmark writes one field to
its customers (the golden customer id where the system has a place for it, else the given name; for
`mailchimp:consent`, the member status keyed by the address; for `hubspot:consent`, the subscription
status alone, as delivery sends it) in rounds: one adapter.write() call per
round over every customer, a new value each round, until --scale times the system's record count is
written. Source ids come from the seeded world, not from a read, so that only writes are timed.

The ceiling, in records per second, is what the limit allows with full batches: requests per window x
records per request (Zendesk update_many 100, HubSpot batch upsert 100, Mailchimp batch subscribe 500,
Twilio Sync one item a request), or restore rate / mutation cost for Shopify's cost bucket. Mailchimp
name changes also count the status reads its API makes necessary (batch subscribe requires each
member's address and status, which only the audience listing returns in bulk, 1,000 a request: see
bench/RESULTS.md), and each Mailchimp round is sent as a delivery would (a new adapter, write() a
`write_batch` at a time, whole rounds over the audience). HubSpot consent counts the address reads it
makes necessary: a status is set per address and delivery's patch names only the contact, whose
address the contacts batch read returns at best, 100 a request. The
least time for N records is what that limit allows, its burst included: for request windows, a
window's worth at once, then one window per further window's worth; for Shopify, a full bucket at
once, then the restore rate. Share of ceiling = least time / measured time.
"""
from __future__ import annotations

import argparse
import math
import re
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

from adapters import registry
from adapters.base import Change
from adapters.world import World
from canonical import mapping as mappings
from canonical.sandboxes import endpoint_of, running

sys.path.insert(0, str(Path(__file__).parent))
from read_throughput import run_each  # noqa: E402  (the same runner)


@dataclass(frozen=True)
class Ceiling:
    """A vendor's default write limit with its best write endpoint."""

    endpoint: str
    per_request: int = 1          # records a request carries
    limit: float = 0              # requests a window
    window: float = 1.0           # seconds
    bucket: float = 0             # cost-based (Shopify): points held, restored a second, a record's cost
    restore: float = 0
    cost: float = 0
    read_per: int = 0             # records whose current state one read request returns, when the
                                  # vendor's API makes a read per record written necessary (else 0)

    def requests(self, records: int) -> int:
        reads = math.ceil(records / self.read_per) if self.read_per else 0
        return math.ceil(records / self.per_request) + reads

    @property
    def records_per_second(self) -> float:
        if self.restore:
            return self.restore / self.cost
        return self.limit / self.window / (1 / self.per_request + (1 / self.read_per if self.read_per else 0))

    def least_seconds(self, records: int) -> float:
        if self.restore:
            return max(0.0, (records * self.cost - self.bucket) / self.restore)
        return self.window * max(0, math.ceil(self.requests(records) / self.limit) - 1)


CEILINGS = {
    "zendesk": Ceiling("PUT /api/v2/users/update_many.json (100 users, a job)", 100, 700, 60.0),
    "hubspot": Ceiling("POST /crm/v3/objects/contacts/batch/upsert (100)", 100, 100, 10.0),
    # A name change must send each member's address and current status (batch subscribe has no
    # status_if_new and delivery's patches carry neither), and Mailchimp reads many members' statuses
    # only by listing the audience, 1,000 a request: one read per 1,000 members written is necessary.
    "mailchimp": Ceiling("POST /3.0/lists/{list_id} batch subscribe (500) + GET .../members (1,000 statuses)",
                         500, 10, 1.0, read_per=1000),
    "mailchimp:consent": Ceiling("POST /3.0/lists/{list_id} batch subscribe (500)", 500, 10, 1.0),
    # v4 sets a status per address; delivery's consent patch names the contact only, so each address must
    # be read, at best with the contacts batch read (100 a request).
    "hubspot:consent": Ceiling("POST /communication-preferences/v4/statuses/batch/write (100) + "
                               "POST /crm/v3/objects/contacts/batch/read (100 addresses)", 100, 100, 10.0,
                               read_per=100),
    "shopify": Ceiling("customerUpdate, 10 points each", bucket=2000, restore=100, cost=10),
    "twilio": Ceiling("POST /v1/Services/{sid}/Maps/{sid}/Items/{key} (one item)", 1, 100, 1.0),
}
# Records written by default (at --scale 1), and people in the world they are drawn from: enough
# windows of the limit that its first burst does not flatter the result, within ~5 minutes a system.
SIZES = {"zendesk": (150_000, 90_000), "hubspot": (65_000, 60_000), "mailchimp": (100_000, 50_000),
         "shopify": (2_000, 6_000), "twilio": (3_000, 12_000),
         # Two requests per 100 records: 6,000 records take ~12 s at the limit, past its first burst.
         "hubspot:consent": (6_000, 14_000)}


def changes_for(system: str, variant: str | None, views: list, round_: int) -> list[Change]:
    mapping = mappings.load(system).customers
    out = []
    for n, view in enumerate(views):
        if variant == "consent":
            patch = mapping.to_source({"consent.email.status": "unsubscribed"})
            if system == "mailchimp":
                # The member's key comes with it (the store holds the address its id is the hash of).
                patch["email_address"] = view.email
        elif "external_ids.concord" in mapping.write_back:
            patch = mapping.to_source({"external_ids.concord": f"cus_bench_{round_}_{n:06d}"})
        else:
            patch = mapping.to_source({"given_name": f"Bench{round_}x{n:06d}"})
        out.append(Change(view.source_id, patch))
    return out


def measure(name: str, scale: float, scratch: Path) -> dict:
    system, _, variant = name.partition(":")
    writes, people = SIZES.get(name) or SIZES[system]
    writes = max(1, round(writes * scale))
    people = max(100, round(people * min(scale, 1.0)))
    # Delivery sends consent only to records with an address on the channel.
    views = [v for v in World(1, people).views(system) if (system != "mailchimp" and not variant) or v.email]
    if system == "mailchimp":
        # Whole rounds: each is a delivery over the whole audience, which reads the audience once for
        # as many members as it writes (a partial last round would read all of it for a few).
        writes = len(views) * max(1, writes // len(views))
    options = ("--seed", "1", "--customers", str(people), "--state-dir", str(scratch / name.replace(":", "-")))
    log_path = scratch / f"{system}.log"
    log_from = log_path.stat().st_size if log_path.exists() else 0
    with running(system, *options, log_path=log_path, timeout=900) as info:
        adapter = registry.adapter_class(system)(endpoint_of(info))
        rounds = [changes_for(system, variant or None, views, r) for r in range(math.ceil(writes / len(views)))]
        rounds[-1] = rounds[-1][:writes - len(views) * (len(rounds) - 1)]
        ok, started = 0, time.monotonic()
        if system == "mailchimp":
            ok, stats = deliveries(system, info, rounds)
        else:
            for changes in rounds:
                if system == "twilio":
                    changes, untimed = as_last_read(registry.adapter_class(system)(endpoint_of(info)), changes)
                    started += untimed
                ok += sum(r.ok for r in adapter.write(changes))
            stats = adapter.http.stats
        elapsed = time.monotonic() - started
    ceiling = CEILINGS.get(name) or CEILINGS[system]
    least = ceiling.least_seconds(writes)
    if system == "mailchimp":  # the sandbox's own count too (the client's counter is not thread-safe)
        stats = {**stats, **served(log_path, log_from)}
    return {"system": name, "endpoint": ceiling.endpoint, "records": writes, "ok": ok, "rounds": len(rounds),
            "seconds": round(elapsed, 2), "records_per_second": round(writes / elapsed, 1),
            "ceiling_records_per_second": round(ceiling.records_per_second, 1), "least_seconds": round(least, 2),
            "share_of_ceiling": round(min(least / elapsed, 1.0), 3) if least > 0 else None,
            "requests": stats["requests"], "answered_429": stats["429"],
            "share_429": round(stats["429"] / max(stats["requests"], 1), 4),
            **({"served": stats["served"], "served_429": stats["served_429"]} if "served" in stats else {})}


def served(log_path: Path, offset: int) -> dict:
    """Requests the sandbox answered, and how many with 429, from what its log gained since `offset`."""
    with open(log_path, "rb") as log:
        log.seek(offset)
        codes = [m.group(1) for m in re.finditer(rb"^\S+-sandbox [A-Z]+ \S+ (\d{3})$", log.read(), re.M)]
    return {"served": len(codes), "served_429": codes.count(b"429")}


def as_last_read(adapter, changes: list[Change]) -> tuple[list[Change], float]:
    """The changes with the records as last read (what delivery passes from the store, so Twilio writes
    conditionally in one request). The read is the sync's, not the write's: it runs on an adapter of
    its own and its time is taken out of the measurement. Returns the changes and that time."""
    started = time.monotonic()
    seen = {raw["key"]: raw for page in adapter.read("callers", None) for raw in page.records}
    time.sleep(1.0)  # the limit's window passes, as it would between the sync's read and its delivery
    return [replace(c, seen=seen.get(c.source_id)) for c in changes], time.monotonic() - started


def deliveries(system: str, info: dict, rounds: list[list[Change]]) -> tuple[int, dict]:
    """Each round as canonical/sync/deliver.py sends it: a new adapter (a delivery builds its own),
    write() a `write_batch` of changes at a time. Returns the records written and the summed stats.
    The rounds run back to back, so the pacer goes on from one to the next (it counts the last second's
    requests, which a fresh one would not know of); a delivery reads its audience afresh."""
    ok, stats, pacers = 0, {"requests": 0, "429": 0}, None
    for changes in rounds:
        adapter = registry.adapter_class(system)(endpoint_of(info))
        adapter.http.pacers = pacers or adapter.http.pacers
        pacers = adapter.http.pacers
        size = getattr(adapter, "write_batch", 100)
        for start in range(0, len(changes), size):
            ok += sum(r.ok for r in adapter.write(changes[start:start + size]))
        stats = {k: stats[k] + adapter.http.stats[k] for k in stats}
    return ok, stats


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--systems", nargs="*", default=[*registry.known(), "mailchimp:consent", "hubspot:consent"])
    parser.add_argument("--scale", type=float, default=1.0, help="share of each system's default record count")
    parser.add_argument("--out", type=Path, default=Path("bench/results/write_throughput.json"))
    args = parser.parse_args(argv)
    run_each(args.systems, lambda system, scratch: measure(system, args.scale, scratch), args.out,
             {"scale": args.scale})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
