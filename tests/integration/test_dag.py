"""The DAGs as Airflow's own DagBag sees them, parsed in a fresh process like the DAG processor; and
concord_sync run for real by `airflow dags test` with one system configured."""
from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from contextlib import ExitStack
from pathlib import Path

from adapters import registry
from canonical import pools
from canonical.sandboxes import connection_env, running
from tests.conftest import REPO

PARSE = """
import json, sys
from airflow.models.dagbag import DagBag
bag = DagBag(dag_folder=sys.argv[1])
dag = bag.dags.get("concord_sync")
report = bag.dags.get("concord_report")
print(json.dumps({
    "errors": {k: str(v) for k, v in bag.import_errors.items()},
    "dags": sorted(bag.dags),
    "timetable": dag.timetable.expression if dag else None,
    "catchup": dag.catchup if dag else None,
    "max_active_runs": dag.max_active_runs if dag else None,
    "edges": sorted([t.task_id, d] for t in dag.tasks for d in t.downstream_task_ids) if dag else [],
    "pools": {t.task_id: t.pool for t in dag.tasks} if dag else {},
    "outlets": {t.task_id: sorted(o.uri for o in t.outlets) for t in dag.tasks if t.outlets} if dag else {},
    "trigger_rules": {t.task_id: str(t.trigger_rule.value) for t in dag.tasks} if dag else {},
    "report_schedule": sorted(a.uri for a in report.timetable.asset_condition.objects) if report else None,
    "ours_imported": sorted(m for m in sys.modules if m.split(".")[0] in ("canonical", "adapters")),
}))
"""


