"""HubSpot: reads contacts through the CRM search API by moving a `lastmodifieddate` window (never by
paging `after` towards search's 10,000-result cap), attaches each delivered contact's marketing
subscription status (Communication Preferences v3), reads email events from the legacy events API,
and writes contacts back with batch upsert and consent with subscribe/unsubscribe.
Auth is a private-app token sent as `Authorization: Bearer`."""
from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta, timezone
from typing import Iterator
from urllib.parse import quote

from adapters.base import AdapterError, AuthError, Change, Endpoint, FatalError, Page, RetriableError, WriteResult
from adapters.http import HttpClient
from adapters.pacing import RateLimit
from adapters.paging import PageRequest, Paginator, paginate
from adapters.watermark import Watermark, format_ts, parse_ts

log = logging.getLogger(__name__)
SEARCH_PATH = "/crm/v3/objects/contacts/search"
UPSERT_PATH = "/crm/v3/objects/contacts/batch/upsert"
CONTACT_PATH = "/crm/v3/objects/contacts/{}"
STATUS_PATH = "/communication-preferences/v3/status/email/{}"
CONSENT_PATHS = {"SUBSCRIBED": "/communication-preferences/v3/subscribe",
                 "NOT_SUBSCRIBED": "/communication-preferences/v3/unsubscribe"}
EVENTS_PATH = "/email/public/v1/events"
SEARCH_MAX, BATCH_MAX, EVENTS_MAX = 200, 100, 1000
PROPERTIES = ("email", "firstname", "lastname", "phone", "mobilephone", "address", "city", "state", "zip", "country",
              "date_of_birth", "concord_customer_id", "createdate", "lastmodifieddate", "hs_object_id")
PATCH_KEYS = ("properties", "emailSubscription")
# The search index trails writes by a few seconds: re-ask a little of what was read before.
LOOKBACK = timedelta(minutes=2)
RATE_HEADERS = ("X-HubSpot-RateLimit-Max", "X-HubSpot-RateLimit-Remaining")
RATE_LIMITS = {"general": RateLimit(100, 10.0, *RATE_HEADERS), "search": RateLimit(5, 1.0, *RATE_HEADERS)}
LEGAL_BASIS = {"legalBasis": "CONSENT_WITH_NOTICE",
               "legalBasisExplanation": "Consent recorded in another system of the business, synchronised by Concord"}


