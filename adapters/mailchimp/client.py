"""Mailchimp Marketing (/3.0): reads one audience's members by `since_last_changed` and one
campaign's email activity by `since`, both with count/offset paging, writes members through batch
subscribe (POST /3.0/lists/{list_id}, 500 a request; a create is keyed by its address, so a retried
create cannot make a second member: see batch.py), and erases them for good
(POST .../members/{subscriber_hash}/actions/delete-permanent: the member is gone and its address is
"forgotten", refused by any later upsert).

Auth is Basic with any user name and the API key ("<32 hex>-us21") as password; the audience and
the campaign come from the connection's extra (`list_id`, `campaign_id`). Mailchimp sends no
rate-limit headers and no Retry-After, so the client paces itself by count and backs off with jitter.

The report has no event ids: the email_activity stream yields one record per (member, event), the
member's report entry with its `activity` list replaced by that one event's fields, and composes
`activity_id = "{campaign_id}:{email_id}:{action}:{timestamp}"`."""
from __future__ import annotations

import hashlib
from datetime import datetime, timedelta, timezone
from typing import Callable, Iterator

from adapters.base import Change, ConfigError, Endpoint, FatalError, Page, RetriableError, WriteResult
from adapters.http import HttpClient
from adapters.mailchimp.batch import BATCH_MAX, BatchWriter, StatusBook
from adapters.pacing import RateLimit
from adapters.paging import PageRequest, Paginator, paginate
from adapters.watermark import Watermark, parse_ts

MEMBERS, EMAIL_ACTIVITY = "members", "email_activity"
PAGE_MAX = 1000                      # Mailchimp's largest `count`
LOOKBACK = timedelta(minutes=2)      # last_changed is second-granular; re-read a margin, dedupe the rest
# ~10 simultaneous connections per key, modelled as 10 a second. No headers tell us where we stand,
# so the pacer's own count is what keeps us under it. Mailchimp counts arrivals and we count
# departures: on a busy machine or network tens of milliseconds can come between the two, so the
# window we keep is 8% longer than the vendor's (at most 0.92 of its rate; a 429 costs more).
RATE = RateLimit(limit=10, window=1.08)
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
# Problem titles that concern one field although Mailchimp's body names none.
FIELD_OF_TITLE = {"Member In Compliance State": "status", "Forgotten Email Not Subscribed": "email_address"}


def subscriber_hash(email: str) -> str:
    """Mailchimp's member id: the md5 of the lower-cased address."""
    return hashlib.md5(email.strip().lower().encode()).hexdigest()


def mailchimp_time(instant: datetime) -> str:
    return instant.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S+00:00")


class OverlapOffsetPaginator(Paginator):
    """count/offset paging (`{"members": [...], "total_items": 2300}`) made safe against records that
    move while we page: every page after the first starts one record early, on the previous page's
    last record. If that record is not there, something before it moved and the offsets shifted:
    the page is `stale` and the read starts over at offset 0 (the Watermark drops repeats)."""

    MAX_RESTARTS = 20

    def __init__(self, records_key: str, key: Callable[[dict], object], limit: int):
        self.records_key, self.key, self.limit = records_key, key, limit
        self.offset, self.tail, self.stale, self.restarts = 0, None, False, 0

    def init_request(self, request: PageRequest) -> None:
        request.params = {**request.params, "count": self.limit, **self.position()}

    def update_state(self, body: dict) -> None:
        records = body.get(self.records_key) or []
        self.stale = self.tail is not None and (not records or self.key(records[0]) != self.tail)
        if self.stale:
            self.restart()
            return
        self.has_next = bool(records) and self.offset + len(records) < int(body.get("total_items") or 0)
        if records:
            self.advance(records)

    def update_request(self, request: PageRequest) -> None:
        request.params = {**request.params, **self.position()}

    def position(self) -> dict:
        return {"offset": self.offset}

    def advance(self, records: list[dict]) -> None:
        self.offset += len(records) - 1  # the next page begins on this page's last record
        self.tail = self.key(records[-1])

    def restart(self) -> None:
        self.restarts += 1
        if self.restarts > self.MAX_RESTARTS:
            raise RetriableError("mailchimp: records kept moving while paging; read again later")
        self.offset, self.tail, self.has_next = 0, None, True


class ChangedSincePaginator(OverlapOffsetPaginator):
    """Members changed after `since_last_changed`, oldest change first. After each page the window
    moves up to the second before the page's last change, so that offsets stay small and only the
    records of that one second are counted (records tied on a second can span pages)."""

    def __init__(self, since: datetime, limit: int):
        super().__init__("members", lambda m: (m["id"], m["last_changed"]), limit)
        self.since = since.replace(microsecond=0)

    def position(self) -> dict:
        return {"offset": self.offset, "since_last_changed": mailchimp_time(self.since)}

    def advance(self, records: list[dict]) -> None:
        last = parse_ts(records[-1]["last_changed"])
        anchor = max(last - timedelta(seconds=1), self.since)
        if anchor == self.since:
            super().advance(records)
            return
        self.since = anchor
        self.offset = sum(1 for r in records if parse_ts(r["last_changed"]) == last) - 1
        self.tail = self.key(records[-1])


