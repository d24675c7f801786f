"""Raw pages as the systems sent them, kept per run before mapping, so that a mapping can be re-run
and a reader can see what the source said. Local files under var/landing/ by default."""
from __future__ import annotations

import json
import re
from pathlib import Path

from canonical import paths


def run_key(run_id: str) -> str:
    """Airflow run ids hold ':' and '+'; file names should not."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", run_id)


def put_page(system: str, run_id: str, number: int, page: dict) -> str:
    directory = paths.ensure(paths.landing_dir() / system / run_key(run_id))
    target = directory / f"page-{number:05d}.json"
    tmp = target.with_suffix(".tmp")
    tmp.write_text(json.dumps(page, separators=(",", ":")))
    tmp.replace(target)  # a reader never sees half a page
    return str(target)


def get_page(uri: str) -> dict:
    return json.loads(Path(uri).read_text())
