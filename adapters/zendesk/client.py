"""Zendesk Support: reads users and tickets through the cursor-based incremental exports and writes
user fields back with PUT /api/v2/users/{id}.json. Auth is Basic `{email}/token:{api_token}`.

The export's own cursor orders by (updated_at, id), so records tied on a second never straddle a page
boundary unseen, and Zendesk holds back the most recent minute, so nothing changes behind the cursor."""
from __future__ import annotations

from typing import Iterator

from adapters.base import Change, Endpoint, FatalError, Page, RetriableError, WriteResult
from adapters.http import HttpClient
from adapters.pacing import RateLimit

EXPORTS = {"users": "/api/v2/incremental/users/cursor.json", "tickets": "/api/v2/incremental/tickets/cursor.json"}
PER_PAGE = 1000  # the export's maximum: fewest requests against its own, tighter rate limit
LIMIT_HEADERS = {"limit_header": "X-Rate-Limit", "remaining_header": "X-Rate-Limit-Remaining"}
# Vendor defaults: 700 requests a minute (Enterprise), incremental exports 20 a minute.
RATE_LIMITS = {"general": RateLimit(700, 60.0, **LIMIT_HEADERS), "export": RateLimit(20, 60.0, **LIMIT_HEADERS)}


class ZendeskAdapter:
    name = "zendesk"
    streams = ("users", "tickets")

    def __init__(self, endpoint: Endpoint, *, max_wait: float = 300.0, page_size: int = PER_PAGE):
        auth = (f"{endpoint.login}/token", endpoint.password or "")
        self.http = HttpClient(self.name, endpoint.base_url, auth=auth, max_wait=max_wait, rate_limits=RATE_LIMITS)
        self.page_size = page_size

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
        return [self._put(change) for change in changes]

    def _put(self, change: Change) -> WriteResult:
        path = f"/api/v2/users/{change.source_id}.json"
        try:
            response = self.http.request("PUT", path, json={"user": change.patch})
        except RetriableError as exc:
            return WriteResult(change.source_id, ok=False, reason=str(exc), retriable=True)
        except FatalError as exc:
            return WriteResult(change.source_id, ok=False, reason=_reason(exc))
        return WriteResult(change.source_id, ok=True, record=response.json().get("user"))


def _position(cursor: dict | None) -> dict:
    if cursor and cursor.get("after_cursor"):
        return {"cursor": cursor["after_cursor"]}
    return {"start_time": int((cursor or {}).get("start_time", 0))}


def _cursor(after: str | None, params: dict) -> dict:
    return {"after_cursor": after} if after else {"start_time": params.get("start_time", 0)}


def _reason(exc: FatalError) -> str:
    """Zendesk's RecordInvalid names the field and the error; keep those, drop the values (PII)."""
    details = exc.body.get("details") if isinstance(exc.body, dict) else None
    if not details:
        return str(exc)
    fields = "; ".join(f"{field}: {', '.join(e.get('error', '?') for e in errs)}" for field, errs in details.items())
    return f"{exc} ({fields})"
