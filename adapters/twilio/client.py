"""Twilio: reads the caller directory (a Sync Map of E.164 number -> caller data: the customers) and
the Voice call log, writes caller data back into the map, creates callers and erases them. Auth is
Basic `AccountSid:AuthToken`; the connection's extra names the Sync `service_sid` and `map_sid` (and
`sync_base_url` when Sync lives on another host than Voice, as sync.twilio.com does beside
api.twilio.com).

Both streams are read in passes over the vendor's list, filtered on our side by a Watermark:
- callers: Sync has no "changed since" filter, so every pass walks the whole map in key order and
  delivers only item versions (key, revision) it has not delivered, with date_updated at or after
  the cursor's floor. The cursor's high mark is the server's clock (HTTP Date) when the pass began,
  not the newest date_updated seen: an item changed during the pass, behind the walk, is then
  still above the next floor however long the pass took. The cursor keeps only the versions seen
  within the lookback, so it stays small; the price is one full walk of the map per read.
  Deleted or expired items are not reported: Sync lists have no tombstones.
- calls: `StartTime>` is day-granular, so a pass asks from the floor's day (a day of lookback) and
  drops calls already delivered (by sid) or older than the floor. Calls are listed newest first,
  so a pass resumes from the vendor's next_page_uri, never from a high mark.
A page's cursor in the middle of a pass carries the pass ("pass": where to go on, when it began,
what it has seen) beside the cursor it started from; the last page's cursor is a plain watermark.

A create is an upsert on the item's key, the caller's number: POST Items, and on 409 (54208, the
key exists: often our own create, committed before its answer was lost) a merge into that item,
unless it holds another customer's id. An erasure deletes the map item and every call record to
or from the number; neither API keeps a tombstone, so nothing of the person is served again.
"""
from __future__ import annotations

import json
import logging
import re
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from typing import Callable, Iterator
from urllib.parse import quote

from adapters.base import Change, ConfigError, Endpoint, FatalError, Page, RetriableError, WriteResult
from adapters.http import HttpClient
from adapters.pacing import RateLimit
from adapters.paging import NextUrlPaginator, PageRequest, Paginator
from adapters.watermark import Watermark, format_ts, parse_ts

log = logging.getLogger(__name__)
CALLS_PATH = "/2010-04-01/Accounts/{account}/Calls.json"
ITEMS_PATH = "/v1/Services/{service}/Maps/{map}/Items"
CALLS_MAX_PAGE, ITEMS_MAX_PAGE = 1000, 100
CALLS_LOOKBACK = timedelta(days=1)      # StartTime filters count whole days
ITEMS_LOOKBACK = timedelta(minutes=2)   # date_updated is to the second; this covers clock steps
# Twilio answers 20429 past 100 requests a second. The pacer keeps its window 3% longer: with two
# writers in flight, arrivals at the server lag departures by a few milliseconds, enough to land
# ~1% of requests in a full second at the exact limit.
RATE_LIMIT = RateLimit(limit=100, window=1.03)
WRITERS = 2  # requests in flight while writing; far under Twilio's per-account concurrency
WRITABLE = {"data"}           # an item's key is its identity: Sync cannot change it
CREATABLE = {"key", "data"}
E164 = re.compile(r"\+[1-9]\d{1,14}")
KEY_EXISTS, NOT_FOUND = 54208, 404
NUMBER_TAKEN = "twilio: the number's caller entry holds another customer id (code 54208)"
CHANGED_SINCE_READ = "twilio: the caller entry changed since it was read (412); the next run decides"


