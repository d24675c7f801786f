"""`concord match RECORDS.jsonl --out CLUSTERS.csv`: the interchange contract (every input record
exactly once), a minimum quality on a generated world, progress on stderr and a clear failure on
malformed input."""
from __future__ import annotations

import csv
import json
from collections import Counter

import pytest

from adapters.world import SYSTEMS, World
from bench.make_records import canonical
from bench.match_vs_splink import scores
from canonical.cli import main


@pytest.fixture(scope="module")
def world_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("world")
    world = World(seed=21, people=3000)
    records = [canonical(view) for system in SYSTEMS for view in world.views(system)]
    (folder / "records.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return folder, records, world.truth()["records"]


def test_every_record_appears_once_and_the_clusters_are_good(world_files, capsys):
    folder, records, truth = world_files
    out = folder / "clusters.csv"
    assert main(["match", str(folder / "records.jsonl"), "--out", str(out), "--progress"]) == 0
    captured = capsys.readouterr()
    summary = json.loads(captured.out.strip().splitlines()[-1])
    assert summary["records"] == len(records)
    assert "candidate pairs" in captured.err and "EM iteration" in captured.err and "clusters written" in captured.err
    with out.open() as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["source", "source_id", "customer_id"]
    keys = Counter((source, source_id) for source, source_id, _ in rows[1:])
    assert set(keys.values()) == {1} and set(keys) == {(r["source"], r["source_id"]) for r in records}
    quality = scores({f"{s}:{i}": c for s, i, c in rows[1:]}, truth)
    assert quality["f1"] >= 0.88 and quality["bcubed_f1"] >= 0.94 and quality["over_merged_pct"] <= 4.0


def test_a_malformed_line_stops_the_run_naming_the_line(tmp_path, capsys):
    records = tmp_path / "records.jsonl"
    records.write_text('{"source": "zendesk", "source_id": "1", "updated_at": "2025-01-01T00:00:00Z"}\n'
                       '{"source": "zendesk", "source_id": \n', encoding="utf-8")
    assert main(["match", str(records), "--out", str(tmp_path / "out.csv")]) == 2
    assert f"{records}:2: not JSON" in capsys.readouterr().err
    records.write_text('{"source": "zendesk", "updated_at": "2025-01-01T00:00:00Z"}\n', encoding="utf-8")
    assert main(["match", str(records), "--out", str(tmp_path / "out.csv")]) == 2
    assert "1: required field source_id missing" in capsys.readouterr().err
    records.write_text('{"source": "twilio", "source_id": "+14155552671"}\n' * 2, encoding="utf-8")
    assert main(["match", str(records), "--out", str(tmp_path / "out.csv")]) == 2
    err = capsys.readouterr().err
    assert ":2: record twilio:" in err and "appears a second time" in err and "4155552671" not in err
