"""Runs vendor sandboxes as child processes on 127.0.0.1 and turns the one JSON line each prints into
the Airflow connection that points Concord at it."""
from __future__ import annotations

import json
import signal
import subprocess
import sys
from contextlib import contextmanager
from typing import Iterator

from adapters.connections import conn_id


@contextmanager
def running(system: str, *options: str, log_path=None) -> Iterator[dict]:
    """Starts `concord sandbox <system> --port 0 ...`, yields its JSON line, stops it on exit."""
    log = open(log_path, "ab") if log_path else subprocess.DEVNULL
    proc = subprocess.Popen([sys.executable, "-m", "canonical.cli", "sandbox", system, "--port", "0", *options],
                            stdout=subprocess.PIPE, stderr=log, text=True)
    try:
        line = proc.stdout.readline()
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


def connection_env(system: str, info: dict) -> dict[str, str]:
    """AIRFLOW_CONN_CONCORD_<SYSTEM> for a sandbox: Airflow's JSON connection form."""
    conn = {"conn_type": "http", "host": info["base_url"], "login": info.get("email") or info.get("login"),
            "password": info.get("api_token") or info.get("password"),
            "extra": {k: v for k, v in info.items() if k not in ("base_url", "email", "api_token", "password")}}
    return {f"AIRFLOW_CONN_{conn_id(system).upper()}": json.dumps(conn)}