class HubSpotAdapter:
    name = "hubspot"
    streams = ("contacts", "email_events")

    def __init__(self, endpoint: Endpoint, *, max_wait: float = 300.0, page_size: int = SEARCH_MAX):
        self.http = _RedactingHttp(self.name, endpoint.base_url, max_wait=max_wait, rate_limits=RATE_LIMITS,
                                   headers={"Authorization": f"Bearer {endpoint.password or ''}"})
        self.page_size = max(1, page_size)
        self.subscription_id = str(endpoint.extra.get("subscription_id") or "") or None

    def read(self, stream: str, cursor: dict | None) -> Iterator[Page]:
        if stream == "contacts":
            return self._contacts(cursor)
        if stream == "email_events":
            return self._events(cursor)
        raise ValueError(f"hubspot: no stream {stream!r} (streams: {', '.join(self.streams)})")

    def write(self, changes: list[Change]) -> list[WriteResult]:
        upserted = self._upsert_all(changes)
        return [self._finish(change, upserted.get(i)) for i, change in enumerate(changes)]

    # -- reads --

    def _contacts(self, cursor: dict | None) -> Iterator[Page]:
        mark = Watermark(cursor, LOOKBACK)
        paginator = WindowPaginator(_millis(mark.query_from()), min(self.page_size, SEARCH_MAX), PROPERTIES)
        for body in paginate(self.http, PageRequest("POST", SEARCH_PATH), paginator, bucket="search"):
            fresh = [c for c in body.get("results") or [] if mark.admit(c["id"], c["updatedAt"])]
            # v3 reads one address at a time: ask only for the contacts this page delivers.
            for contact in fresh:
                self._attach_consent(contact)
            yield Page(fresh, mark.cursor())

    def _events(self, cursor: dict | None) -> Iterator[Page]:
        mark = Watermark(cursor, LOOKBACK)
        start = _millis(mark.query_from())
        params = {"limit": min(self.page_size, EVENTS_MAX), **({"startTimestamp": start} if start is not None else {})}
        for body in paginate(self.http, PageRequest("GET", EVENTS_PATH, params), HasMorePaginator()):
            fresh = [e for e in body.get("events") or [] if mark.admit(e["id"], _iso(e["created"]))]
            yield Page(fresh, mark.cursor())

    def _attach_consent(self, contact: dict) -> None:
        address = (contact.get("properties") or {}).get("email")
        if self.subscription_id and address and address.strip():
            try:
                contact["emailSubscription"] = self._subscription_status(address.strip())
            except AuthError:
                raise
            except FatalError:
                # HubSpot refuses a malformed address; that contact's consent stays unknown.
                log.info("hubspot: no subscription status for contact %s", contact["id"])

    def _subscription_status(self, address: str) -> dict | None:
        body = self.http.request("GET", STATUS_PATH.format(quote(address, safe=""))).json()
        return next((s for s in body.get("subscriptionStatuses") or [] if str(s.get("id")) == self.subscription_id),
                    None)

    # -- writes --

    def _upsert_all(self, changes: list[Change]) -> dict[int, WriteResult]:
        pending = [(i, c) for i, c in enumerate(changes) if _properties(c) and not _unsupported(c)]
        done: dict[int, WriteResult] = {}
        for batch in _batches(pending):
            done.update(self._upsert(batch))
        return done

    def _upsert(self, batch: list[tuple[int, Change]]) -> dict[int, WriteResult]:
        inputs = [{"id": c.source_id, "idProperty": "hs_object_id", "properties": _properties(c)} for _, c in batch]
        try:
            body = self.http.request("POST", UPSERT_PATH, json={"inputs": inputs}, expect=(200, 207)).json()
        except RetriableError as exc:
            return {i: WriteResult(c.source_id, ok=False, reason=str(exc), retriable=True) for i, c in batch}
        except FatalError as exc:
            return {i: WriteResult(c.source_id, ok=False, reason=_reason(exc.body)) for i, c in batch}
        # Results come in no promised order: match them to inputs by id.
        held = {str(r.get("id")): r for r in body.get("results") or []}
        refused = {str(i): e for e in body.get("errors") or [] for i in (e.get("context") or {}).get("ids") or []}
        return {i: _upsert_result(c.source_id, held.get(c.source_id), refused.get(c.source_id)) for i, c in batch}

    def _finish(self, change: Change, upserted: WriteResult | None) -> WriteResult:
        unsupported = _unsupported(change)
        if unsupported:
            return WriteResult(change.source_id, ok=False, reason=f"hubspot: cannot write {', '.join(unsupported)}")
        wanted = (change.patch.get("emailSubscription") or {}).get("status")
        if (upserted is not None and not upserted.ok) or wanted is None:
            return upserted or WriteResult(change.source_id, ok=True)
        return self._write_consent(change, wanted, upserted.record if upserted else None)

    def _write_consent(self, change: Change, wanted: str, record: dict | None) -> WriteResult:
        try:
            address = self._address(change, record)
            if not (address and self.subscription_id):
                return WriteResult(change.source_id, ok=False, reason="hubspot: consent: no email address "
                                   "on the contact, or no subscription_id in the connection's extra")
            status = self._set_status(address, wanted)
        except RetriableError as exc:
            return WriteResult(change.source_id, ok=False, reason=str(exc), retriable=True)
        except FatalError as exc:
            return WriteResult(change.source_id, ok=False, reason=f"consent: {_reason(exc.body)}")
        return WriteResult(change.source_id, ok=True, record={**(record or {}), "emailSubscription": status})

    def _set_status(self, address: str, wanted: str) -> dict:
        body = {"emailAddress": address, "subscriptionId": self.subscription_id,
                **(LEGAL_BASIS if wanted == "SUBSCRIBED" else {})}
        try:
            return self.http.request("POST", CONSENT_PATHS[wanted], json=body).json()
        except AuthError:
            raise
        except FatalError:
            # v3 refuses to set the status an address already has (a retry after a lost answer, too):
            # what counts is whether the wanted status holds now.
            status = self._subscription_status(address)
            if status and status.get("status") == wanted:
                return status
            raise

    def _address(self, change: Change, record: dict | None) -> str | None:
        """The email the status belongs to: the one this change writes, else the one HubSpot holds."""
        address = _properties(change).get("email") or ((record or {}).get("properties") or {}).get("email")
        if not address:
            contact = self.http.request("GET", CONTACT_PATH.format(change.source_id), params={"properties": "email"})
            address = (contact.json().get("properties") or {}).get("email")
        return address.strip() if address else None


