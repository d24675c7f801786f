"""The task functions of one sync cycle: the DAG's tasks call exactly these, and so does `concord sync`.
Each takes and returns small JSON-able dicts (they travel as XComs) and is a transaction of its own,
safe to re-run."""
from __future__ import annotations

from adapters import registry
from adapters.base import ConfigError
from canonical.audit import audit
from canonical.reconcile import reconcile
from canonical.stages.extract import extract
from canonical.stages.load import load
from canonical.store import Run, migrate, session
from canonical.sync import outbox
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


def sync_back(run_id: str, systems: list[str], *, retry_failed: bool = False) -> dict:
    """Plans every system's change set into the outbox in one transaction, then delivers the outbox
    system by system. The plan is derived from the store, so a crash before or after it loses nothing."""
    with session() as s:
        revived = outbox.revive_dead(s) if retry_failed else 0
        planned = {system: outbox.enqueue(s, run_id, plan(s, system)) for system in systems}
    writes, failed = {}, {}
    for system in systems:
        done = deliver(registry.build(system), run_id)
        writes[system], failed[system] = done["ok"], done["failed"]
    return {"planned": planned, "writes": writes, "failed": failed, "revived": revived}


def dry_run(systems: list[str]) -> dict:
    """What a sync would send, per system: updates and the fields they touch. Sends and queues nothing."""
    with session() as s:
        return {system: describe(plan(s, system)) for system in systems}


__all__ = ["prepare", "targets", "extract", "load", "reconcile", "sync_back", "dry_run", "audit"]
