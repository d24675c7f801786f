"""`concord demo` as a user runs it: sandbox + the concord_sync DAG through `airflow dags test`, twice,
with all state in a scratch directory."""
from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from adapters.zendesk.seed import seed_users
from tests.conftest import REPO

CUSTOMERS, SEED = 200, 42


def run_demo(scratch: Path) -> tuple[dict, str]:
    env = {**os.environ, "CONCORD_VAR_DIR": str(scratch / "var"),
           "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{scratch}/airflow.db",
           "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(scratch / "logs")}
    env.pop("CONCORD_DB_URL", None)  # the embedded default: SQLite under the var dir
    concord = Path(sys.executable).with_name("concord")
    result = subprocess.run([str(concord), "demo", "--customers", str(CUSTOMERS), "--seed", str(SEED)],
                            capture_output=True, text=True, env=env, cwd=REPO, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1, result.stdout  # stdout is the one JSON line, nothing else
    return json.loads(lines[0]), result.stderr


def test_demo_twice_links_writes_back_then_sends_nothing(tmp_path):
    _, malformed = seed_users(SEED, CUSTOMERS)
    valid = CUSTOMERS - len(malformed)
    first, progress = run_demo(tmp_path)
    assert first["run_id"].startswith("manual__")
    assert first["read"] == {"zendesk": CUSTOMERS} and first["changed"] == valid
    assert first["customers"] == valid and first["writes"] == {"zendesk": valid}
    assert first["quarantined"] == len(malformed) and first["failed_writes"] == 0
    assert "[concord] extract zendesk" in progress and "golden customers:" in progress
    report = json.loads(Path(first["report"]).read_text())
    assert {q["source_id"] for q in report["quarantine"]} == {str(i) for i in malformed}

    second, _ = run_demo(tmp_path)
    assert second["changed"] == 0 and second["writes"] == {"zendesk": 0}
    assert second["customers"] == valid and second["run_id"] != first["run_id"]


def test_no_secret_and_no_customer_email_reaches_output_logs_or_report(tmp_path):
    summary, progress = run_demo(tmp_path)
    state = tmp_path / "var" / "sandboxes" / "zendesk.sqlite"
    token = sqlite3.connect(state).execute("SELECT value FROM meta WHERE key='api_token'").fetchone()[0]
    logs = "".join(p.read_text(errors="replace") for p in tmp_path.rglob("*.log"))
    everything = progress + json.dumps(summary) + Path(summary["report"]).read_text() + logs
    assert token and token not in everything
    users, _ = seed_users(SEED, CUSTOMERS)
    leaked = [u["id"] for u in users if u["email"] and u["email"] in everything]
    assert leaked == []
