"""One sync cycle in this process, through the same task functions the DAG runs (`concord sync`)."""
from __future__ import annotations

from datetime import datetime, timezone

from canonical import tasks


def new_run_id() -> str:
    return "cli__" + datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def run_cycle(run_id: str | None = None, *, dry_run: bool = False, retry_failed: bool = False) -> dict:
    """One cycle; a dry run reads and reconciles (Concord's own store) but queues and sends nothing,
    and returns the plan instead of writing the run's report."""
    run_id = run_id or new_run_id()
    systems = tasks.prepare(run_id)
    # One stream at a time here, so each extract may use its vendor's whole limit (no pool share).
    loads = [tasks.load(tasks.extract(target, run_id)) for target in tasks.targets(systems)]
    recon = _reconcile(run_id, plan_writes=not dry_run, retry_failed=retry_failed)
    if dry_run:
        return {"run_id": run_id, "dry_run": True, "customers": recon["customers"], "plan": tasks.dry_run(systems)}
    synced = tasks.sync_back(run_id, systems, recon)
    return tasks.audit(run_id, loads, recon, synced)


def _reconcile(run_id: str, **finish) -> dict:
    """The DAG's partitioned reconcile, its mapped steps one after another."""
    parts = tasks.reconcile_plan(run_id)
    for part in parts:
        tasks.reconcile_pairs(run_id, part)
    if parts:  # none: the plan compared and scored its small neighbourhood itself
        tasks.reconcile_train(run_id)
    for part in parts:
        tasks.reconcile_score(run_id, part)
    return tasks.reconcile_finish(run_id, **finish)
