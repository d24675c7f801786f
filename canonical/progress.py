"""Progress lines for long work: on stderr, one line per step, prefixed so the demo can pick them out
of Airflow's own output. Never carries PII."""
from __future__ import annotations

import sys

PREFIX = "[concord]"


def say(message: str) -> None:
    print(f"{PREFIX} {message}", file=sys.stderr, flush=True)
