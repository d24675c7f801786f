"""Airflow's hostname callable for the topology test: two Celery workers on one machine share a host
name, so each worker process is told its own name and its task instances record it."""
import os
import socket


def name() -> str:
    return os.environ.get("CONCORD_WORKER_NAME") or socket.getfqdn()
