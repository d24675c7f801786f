"""What every adapter is: the protocol the pipeline calls, the types it passes, and the two kinds of
error (retriable and fatal) that the HTTP client sorts every failure into."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator, Protocol


@dataclass(frozen=True)
class Endpoint:
    """Where a system lives and how to log in; built from the Airflow connection `concord_<system>`."""

    base_url: str
    login: str | None = None
    password: str | None = field(default=None, repr=False)
    extra: dict = field(default_factory=dict)


@dataclass
class Page:
    """One page of raw records and the cursor position just after them (what to resume from)."""

    records: list[dict]
    cursor: dict


@dataclass(frozen=True)
class Change:
    """Fields to set on one record of the system, in the system's own names (a reverse-mapped patch).
    `source_id` None asks for a new record; `key` (the golden customer id) then makes the create an
    upsert, so that a create retried after a timeout updates what the first attempt made."""

    source_id: str | None
    patch: dict
    key: str | None = None
    # The record as Concord last read it (raw, the system's own shape), or None; delivery passes it
    # to adapters that declare `conditional_writes`. A system that can write conditionally (Twilio
    # Sync's If-Match on a revision) refuses the write when the record changed since: an edit made
    # after the read is then never overwritten blindly.
    seen: dict | None = field(default=None, repr=False)


@dataclass(frozen=True)
class WriteResult:
    source_id: str | None  # None only for a create that failed before the record existed
    ok: bool
    reason: str | None = None
    retriable: bool = False
    record: dict | None = None


class AdapterError(Exception):
    """A failure talking to a system; the message names the system and never holds a secret."""


class RetriableError(AdapterError):
    """429, 5xx, timeouts, dropped connections: worth another try after a wait."""

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class FatalError(AdapterError):
    """A 4xx that another try will not fix (bad request, not found, validation)."""

    def __init__(self, message: str, status: int | None = None, body: object = None):
        super().__init__(message)
        self.status = status
        self.body = body


class AuthError(FatalError):
    """The credentials were refused (401/403)."""


class ConfigError(AdapterError):
    """The system is not configured (no connection, no host)."""


class Adapter(Protocol):
    name: str
    streams: tuple[str, ...]  # what it reads, e.g. ("users", "tickets"); the first holds the customers

    def read(self, stream: str, cursor: dict | None) -> Iterator[Page]:
        """Pages of raw records of `stream` changed since `cursor` (everything when None). Each page's
        cursor resumes right after it; the caller saves it only once the page's records are stored."""

    def write(self, changes: list[Change]) -> list[WriteResult]:
        """Applies each change; one result per change, in order, never raising for a single record.
        A create's result carries the new record's source_id."""

    def erase(self, source_ids: list[str]) -> list[WriteResult]:
        """Erases each record for good through the vendor's deletion or privacy endpoint, so that the
        vendor never serves its personal data again; one result per id, in order."""
