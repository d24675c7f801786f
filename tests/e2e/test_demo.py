"""`concord demo` as a user runs it: the five sandboxes + the concord_sync DAG through `airflow dags test`,
twice, with all state in a scratch directory."""
from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from adapters import registry
from adapters.world import World
from adapters.zendesk.seed import seed, seed_users
from tests.conftest import REPO

CUSTOMERS, SEED = 300, 42


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


# Two whole demos, each bounded by run_demo's own timeout: the first writes into all five systems at
# their sandboxes' rate limits, which on a busy 2-core machine takes minutes.
@pytest.mark.timeout(1200)
def test_demo_syncs_every_system_then_a_second_run_sends_nothing(tmp_path):
    users, malformed = seed_users(SEED, CUSTOMERS)
    tickets = seed(SEED, CUSTOMERS)[1]
    world = World(SEED, CUSTOMERS)
    first, progress = run_demo(tmp_path)
    assert first["run_id"].startswith("manual__") and set(first["read"]) == set(registry.known())
    assert first["read"]["zendesk"] == len(users) + len(tickets)
    assert all(count > 0 for count in first["read"].values())
    assert first["quarantined"] == sum(1 for s in registry.known() for v in world.views(s) if v.malformed)
    # Each golden customer's id lands on one Zendesk user (duplicates merge, and Zendesk keeps ids unique).
    assert 0 < first["writes"]["zendesk"] <= len(users) - len(malformed) and first["failed_writes"] == 0
    assert "[concord] extract zendesk/users" in progress and "golden customers:" in progress
    report = json.loads(Path(first["report"]).read_text())
    assert {str(i) for i in malformed} <= {q["source_id"] for q in report["quarantine"]}

    second, _ = run_demo(tmp_path)
    assert set(second["writes"].values()) == {0} and second["failed_writes"] == 0
    # What it reads as changed is at most the first run's writes coming back (vendors restamp consent
    # times and reformat phones on a write): no record changes on its own.
    assert second["changed"] <= sum(first["writes"].values())
    assert second["customers"] == first["customers"] and second["run_id"] != first["run_id"]


def test_no_secret_and_no_customer_email_or_phone_reaches_output_logs_or_report(tmp_path):
    summary, progress = run_demo(tmp_path)
    state = tmp_path / "var" / "sandboxes" / "zendesk.sqlite"
    token = sqlite3.connect(state).execute("SELECT value FROM meta WHERE key='secret'").fetchone()[0]
    logs = "".join(p.read_text(errors="replace") for p in tmp_path.rglob("*.log"))
    everything = progress + json.dumps(summary) + Path(summary["report"]).read_text() + logs
    assert token and token not in everything
    world = World(SEED, CUSTOMERS)
    emails = {v.email.strip() for s in registry.known() for v in world.views(s) if v.email and "@" in v.email}
    phones = {p for person in world.people for p in person.phones}  # E.164, as Twilio keys its directory
    assert [e for e in emails if e in everything] == [] and [p for p in phones if p in everything] == []
