"""The production topology for real on this machine: Airflow's API server, scheduler, DAG processor and
two Celery workers as processes, PostgreSQL as metadata DB and store, Redis as broker, the sandboxes on
127.0.0.1. The DAG must spread over both workers (reconcile in three partitions), run extracts in the
system's pool, trigger concord_report through the outbox asset, and reach the same result as the
embedded run (one process, one partition)."""
from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select, text

from adapters.testing import free_port
from canonical import pools
from canonical.cycle import run_cycle
from canonical.sandboxes import connection_env, running
from canonical.store import Link, session
from canonical.topology import celery_settings
from tests.conftest import REPO, fresh_postgres_database, reachable

pytestmark = pytest.mark.skipif(not (reachable(5432) and reachable(6379)),
                                reason="needs PostgreSQL at 127.0.0.1:5432 and Redis at 127.0.0.1:6379")
SYSTEMS = ("zendesk",)
WORLD = ("--seed", "5", "--customers", "300")
AIRFLOW = str(Path(sys.executable).with_name("airflow"))
REDIS_DB = 9


def topology_env(airflow_db: str, store_db: str, api_port: int, scratch: Path) -> dict:
    return {
        **os.environ, "AIRFLOW_HOME": str(REPO), "PYTHONPATH": str(REPO),
        **celery_settings(metadata_db=airflow_db, store_db=store_db, broker=f"redis://127.0.0.1:6379/{REDIS_DB}",
                          api_url=f"http://127.0.0.1:{api_port}/execution/", log_dir=str(scratch / "logs"),
                          jwt_secret=secrets.token_hex(24), secret_key=secrets.token_hex(24)),
        "AIRFLOW__CORE__HOSTNAME_CALLABLE": "tests.integration.worker_name.name",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        # airflow.cfg keeps it under the repo's var/, which a fresh checkout has not made yet
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(scratch / "api-passwords.json"),
        "CONCORD_SCHEDULE": "none", "CONCORD_VAR_DIR": str(scratch / "var"),
        "CONCORD_SYSTEMS": ",".join(SYSTEMS), "CONCORD_RECONCILE_PARTITIONS": "3",
        "CONCORD_WORK_URL": str(scratch / "work"),
    }


def start(stack: ExitStack, args: list[str], env: dict, log: Path) -> None:
    out = stack.enter_context(open(log, "wb"))
    proc = subprocess.Popen([AIRFLOW, *args], env=env, cwd=REPO, stdout=out, stderr=subprocess.STDOUT,
                            start_new_session=True)
    stack.callback(_stop, proc)


def _stop(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)


def airflow(env: dict, *args: str) -> str:
    result = subprocess.run([AIRFLOW, *args], env=env, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def wait_until(what: str, check, timeout: float, every: float = 3.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def finished_run(env: dict, dag_id: str = "concord_sync") -> dict | None:
    # Airflow's CLI logs warnings to stdout ahead of the JSON; the JSON is the line that opens a list.
    output = airflow(env, "dags", "list-runs", dag_id, "-o", "json").splitlines()
    runs = json.loads(next((line for line in output if line.startswith("[")), "[]"))
    done = [r for r in runs if r["state"] in ("success", "failed")]
    return done[0] if done else None


def partition(url: str) -> set[frozenset]:
    """Which source records ended up together, whatever the customer ids are called."""
    groups: dict[str, set] = {}
    with session(url) as s:
        for link in s.scalars(select(Link)):
            groups.setdefault(link.customer_id, set()).add((link.source, link.source_id))
    return {frozenset(g) for g in groups.values()}


def test_the_dag_runs_on_two_celery_workers_and_matches_the_embedded_run(tmp_path, monkeypatch):
    subprocess.run(["redis-cli", "-n", str(REDIS_DB), "flushdb"], capture_output=True, timeout=10)
    with ExitStack() as stack:
        airflow_db = stack.enter_context(fresh_postgres_database("concord_airflow"))
        store_db = stack.enter_context(fresh_postgres_database("concord_store"))
        env = topology_env(airflow_db, store_db, free_port(), tmp_path)
        for system in SYSTEMS:
            info = stack.enter_context(running(system, *WORLD, "--state-dir", str(tmp_path / "celery-sandboxes")))
            env.update(connection_env(system, info))
        airflow(env, "db", "migrate")
        pools.apply(env=env)  # what docker/compose.yaml's init service does
        api_port = env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"].split(":")[2].split("/")[0]
        start(stack, ["api-server", "--port", api_port], env, tmp_path / "api.log")
        start(stack, ["scheduler"], env, tmp_path / "scheduler.log")
        start(stack, ["dag-processor"], env, tmp_path / "dag-processor.log")
        for worker in ("w1", "w2"):
            start(stack, ["celery", "worker", "--celery-hostname", f"{worker}@%h", "--concurrency", "2"],
                  {**env, "CONCORD_WORKER_NAME": worker}, tmp_path / f"{worker}.log")
        wait_until("the DAG to be parsed", lambda: "concord_sync" in airflow(env, "dags", "list"), 120)
        airflow(env, "dags", "trigger", "concord_sync")
        run = wait_until("the DAG run to finish", lambda: finished_run(env), 300, every=5)
        assert run["state"] == "success", (tmp_path / "scheduler.log").read_text()[-3000:]
        report = wait_until("concord_report, triggered by the outbox asset", lambda: finished_run(env, "concord_report"),
                            180, every=5)
        assert report["state"] == "success" and report["run_id"].startswith("asset_triggered__"), report
        with create_engine(airflow_db).connect() as c:
            rows = c.execute(text("SELECT hostname, state FROM task_instance WHERE dag_id = 'concord_sync'")).all()
            used = c.execute(text("SELECT task_id, pool, count(*) FROM task_instance WHERE dag_id = 'concord_sync' "
                                  "GROUP BY task_id, pool")).all()
        assert {h for h, _ in rows} == {"w1", "w2"} and {s for _, s in rows} == {"success"}
        assert {(t, p) for t, p, _ in used if t.endswith(".extract")} == {("zendesk.extract", "concord_zendesk")}
        assert {(t, n) for t, _, n in used if t in ("reconcile_pairs", "reconcile_score")} == {
            ("reconcile_pairs", 3), ("reconcile_score", 3)}
        distributed = partition(store_db)

    # The embedded run: same world, fresh sandboxes, SQLite store, one process.
    with ExitStack() as stack:
        for system in SYSTEMS:
            info = stack.enter_context(running(system, *WORLD, "--state-dir", str(tmp_path / "embedded-sandboxes")))
            for name, value in connection_env(system, info).items():
                monkeypatch.setenv(name, value)
        embedded_url = f"sqlite:///{tmp_path}/embedded.db"
        monkeypatch.setenv("CONCORD_DB_URL", embedded_url)
        run_cycle()
    assert distributed == partition(embedded_url) and len(distributed) > 100
