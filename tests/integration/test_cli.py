"""The `concord` command line as a shell user meets it."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO

CONCORD = str(Path(sys.executable).with_name("concord"))


def concord(*args, env=None, timeout=180):
    return subprocess.run([CONCORD, *args], capture_output=True, text=True, cwd=REPO, timeout=timeout,
                          env={**os.environ, **(env or {})})


def test_sync_without_any_connection_says_what_to_configure():
    result = concord("sync")
    assert result.returncode == 2
    assert "AIRFLOW_CONN_CONCORD_ZENDESK" in result.stderr and "Traceback" not in result.stderr


def test_sync_json_prints_one_summary_line_and_report_shows_it(zendesk):
    result = concord("sync", "--json")
    assert result.returncode == 0, result.stderr[-2000:]
    [line] = result.stdout.strip().splitlines()
    summary = json.loads(line)
    assert set(summary) >= {"run_id", "read", "changed", "customers", "writes", "quarantined", "failed_writes"}
    assert summary["read"]["zendesk"] > 0 and "[concord] reconcile" in result.stderr
    report = concord("report", "--format", "json")
    assert report.returncode == 0 and json.loads(report.stdout)["summary"] == summary


def test_sandbox_needs_a_known_system():
    result = concord("sandbox", "nosuchsystem")
    assert result.returncode == 2 and "zendesk" in result.stderr