class TwilioAdapter:
    name = "twilio"
    streams = ("callers", "calls")
    conditional_writes = True  # delivery passes Change.seen: writes are If-Match on the revision read

    def __init__(self, endpoint: Endpoint, *, max_wait: float = 300.0, page_size: int = CALLS_MAX_PAGE):
        extra = endpoint.extra or {}
        self.account_sid = extra.get("account_sid") or endpoint.login
        if not (self.account_sid and extra.get("service_sid") and extra.get("map_sid")):
            raise ConfigError("twilio: connection concord_twilio needs login (AccountSid) and extra "
                              "service_sid and map_sid")
        self.items_path = (extra.get("sync_base_url") or "").rstrip("/") + ITEMS_PATH.format(
            service=extra["service_sid"], map=extra["map_sid"])
        self.http = HttpClient(self.name, endpoint.base_url, auth=(endpoint.login or "", endpoint.password or ""),
                               max_wait=max_wait, rate_limits={"general": RATE_LIMIT})
        self.page_size = page_size

    def read(self, stream: str, cursor: dict | None) -> Iterator[Page]:
        if stream == "callers":
            return self._read_callers(cursor or {})
        if stream == "calls":
            return self._read_calls(cursor or {})
        raise ValueError(f"twilio: unknown stream {stream!r}; streams are {self.streams}")

    # -- reads --

    def _read_callers(self, cursor: dict) -> Iterator[Page]:
        progress = cursor.get("pass") or {}
        params = {"Order": "asc", "PageSize": min(self.page_size, ITEMS_MAX_PAGE)}
        if progress.get("after"):
            params.update(From=progress["after"], Bounds="exclusive")
        request = PageRequest("GET", self.items_path, params)
        walk = _Pass(cursor, ITEMS_LOOKBACK, _item_version)
        paginator = NextUrlPaginator("meta.next_page_url")
        for body, server_time in self._pages(request, paginator):
            items = body.get("items") or []
            fresh = walk.take(items, server_time)
            position = {"after": items[-1]["key"] if items else progress.get("after")}
            yield from walk.page(fresh, position, last=not paginator.has_next)

    def _read_calls(self, cursor: dict) -> Iterator[Page]:
        progress = cursor.get("pass") or {}
        walk = _Pass(cursor, CALLS_LOOKBACK, _call_version)
        request = PageRequest("GET", CALLS_PATH.format(account=self.account_sid),
                              {"PageSize": min(self.page_size, CALLS_MAX_PAGE)})
        if progress.get("next"):
            request = PageRequest("GET", progress["next"])
        elif walk.floor is not None:
            request.params["StartTime>"] = walk.floor.strftime("%Y-%m-%d")
        paginator = NextUrlPaginator("next_page_uri")
        for body, server_time in self._pages(request, paginator):
            fresh = walk.take(body.get("calls") or [], server_time)
            yield from walk.page(fresh, {"next": paginator.next_url}, last=not paginator.has_next)

    def _pages(self, request: PageRequest, paginator: Paginator) -> Iterator[tuple[dict, datetime | None]]:
        """Like adapters.paging.paginate, but with the server's clock (the Date header) of each page."""
        paginator.init_request(request)
        while True:
            response = self.http.request(request.method, request.path, params=request.params or None)
            body = response.json()
            paginator.update_state(body)
            yield body, _server_time(response.headers.get("Date"))
            if not paginator.has_next:
                return
            paginator.update_request(request)

    # -- writes --

    def write(self, changes: list[Change]) -> list[WriteResult]:
        """Sync has no batch write for map items: one conditional update (or create, for a change
        without a source_id) per change. Twilio limits concurrency, not a sequence: a few requests in
        flight (the pacer still holds them under the rate) keep its latency from being the limit.
        Results come back in the order of the changes."""
        def one(change: Change) -> WriteResult:
            return self._write(change) if change.source_id is not None else self._create(change)

        if len(changes) < 2:
            return [one(change) for change in changes]
        with ThreadPoolExecutor(max_workers=WRITERS) as pool:
            return list(pool.map(one, changes))

    def _write(self, change: Change) -> WriteResult:
        refused = sorted(set(change.patch) - WRITABLE)
        if refused:
            return WriteResult(change.source_id, ok=False, reason=f"twilio: not writable: {', '.join(refused)}")
        try:
            if _revision_of(change.seen):
                record = self._update_seen(change.source_id, change.patch.get("data") or {}, change.seen)
            else:
                record = self._update(change.source_id, change.patch.get("data") or {})
        except _ChangedSinceRead:
            return WriteResult(change.source_id, ok=False, retriable=True, reason=CHANGED_SINCE_READ)
        except RetriableError as exc:
            return WriteResult(change.source_id, ok=False, reason=str(exc), retriable=True)
        except FatalError as exc:
            # A second 412 means another writer is busy with this item: worth another run, not a fix.
            return WriteResult(change.source_id, ok=False, reason=_reason(exc), retriable=exc.status == 412)
        return WriteResult(change.source_id, ok=True, record=record)

    def _create(self, change: Change) -> WriteResult:
        """A new caller entry from the patch (`key`: the number, `data`), made as an upsert."""
        problem = _create_problem(change.patch)
        if problem:
            return WriteResult("", ok=False, reason=problem)
        key, data = change.patch["key"], dict(change.patch.get("data") or {})
        if change.key:
            # Marks the entry as this customer's: a retried create knows it as its own, and a CTI
            # screen (or a wiped store) finds the customer from the number.
            data.setdefault("concord_customer_id", change.key)
        try:
            record = self._upsert(key, data)
        except _NumberTaken:
            return WriteResult(key, ok=False, reason=NUMBER_TAKEN)
        except RetriableError as exc:
            return WriteResult(key, ok=False, reason=str(exc), retriable=True)
        except FatalError as exc:
            return WriteResult(key, ok=False, reason=_reason(exc), retriable=exc.status == 412)
        return WriteResult(key, ok=True, record=record)

    def _upsert(self, key: str, data: dict) -> dict:
        """Sync has no upsert: create, and on "key exists" merge into the item instead."""
        try:
            return self.http.request("POST", self.items_path, expect=(201,),
                                     data={"Key": key, "Data": json.dumps(data)}).json()
        except FatalError as exc:
            if _code(exc) != KEY_EXISTS:
                raise
        return self._update(key, data, owner=data.get("concord_customer_id"))

    def _update(self, key: str, patch: dict, owner: str | None = None) -> dict:
        """A 412 means someone wrote between our read and our post: read again, merge again, once."""
        path = self._item_path(key)
        try:
            return self._merge_and_post(path, patch, owner)
        except FatalError as exc:
            if exc.status != 412:
                raise
            log.info("twilio: revision conflict on a map item, re-reading it")
            return self._merge_and_post(path, patch, owner)

    def _merge_and_post(self, path: str, patch: dict, owner: str | None) -> dict:
        """Sync replaces an item's data whole: merge the patch into what it holds now and post that,
        with If-Match of the revision just read. With an `owner`, an item that holds another
        customer id is left alone (raises _NumberTaken): two people can share a number."""
        item = self.http.request("GET", path).json()
        held_by = (item.get("data") or {}).get("concord_customer_id")
        if owner and held_by and held_by != owner:
            raise _NumberTaken()
        data = {**(item.get("data") or {}), **patch}
        if data == item.get("data"):
            return item  # nothing to change: no new revision, no echo in the next read
        return self.http.request("POST", path, data={"Data": json.dumps(data)},
                                 headers={"If-Match": item["revision"]}).json()

    def _update_seen(self, key: str, patch: dict, seen: dict) -> dict:
        """One request instead of two: the merge is made on the item as Concord last read it, posted
        with If-Match of that revision. A 412 means someone edited the item since that read; their
        edit is kept (the next run reads it and survivorship weighs it), not merged over."""
        data = {**(seen.get("data") or {}), **patch}
        if data == seen.get("data"):
            return seen
        try:
            return self.http.request("POST", self._item_path(key), data={"Data": json.dumps(data)},
                                     headers={"If-Match": _revision_of(seen)}).json()
        except FatalError as exc:
            if exc.status == 412:
                raise _ChangedSinceRead() from None
            raise

    def _item_path(self, key: str) -> str:
        return f"{self.items_path}/{quote(key, safe='')}"

    # -- erasure --

    def erase(self, source_ids: list[str]) -> list[WriteResult]:
        """Deletes each caller's map item, then every call record to or from the number. What is
        gone already counts as erased, so an erasure is safe to repeat. Results name no value of
        the person beyond the source id itself."""
        try:
            # A 404 on an item counts as erased only if the map is there: with a wrong map SID,
            # every erasure would otherwise "succeed" without deleting anything.
            self.http.request("GET", self.items_path, params={"PageSize": 1})
        except (RetriableError, FatalError) as exc:
            return [_erase_failure(key, exc) for key in source_ids]
        return [self._erase(key) for key in source_ids]

    def _erase(self, key: str) -> WriteResult:
        try:
            self._delete(self._item_path(key))
            for uri in self._call_uris(key):
                self._delete(uri)
        except (RetriableError, FatalError) as exc:
            return _erase_failure(key, exc)
        return WriteResult(key, ok=True)

    def _delete(self, path: str) -> None:
        """204 when deleted; 404 when already gone, which is what erasing asked for."""
        self.http.request("DELETE", path, expect=(204, NOT_FOUND))

    def _call_uris(self, number: str) -> list[str]:
        """Every call record from or to the number. Gathered before any is deleted, so that no page
        is asked for after the call its page token names is gone."""
        uris: dict[str, str] = {}
        for side in ("From", "To"):
            request = PageRequest("GET", CALLS_PATH.format(account=self.account_sid),
                                  {side: number, "PageSize": CALLS_MAX_PAGE})
            for body, _ in self._pages(request, NextUrlPaginator("next_page_uri")):
                uris.update((call["sid"], call["uri"]) for call in body.get("calls") or [])
        return list(uris.values())


