"""The concord_sync DAG as Airflow's own DagBag sees it, parsed in a fresh process like the DAG processor."""
from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.conftest import REPO

PARSE = """
import json, sys
from airflow.models.dagbag import DagBag
bag = DagBag(dag_folder=sys.argv[1])
dag = bag.dags.get("concord_sync")
print(json.dumps({
    "errors": {k: str(v) for k, v in bag.import_errors.items()},
    "dags": sorted(bag.dags),
    "timetable": dag.timetable.expression if dag else None,
    "catchup": dag.catchup if dag else None,
    "max_active_runs": dag.max_active_runs if dag else None,
    "edges": sorted([t.task_id, d] for t in dag.tasks for d in t.downstream_task_ids) if dag else [],
    "ours_imported": sorted(m for m in sys.modules if m.split(".")[0] in ("canonical", "adapters")),
}))
"""


def parse(**env) -> dict:
    result = subprocess.run([sys.executable, "-c", PARSE, str(REPO / "dags")], capture_output=True, text=True,
                            env={**os.environ, **env}, cwd=REPO, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_the_dag_imports_without_errors_and_in_the_right_order():
    parsed = parse()
    assert parsed["errors"] == {} and parsed["dags"] == ["concord_sync"]
    assert parsed["edges"] == [["extract", "load"], ["load", "audit"], ["load", "reconcile"],
                               ["prepare", "sync_back"], ["prepare", "targets"], ["reconcile", "audit"],
                               ["reconcile", "sync_back"], ["sync_back", "audit"], ["targets", "extract"]]


def test_hourly_by_default_no_catch_up_one_run_at_a_time():
    parsed = parse()
    assert parsed["timetable"] == "0 * * * *"
    assert parsed["catchup"] is False and parsed["max_active_runs"] == 1


def test_the_schedule_is_configurable():
    assert parse(CONCORD_SCHEDULE="*/15 * * * *")["timetable"] == "*/15 * * * *"


def test_parsing_does_no_work():
    # The DAG file must not import the engine: parsing happens every few seconds on every processor.
    assert parse()["ours_imported"] == []
