"""Content hashes: what tells a real change from a re-read, a timestamp bump or our own echo."""
from __future__ import annotations

import hashlib
import json

VOLATILE = ("updated_at",)


def stable_json(value: object) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def digest(value: object) -> str:
    return hashlib.sha256(stable_json(value).encode()).hexdigest()


def content_hash(canonical: dict) -> str:
    """The hash of what the record says, not of when it was last touched."""
    return digest({k: v for k, v in canonical.items() if k not in VOLATILE})