def parse(**env) -> dict:
    result = subprocess.run([sys.executable, "-c", PARSE, str(REPO / "dags")], capture_output=True, text=True,
                            env={**os.environ, **env}, cwd=REPO, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


GROUP_EDGES = [["{s}.extract", "{s}.load"], ["{s}.load", "audit"], ["{s}.load", "reconcile_plan"],
               ["{s}.load", "sync_back"], ["{s}.targets", "{s}.extract"], ["prepare", "{s}.targets"],
               ["prepare", "deliver_{s}"], ["reconcile", "deliver_{s}"], ["deliver_{s}", "sync_back"]]


def test_the_dag_imports_without_errors_and_in_the_right_order():
    parsed = parse()
    assert parsed["errors"] == {} and parsed["dags"] == ["concord_report", "concord_sync"]
    per_system = [[a.format(s=system), b.format(s=system)] for system in registry.known() for a, b in GROUP_EDGES]
    assert parsed["edges"] == sorted(per_system + [
        ["reconcile", "audit"], ["reconcile", "sync_back"],
        ["reconcile_pairs", "reconcile_train"], ["reconcile_plan", "reconcile_pairs"],
        ["reconcile_plan", "reconcile_score"], ["reconcile_score", "reconcile"],
        ["reconcile_train", "reconcile_score"], ["sync_back", "audit"]])


def test_each_system_extracts_and_delivers_in_its_own_pool_as_concord_pools_defines_them():
    parsed = parse()
    vendor = {task: pool for task, pool in parsed["pools"].items()
              if task.endswith(".extract") or task.startswith("deliver_")}
    assert vendor == {**{f"{system}.extract": f"concord_{system}" for system in registry.known()},
                      **{f"deliver_{system}": f"concord_{system}" for system in registry.known()}}
    assert set(vendor.values()) == set(pools.definitions())
    assert {pool for task, pool in parsed["pools"].items() if task not in vendor} == {"default_pool"}


def test_the_systems_the_dag_knows_can_be_narrowed_by_setting():
    parsed = parse(CONCORD_SYSTEMS="zendesk")
    assert {t for t in parsed["pools"] if "." in t} == {"zendesk.targets", "zendesk.extract", "zendesk.load"}


def test_every_stage_declares_its_asset_and_the_report_stage_is_scheduled_on_the_outbox():
    parsed = parse()
    outlets = {task.split(".")[-1]: uris for task, uris in parsed["outlets"].items()}
    assert outlets == {"extract": ["concord://landing/"], "load": ["concord://canonical/"],
                       "reconcile": ["concord://golden/"], "sync_back": ["concord://outbox/"],
                       "audit": ["concord://report/"]}
    assert parsed["report_schedule"] == ["concord://outbox/"]
    # A system without a connection skips its group; the stages after it must still run.
    assert {parsed["trigger_rules"][t] for t in ("reconcile_plan", "sync_back", "audit")} == {"none_failed"}


def test_hourly_by_default_no_catch_up_one_run_at_a_time():
    parsed = parse()
    assert parsed["timetable"] == "0 * * * *"
    assert parsed["catchup"] is False and parsed["max_active_runs"] == 1


def test_the_schedule_is_configurable():
    assert parse(CONCORD_SCHEDULE="*/15 * * * *")["timetable"] == "*/15 * * * *"


def test_parsing_does_no_work():
    # The DAG file must not import the engine: parsing happens every few seconds on every processor.
    assert parse()["ours_imported"] == []


def test_airflow_dags_test_runs_the_dag_with_one_system_and_records_every_asset(tmp_path):
    env = {**os.environ, "AIRFLOW_HOME": str(REPO), "CONCORD_VAR_DIR": str(tmp_path / "var"),
           "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{tmp_path}/airflow.db",
           "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(tmp_path / "logs"), "CONCORD_RECONCILE_PARTITIONS": "3",
           "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False"}  # a paused DAG is not queued by its asset
    airflow = str(Path(sys.executable).with_name("airflow"))
    with ExitStack() as stack:
        info = stack.enter_context(running("zendesk", "--seed", "3", "--customers", "150",
                                           "--state-dir", str(tmp_path / "sandboxes")))
        env.update(connection_env("zendesk", info))
        for args in (["db", "migrate"], ["dags", "test", "concord_sync"]):
            done = subprocess.run([airflow, *args], env=env, cwd=REPO, capture_output=True, text=True, timeout=600)
            assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    db = sqlite3.connect(tmp_path / "airflow.db")
    states = dict(db.execute("SELECT task_id || ':' || map_index, state FROM task_instance "
                             "WHERE dag_id = 'concord_sync'").fetchall())
    assert states["zendesk.extract:0"] == states["zendesk.extract:1"] == "success"
    assert states["hubspot.extract:-1"] == "skipped"  # no connection: its group maps over nothing
    assert [states[f"reconcile_pairs:{i}"] for i in range(3)] == ["success"] * 3
    assert states["audit:-1"] == "success"
    events = {uri: extra for uri, extra in db.execute(
        "SELECT asset.uri, asset_event.extra FROM asset_event JOIN asset ON asset.id = asset_event.asset_id")}
    assert set(events) == {"concord://landing/", "concord://canonical/", "concord://golden/", "concord://outbox/",
                           "concord://report/"}
    outbox = json.loads(events["concord://outbox/"])
    assert outbox["run_id"].startswith("manual__") and {load["system"] for load in outbox["loads"]} == {"zendesk"}
    # The outbox event queued a run of concord_report for the scheduler (dags test has none to start it).
    queued = db.execute("SELECT target_dag_id FROM asset_dag_run_queue").fetchall()
    assert queued == [("concord_report",)]

    # A second run is incremental and small: its plan compares and scores, the mapped steps map over
    # no partition and are skipped, and the reconcile and everything after it still run.
    with ExitStack() as stack:
        info = stack.enter_context(running("zendesk", "--seed", "3", "--customers", "150",
                                           "--state-dir", str(tmp_path / "sandboxes")))
        env.update(connection_env("zendesk", info))
        done = subprocess.run([airflow, "dags", "test", "concord_sync"], env=env, cwd=REPO, capture_output=True,
                              text=True, timeout=600)
        assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    latest = db.execute("SELECT run_id FROM dag_run WHERE dag_id = 'concord_sync' ORDER BY id DESC LIMIT 1").fetchone()[0]
    states = dict(db.execute("SELECT task_id || ':' || map_index, state FROM task_instance "
                             "WHERE dag_id = 'concord_sync' AND run_id = ?", (latest,)).fetchall())
    assert states["reconcile_pairs:-1"] == states["reconcile_score:-1"] == "skipped"
    assert states["reconcile:-1"] == states["audit:-1"] == "success"
