"""The report page inside the Airflow UI, as a person meets it: the real API server with Concord's
plugin, opened in headless Chromium. The screenshots are kept under the test's tmp dir and copied to
var/test-artifacts/ (git-ignored) for a person to look at."""
from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from adapters.testing import free_port
from adapters.world import SYSTEMS, World
from canonical import audit
from tests.conftest import REPO
from tests.integration.test_report_world import PEOPLE, SEED, load_world

CHROMIUM = shutil.which("chromium")
AIRFLOW = str(Path(sys.executable).with_name("airflow"))
RUNS = ("manual__2026-11-01T00:00:00+00:00", "manual__2026-11-02T00:00:00+00:00")


@pytest.fixture
def reports(store_url):
    """Two runs' reports over the seeded world, in this test's own store and var dir."""
    load_world(World(SEED, PEOPLE), RUNS[0])
    return [audit.audit(run_id, [], {}, {"writes": {}, "failed": {}}) for run_id in RUNS]


@pytest.fixture
def api_server(tmp_path, reports):
    """`airflow api-server` on a free port, with a scratch metadata DB and every user an admin."""
    scratch = tmp_path / "airflow"
    env = {**os.environ, "AIRFLOW_HOME": str(REPO),
           "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{scratch}/airflow.db",
           "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(scratch / "logs"),
           "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
           "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(scratch / "passwords.json")}
    scratch.mkdir()
    migrated = subprocess.run([AIRFLOW, "db", "migrate"], env=env, cwd=REPO, capture_output=True, text=True,
                              timeout=120)
    assert migrated.returncode == 0, migrated.stdout[-2000:] + migrated.stderr[-2000:]
    port = free_port()
    with open(scratch / "api-server.log", "w") as log:
        server = subprocess.Popen([AIRFLOW, "api-server", "--port", str(port)], env=env, cwd=REPO, stdout=log,
                                  stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _wait_for(f"http://127.0.0.1:{port}/api/v2/monitor/health", server, scratch / "api-server.log")
        yield f"http://127.0.0.1:{port}"
    finally:
        os.killpg(server.pid, signal.SIGTERM)  # the server's own process group: it and its workers
        server.wait(timeout=20)


def _wait_for(url: str, server: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        assert server.poll() is None, f"api-server exited: {log.read_text()[-3000:]}"
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"api-server did not answer at {url}: {log.read_text()[-3000:]}")


def chromium(tmp_path: Path, *args: str) -> str:
    profile = tmp_path / "chromium-profile"
    result = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={profile}", "--window-size=1400,1000", *args],
        capture_output=True, text=True, timeout=90)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def screenshot(tmp_path: Path, name: str, url: str) -> Path:
    """A screenshot kept as a test artifact, and copied where a person can find it after the run."""
    shot = tmp_path / "artifacts" / name
    shot.parent.mkdir(exist_ok=True)
    chromium(tmp_path, "--virtual-time-budget=15000", f"--screenshot={shot}", url)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
    kept = REPO / "var" / "test-artifacts"
    kept.mkdir(parents=True, exist_ok=True)
    shutil.copy(shot, kept / name)
    return shot


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install -y chromium)")
def test_the_airflow_ui_lists_runs_and_shows_a_masked_report(api_server, reports, tmp_path, store_url):
    plugins = requests.get(f"{api_server}/api/v2/plugins", timeout=10).json()["plugins"]
    [view] = [v for p in plugins if p["name"] == "concord_reports" for v in p["external_views"]]
    assert view["url_route"] == "concord-reports" and view["href"] == "/concord-reports/"

    runs = chromium(tmp_path, "--dump-dom", f"{api_server}/concord-reports/")
    assert "Concord data-gap reports" in runs and all(run_id in runs for run_id in RUNS)

    key = Path(reports[-1]["report"]).parent.name
    page = chromium(tmp_path, "--dump-dom", f"{api_server}/concord-reports/runs/{key}/")
    for text in ("Coverage: who exists where", "Missing fields", "Orphan activities", "Quarantined records",
                 "Trend", f"<b>{reports[-1]['customers']}</b>", f"<b>{reports[-1]['gaps']['orphans']}</b>"):
        assert text in page
    assert page.count("<svg") == 3
    world = World(SEED, PEOPLE)
    emails = [v.email.strip() for s in SYSTEMS for v in world.views(s) if v.email and "@" in v.email]
    assert emails and not [e for e in emails if e in page]

    orphans = requests.get(f"{api_server}/concord-reports/runs/{key}/orphans.csv", timeout=10)
    assert orphans.status_code == 200 and orphans.text.startswith("system,kind,source_id")
    assert requests.get(f"{api_server}/concord-reports/runs/{key}/..%2Fsecrets", timeout=10).status_code == 404

    screenshot(tmp_path, "report-ui-runs.png", f"{api_server}/plugin/concord-reports")
    screenshot(tmp_path, "report-ui-report.png", f"{api_server}/concord-reports/runs/{key}/")


def test_the_report_app_refuses_a_caller_who_is_not_signed_in():
    from fastapi.testclient import TestClient

    spec = importlib.util.spec_from_file_location("concord_reports", REPO / "plugins" / "concord_reports.py")
    plugin = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(plugin)
    client = TestClient(plugin.create_app())
    assert client.get("/").status_code == 401
    assert client.get("/runs/x/report.html").status_code == 401
