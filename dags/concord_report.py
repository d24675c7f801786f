"""concord_report: the report stage on its own, scheduled on the outbox asset that concord_sync's
sync_back updates. It publishes the data-gap report of the run that updated the asset, from the counts
the asset event carries, exactly as that run's audit task does (same files, same summary: re-running
changes nothing). That run's audit task is triggered at the same moment and usually holds the run
first; a report published after the event is then kept, not built a second time (canonical/audit.py).
An event posted later (an operator re-publishing a run's report) builds it again. A deployment can
hang further stages (a warehouse export, a notification) on the outbox or report asset the same way.

Thin by design, like concord_sync: parsing imports nothing of ours.
"""
from __future__ import annotations

import pendulum
from airflow.sdk import Asset, dag, get_current_context, task

# The same assets concord_sync declares (an asset is its name and URI, not an object to share).
OUTBOX = Asset(name="concord_outbox", uri="concord://outbox/")
REPORT = Asset(name="concord_report", uri="concord://report/")


@dag(
    dag_id="concord_report",
    schedule=[OUTBOX],
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["concord"],
    doc_md=__doc__,
)
def concord_report():
    @task(outlets=[REPORT], retries=2)
    def report() -> list[dict]:
        from canonical import tasks

        events = get_current_context()["triggering_asset_events"][OUTBOX]
        done = []
        for event in events:  # several when runs updated the outbox while this DAG was busy
            extra = event.extra or {}
            if not extra.get("run_id"):
                continue  # an event from elsewhere names no run: nothing to report on
            # The run's own audit task publishes its report too: one published after this event is kept.
            done.append(tasks.audit(extra["run_id"], extra.get("loads") or [], extra.get("recon") or {},
                                    extra.get("synced") or {"writes": {}}, published_since=event.timestamp))
        return done

    report()


concord_report()
