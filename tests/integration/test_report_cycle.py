"""The report of real sync cycles against the Zendesk sandbox: what the world broke and orphaned is
reported, the files are stored per run, `concord report` shows them, and S3 gets an encrypted copy."""
from __future__ import annotations

import json
import threading
from datetime import timedelta
from pathlib import Path

from sqlalchemy.orm import Session

from adapters.world import World
from adapters.zendesk.seed import seed_users
from canonical.audit import audit
from canonical.cli import main
from canonical.cycle import run_cycle
from canonical.report import schema_errors
from canonical.report.csv_files import LISTS
from canonical.store import Run, engine, session
from canonical.store.models import as_utc, utcnow
from tests.integration.test_landing import s3  # noqa: F401  (the moto S3 fixture)

SEED, CUSTOMERS = 7, 500  # what the zendesk fixture seeds


def test_two_cycles_report_the_worlds_malformed_users_orphan_tickets_and_a_trend(zendesk, store_url):
    first = run_cycle()
    second = run_cycle()
    report = json.loads(Path(second["report"]).read_text())
    assert schema_errors(report) == []
    _, malformed = seed_users(SEED, CUSTOMERS)
    assert {q["source_id"] for q in report["quarantine"]} == {str(i) for i in malformed}
    orphaned = {a.source_id for a in World(SEED, CUSTOMERS).activities("zendesk") if a.person_id is None}
    assert {o["source_id"] for o in report["orphans"]["items"] if o["reason"] == "no_record"} == orphaned
    assert [p["run_id"] for p in report["trend"]] == [first["run_id"], second["run_id"]]
    assert report["coverage"]["systems"]["zendesk"]["customers"] == second["customers"]
    directory = Path(second["report_html"]).parent
    assert {p.name for p in directory.iterdir()} == {"report.json", "report.html", *(f"{n}.csv" for n in LISTS)}


def test_concord_report_prints_files_and_shows_pii_only_into_out(zendesk, tmp_path, capsys):
    summary = run_cycle()
    capsys.readouterr()
    assert main(["report", "--format", "csv"]) == 0
    # In this process the store's migration logs to stdout too; the command's own lines are the paths.
    printed = [line for line in capsys.readouterr().out.splitlines() if line.endswith(".csv")]
    assert len(printed) == len(LISTS) and all(Path(p).is_file() for p in printed)
    assert main(["report", "--format", "html", "--show-pii"]) == 2
    assert main(["report", "--format", "html", "--show-pii", "--out", str(tmp_path / "pii")]) == 0
    unmasked = (tmp_path / "pii" / "report.html").read_text()
    assert "emails and phones shown" in unmasked
    assert "emails and phones masked" in Path(summary["report_html"]).read_text()
    capsys.readouterr()
    assert main(["report", "--show-pii"]) == 0
    assert '"pii": "raw"' in capsys.readouterr().out
    assert main(["report", "--run", "no-such-run"]) == 1


def test_reports_upload_to_s3_encrypted_when_configured(s3, zendesk, monkeypatch):  # noqa: F811
    monkeypatch.setenv("CONCORD_REPORTS_URL", "s3://concord-landing/reports")
    summary = run_cycle()
    key = Path(summary["report"]).parent.name
    objects = [o["Key"] for o in s3.list_objects_v2(Bucket="concord-landing", Prefix="reports/")["Contents"]]
    assert sorted(objects) == sorted(f"reports/{key}/{n}" for n in ("report.json", "report.html",
                                                                      *(f"{n}.csv" for n in LISTS)))
    assert summary["report_uploaded"] == len(objects)
    for name in objects:
        assert s3.head_object(Bucket="concord-landing", Key=name)["ServerSideEncryption"] == "AES256"
    body = s3.get_object(Bucket="concord-landing", Key=f"reports/{key}/report.json")["Body"].read()
    assert json.loads(body)["run_id"] == summary["run_id"]


def test_a_runs_report_is_built_once_and_an_event_posted_after_it_builds_it_again(zendesk, store_url):
    summary = run_cycle()
    run_id, report = summary["run_id"], Path(summary["report"])
    built = report.stat().st_ino  # every build writes a new file in its place
    with session() as s:
        finished = as_utc(s.get(Run, run_id).finished_at)
    # concord_report, triggered by the run's outbox event, finds the report the run's audit published since.
    assert audit(run_id, [], {}, {"writes": {}}, published_since=finished - timedelta(seconds=5)) == summary
    assert report.stat().st_ino == built
    if store_url.startswith("postgresql"):
        # Two audits at once: the second waits for the run's row and keeps what the first published.
        holder = Session(engine())
        holder.begin()
        row = holder.get(Run, run_id, with_for_update=True)
        done = []
        waiting = threading.Thread(target=lambda: done.append(audit(run_id, [], {}, {"writes": {}})))
        waiting.start()
        waiting.join(2)
        assert waiting.is_alive() and not done
        row.finished_at = utcnow()
        holder.commit()
        holder.close()
        waiting.join(60)
        assert done == [summary] and report.stat().st_ino == built
    # An operator's event posted after the report builds it again.
    audit(run_id, [], {}, {"writes": {}}, published_since=utcnow())
    assert report.stat().st_ino != built