class _Pass:
    """One walk over a vendor list: decides which records are news against the cursor it started
    from, and what cursor each page leaves behind."""

    def __init__(self, cursor: dict, lookback: timedelta, version: Callable[[dict], tuple[str, str]]):
        self.start_cursor = {k: cursor[k] for k in ("high", "seen") if k in cursor}
        self.known = Watermark(self.start_cursor, lookback)
        self.floor = self.known.query_from()
        self.lookback, self.version = lookback, version
        progress = cursor.get("pass") or {}
        self.started = parse_ts(progress["started"]) if progress.get("started") else None
        self.seen: dict[str, str] = dict(progress.get("seen") or {})

    def take(self, records: list[dict], server_time: datetime | None) -> list[dict]:
        """The records not delivered before; remembers every version near the pass's start."""
        if self.started is None:
            # Without a Date header, this machine's clock stands in for the server's.
            self.started = server_time or datetime.now(timezone.utc)
        fresh = []
        for record in records:
            version, stamp = self.version(record)
            moment = parse_ts(stamp)
            if moment >= self.started - self.lookback:
                self.seen[version] = stamp
            if (self.floor is None or moment >= self.floor) and self.known.admit(version, stamp):
                fresh.append(record)
        return fresh

    def page(self, records: list[dict], position: dict, last: bool) -> Iterator[Page]:
        """The page to hand over: always the last one (it carries the finished cursor), otherwise
        only pages with news, so that an unchanged map does not make hundreds of empty pages."""
        if last:
            yield Page(records, {"high": format_ts(self.started), "seen": self.seen})
        elif records:
            progress = {**position, "started": format_ts(self.started), "seen": dict(self.seen)}
            yield Page(records, {**self.start_cursor, "pass": progress})


