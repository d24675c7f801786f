"""Airflow 3 plugin: Concord's data-gap reports inside the Airflow UI. A small FastAPI app, mounted by
the API server under /concord-reports, lists the runs and serves each run's stored (masked) report
page and its CSV lists; an external view puts it in the UI's navigation ("Browse" → "Data-gap
reports", at /plugin/concord-reports), where the UI shows it in a frame. Every route needs a signed-in
Airflow user (the UI's session cookie or a bearer token)."""
from __future__ import annotations

import re
from functools import lru_cache
from html import escape

from fastapi import Depends, FastAPI, HTTPException
from fastapi.responses import HTMLResponse, Response

from airflow.api_fastapi.core_api.security import requires_authenticated
from airflow.plugins_manager import AirflowPlugin

URL_PREFIX = "/concord-reports"
RUNS_LISTED = 50
_RUN_KEY = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
_MEDIA = {".csv": "text/csv; charset=utf-8", ".json": "application/json", ".html": "text/html; charset=utf-8"}


def create_app() -> FastAPI:
    app = FastAPI(title="Concord data-gap reports", dependencies=[Depends(requires_authenticated())])
    app.get("/", response_class=HTMLResponse)(runs_page)
    app.get("/runs/{run_key}/", response_class=HTMLResponse)(report_page)
    app.get("/runs/{run_key}/{name}")(report_file)
    return app


def runs_page() -> HTMLResponse:
    rows = "".join(_run_row(run) for run in _finished_runs())
    body = (f"<table><tr><th>run</th><th>finished</th><th>customers</th><th>fillable</th><th>conflicts</th>"
            f"<th>duplicates</th><th>orphans</th><th>quarantined</th><th>failed writes</th></tr>{rows}</table>"
            if rows else "<p>No finished run yet: trigger the concord_sync DAG or run <code>make demo</code>.</p>")
    return HTMLResponse(_PAGE.format(body=body))


def report_page(run_key: str) -> HTMLResponse:
    return HTMLResponse(_read(run_key, "report.html"))


def report_file(run_key: str, name: str) -> Response:
    from canonical.report.csv_files import LISTS

    allowed = {"report.json", "report.html", *(f"{n}.csv" for n in LISTS)}
    if name not in allowed:
        raise HTTPException(status_code=404, detail="no such report file")
    suffix = name[name.rindex("."):]
    return Response(_read(run_key, name), media_type=_MEDIA[suffix])


def _read(run_key: str, name: str) -> str:
    from canonical.report.publish import run_dir

    if not _RUN_KEY.match(run_key):  # a run key never holds a path separator or starts with a dot
        raise HTTPException(status_code=404, detail="no such run")
    path = run_dir(run_key) / name
    if not path.is_file():
        raise HTTPException(status_code=404, detail="this run has no report")
    return path.read_text(encoding="utf-8")


def _finished_runs() -> list:
    from sqlalchemy import select

    from canonical.store import Run, session

    _store_ready()
    with session() as s:
        return list(s.scalars(select(Run).where(Run.finished_at.is_not(None))
                              .order_by(Run.finished_at.desc()).limit(RUNS_LISTED)))


@lru_cache(maxsize=1)
def _store_ready() -> None:
    # A fresh deployment may open the page before the first sync created the store's tables.
    from canonical.store import migrate

    migrate()


def _run_row(run) -> str:
    from canonical.landing import run_key

    summary, gaps = run.summary or {}, (run.summary or {}).get("gaps") or {}
    cells = [summary.get("customers"), gaps.get("fillable"), gaps.get("conflicts"), gaps.get("duplicates"),
             gaps.get("orphans"), gaps.get("quarantine_open", summary.get("quarantined")), summary.get("failed_writes")]
    numbers = "".join(f'<td class="n">{escape(str(c if c is not None else "–"))}</td>' for c in cells)
    return (f'<tr><td><a href="runs/{escape(run_key(run.run_id))}/">{escape(run.run_id)}</a></td>'
            f"<td>{escape(run.finished_at.strftime('%Y-%m-%d %H:%M:%S'))}</td>{numbers}</tr>")


_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Concord data-gap reports</title>
<style>body{{font-family:system-ui,sans-serif;margin:20px;color:#1a202c}}table{{border-collapse:collapse;font-size:14px}}
th,td{{border-bottom:1px solid #e2e8f0;padding:5px 14px 5px 0;text-align:left}}td.n{{text-align:right}}
a{{color:#2b6cb0}}</style></head><body><h1>Concord data-gap reports</h1>
<p>Each sync run leaves a report: open one to see coverage, missing fields, conflicts, duplicates, orphans,
quarantine and failed writes. Emails and phones are masked.</p>{body}</body></html>"""


class ConcordReportsPlugin(AirflowPlugin):
    name = "concord_reports"
    fastapi_apps = [{"app": create_app(), "url_prefix": URL_PREFIX, "name": "Concord data-gap reports"}]
    external_views = [{"name": "Data-gap reports", "href": f"{URL_PREFIX}/", "destination": "nav",
                       "category": "browse", "url_route": "concord-reports"}]
