"""Zendesk's bulk writes from the client's side. `update_many` and `create_or_update_many` take up to 100
users and answer with a queued job; the job's status, once completed, holds one result per user (by
`index`). Zendesk runs at most 30 jobs per account at a time and refuses more with a 429, so the client
keeps fewer than that outstanding and asks for many jobs' statuses at once (`show_many`, 100 ids a
request): one status request per ~25 write requests is all the polling costs while jobs keep up.

Sending a job again is safe: an update sets the same values, and a create is an upsert on
external_id, so a job resent after a lost answer changes nothing twice."""
from __future__ import annotations

import re
import time

from adapters.base import Change, FatalError, RetriableError, WriteResult
from adapters.http import HttpClient

UPDATE_MANY = "/api/v2/users/update_many.json"
CREATE_OR_UPDATE_MANY = "/api/v2/users/create_or_update_many.json"
SHOW_MANY = "/api/v2/job_statuses/show_many.json"
BULK_MAX = 100
SHOW_MANY_MAX = 100
# Zendesk's queue holds 30 jobs per account; leave room for other clients of the same account.
OUTSTANDING_MAX = 25
FINISHED = ("completed", "failed", "killed")
# Job results whose error another try may fix; every other error is about the record itself.
RETRIABLE_ERRORS = ("TooManyRequests", "ServiceUnavailable", "InternalError", "Timeout")
FIELD_LABEL = re.compile(r"(?:^|; )([A-Z][A-Za-z ]*?):")

Batch = list[tuple[int, Change]]


class Jobs:
    """Submits bulk jobs and turns their statuses into one WriteResult per change, by the change's
    number in the caller's list."""

    def __init__(self, http: HttpClient, max_wait: float):
        self.http, self.max_wait = http, max_wait
        self.pending: dict[str, Batch] = {}
        self.results: dict[int, WriteResult] = {}

    def submit(self, method: str, path: str, users: list[dict], batch: Batch) -> None:
        if len(self.pending) >= OUTSTANDING_MAX:
            self._wait(below=OUTSTANDING_MAX)
        try:
            job = self.http.request(method, path, json={"users": users}).json()["job_status"]
        except RetriableError as exc:
            self._fail(batch, str(exc), retriable=True)
            return
        except FatalError as exc:
            self._fail(batch, _reason(exc), retriable=False)
            return
        self.pending[job["id"]] = batch
        if job.get("status") in FINISHED:
            self._settle(job)

    def finish(self) -> dict[int, WriteResult]:
        """Waits for every job still out; what has no answer within max_wait is a retriable failure."""
        self._wait(below=1)
        for batch in self.pending.values():
            self._fail(batch, "zendesk: the job did not finish in time; sending it again is safe", retriable=True)
        self.pending.clear()
        return self.results

    def _wait(self, below: int) -> None:
        """Polls until fewer than `below` jobs are out, pausing longer each time none has finished."""
        deadline, pause = time.monotonic() + self.max_wait, 0.1
        while len(self.pending) >= below and time.monotonic() < deadline:
            try:
                finished = self._poll()
            except (RetriableError, FatalError):
                finished = 0  # the status answer was lost; the jobs still run: ask again
            if finished:
                pause = 0.1
                continue
            time.sleep(min(pause, max(0.0, deadline - time.monotonic())))
            pause = min(pause * 2, 5.0)

    def _poll(self) -> int:
        ids = list(self.pending)[:SHOW_MANY_MAX]
        body = self.http.request("GET", SHOW_MANY, params={"ids": ",".join(ids)}).json()
        finished = 0
        for job in body.get("job_statuses") or []:
            if job.get("id") in self.pending and job.get("status") in FINISHED:
                self._settle(job)
                finished += 1
        return finished

    def _settle(self, job: dict) -> None:
        batch = self.pending.pop(job["id"])
        answers = {_index(r, n): r for n, r in enumerate(job.get("results") or [])}
        for position, (number, change) in enumerate(batch):
            answer = answers.get(position)
            if answer is None:
                # A failed or killed job leaves some users undone; the whole job is safe to send again.
                self.results[number] = WriteResult(change.source_id or "", ok=False, retriable=True,
                                                   reason=f"zendesk: job {job.get('status')} before this user")
            else:
                self.results[number] = _result(change, answer)

    def _fail(self, batch: Batch, reason: str, retriable: bool) -> None:
        for number, change in batch:
            self.results[number] = WriteResult(change.source_id or "", ok=False, reason=reason, retriable=retriable)


def _index(result: dict, position: int) -> int:
    index = result.get("index")
    return index if isinstance(index, int) else position


def _result(change: Change, answer: dict) -> WriteResult:
    if answer.get("success"):
        return WriteResult(str(answer.get("id") or change.source_id), ok=True,
                           record={"id": answer.get("id"), "action": answer.get("action")})
    error = str(answer.get("error") or "error")
    fields = sorted({label.strip().lower().replace(" ", "_")
                     for label in FIELD_LABEL.findall(str(answer.get("details") or ""))})
    # The details quote the values (an address in use): only their field labels reach the reason.
    reason = f"zendesk: {error}" + (f" ({', '.join(fields)})" if fields else "")
    return WriteResult(change.source_id or "", ok=False, reason=reason, retriable=error in RETRIABLE_ERRORS)


def _reason(exc: FatalError) -> str:
    """Zendesk's RecordInvalid names the field and the error; keep those, drop the values (PII)."""
    details = exc.body.get("details") if isinstance(exc.body, dict) else None
    if not isinstance(details, dict):
        return str(exc)
    fields = "; ".join(f"{field}: {', '.join(e.get('error', '?') for e in errs)}" for field, errs in details.items())
    return f"{exc} ({fields})"
