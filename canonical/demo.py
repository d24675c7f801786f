"""`concord demo`: the whole product on one laptop. Starts the sandboxes, runs the concord_sync DAG
through Airflow (`airflow dags test`, embedded SQLite), stops the sandboxes and sums up the run."""
from __future__ import annotations

import os
import subprocess
import sys
from collections import deque
from pathlib import Path

from adapters import registry
from canonical import paths, pools, progress
from canonical.audit import latest_run
from canonical.sandboxes import connection_env, running
from canonical.store.models import as_utc, utcnow
from canonical.summary import print_summary

# Options a demo sandbox runs with beyond the vendor defaults: the demo's accounts are on the higher
# plans vendors sell, so that a thousand customers sync in seconds. Zendesk Enterprise Plus allows
# 2,500 requests a minute (Enterprise: 700); HubSpot's higher tiers 190 per ten seconds (100).
DEMO_OPTIONS = {"zendesk": ("--rate-limit", "2500"), "hubspot": ("--rate-limit", "190")}


def run_demo(customers: int, seed: int, out=None) -> int:
    started = utcnow()
    logs = paths.ensure(paths.var_dir() / "logs" / "demo")
    env = {**os.environ, "AIRFLOW_HOME": str(paths.home())}
    progress.say("preparing Airflow's metadata database (SQLite under var/)")
    if _airflow(["db", "migrate"], env, logs / "airflow-db.log", show=False) != 0:
        return _failed("airflow db migrate", logs / "airflow-db.log")
    # `dags test` runs tasks in this process whatever their pool, but the pools belong to the install:
    # a scheduler started on this metadata database later finds them.
    try:
        pools.apply(env=env)
    except pools.PoolError as exc:
        print(f"concord demo: {exc}", file=sys.stderr)
        return 1
    with _sandboxes(customers, seed, logs, env):
        progress.say("running the concord_sync DAG with `airflow dags test`")
        code = _airflow(["dags", "test", "concord_sync"], env, logs / "dags-test.log", show=True)
    if code != 0:
        return _failed("the concord_sync DAG run", logs / "dags-test.log")
    run = latest_run()
    if run is None or as_utc(run.started_at) < started:
        return _failed("the concord_sync DAG run (it finished without an audit)", logs / "dags-test.log")
    print(f"Concord demo: a world of {customers} people across {len(registry.known())} systems; "
          f"logs under {logs}", file=sys.stderr)
    print_summary(run.summary, out=out)
    return 0


class _sandboxes:
    """Every demo sandbox running, with its connection put into the environment Airflow will see."""

    def __init__(self, customers: int, seed: int, logs: Path, env: dict):
        self.options = ("--seed", str(seed), "--customers", str(customers))
        self.logs, self.env, self.stack = logs, env, []

    def __enter__(self):
        for system in registry.known():
            extra = DEMO_OPTIONS.get(system, ())
            context = running(system, *self.options, *extra, log_path=self.logs / f"sandbox-{system}.log")
            info = context.__enter__()
            self.stack.append(context)
            self.env.update(connection_env(system, info))
            progress.say(f"{system} sandbox listening at {info['base_url']}")
        return self

    def __exit__(self, *exc):
        while self.stack:
            self.stack.pop().__exit__(None, None, None)


def _airflow(args: list[str], env: dict, log_path: Path, *, show: bool) -> int:
    """Runs the Airflow CLI of this venv; its output goes to log_path, Concord's progress lines to stderr."""
    airflow = Path(sys.executable).with_name("airflow")
    with open(log_path, "w") as log, subprocess.Popen(
        [str(airflow), *args], env=env, cwd=paths.home(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as proc:
        for line in proc.stdout:
            log.write(line)
            if show and progress.PREFIX in line:
                print(line[line.index(progress.PREFIX):].rstrip(), file=sys.stderr, flush=True)
    return proc.returncode


def _failed(what: str, log_path: Path) -> int:
    tail = deque(log_path.read_text(errors="replace").splitlines(), maxlen=30) if log_path.exists() else []
    print("\n".join(tail), file=sys.stderr)
    print(f"concord demo: {what} failed; the full log is {log_path}", file=sys.stderr)
    return 1
