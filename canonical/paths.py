"""Where Concord keeps its files: one place, so that tests and deployments can move all state at once.

CONCORD_HOME is the repository root (it holds mappings/); CONCORD_VAR_DIR is the runtime state
directory, `var/` under the home by default and git-ignored.
"""
from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def home() -> Path:
    return Path(os.environ.get("CONCORD_HOME") or REPO_ROOT)


def var_dir() -> Path:
    return Path(os.environ.get("CONCORD_VAR_DIR") or home() / "var")


def mappings_dir() -> Path:
    return Path(os.environ.get("CONCORD_MAPPINGS_DIR") or home() / "mappings")


def landing_dir() -> Path:
    return var_dir() / "landing"


def reports_dir() -> Path:
    return var_dir() / "reports"


def sandboxes_dir() -> Path:
    return var_dir() / "sandboxes"


def ensure(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path
