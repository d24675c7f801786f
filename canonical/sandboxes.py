"""Runs vendor sandboxes as child processes on 127.0.0.1 and turns the one JSON line each prints into
the Airflow connection that points Concord at it."""
from __future__ import annotations

import json
import select
import signal
import subprocess
import sys
from contextlib import contextmanager
from typing import Iterator

from adapters.base import Endpoint
from adapters.connections import conn_id


@contextmanager
def running(system: str, *options: str, log_path=None, timeout: float = 120.0) -> Iterator[dict]:
    """Starts `concord sandbox <system> --port 0 ...`, yields its JSON line, stops it on exit.
    Seeding a large world takes a while: `timeout` bounds the wait for the line."""
    log = open(log_path, "ab") if log_path else subprocess.DEVNULL
    proc = subprocess.Popen([sys.executable, "-m", "canonical.cli", "sandbox", system, "--port", "0", *options],
                            stdout=subprocess.PIPE, stderr=log, text=True)
    try:
        line = _first_line(proc, timeout)
        if not line:
            raise RuntimeError(f"the {system} sandbox exited before it started (exit {proc.wait()}); see {log_path}")
        yield json.loads(line)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        if log_path:
            log.close()


def endpoint_of(info: dict) -> Endpoint:
    """The Endpoint a sandbox's JSON line describes (what its Airflow connection would resolve to)."""
    return Endpoint(info["base_url"], info.get("email") or info.get("login"),
                    info.get("api_token") or info.get("password"), _extra(info))


def _extra(info: dict) -> dict:
    return {k: v for k, v in info.items() if k not in ("base_url", "email", "login", "api_token", "password")}


def connection_env(system: str, info: dict) -> dict[str, str]:
    """AIRFLOW_CONN_CONCORD_<SYSTEM> for a sandbox: Airflow's JSON connection form."""
    endpoint = endpoint_of(info)
    conn = {"conn_type": "http", "host": endpoint.base_url, "login": endpoint.login, "password": endpoint.password,
            "extra": endpoint.extra}
    return {f"AIRFLOW_CONN_{conn_id(system).upper()}": json.dumps(conn)}


def _first_line(proc: subprocess.Popen, timeout: float) -> str:
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    return proc.stdout.readline() if ready else ""
