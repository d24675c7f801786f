"""`concord report`: a run's report as JSON on stdout, or its HTML page and CSV lists as files. Stored
reports are masked; `--show-pii` rebuilds the latest run's report from the store, unmasked, and writes
it only where --out says (never next to the masked files)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from canonical import audit
from canonical.report import assemble, publish, snapshot
from canonical.store import Run, migrate, session
from canonical.store.models import utcnow

FORMATS = ("json", "html", "csv")


class ReportError(Exception):
    """What the user asked for cannot be shown; the message says why and what to do."""


def run(run_id: str | None, fmt: str, show_pii: bool, out: str | None, stdout=None) -> int:
    stdout = stdout or sys.stdout
    try:
        migrate()
        report = _unmasked(run_id) if show_pii else _stored(run_id)
    except ReportError as exc:
        print(f"concord: {exc}", file=sys.stderr)
        return 1
    if out:
        for path in publish.write(publish.render_files(report, (fmt,)), Path(out)).values():
            print(path, file=stdout)
    elif fmt == "json":
        print(json.dumps(report, indent=2, ensure_ascii=False), file=stdout)
    else:
        names = ["report.html"] if fmt == "html" else [f"{name}.csv" for name in publish.csv_files.LISTS]
        for name in names:
            print(publish.run_dir(report["run_id"]) / name, file=stdout)
    return 0


def _stored(run_id: str | None) -> dict:
    path = audit.report_path(run_id)
    if path is None:
        raise ReportError(f"no report for run {run_id}" if run_id else
                          "no report yet: run `concord sync` or `make demo` first")
    return json.loads(path.read_text())


def _unmasked(run_id: str | None) -> dict:
    latest = audit.latest_run()
    if latest is None:
        raise ReportError("no report yet: run `concord sync` or `make demo` first")
    if run_id and run_id != latest.run_id:
        raise ReportError("--show-pii rebuilds from the store as it is now, which is the latest run's state "
                          f"({latest.run_id}); stored reports of earlier runs are masked")
    return rebuild(latest.run_id)


def rebuild(run_id: str) -> dict:
    """The run's report built again from the store, with values as the sources hold them."""
    with session() as s:
        summary = dict((s.get(Run, run_id).summary or {}))
        snap = snapshot.read(s, run_id, utcnow(), systems=list(summary.get("read") or {}))
        return assemble.build(snap, summary)
