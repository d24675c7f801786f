"""Extract against a real sandbox: consecutive vendor pages land as one page of up to
LANDED_RECORDS records, with the cursor of the last. Twilio's caller directory has no "changed
since" filter, so every run walks it whole; a few changes spread over its pages land as one page,
and nothing is skipped: the next walk starts after what was loaded."""
from __future__ import annotations

from adapters import registry
from adapters.base import Change
from canonical import mapping as mappings
from canonical.sandboxes import connection_env, running
from canonical.stages.extract import extract
from canonical.stages.load import load
from canonical.store import migrate


def test_a_walk_of_the_whole_directory_lands_its_few_changes_as_one_page(tmp_path, monkeypatch, capsys):
    with running("twilio", "--seed", "5", "--customers", "1200", "--state-dir", str(tmp_path / "sandbox")) as info:
        for name, value in connection_env("twilio", info).items():
            monkeypatch.setenv(name, value)
        migrate()
        first = extract("twilio/callers", "r1")
        assert first["read"] > 300 and len(first["pages"]) == 1
        assert load(first)["new"] > 300

        adapter = registry.build("twilio")
        vendor_pages = list(adapter.read("callers", None))
        assert len(vendor_pages) >= 3
        patch = mappings.load("twilio").customers.to_source({"full_name": "Ana Lima"})
        keys = [page.records[0]["key"] for page in vendor_pages[:3]]  # one change on each of three pages
        assert all(result.ok for result in adapter.write([Change(key, patch) for key in keys]))

        capsys.readouterr()
        second = extract("twilio/callers", "r2")
        assert "page 3, 3 records" in capsys.readouterr().err  # the walk yielded a page per change
        assert second["read"] == 3 and len(second["pages"]) == 1
        assert load(second)["changed"] == 3

        third = extract("twilio/callers", "r3")
        assert third["read"] == 0 and len(third["pages"]) == 1
        assert load(third)["changed"] == 0
