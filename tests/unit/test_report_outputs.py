"""Masking, CSV lists and the HTML page of a report, from the hand-built snapshot of the sections test."""
from __future__ import annotations

import csv
import io
import json

from canonical.report import assemble, mask_report, schema_errors
from canonical.report.csv_files import LISTS, render_all
from canonical.report.html_page import render
from tests.unit.test_report_sections import SUMMARY, snap

RAW = ("ana@example.com", "ana.l@example.com", "+14155550134", "+14155550199", "x@nowhere.test")


def test_masking_hides_every_email_and_phone_and_still_validates():
    masked = mask_report(assemble.build(snap(), SUMMARY))
    text = json.dumps(masked)
    assert masked["pii"] == "masked" and schema_errors(masked) == []
    assert [raw for raw in RAW if raw in text] == []
    assert "gid://shopify/Customer/1" in text and "51003" in text  # ids that are not PII stay openable
    assert masked["failed_writes"]["items"][0]["reason"].startswith("400 INVALID_PHONE for an***@")


def test_one_csv_per_list_with_a_header_and_a_row_per_item():
    report = mask_report(assemble.build(snap(), SUMMARY))
    files = render_all(report)
    assert set(files) == {f"{name}.csv" for name in LISTS}
    rows = {name: list(csv.DictReader(io.StringIO(text))) for name, text in files.items()}
    assert len(rows["orphans.csv"]) == 3 and len(rows["duplicates.csv"]) == 2
    assert {r["status"] for r in rows["missing_fields.csv"]} == {"fillable", "not_writable"}
    assert rows["conflicts.csv"][0]["winner_value"].startswith('["an***@')
    assert not [raw for raw in RAW if raw in "".join(files.values())]


def test_html_page_is_self_contained_with_three_charts_and_shows_pii_only_when_asked():
    raw = assemble.build(snap(), SUMMARY)
    page = render(mask_report(raw))
    assert page.count("<svg") == 3 and "<script" not in page and "http://" not in page.replace(
        'xmlns="http://www.w3.org/2000/svg"', "")
    for section in ("Coverage", "Missing fields", "Conflicts", "Duplicates", "Orphan activities", "Quarantined",
                    "Failed and dead-lettered writes", "Staleness", "Trend"):
        assert section in page
    assert "ana@example.com" not in page and "emails and phones masked" in page
    assert "ana@example.com" in render(raw)
