"""The task functions of one sync cycle: the DAG's tasks call exactly these, and so does `concord sync`.
Each takes and returns small JSON-able dicts (they travel as XComs) and is a transaction of its own,
safe to re-run."""
from __future__ import annotations

from adapters import pacing, registry
from adapters.base import ConfigError
from canonical import pools
from canonical.audit import audit
from canonical.heap import collector_paused
from canonical.reconcile import partition, reconcile
from canonical.stages.extract import extract
from canonical.stages.load import load
from canonical.store import Run, migrate, session
from canonical.sync.deliver import deliver
from canonical.sync.plan import describe, plan


def prepare(run_id: str) -> list[str]:
    """Migrates the store, opens the run, and names the systems to sync (those with a connection)."""
    migrate()
    systems = registry.configured()
    if not systems:
        raise ConfigError("no system is configured: add an Airflow connection concord_<system> for one of "
                          f"{registry.known()} (e.g. AIRFLOW_CONN_CONCORD_ZENDESK)")
    with session() as s:
        if s.get(Run, run_id) is None:
            s.add(Run(run_id=run_id))
    return systems


def targets(systems: list[str]) -> list[str]:
    """Every "system/stream" the run extracts, one mapped task each."""
    return [f"{system}/{stream}" for system in systems for stream in registry.adapter_class(system).streams]


def targets_by_system(systems: list[str], dag_systems: list[str]) -> dict[str, list[str]]:
    """The targets per system the DAG has a task group for (its pool); an empty list where a system
    is not configured (its group is skipped). A configured system without a group would never be read."""
    missing = sorted(set(systems) - set(dag_systems))
    if missing:
        raise ConfigError(f"systems {missing} have a connection but the DAG has no task group for them: add them to "
                          f"CONCORD_SYSTEMS (now {','.join(dag_systems)}) and run `concord pools --apply`")
    found = targets(systems)
    return {system: [t for t in found if t.split("/", 1)[0] == system] for system in dag_systems}


def extract_paced(target: str, run_id: str) -> dict:
    """extract() in the system's pool: its pacers take the pool's share of every vendor limit, so
    that the pool's concurrent tasks stay under the limit together."""
    with pacing.sharing(pools.share(target.split("/", 1)[0])):
        return extract(target, run_id)


# Reconcile in partitions (canonical/reconcile/partition.py): plan -> pairs (mapped) -> train ->
# score (mapped) -> finish; each step's input and output are files, its XCom a few counts.
@collector_paused
def reconcile_plan(run_id: str) -> list[int]:
    return partition.plan(run_id)


def reconcile_pairs(run_id: str, part: int) -> dict:
    return partition.pairs(run_id, part)


def reconcile_train(run_id: str) -> dict:
    return partition.train(run_id)


def reconcile_score(run_id: str, part: int) -> dict:
    return partition.score(run_id, part)


@collector_paused
def reconcile_finish(run_id: str, *, plan_writes: bool = True, retry_failed: bool = False) -> dict:
    """Goldens and, in the same transaction, every configured system's planned writes in the outbox
    (none for a dry run, which plans without queueing)."""
    return partition.finish(run_id, registry.configured() if plan_writes else None, retry_failed)


def deliver_system(run_id: str, systems: list[str], system: str) -> dict:
    """Delivers what the outbox holds for one system (the reconcile queued it with its goldens); a
    system without a connection has nothing to deliver. Whatever a crash leaves in the outbox is
    sent by the next run's delivery."""
    if system not in systems:
        return {"system": system, "ok": 0, "failed": 0}
    return {"system": system, **deliver(registry.build(system), run_id)}


def sync_summary(recon: dict | None, delivered: list[dict]) -> dict:
    recon = recon or {}
    return {"planned": recon.get("planned", {}), "writes": {d["system"]: d["ok"] for d in delivered},
            "failed": {d["system"]: d["failed"] for d in delivered}, "revived": recon.get("revived", 0)}


def sync_back(run_id: str, systems: list[str], recon: dict | None = None) -> dict:
    """Every system's delivery, one after another (the DAG runs them in parallel, each in its pool)."""
    return sync_summary(recon, [deliver_system(run_id, systems, system) for system in systems])


def dry_run(systems: list[str]) -> dict:
    """What a sync would send, per system: updates and the fields they touch. Sends and queues nothing."""
    with session() as s:
        return {system: describe(plan(s, system)) for system in systems}


__all__ = ["prepare", "targets", "targets_by_system", "extract", "extract_paced", "load", "reconcile",
           "reconcile_plan", "reconcile_pairs", "reconcile_train", "reconcile_score", "reconcile_finish",
           "deliver_system", "sync_summary", "sync_back", "dry_run", "audit"]
