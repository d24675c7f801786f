"""The contract kit: one suite of tests that every adapter passes against its own sandbox. A system's
test file describes how to start its sandbox and touch its records (a Harness), then calls
`contract_suite(harness)`; the suite does the rest, over real HTTP."""
from __future__ import annotations

import socket
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest

from adapters.base import Adapter, AuthError, Change, RetriableError
from canonical import mapping as mappings


@dataclass(frozen=True)
class Harness:
    system: str
    start: Callable[..., AbstractContextManager]   # (state_dir, **sandbox options) -> running sandbox
    build: Callable[..., Adapter]                  # (sandbox, **endpoint overrides) -> adapter
    touch: Callable[[object, str], None]           # makes a real change to one record through the API
    sample_write: Callable[[str], Change]          # a change to send to one record
    read_back: Callable[[object, str], dict]       # the raw record as the sandbox now holds it
    future_cursor: Callable[[], dict]
    expected_ids: Callable[[object], set[str]]     # every record id the sandbox serves


def ids_of(system: str, pages) -> list[str]:
    mapping = mappings.load(system)
    return [str(mappings.get_path(raw, mapping.source_id.source)) for page in pages for raw in page.records]


def read_all(adapter: Adapter, cursor: dict | None = None) -> tuple[list, dict | None]:
    pages = list(adapter.read(cursor))
    return pages, (pages[-1].cursor if pages else cursor)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def contract_suite(h: Harness) -> type:
    """A pytest class with the whole contract for one adapter; assign it to a Test* name."""

    class Contract:
        @pytest.fixture
        def sandbox(self, tmp_path: Path):
            with h.start(tmp_path / "sandbox") as sandbox:
                yield sandbox

        def test_bad_credentials_are_a_clear_error_without_the_secret(self, sandbox):
            adapter = h.build(sandbox, password="wrong-secret-123")
            with pytest.raises(AuthError) as caught:
                read_all(adapter)
            assert f"concord_{h.system}" in str(caught.value) and "wrong-secret-123" not in str(caught.value)

        def test_an_unreachable_host_is_a_retriable_error_within_a_bounded_wait(self, sandbox):
            adapter = h.build(sandbox, base_url=f"http://127.0.0.1:{free_port()}", max_wait=2.0)
            with pytest.raises(RetriableError, match=h.system):
                read_all(adapter)

        def test_a_full_read_returns_every_record_once(self, sandbox):
            ids = ids_of(h.system, read_all(h.build(sandbox))[0])
            assert len(ids) == len(set(ids)) and set(ids) == h.expected_ids(sandbox)

        def test_a_read_from_the_saved_cursor_returns_exactly_the_changes(self, sandbox):
            adapter = h.build(sandbox)
            pages, cursor = read_all(adapter)
            changed = sorted(ids_of(h.system, pages))[:3]
            for source_id in changed:
                h.touch(sandbox, source_id)
            assert sorted(ids_of(h.system, read_all(adapter, cursor)[0])) == changed

        def test_a_read_from_a_future_cursor_returns_nothing(self, sandbox):
            assert ids_of(h.system, read_all(h.build(sandbox), h.future_cursor())[0]) == []

        def test_re_reading_is_idempotent(self, sandbox):
            adapter = h.build(sandbox)
            first, second = read_all(adapter)[0], read_all(adapter)[0]
            assert [p.records for p in first] == [p.records for p in second]

        def test_a_write_reads_back_as_written(self, sandbox):
            source_id = sorted(h.expected_ids(sandbox))[0]
            change = h.sample_write(source_id)
            [result] = h.build(sandbox).write([change])
            assert result.ok, result.reason
            held = h.read_back(sandbox, source_id)
            assert {k: held.get(k) for k in change.patch} == change.patch

        def test_server_faults_lose_nothing_and_duplicate_nothing(self, tmp_path):
            with h.start(tmp_path / "faulty", fault_rate=0.3) as sandbox:
                ids = ids_of(h.system, read_all(h.build(sandbox))[0])
                assert len(ids) == len(set(ids)) and set(ids) == h.expected_ids(sandbox)

    Contract.__name__ = f"Contract_{h.system}"
    return Contract
