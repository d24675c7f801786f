"""Zendesk Support: reads users and tickets through the cursor-based incremental exports, writes user
fields back 100 users a request with update_many, creates users with create_or_update_many keyed on
external_id (both run as Zendesk jobs, see jobs.py), and erases them in Zendesk's two steps (soft delete, then permanent deletion). Auth is Basic
`{email}/token:{api_token}`.

The export's own cursor orders by (updated_at, id), so records tied on a second never straddle a page
boundary unseen, and Zendesk holds back the most recent minute, so nothing changes behind the cursor."""
from __future__ import annotations

from typing import Iterator

from adapters.base import Change, Endpoint, FatalError, Page, RetriableError, WriteResult
from adapters.http import HttpClient
from adapters.pacing import RateLimit
from adapters.zendesk.jobs import BULK_MAX, CREATE_OR_UPDATE_MANY, UPDATE_MANY, Jobs

EXPORTS = {"users": "/api/v2/incremental/users/cursor.json", "tickets": "/api/v2/incremental/tickets/cursor.json"}
PER_PAGE = 1000  # the export's maximum: fewest requests against its own, tighter rate limit
LIMIT_HEADERS = {"limit_header": "X-Rate-Limit", "remaining_header": "X-Rate-Limit-Remaining"}
# Vendor defaults: 700 requests a minute (Enterprise), incremental exports 20 a minute.
RATE_LIMITS = {"general": RateLimit(700, 60.0, **LIMIT_HEADERS), "export": RateLimit(20, 60.0, **LIMIT_HEADERS)}


class ZendeskAdapter:
    name = "zendesk"
    streams = ("users", "tickets")
    # Changes per write() call: enough for 25 jobs of 100 in flight, so polling stays a small share.
    write_batch = 2500

    def __init__(self, endpoint: Endpoint, *, max_wait: float = 300.0, page_size: int = PER_PAGE):
        auth = (f"{endpoint.login}/token", endpoint.password or "")
        self.http = HttpClient(self.name, endpoint.base_url, auth=auth, max_wait=max_wait, rate_limits=RATE_LIMITS)
        self.page_size, self.max_wait = page_size, max_wait

    def read(self, stream: str, cursor: dict | None) -> Iterator[Page]:
        params = {"per_page": self.page_size, **_position(cursor)}
        while True:
            body = self.http.request("GET", EXPORTS[stream], params=params, bucket="export").json()
            after = body.get("after_cursor") or params.get("cursor")
            yield Page(body.get(stream) or [], _cursor(after, params))
            if body.get("end_of_stream") or not body.get("after_cursor"):
                return
            params = {"per_page": self.page_size, "cursor": body["after_cursor"]}

    def write(self, changes: list[Change]) -> list[WriteResult]:
        """Updates through update_many, creates through create_or_update_many (keyed on external_id),
        100 users a request; both run as Zendesk jobs, whose per-user results become the results."""
        results: dict[int, WriteResult] = {}
        updates, creates = [], []
        for n, change in enumerate(changes):
            if change.source_id is None and not change.key:
                # Without a stable key a retried create would duplicate the person; refuse rather than guess.
                results[n] = WriteResult("", ok=False, reason="zendesk: a create needs a key (the golden customer id)")
            elif change.source_id is not None and not str(change.source_id).isdigit():
                results[n] = WriteResult(change.source_id, ok=False, reason="zendesk: not a Zendesk user id")
            else:
                (updates if change.source_id is not None else creates).append((n, change))
        jobs = Jobs(self.http, self.max_wait)
        for start in range(0, len(updates), BULK_MAX):
            batch = updates[start:start + BULK_MAX]
            users = [{**change.patch, "id": int(change.source_id)} for _, change in batch]
            jobs.submit("PUT", UPDATE_MANY, users, batch)
        for start in range(0, len(creates), BULK_MAX):
            batch = creates[start:start + BULK_MAX]
            # Upserted on external_id = the golden customer id: a create retried after a lost answer finds
            # the user the first attempt made instead of making a second one.
            users = [{**change.patch, "external_id": change.key} for _, change in batch]
            jobs.submit("POST", CREATE_OR_UPDATE_MANY, users, batch)
        results.update(jobs.finish())
        return [results[n] for n in range(len(changes))]

    def erase(self, source_ids: list[str]) -> list[WriteResult]:
        return [self._erase(source_id) for source_id in source_ids]

    def _erase(self, source_id: str) -> WriteResult:
        """Soft delete, then permanent deletion: only the second step scrubs the personal data. Either
        step finding no such user counts as done, so an erase retried after a lost answer succeeds."""
        if not source_id.isdigit():
            return WriteResult(source_id, ok=False, reason="zendesk: not a Zendesk user id")
        try:
            self._delete(f"/api/v2/users/{source_id}.json", done=200)
            self._delete(f"/api/v2/deleted_users/{source_id}.json", done=204)
        except RetriableError as exc:
            return WriteResult(source_id, ok=False, reason=str(exc), retriable=True)
        except FatalError as exc:
            return WriteResult(source_id, ok=False, reason=str(exc))
        return WriteResult(source_id, ok=True)

    def _delete(self, path: str, done: int) -> None:
        """A DELETE that also counts Zendesk's "no such record" as done."""
        try:
            self.http.request("DELETE", path, expect=(done,))
        except FatalError as exc:
            if not _record_not_found(exc):
                raise


def _position(cursor: dict | None) -> dict:
    if cursor and cursor.get("after_cursor"):
        return {"cursor": cursor["after_cursor"]}
    return {"start_time": int((cursor or {}).get("start_time", 0))}


def _cursor(after: str | None, params: dict) -> dict:
    return {"after_cursor": after} if after else {"start_time": params.get("start_time", 0)}


def _record_not_found(exc: FatalError) -> bool:
    # Only Zendesk's own "no such record" means there is nothing to erase; any other 404 (a wrong base
    # URL or path answers InvalidEndpoint or a proxy page) must not pass for a successful erasure.
    return exc.status == 404 and isinstance(exc.body, dict) and exc.body.get("error") == "RecordNotFound"
