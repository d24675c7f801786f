"""The switch from the embedded default to the distributed topology (docs/deploy.md), as the settings
it takes: CeleryExecutor with a Redis broker, PostgreSQL as Airflow's metadata database (sync and
async drivers) and as Concord's store, the API server that task processes report to. docker/compose.yaml
sets the same variables; the Celery integration test and the sync benchmark start their processes
with these."""
from __future__ import annotations


def celery_settings(*, metadata_db: str, store_db: str, broker: str, api_url: str, log_dir: str,
                    jwt_secret: str, secret_key: str) -> dict[str, str]:
    """Environment variables for every Airflow process of the topology. `metadata_db` is a
    postgresql+psycopg URL: Airflow 3 also opens it asynchronously, and psycopg serves both."""
    return {
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": metadata_db,
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC": metadata_db,
        "AIRFLOW__CELERY__BROKER_URL": broker,
        "AIRFLOW__CELERY__RESULT_BACKEND": f"db+{metadata_db}",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": api_url,
        "AIRFLOW__API_AUTH__JWT_SECRET": jwt_secret,
        "AIRFLOW__API__SECRET_KEY": secret_key,
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": log_dir,
        "CONCORD_DB_URL": store_db,
    }
