"""Credentials for each system come from the Airflow connection `concord_<system>` (so an
`AIRFLOW_CONN_CONCORD_<SYSTEM>` environment variable or any secrets backend works); never from code."""
from __future__ import annotations

from adapters.base import ConfigError, Endpoint


def conn_id(system: str) -> str:
    return f"concord_{system}"


def endpoint(system: str) -> Endpoint:
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        conn = BaseHook.get_connection(conn_id(system))
    except AirflowNotFoundException:
        raise ConfigError(
            f"{system}: no Airflow connection {conn_id(system)!r}; add it in Airflow or set "
            f"AIRFLOW_CONN_{conn_id(system).upper()}"
        ) from None
    if not conn.host:
        raise ConfigError(f"{system}: connection {conn_id(system)!r} has no host")
    return Endpoint(_base_url(conn), conn.login, conn.password, conn.extra_dejson or {})


def is_configured(system: str) -> bool:
    try:
        endpoint(system)
    except ConfigError:
        return False
    return True


def _base_url(conn) -> str:
    if conn.host.startswith(("http://", "https://")):
        return conn.host.rstrip("/")
    scheme = conn.schema or "https"
    port = f":{conn.port}" if conn.port else ""
    return f"{scheme}://{conn.host}{port}"
