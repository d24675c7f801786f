"""concord_sync: extract -> load -> reconcile -> sync back -> audit, for every stream of every system
with a connection.

- Per system, a task group: extract mapped over the system's streams, in the system's pool
  (`concord_<system>`, sized from the vendor's rate limits by `concord pools --apply`; each task paces
  at its share of the limit), then load mapped over the landed manifests. A system without a
  connection maps over nothing and its group is skipped.
- Reconcile in partitions by blocking key: plan, then pairs (mapped), train, score (mapped), then
  reconcile combines the edges into clusters, ids and goldens, and queues every system's writes in
  the outbox in the same transaction. Intermediate results are files.
- Delivery per system (deliver_<system>, in the system's pool), all systems at once; sync_back sums up.
- Every stage declares the asset it updates (landing -> canonical -> golden -> outbox -> report);
  concord_report is scheduled on the outbox asset.

Thin by design: which tasks, in what order, on what schedule. The work lives in canonical.tasks and is
imported inside the tasks, so parsing this file does nothing but build the graph.
"""
from __future__ import annotations

import os
from datetime import timedelta

import pendulum
from airflow.sdk import Asset, TaskGroup, dag, get_current_context, task

# Cron or preset; "none" leaves the DAG to manual and asset-driven triggers.
SCHEDULE = os.environ.get("CONCORD_SCHEDULE", "@hourly")
SCHEDULE = None if SCHEDULE.lower() == "none" else SCHEDULE
# The systems that get a task group and a pool. Known here without importing the adapters (parsing
# must stay cheap); a configured system missing from it fails the run's targets task, saying so, and
# tests/integration/test_dag.py checks it against the adapter registry.
SYSTEMS = tuple(s.strip() for s in os.environ.get(
    "CONCORD_SYSTEMS", "hubspot,mailchimp,shopify,twilio,zendesk").split(",") if s.strip())

LANDING = Asset(name="concord_landing", uri="concord://landing/")        # raw pages as the systems sent them
CANONICAL = Asset(name="concord_canonical", uri="concord://canonical/")  # source records in the store
GOLDEN = Asset(name="concord_golden", uri="concord://golden/")           # golden customers and links
OUTBOX = Asset(name="concord_outbox", uri="concord://outbox/")           # planned and delivered writes
REPORT = Asset(name="concord_report", uri="concord://report/")           # the run's data-gap report


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

    # One per system group: a mapped task takes its pool from the task, not from the map index, and
    # maps over a whole task result, so each group maps over its own list of "system/stream".
    @task
    def targets(systems: list[str], system: str) -> list[str]:
        from canonical import tasks
        return tasks.targets_by_system(systems, list(SYSTEMS))[system]

    @task(outlets=[LANDING])
    def extract(target: str) -> dict:
        from canonical import tasks
        return tasks.extract_paced(target, _run_id())

    @task(outlets=[CANONICAL])
    def load(manifest: dict) -> dict:
        from canonical import tasks
        return tasks.load(manifest)

    # A skipped system group (no connection) must not skip what follows: none_failed, not all_success.
    @task(trigger_rule="none_failed")
    def reconcile_plan() -> list[int]:
        from canonical import tasks
        return tasks.reconcile_plan(_run_id())

    @task
    def reconcile_pairs(partition: int) -> dict:
        from canonical import tasks
        return tasks.reconcile_pairs(_run_id(), partition)

    # Arguments that a task does not read (pairs, scores, recon) are there to order it after their producers.
    @task
    def reconcile_train(pairs: list[dict]) -> dict:
        from canonical import tasks
        return tasks.reconcile_train(_run_id())

    @task
    def reconcile_score(partition: int) -> dict:
        from canonical import tasks
        return tasks.reconcile_score(_run_id(), partition)

    # none_failed: a small incremental run compares and scores in the plan, and the mapped steps, mapped
    # over no partition, are skipped.
    @task(outlets=[GOLDEN], trigger_rule="none_failed")
    def reconcile(scores: list[dict]) -> dict:
        from canonical import tasks
        return tasks.reconcile_finish(_run_id())

    # Each system's writes in its own pool, all systems at once: the first run's writes take as long as
    # the slowest vendor's, not the sum. The pool's extracts are done by then (one active run).
    @task(trigger_rule="none_failed")
    def deliver(systems: list[str], system: str, recon: dict) -> dict:
        from canonical import tasks
        return tasks.deliver_system(_run_id(), systems, system)

    # trigger_rule: a skipped system group must not skip the sync of the others.
    @task(outlets=[OUTBOX], trigger_rule="none_failed")
    def sync_back(recon: dict, loads: list[dict], delivered: list[dict]) -> dict:
        from canonical import tasks
        synced = tasks.sync_summary(recon, list(delivered))
        # What the report stage needs (a few counts per stream), for a DAG triggered by this asset.
        get_current_context()["outlet_events"][OUTBOX].extra = {
            "run_id": _run_id(), "loads": list(loads), "recon": recon, "synced": synced}
        return synced

    @task(outlets=[REPORT], trigger_rule="none_failed")
    def audit(loads: list[dict], recon: dict, synced: dict) -> dict:
        from canonical import tasks
        return tasks.audit(_run_id(), list(loads), recon, synced)

    systems = prepare()
    loads = []
    for system in SYSTEMS:
        with TaskGroup(group_id=system):
            manifests = extract.override(pool=f"concord_{system}").expand(target=targets(systems, system))
            loads.append(load.expand(manifest=manifests))
    parts = reconcile_plan()
    loads >> parts
    scored = reconcile_score.expand(partition=parts)
    reconcile_train(reconcile_pairs.expand(partition=parts)) >> scored
    recon = reconcile(scored)
    all_loads = loads[0].concat(*loads[1:])
    delivered = [deliver.override(task_id=f"deliver_{system}", pool=f"concord_{system}")(systems, system, recon)
                 for system in SYSTEMS]
    synced = sync_back(recon, all_loads, delivered)
    audit(all_loads, recon, synced)


concord_sync()