class WindowPaginator(Paginator):
    """Pages a search sorted by `lastmodifieddate` by moving the window's floor up to the last record seen
    (GTE; the Watermark drops what comes again), never with `after`: so search's 10,000-result cap never
    bites, and a record modified during the read (it moves to the end) cannot shift another one past a page
    boundary unseen. When a whole page shares one timestamp, that timestamp is paged by `hs_object_id`.

    Reads `{"total": 312, "results": [{"id": "51003", "properties": {"lastmodifieddate": "...Z"}, ...}]}`."""

    def __init__(self, floor_ms: int | None, limit: int, properties: tuple[str, ...]):
        self.floor, self.limit, self.properties = floor_ms, limit, list(properties)
        self.strict = False        # after a tied timestamp is read in full, go on strictly above it
        self.tie_id: int | None = None

    def init_request(self, request: PageRequest) -> None:
        request.json = self._query()

    def update_state(self, body: dict) -> None:
        results = body.get("results") or []
        full = len(results) >= self.limit
        if self.tie_id is not None:
            self.tie_id = int(results[-1]["id"]) if full else None
            self.strict, self.has_next = not full, True
            return
        self.has_next = full
        if full:
            last = _millis(_modified(results[-1]))
            if last == self.floor and not self.strict:
                self.tie_id = 0
            else:
                self.floor, self.strict = last, False

    def update_request(self, request: PageRequest) -> None:
        request.json = self._query()

    def _query(self) -> dict:
        query = {"limit": self.limit, "properties": self.properties}
        if self.tie_id is not None:
            filters = [_filter("lastmodifieddate", "EQ", self.floor), _filter("hs_object_id", "GT", self.tie_id)]
            return {**query, "filterGroups": [{"filters": filters}],
                    "sorts": [{"propertyName": "hs_object_id", "direction": "ASCENDING"}]}
        if self.floor is not None:
            query["filterGroups"] = [{"filters": [_filter("lastmodifieddate", "GT" if self.strict else "GTE",
                                                          self.floor)]}]
        return {**query, "sorts": [{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}]}


class HasMorePaginator(Paginator):
    """HubSpot's legacy APIs: `{"events": [...], "hasMore": true, "offset": "MTYz..."}`; send `offset` back
    while `hasMore` (the last page still carries an offset, so the token alone never ends the loop)."""

    def __init__(self):
        self.token: str | None = None

    def update_state(self, body: dict) -> None:
        self.token = body.get("offset")
        self.has_next = bool(body.get("hasMore")) and self.token is not None

    def update_request(self, request: PageRequest) -> None:
        request.params = {**request.params, "offset": self.token}


class _RedactingHttp(HttpClient):
    """The kit's client, but its errors (and so its retry logs) name no email address: the consent
    API puts one in the path."""

    def _once(self, *args, **kwargs):
        try:
            return super()._once(*args, **kwargs)
        except AdapterError as exc:
            exc.args = (_redact(str(exc)), *exc.args[1:])
            raise


def _redact(text: str) -> str:
    return re.sub(r"/status/email/[^/\s:]+", "/status/email/{emailAddress}", text)


def _filter(name: str, operator: str, value: int) -> dict:
    return {"propertyName": name, "operator": operator, "value": str(value)}


def _modified(contact: dict) -> str:
    return (contact.get("properties") or {}).get("lastmodifieddate") or contact["updatedAt"]


def _millis(moment) -> int | None:
    if moment is None:
        return None
    stamp = parse_ts(moment) if isinstance(moment, str) else moment
    return round(stamp.timestamp() * 1000)


def _iso(epoch_ms: int) -> str:
    return format_ts(datetime.fromtimestamp(int(epoch_ms) / 1000, tz=timezone.utc))


def _properties(change: Change) -> dict:
    # None means "no value known": nothing to write (an empty string would clear the property).
    given = change.patch.get("properties") or {}
    return {name: value if isinstance(value, str) else str(value) for name, value in given.items() if value is not None}


def _unsupported(change: Change) -> list[str]:
    unknown = sorted(set(change.patch) - set(PATCH_KEYS))
    consent = change.patch.get("emailSubscription") or {}
    if set(consent) - {"status"} or consent.get("status") not in (None, *CONSENT_PATHS):
        unknown.append("emailSubscription")
    return unknown


def _batches(pending: list[tuple[int, Change]]) -> Iterator[list[tuple[int, Change]]]:
    """Up to 100 inputs each, and never one contact twice in a batch (HubSpot refuses duplicate ids)."""
    batch: list[tuple[int, Change]] = []
    for item in pending:
        if len(batch) == BATCH_MAX or any(c.source_id == item[1].source_id for _, c in batch):
            yield batch
            batch = []
        batch.append(item)
    if batch:
        yield batch


def _upsert_result(source_id: str, record: dict | None, error: dict | None) -> WriteResult:
    if record is not None:
        return WriteResult(source_id, ok=True, record=record)
    if error is not None:
        return WriteResult(source_id, ok=False, reason=_reason(error))
    return WriteResult(source_id, ok=False, retriable=True, reason="hubspot: the batch answer has no result for it")


def _reason(body: object) -> str:
    """HubSpot's category and the fields it names, never its message (which quotes the values)."""
    if not isinstance(body, dict):
        return "hubspot: rejected"
    fields = [d.get("in") for d in body.get("errors") or [] if isinstance(d, dict) and d.get("in")]
    fields = fields or (body.get("context") or {}).get("propertyName") or []
    codes = sorted({d.get("code") for d in body.get("errors") or [] if isinstance(d, dict) and d.get("code")})
    named = f" on {', '.join(fields)}" if fields else ""
    return f"hubspot: {body.get('category', 'rejected')}{named}" + (f" ({', '.join(codes)})" if codes else "")
