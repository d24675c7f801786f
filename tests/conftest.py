"""Shared fixtures: every test gets its own state directory and store; sandboxes run for real on
127.0.0.1; the PostgreSQL variant runs where 127.0.0.1:5432 answers and skips, saying so, elsewhere."""
from __future__ import annotations

import os
import socket
import tempfile
import uuid
from contextlib import contextmanager
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
PG_ADMIN_URL = os.environ.get("CONCORD_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def reachable(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


def postgres_reachable() -> bool:
    return reachable(5432)


@pytest.fixture(autouse=True)
def isolated_state(tmp_path, monkeypatch):
    """No test reads or writes the repository's var/: state, landing and reports go to tmp_path."""
    monkeypatch.setenv("CONCORD_HOME", str(REPO))
    monkeypatch.setenv("AIRFLOW_HOME", str(REPO))
    monkeypatch.setenv("CONCORD_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("CONCORD_DB_URL", f"sqlite:///{tmp_path}/concord.db")
    for name in [n for n in os.environ if n.startswith("AIRFLOW_CONN_")]:
        monkeypatch.delenv(name)
    return tmp_path


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request, tmp_path, monkeypatch):
    """The store on SQLite, and again on a fresh PostgreSQL database of its own."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/store.db"
        monkeypatch.setenv("CONCORD_DB_URL", url)
        yield url
        return
    if not postgres_reachable():
        pytest.skip("PostgreSQL does not answer at 127.0.0.1:5432 (user postgres, database test); "
                    "the SQLite variant of this test ran")
    yield from _fresh_postgres_database(monkeypatch)


def _fresh_postgres_database(monkeypatch):
    with fresh_postgres_database() as url:
        monkeypatch.setenv("CONCORD_DB_URL", url)
        yield url


@contextmanager
def fresh_postgres_database(prefix: str = "concord_test"):
    """A new, empty PostgreSQL database for one test, dropped afterwards whatever happened."""
    from sqlalchemy import create_engine, text

    from canonical.store import engine

    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    try:
        yield url
    finally:
        engine(url).dispose()
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def zendesk(tmp_path, monkeypatch):
    """A seeded Zendesk sandbox over real HTTP, with the Airflow connection pointing at it."""
    from adapters.zendesk.sandbox import ZendeskSandbox
    from canonical.sandboxes import connection_env

    with ZendeskSandbox(state_dir=tmp_path / "sandbox", seed=7, customers=500, recent_window=0,
                        rate_limit=5000, export_rate_limit=1000) as sandbox:
        for name, value in connection_env("zendesk", sandbox.info()).items():
            monkeypatch.setenv(name, value)
        yield sandbox


FIVE_SEED, FIVE_PEOPLE = 21, 300


@pytest.fixture
def five_systems(tmp_path, monkeypatch):
    """All five sandboxes, seeded from one world (FIVE_SEED, FIVE_PEOPLE), with their connections set."""
    from contextlib import ExitStack

    from adapters import registry
    from canonical.sandboxes import connection_env, running

    with ExitStack() as stack:
        for system in registry.known():
            # Zendesk's export hides the last minute of changes; the tests read back right after writing.
            extra = ("--recent-window", "0") if system == "zendesk" else ()
            info = stack.enter_context(running(system, "--seed", str(FIVE_SEED), "--customers", str(FIVE_PEOPLE),
                                               "--state-dir", str(tmp_path / "sandboxes"), *extra,
                                               log_path=tmp_path / f"{system}.log"))
            for name, value in connection_env(system, info).items():
                monkeypatch.setenv(name, value)
        yield


def _airflow_state_outside_the_repo() -> None:
    """Airflow reads its config once per process: point its metadata DB and logs at a scratch dir
    before anything imports it, so that tests never touch the repository's var/."""
    scratch = Path(tempfile.mkdtemp(prefix="concord-tests-airflow-"))
    os.environ["AIRFLOW_HOME"] = str(REPO)
    os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{scratch}/airflow.db"
    os.environ["AIRFLOW__LOGGING__BASE_LOG_FOLDER"] = str(scratch / "logs")
    os.environ["AIRFLOW__LOGGING__DAG_PROCESSOR_CHILD_PROCESS_LOG_DIRECTORY"] = str(scratch / "logs" / "dag_processor")


_airflow_state_outside_the_repo()
