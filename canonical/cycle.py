"""One sync cycle in this process, through the same task functions the DAG runs (`concord sync`)."""
from __future__ import annotations

from datetime import datetime, timezone

from canonical import tasks


def new_run_id() -> str:
    return "cli__" + datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def run_cycle(run_id: str | None = None) -> dict:
    run_id = run_id or new_run_id()
    systems = tasks.prepare(run_id)
    loads = [tasks.load(tasks.extract(target, run_id)) for target in tasks.targets(systems)]
    recon = tasks.reconcile(run_id)
    synced = tasks.sync_back(run_id, systems)
    return tasks.audit(run_id, loads, recon, synced)
