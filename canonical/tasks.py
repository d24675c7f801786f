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
from canonical.sync.deliver import deliver
from canonical.sync.plan import plan


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


def sync_back(run_id: str, systems: list[str]) -> dict:
    writes, failed = {}, {}
    for system in systems:
        with session() as s:
            planned = plan(s, system)
        done = deliver(registry.build(system), planned, run_id)
        writes[system], failed[system] = done["ok"], done["failed"]
    return {"writes": writes, "failed": failed}


__all__ = ["prepare", "targets", "extract", "load", "reconcile", "sync_back", "audit"]
