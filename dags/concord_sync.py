"""concord_sync: extract -> load -> reconcile -> sync back -> audit, for every stream of every system
with a connection (extract and load are mapped: one task per system/stream).

Thin by design: which tasks, in what order, on what schedule. The work lives in canonical.tasks and is
imported inside the tasks, so parsing this file does nothing but build the graph.
"""
from __future__ import annotations

import os
from datetime import timedelta

import pendulum
from airflow.sdk import dag, get_current_context, task

# Cron or preset; "none" leaves the DAG to manual and asset-driven triggers.
SCHEDULE = os.environ.get("CONCORD_SCHEDULE", "@hourly")
SCHEDULE = None if SCHEDULE.lower() == "none" else SCHEDULE


def _run_id() -> str:
    return get_current_context()["run_id"]


@dag(
    dag_id="concord_sync",
    schedule=SCHEDULE,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args={"retries": 2, "retry_delay": timedelta(seconds=30)},
    tags=["concord"],
    doc_md=__doc__,
)
def concord_sync():
    @task
    def prepare() -> list[str]:
        from canonical import tasks
        return tasks.prepare(_run_id())

    @task
    def targets(systems: list[str]) -> list[str]:
        from canonical import tasks
        return tasks.targets(systems)

    @task
    def extract(target: str) -> dict:
        from canonical import tasks
        return tasks.extract(target, _run_id())

    @task
    def load(manifest: dict) -> dict:
        from canonical import tasks
        return tasks.load(manifest)

    # Arguments that a task does not read (loads, recon) are there to order it after their producers.
    @task
    def reconcile(loads: list[dict]) -> dict:
        from canonical import tasks
        return tasks.reconcile(_run_id())

    @task
    def sync_back(systems: list[str], recon: dict) -> dict:
        from canonical import tasks
        return tasks.sync_back(_run_id(), systems)

    @task
    def audit(loads: list[dict], recon: dict, synced: dict) -> dict:
        from canonical import tasks
        return tasks.audit(_run_id(), list(loads), recon, synced)

    systems = prepare()
    loads = load.expand(manifest=extract.expand(target=targets(systems)))
    recon = reconcile(loads)
    synced = sync_back(systems, recon)
    audit(loads, recon, synced)


concord_sync()