def _item_version(item: dict) -> tuple[str, str]:
    # The revision tells two changes within one second apart; date_updated alone would not.
    return f"{item['key']}#{item['revision']}", item["date_updated"]


def _call_version(call: dict) -> tuple[str, str]:
    # A queued call has no start_time yet; its creation time stands in.
    started = call.get("start_time") or call["date_created"]
    return call["sid"], format_ts(parsedate_to_datetime(started))


def _server_time(header: str | None) -> datetime | None:
    try:
        return parsedate_to_datetime(header) if header else None
    except (TypeError, ValueError):
        return None


class _NumberTaken(Exception):
    """A create's number already has a caller entry, and it is another customer's."""


def _erase_failure(key: str, exc: RetriableError | FatalError) -> WriteResult:
    if isinstance(exc, RetriableError):
        # Not the exception's text: it names the path, and the path holds the number.
        return WriteResult(key, ok=False, retriable=True,
                           reason="twilio: the erasure was interrupted (throttled, 5xx or no answer); erase again")
    return WriteResult(key, ok=False, reason=_reason(exc, "erasure"))


def _create_problem(patch: dict) -> str | None:
    """Why a create's patch cannot make a caller entry (None when it can); names no value."""
    refused = sorted(set(patch) - CREATABLE)
    if refused:
        return f"twilio: not writable on a new caller: {', '.join(refused)}"
    if not isinstance(patch.get("key"), str) or not E164.fullmatch(patch["key"]):
        return "twilio: a new caller needs its E.164 number as key"
    if not isinstance(patch.get("data") or {}, dict):
        return "twilio: a new caller's data must be an object"
    return None


def _code(exc: FatalError) -> int | None:
    return exc.body.get("code") if isinstance(exc.body, dict) else None


def _reason(exc: FatalError, what: str = "field: data") -> str:
    """The status and Twilio's code, never its message: a 20404 message quotes the path, and the
    path holds the number."""
    code = _code(exc)
    return f"twilio: answered {exc.status}, code {code} ({what})" if code else f"twilio: answered {exc.status} ({what})"


class _ChangedSinceRead(Exception):
    pass


def _revision_of(seen: dict | None) -> str | None:
    return (seen or {}).get("revision")
