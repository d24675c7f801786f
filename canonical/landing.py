"""Raw pages as the systems sent them, kept per run before mapping, so that a mapping can be re-run
and a reader can see what the source said. Stored through canonical.blobs (local or S3)."""
from __future__ import annotations

import json
import re

from canonical import blobs


def run_key(run_id: str) -> str:
    """Airflow run ids hold ':' and '+'; file names and object keys should not."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", run_id)


def put_page(target: str, run_id: str, number: int, page: dict) -> str:
    key = f"{target}/{run_key(run_id)}/page-{number:05d}.json"
    return blobs.put(key, json.dumps(page, separators=(",", ":")).encode())


def get_page(uri: str) -> dict:
    return json.loads(blobs.get(uri))