class MailchimpAdapter:
    name = "mailchimp"
    streams = (MEMBERS, EMAIL_ACTIVITY)
    # Changes per write() call from delivery: ten full batch subscribe requests (a second's worth), so
    # that several are in flight at once (batch.CONCURRENCY) and few calls end with the pipe idle.
    write_batch = 10 * BATCH_MAX

    def __init__(self, endpoint: Endpoint, *, max_wait: float = 300.0, page_size: int = PAGE_MAX):
        if not 2 <= page_size <= PAGE_MAX:
            raise ValueError(f"mailchimp: page_size must be 2..{PAGE_MAX} (pages overlap by one record)")
        self.list_id, self.campaign_id = endpoint.extra.get("list_id"), endpoint.extra.get("campaign_id")
        if not self.list_id:
            raise ConfigError("mailchimp: connection concord_mailchimp has no list_id in its extra")
        auth = (endpoint.login or "concord", endpoint.password or "")
        self.http = HttpClient(self.name, endpoint.base_url, auth=auth, max_wait=max_wait,
                               rate_limits={"general": RATE})
        self.page_size = page_size
        # Members' addresses and statuses, read once for the adapter's life (one delivery): see batch.py.
        self.statuses = StatusBook(self.http, self.list_id)

    def read(self, stream: str, cursor: dict | None) -> Iterator[Page]:
        if stream == MEMBERS:
            return self._members(cursor)
        if stream == EMAIL_ACTIVITY:
            return self._email_activity(cursor)
        raise ValueError(f"mailchimp: no stream {stream!r} (streams: {', '.join(self.streams)})")

    def write(self, changes: list[Change]) -> list[WriteResult]:
        """Updates and creates alike through batch subscribe, 500 members a request (see batch.py)."""
        return BatchWriter(self.http, self.list_id, subscriber_hash, _reason, self.statuses).write(changes)

    def erase(self, source_ids: list[str]) -> list[WriteResult]:
        """Permanently deletes each member (their address becomes "forgotten"). A member already
        gone is success, so that an erasure can be retried; a missing audience is not."""
        return [self._erase(source_id) for source_id in source_ids]

    # -- reads --

    def _members(self, cursor: dict | None) -> Iterator[Page]:
        """Oldest change first, so every page's watermark is a safe place to resume."""
        mark = Watermark(cursor, LOOKBACK)
        paginator = ChangedSincePaginator(mark.query_from() or EPOCH, self.page_size)
        request = PageRequest("GET", f"/3.0/lists/{self.list_id}/members")
        for body in paginate(self.http, request, paginator):
            if not paginator.stale:
                fresh = [m for m in body.get("members") or [] if mark.admit(m["id"], m["last_changed"])]
                yield Page(fresh, mark.cursor())

    def _email_activity(self, cursor: dict | None) -> Iterator[Page]:
        """The report comes in member order, not time order: the cursor can move only once the
        whole report is read; until then every page resumes where this read began."""
        if not self.campaign_id:
            raise ConfigError("mailchimp: connection concord_mailchimp has no campaign_id in its extra")
        mark = Watermark(cursor, LOOKBACK)
        since = mark.query_from()
        request = PageRequest("GET", f"/3.0/reports/{self.campaign_id}/email-activity",
                              params={"since": mailchimp_time(since)} if since else {})
        paginator = OverlapOffsetPaginator("emails", lambda e: e["email_id"], self.page_size)
        for body in paginate(self.http, request, paginator):
            if not paginator.stale:
                fresh = [e for e in _events(body) if mark.admit(e["activity_id"], e["timestamp"])]
                yield Page(fresh, mark.cursor() if not paginator.has_next else dict(cursor or {}))

    # -- erasure --

    def _erase(self, source_id: str) -> WriteResult:
        try:
            self._delete_permanently(source_id)
        except RetriableError as exc:
            return WriteResult(source_id, ok=False, reason=str(exc), retriable=True)
        except FatalError as exc:
            return WriteResult(source_id, ok=False, reason=_reason(exc))
        return WriteResult(source_id, ok=True)

    def _delete_permanently(self, source_id: str) -> None:
        """A 404 means nothing to erase (never there, or erased by an earlier try whose answer was
        lost) only if the audience itself exists: Mailchimp answers both with the same 404."""
        try:
            self.http.request("POST", f"{self._member_path(source_id)}/actions/delete-permanent", expect=(204,))
        except FatalError as exc:
            if exc.status != 404:
                raise
            self.http.request("GET", f"/3.0/lists/{self.list_id}/members", params={"count": 1, "fields": "list_id"})

    def _member_path(self, source_id: str) -> str:
        return f"/3.0/lists/{self.list_id}/members/{source_id}"


def _events(body: dict) -> Iterator[dict]:
    for entry in body.get("emails") or []:
        shared = {k: v for k, v in entry.items() if k not in ("activity", "_links")}
        for event in entry.get("activity") or []:
            activity_id = f"{entry['campaign_id']}:{entry['email_id']}:{event['action']}:{event['timestamp']}"
            yield {**shared, **event, "activity_id": activity_id}


def _reason(exc: FatalError) -> str:
    """The problem's title and the fields it names; never its detail, which quotes the address."""
    body = exc.body if isinstance(exc.body, dict) else {}
    fields = [e.get("field") for e in body.get("errors") or [] if isinstance(e, dict) and e.get("field")]
    if not fields and body.get("title") in FIELD_OF_TITLE:
        fields = [FIELD_OF_TITLE[body["title"]]]
    return f"{exc} (fields: {', '.join(fields)})" if fields else str(exc)
