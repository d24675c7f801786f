"""The contract kit: one suite of tests that every adapter passes against its own sandbox. A system's
test file describes how to start its sandbox and touch its records (a Harness), then assigns
`Test<System>Contract = contract_suite(harness)`; the suite does the rest, over real HTTP."""
from __future__ import annotations

import socket
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest

from adapters.base import Adapter, AuthError, Change, RetriableError
from adapters.sandbox import Faults
from canonical import mapping as mappings


@dataclass(frozen=True)
class Harness:
    system: str
    start: Callable[..., AbstractContextManager]      # (state_dir, faults=None) -> running sandbox
    build: Callable[..., Adapter]                     # (sandbox, **overrides: base_url, password, max_wait)
    touch: Callable[[object, str], None]              # a real change to one customer, through the vendor API
    sample_write: Callable[[str], Change]             # a change to send to one customer
    read_back: Callable[[object, str], dict]          # the raw customer as the sandbox now holds it
    written: Callable[[dict, Change], bool]           # does that raw record hold what the change wrote?
    future_cursor: Callable[[], dict]                 # a customer-stream cursor from the future
    expected_ids: Callable[[object], dict[str, set[str]]]  # per stream, every id the sandbox serves
    sample_create: Callable[[str], Change]            # a create (source_id None) keyed by this customer id
    erased: Callable[[dict | None], bool]             # holds this raw record (None: gone) no personal data?


def ids_in(system: str, stream: str, pages) -> list[str]:
    """The source ids of the records in `pages`, as the stream's mapping reads them."""
    mapping = mappings.load(system).stream(stream)
    return [mapping.to_canonical(raw)[0].get("source_id") for page in pages for raw in page.records]


def read_all(adapter: Adapter, stream: str, cursor: dict | None = None) -> tuple[list, dict | None]:
    pages = list(adapter.read(stream, cursor))
    return pages, (pages[-1].cursor if pages else cursor)


def customer_stream(h: Harness) -> str:
    return mappings.load(h.system).customers.entity


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def contract_suite(h: Harness) -> type:
    """A pytest class with the whole contract for one adapter; assign it to a Test* name."""
    customers = customer_stream(h)

    class Contract:
        @pytest.fixture
        def sandbox(self, tmp_path: Path):
            with h.start(tmp_path / "sandbox") as sandbox:
                yield sandbox

        def test_every_stream_is_mapped(self, sandbox):
            assert set(h.build(sandbox).streams) == set(mappings.load(h.system).streams)

        def test_bad_credentials_are_a_clear_error_without_the_secret(self, sandbox):
            adapter = h.build(sandbox, password="wrong-secret-123")
            with pytest.raises(AuthError) as caught:
                read_all(adapter, customers)
            assert f"concord_{h.system}" in str(caught.value) and "wrong-secret-123" not in str(caught.value)

        def test_an_unreachable_host_is_a_retriable_error_within_a_bounded_wait(self, sandbox):
            adapter = h.build(sandbox, base_url=f"http://127.0.0.1:{free_port()}", max_wait=2.0)
            with pytest.raises(RetriableError, match=h.system):
                read_all(adapter, customers)

        def test_a_full_read_of_every_stream_returns_every_record_once(self, sandbox):
            adapter, expected = h.build(sandbox), h.expected_ids(sandbox)
            for stream in adapter.streams:
                ids = ids_in(h.system, stream, read_all(adapter, stream)[0])
                assert len(ids) == len(set(ids)), f"{stream}: duplicates"
                assert set(ids) == expected[stream], f"{stream}: missing or extra records"

        def test_a_read_from_the_saved_cursor_returns_exactly_the_changes(self, sandbox):
            adapter = h.build(sandbox)
            pages, cursor = read_all(adapter, customers)
            changed = sorted(ids_in(h.system, customers, pages))[:3]
            for source_id in changed:
                h.touch(sandbox, source_id)
            assert sorted(ids_in(h.system, customers, read_all(adapter, customers, cursor)[0])) == changed

        def test_a_record_changed_during_the_read_is_not_lost(self, sandbox):
            adapter = h.build(sandbox)
            pages = adapter.read(customers, None)
            first = next(pages)
            victim = ids_in(h.system, customers, [first])[0]
            h.touch(sandbox, victim)  # changed after its page was read, while the read goes on
            rest = list(pages)
            cursor = rest[-1].cursor if rest else first.cursor
            again = ids_in(h.system, customers, rest) + ids_in(h.system, customers, read_all(adapter, customers, cursor)[0])
            assert victim in again

        def test_a_read_from_a_future_cursor_returns_nothing(self, sandbox):
            assert ids_in(h.system, customers, read_all(h.build(sandbox), customers, h.future_cursor())[0]) == []

        def test_re_reading_is_idempotent(self, sandbox):
            adapter = h.build(sandbox)
            first, second = read_all(adapter, customers)[0], read_all(adapter, customers)[0]
            assert [p.records for p in first] == [p.records for p in second]

        def test_a_write_reads_back_as_written(self, sandbox):
            source_id = sorted(h.expected_ids(sandbox)[customers])[0]
            change = h.sample_write(source_id)
            [result] = h.build(sandbox).write([change])
            assert result.ok, result.reason
            assert h.written(h.read_back(sandbox, source_id), change)

        def test_a_create_retried_after_a_timeout_makes_one_record(self, sandbox):
            adapter, change = h.build(sandbox), h.sample_create("cus_contract_new")
            [first] = adapter.write([change])
            [again] = adapter.write([change])  # the answer was lost; the pipeline sends it again
            assert first.ok and again.ok, (first.reason, again.reason)
            assert first.source_id and again.source_id == first.source_id
            ids = ids_in(h.system, customers, read_all(adapter, customers)[0])
            assert ids.count(first.source_id) == 1
            assert set(ids) == h.expected_ids(sandbox)[customers] | {first.source_id}

        def test_erase_removes_the_persons_data_for_good(self, sandbox):
            adapter = h.build(sandbox)
            pages, cursor = read_all(adapter, customers)
            victim = sorted(h.expected_ids(sandbox)[customers])[1]
            [result] = adapter.erase([victim])
            assert result.ok, result.reason
            assert h.erased(h.read_back(sandbox, victim))
            later = [raw for page in read_all(adapter, customers, cursor)[0] for raw in page.records]
            full = [raw for page in read_all(adapter, customers)[0] for raw in page.records]
            mapping = mappings.load(h.system).customers
            for raw in later + full:
                record = mapping.to_canonical(raw)[0]
                if record.get("source_id") == victim:
                    assert record.get("deleted") is True and h.erased(raw)

        @pytest.mark.parametrize("fault", ["error_rate", "throttle_rate", "drop_rate"])
        def test_faults_lose_nothing_and_duplicate_nothing(self, tmp_path, fault):
            faults = Faults(seed=11, **{fault: 0.3})
            with h.start(tmp_path / "faulty", faults=faults) as sandbox:
                adapter, expected = h.build(sandbox), h.expected_ids(sandbox)
                for stream in adapter.streams:
                    ids = ids_in(h.system, stream, read_all(adapter, stream)[0])
                    assert len(ids) == len(set(ids)) and set(ids) == expected[stream], stream

    Contract.__name__ = f"Contract_{h.system}"
    return Contract
