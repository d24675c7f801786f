"""Airflow pools, one per system (`concord_<system>`), sized from the vendor's rate limits.

A vendor limits an account, not a client: two extract tasks of one system running at once on two
workers would each pace themselves under the whole limit and together exceed it. So the DAG runs a
system's extract tasks in that system's pool, and every task's pacers take 1/slots of each limit
(adapters.pacing.sharing): however the slots fill, the tasks together stay under the limit.

Sizing: one slot per stream the DAG extracts in parallel (more could never fill), but never more
slots than the tightest limit has requests per window, so that every share is at least one request.
CONCORD_POOL_SLOTS_<SYSTEM> sets a size by hand, within the same bound. The sizes are computed here
both when the pools are created (`concord pools --apply`) and inside every task (its share), so a
pool must be resized through that variable and `concord pools --apply`, not in the Airflow UI.

Airflow 3 tasks cannot reach the metadata database, so the pools are created outside the DAG: by
`concord pools --apply` (the demo, docker/compose.yaml's init service and the Celery test run it).
A pool that is missing leaves the system's tasks unscheduled; `concord pools --check` names it."""
from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from adapters import registry
from adapters.pacing import RateLimit


class PoolError(RuntimeError):
    """The pools in Airflow are not the ones Concord's tasks are paced for."""


def pool_name(system: str) -> str:
    return f"concord_{system}"


def rate_limits(system: str) -> dict[str, RateLimit]:
    """The limits an adapter declares: its RATE_LIMITS per bucket, or every RateLimit its client module
    defines. None for a vendor that throttles otherwise (Shopify's cost bucket, which every answer
    reports for the whole account, so concurrent clients already see each other's spending)."""
    module = sys.modules[registry.adapter_class(system).__module__]
    declared = getattr(module, "RATE_LIMITS", None)
    if declared:
        return dict(declared)
    return {name: value for name, value in vars(module).items() if isinstance(value, RateLimit)}


def slots(system: str) -> int:
    streams = len(registry.adapter_class(system).streams)
    wanted = int(os.environ.get(f"CONCORD_POOL_SLOTS_{system.upper()}") or streams)
    tightest = min((math.floor(rate.limit * rate.headroom) for rate in rate_limits(system).values()), default=wanted)
    return max(1, min(wanted, tightest))


def share(system: str) -> float:
    """The share of each limit one task of the system's pool may use."""
    return 1.0 / slots(system)


def definitions() -> dict[str, dict]:
    """Every system's pool, in the format `airflow pools import` reads."""
    found = {}
    for system in registry.known():
        limits = rate_limits(system)
        described = ", ".join(f"{bucket} {rate.limit}/{rate.window:g}s" for bucket, rate in sorted(limits.items()))
        paced = (f"each paces at 1/{slots(system)} of {described}" if limits
                 else "paced by the cost bucket the vendor reports for the whole account")
        found[pool_name(system)] = {"slots": slots(system), "description": f"Concord: {system} tasks; {paced}",
                                    "include_deferred": False}
    return found


def apply(airflow: str | None = None, env: dict | None = None) -> dict[str, dict]:
    """Creates or resizes the pools in the metadata database of the Airflow that `env` configures."""
    wanted = definitions()
    with tempfile.TemporaryDirectory(prefix="concord-pools-") as directory:
        path = Path(directory) / "pools.json"
        path.write_text(json.dumps(wanted))
        _airflow(airflow, env, "pools", "import", str(path))
    return wanted


def check(airflow: str | None = None, env: dict | None = None) -> dict[str, dict]:
    """Raises PoolError naming every pool that is missing or sized unlike its vendor's limits."""
    wanted = definitions()
    output = _airflow(airflow, env, "pools", "list", "-o", "json").splitlines()
    # The CLI may log warnings to stdout ahead of the JSON; the JSON is the line that opens a list.
    existing = {p["pool"]: int(p["slots"]) for p in json.loads(next((l for l in output if l.startswith("[")), "[]"))}
    missing = sorted(name for name in wanted if name not in existing)
    resized = sorted(f"{name} has {existing[name]} slots, not {spec['slots']}" for name, spec in wanted.items()
                     if name in existing and existing[name] != spec["slots"])
    if missing or resized:
        problems = ([f"missing: {', '.join(missing)} (the tasks of these systems would never be scheduled)"]
                    if missing else []) + resized
        raise PoolError("Airflow's pools are not Concord's: " + "; ".join(problems)
                        + ". Run `concord pools --apply` against this Airflow.")
    return wanted


def _airflow(airflow: str | None, env: dict | None, *args: str) -> str:
    beside = Path(sys.executable).with_name("airflow")  # this venv's Airflow before any other on PATH
    binary = airflow or (str(beside) if beside.exists() else shutil.which("airflow") or "airflow")
    result = subprocess.run([binary, *args], capture_output=True, text=True, timeout=300, env=env)
    if result.returncode != 0:
        raise PoolError(f"`airflow {' '.join(args[:2])}` failed: {result.stderr.strip()[-1000:]}")
    return result.stdout
