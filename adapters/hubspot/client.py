"""HubSpot: reads contacts through the CRM search API by moving a `lastmodifieddate` window (never by
paging `after` towards search's 10,000-result cap), attaches each delivered contact's marketing
subscription status and the time it last changed (Communication Preferences v4, read in batches per
page), reads email events from the legacy events API, writes contacts back with batch upsert (a
create keyed by the unique-value property concord_customer_id) and consent with v4's batch status
write, and erases contacts with GDPR deletion. Auth is a private-app token sent as
`Authorization: Bearer`."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Iterator

from adapters.base import Change, Endpoint, FatalError, Page, RetriableError, WriteResult
from adapters.http import HttpClient
from adapters.pacing import RateLimit
from adapters.paging import PageRequest, Paginator, paginate
from adapters.watermark import Watermark, format_ts, parse_ts

log = logging.getLogger(__name__)
SEARCH_PATH = "/crm/v3/objects/contacts/search"
UPSERT_PATH = "/crm/v3/objects/contacts/batch/upsert"
BATCH_READ_PATH = "/crm/v3/objects/contacts/batch/read"
GDPR_DELETE_PATH = "/crm/v3/objects/contacts/gdpr-delete"
# A unique-value custom property holding the golden customer id: a create upserts on it, so a create
# retried after a lost answer updates the contact the first attempt made.
KEY_PROPERTY = "concord_customer_id"
STATUSES_PATH = "/communication-preferences/v4/statuses/batch/read"
STATUS_WRITE_PATH = "/communication-preferences/v4/statuses/batch/write"
CHANNEL = "EMAIL"
WRITABLE_STATUSES = ("SUBSCRIBED", "UNSUBSCRIBED")
EVENTS_PATH = "/email/public/v1/events"
SEARCH_MAX, BATCH_MAX, EVENTS_MAX = 200, 100, 1000
# The v4 spec states no cap for a status batch (read or write): 100, as HubSpot's other batch endpoints take.
STATUS_BATCH_MAX = 100
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
        self.http = HttpClient(self.name, endpoint.base_url, max_wait=max_wait, rate_limits=RATE_LIMITS,
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
        finished = [self._finish(change, upserted.get(i)) for i, change in enumerate(changes)]
        # Consent goes after the upserts: a change's new address is the one its status belongs to.
        consents = {i: step for i, step in enumerate(finished) if isinstance(step, _Consent)}
        written = self._write_consents(consents)
        return [written[i] if i in consents else step for i, step in enumerate(finished)]

    def erase(self, source_ids: list[str]) -> list[WriteResult]:
        return [self._erase(source_id) for source_id in source_ids]

    # -- reads --

    def _contacts(self, cursor: dict | None) -> Iterator[Page]:
        mark = Watermark(cursor, LOOKBACK)
        paginator = WindowPaginator(_millis(mark.query_from()), min(self.page_size, SEARCH_MAX), PROPERTIES)
        started = None
        for body in paginate(self.http, PageRequest("POST", SEARCH_PATH), paginator, bucket="search"):
            started = started or self.http.last_date  # the first page's answer: when the read began
            fresh = [c for c in body.get("results") or [] if mark.admit(c["id"], c["updatedAt"])]
            self._attach_consent(fresh)
            if not paginator.has_next:
                # The search index trails writes by seconds, well inside LOOKBACK.
                mark.read_through(started)
            yield Page(fresh, mark.cursor())

    def _events(self, cursor: dict | None) -> Iterator[Page]:
        mark = Watermark(cursor, LOOKBACK)
        start = _millis(mark.query_from())
        params = {"limit": min(self.page_size, EVENTS_MAX), **({"startTimestamp": start} if start is not None else {})}
        for body in paginate(self.http, PageRequest("GET", EVENTS_PATH, params), HasMorePaginator()):
            fresh = [e for e in body.get("events") or [] if mark.admit(e["id"], _iso(e["created"]))]
            yield Page(fresh, mark.cursor())

    def _attach_consent(self, contacts: list[dict]) -> None:
        """Sets `emailSubscription` (v4's status object: status, timestamp, legal basis) on each contact
        whose address HubSpot holds a status for; the contacts API does not carry it."""
        if not self.subscription_id:
            return
        statuses = self._statuses(sorted({key for c in contacts if (key := _email_key(c))}))
        for contact in contacts:
            status = statuses.get(_email_key(contact))
            if status is not None:
                contact["emailSubscription"] = status

    def _statuses(self, keys: list[str]) -> dict[str, dict]:
        found: dict[str, dict] = {}
        for start in range(0, len(keys), STATUS_BATCH_MAX):
            found.update(self._read_statuses(keys[start:start + STATUS_BATCH_MAX]))
        return found

    def _read_statuses(self, keys: list[str]) -> dict[str, dict]:
        """Address -> status for the portal's subscription, for one batch of addresses."""
        body = self.http.request("POST", STATUSES_PATH, params={"channel": CHANNEL}, json={"inputs": keys},
                                 expect=(200, 207)).json()
        if body.get("numErrors"):
            # HubSpot refuses malformed addresses one by one (a 207); their contacts' consent stays unknown.
            # Counted only: the errors quote the addresses.
            log.info("hubspot: %d of %d addresses have no subscription status", body["numErrors"], len(keys))
        return {key: status for result in body.get("results") or []
                if (key := _key(result.get("subscriberIdString"))) and (status := self._ours(result.get("statuses")))}

    def _ours(self, statuses: list[dict] | None) -> dict | None:
        return next((s for s in statuses or [] if str(s.get("subscriptionId")) == self.subscription_id), None)

    # -- writes --

    def _upsert_all(self, changes: list[Change]) -> dict[int, WriteResult]:
        pending = [(i, c) for i, c in enumerate(changes) if _upserts(c)]
        creates = [(i, c) for i, c in pending if c.source_id is None]
        updates = [(i, c) for i, c in pending if c.source_id is not None]
        done: dict[int, WriteResult] = {}
        # One kind per batch: an update's result is matched by id, a create's by its key.
        for batch in (*_batches(updates), *_batches(creates)):
            done.update(self._upsert(batch))
        return done

    def _upsert(self, batch: list[tuple[int, Change]]) -> dict[int, WriteResult]:
        inputs = [_upsert_input(c) for _, c in batch]
        try:
            body = self.http.request("POST", UPSERT_PATH, json={"inputs": inputs}, expect=(200, 207)).json()
        except RetriableError as exc:
            return {i: WriteResult(c.source_id, ok=False, reason=str(exc), retriable=True) for i, c in batch}
        except FatalError as exc:
            return {i: WriteResult(c.source_id, ok=False, reason=_reason(exc.body)) for i, c in batch}
        # Results come in no promised order: match them to inputs by what each input named its contact by.
        held = {_result_identity(r, creates=batch[0][1].source_id is None): r for r in body.get("results") or []}
        refused = {str(i): e for e in body.get("errors") or [] for i in (e.get("context") or {}).get("ids") or []}
        return {i: _upsert_result(c.source_id, held.get(_identity(c)), refused.get(_identity(c))) for i, c in batch}

    def _finish(self, change: Change, upserted: WriteResult | None) -> WriteResult | _Consent:
        """The change's result, or the consent it still has to write."""
        unsupported = _unsupported(change)
        if unsupported:
            return WriteResult(change.source_id, ok=False, reason=f"hubspot: cannot write {', '.join(unsupported)}")
        if change.source_id is None and not change.key:
            # Without a stable key a retried create would duplicate the person; refuse rather than guess.
            return WriteResult(None, ok=False, reason="hubspot: a create needs a key (the golden customer id)")
        wanted = (change.patch.get("emailSubscription") or {}).get("status")
        if (upserted is not None and not upserted.ok) or wanted is None:
            return upserted or WriteResult(change.source_id, ok=True)
        source_id = upserted.source_id if upserted else change.source_id
        return _Consent(source_id, change, wanted, upserted.record if upserted else None)

    def _write_consents(self, consents: dict[int, _Consent]) -> dict[int, WriteResult]:
        done: dict[int, WriteResult] = {}
        addresses = self._addresses(consents, done)
        addressed: list[tuple[int, _Consent, str]] = []
        for i, consent in consents.items():
            if i in done:
                continue
            address = addresses.get(i)
            if not (address and self.subscription_id):
                done[i] = WriteResult(consent.source_id, ok=False, reason="hubspot: consent: no email address "
                                      "on the contact, or no subscription_id in the connection's extra")
                continue
            addressed.append((i, consent, address))
        for batch in _status_batches(addressed):
            done.update(self._set_statuses(batch))
        return done

    def _addresses(self, consents: dict[int, _Consent], done: dict[int, WriteResult]) -> dict[int, str | None]:
        """The email each status belongs to: the one the change writes, else the one the upsert answered,
        else the one HubSpot holds now, read in batches of contacts (a status written to the address
        Concord last read would miss an address changed since). A failed read fails its changes in `done`."""
        found: dict[int, str | None] = {}
        unknown: list[tuple[int, _Consent]] = []
        for i, consent in consents.items():
            address = _properties(consent.change).get("email") or \
                ((consent.record or {}).get("properties") or {}).get("email")
            if address:
                found[i] = address.strip()
            else:
                unknown.append((i, consent))
        for start in range(0, len(unknown), BATCH_MAX):
            batch = unknown[start:start + BATCH_MAX]
            ids = sorted({consent.source_id for _, consent in batch})
            try:
                body = self.http.request("POST", BATCH_READ_PATH, expect=(200, 207),
                                         json={"inputs": [{"id": i} for i in ids], "properties": ["email"],
                                               "propertiesWithHistory": []}).json()
            except (RetriableError, FatalError) as exc:
                retriable = isinstance(exc, RetriableError)
                reason = str(exc) if retriable else f"consent: {_reason(exc.body)}"
                done.update({i: WriteResult(c.source_id, ok=False, reason=reason, retriable=retriable) for i, c in batch})
                continue
            held = {str(r.get("id")): ((r.get("properties") or {}).get("email") or "").strip() or None
                    for r in body.get("results") or []}
            for i, consent in batch:
                if consent.source_id in held:
                    found[i] = held[consent.source_id]
                else:
                    done[i] = WriteResult(consent.source_id, ok=False, reason="hubspot: consent: contact not found")
        return found

    def _set_statuses(self, batch: list[tuple[int, _Consent, str]]) -> dict[int, WriteResult]:
        """One batch write. v4 sets a status the address already has as a success (NO_STATUS_CHANGE), so
        a batch resent after a lost answer needs no check of its own."""
        inputs = [{"subscriberIdString": address, "channel": CHANNEL, "statusState": consent.wanted,
                   "subscriptionId": int(self.subscription_id),
                   **(LEGAL_BASIS if consent.wanted == "SUBSCRIBED" else {})} for _, consent, address in batch]
        try:
            body = self.http.request("POST", STATUS_WRITE_PATH, json={"inputs": inputs}, expect=(200, 207)).json()
        except RetriableError as exc:
            return {i: WriteResult(c.source_id, ok=False, reason=str(exc), retriable=True) for i, c, _ in batch}
        except FatalError as exc:
            return {i: WriteResult(c.source_id, ok=False, reason=f"consent: {_reason(exc.body)}") for i, c, _ in batch}
        # Results come in no promised order, and errors name their input only by its address.
        held = {_key(r.get("subscriberIdString")): r for r in body.get("results") or []
                if str(r.get("subscriptionId")) == self.subscription_id}
        refused = {_key(a): e for e in body.get("errors") or []
                   for a in (e.get("context") or {}).get("subscriberIdString") or []}
        return {i: _status_result(c, held.get(_key(address)), refused.get(_key(address))) for i, c, address in batch}

    # -- erasure --

    def _erase(self, source_id: str) -> WriteResult:
        """GDPR deletion: HubSpot deletes the contact for good. No such contact counts as done, so an
        erase retried after a lost answer succeeds."""
        if not source_id.isdigit():
            return WriteResult(source_id, ok=False, reason="hubspot: not a HubSpot contact id")
        try:
            self.http.request("POST", GDPR_DELETE_PATH, json={"objectId": source_id}, expect=(204,))
        except RetriableError as exc:
            return WriteResult(source_id, ok=False, reason=str(exc), retriable=True)
        except FatalError as exc:
            if not _contact_not_found(exc):
                return WriteResult(source_id, ok=False, reason=_reason(exc.body))
        return WriteResult(source_id, ok=True)


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


@dataclass(frozen=True)
class _Consent:
    """A change's consent, written once its contact's upsert (if any) is done."""

    source_id: str
    change: Change
    wanted: str
    record: dict | None  # the contact as the upsert answered it, else None


def _key(address: str | None) -> str | None:
    """HubSpot matches addresses trimmed and case-insensitively."""
    return address.strip().lower() if address and address.strip() else None


def _email_key(contact: dict) -> str | None:
    return _key((contact.get("properties") or {}).get("email"))


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
    if set(consent) - {"status"} or consent.get("status") not in (None, *WRITABLE_STATUSES):
        unknown.append("emailSubscription")
    return unknown


def _upserts(change: Change) -> bool:
    """Does the change go through batch upsert? A create always does: it sets at least its key."""
    if _unsupported(change):
        return False
    return bool(change.key) if change.source_id is None else bool(_properties(change))


def _identity(change: Change) -> str:
    """What the upsert input names the contact by: its id, or for a create its key."""
    return change.source_id if change.source_id is not None else change.key


def _upsert_input(change: Change) -> dict:
    if change.source_id is None:
        return {"id": change.key, "idProperty": KEY_PROPERTY, "properties": {**_properties(change),
                                                                               KEY_PROPERTY: change.key}}
    return {"id": change.source_id, "idProperty": "hs_object_id", "properties": _properties(change)}


def _result_identity(result: dict, creates: bool) -> str:
    # An upsert answers with the properties it was sent, so a create's result carries its key.
    return str((result.get("properties") or {}).get(KEY_PROPERTY) if creates else result.get("id"))


def _batches(pending: list[tuple[int, Change]]) -> Iterator[list[tuple[int, Change]]]:
    """Up to 100 inputs each, and never one contact twice in a batch (HubSpot refuses duplicate ids)."""
    batch: list[tuple[int, Change]] = []
    for item in pending:
        if len(batch) == BATCH_MAX or any(_identity(c) == _identity(item[1]) for _, c in batch):
            yield batch
            batch = []
        batch.append(item)
    if batch:
        yield batch


def _status_batches(addressed: list[tuple[int, _Consent, str]]) -> Iterator[list[tuple[int, _Consent, str]]]:
    """Up to STATUS_BATCH_MAX inputs each, and never one address twice in a batch: an answer names its
    input only by the address, and two statuses for one address must land in the order they were asked."""
    batch: list[tuple[int, _Consent, str]] = []
    for item in addressed:
        if len(batch) == STATUS_BATCH_MAX or any(_key(a) == _key(item[2]) for _, _, a in batch):
            yield batch
            batch = []
        batch.append(item)
    if batch:
        yield batch


def _status_result(consent: _Consent, status: dict | None, error: dict | None) -> WriteResult:
    if status is not None:
        return WriteResult(consent.source_id, ok=True, record={**(consent.record or {}), "emailSubscription": status})
    if error is not None:
        return WriteResult(consent.source_id, ok=False, reason=f"consent: {_reason(error)}")
    return WriteResult(consent.source_id, ok=False, retriable=True,
                       reason="hubspot: consent: the answer has no status for the subscription")


def _upsert_result(source_id: str | None, record: dict | None, error: dict | None) -> WriteResult:
    if record is not None:
        return WriteResult(str(record["id"]), ok=True, record=record)
    if error is not None:
        return WriteResult(source_id, ok=False, reason=_reason(error))
    return WriteResult(source_id, ok=False, retriable=True, reason="hubspot: the batch answer has no result for it")


def _contact_not_found(exc: FatalError) -> bool:
    # Only HubSpot's own "no such object" means there is nothing to erase; any other 404 (a wrong base
    # URL or path) must not pass for a successful erasure.
    return exc.status == 404 and isinstance(exc.body, dict) and exc.body.get("category") == "OBJECT_NOT_FOUND"


def _reason(body: object) -> str:
    """HubSpot's category and the fields it names, never its message (which quotes the values)."""
    if not isinstance(body, dict):
        return "hubspot: rejected"
    fields = [d.get("in") for d in body.get("errors") or [] if isinstance(d, dict) and d.get("in")]
    fields = fields or (body.get("context") or {}).get("propertyName") or []
    codes = sorted({d.get("code") for d in body.get("errors") or [] if isinstance(d, dict) and d.get("code")})
    named = f" on {', '.join(fields)}" if fields else ""
    return f"hubspot: {body.get('category', 'rejected')}{named}" + (f" ({', '.join(codes)})" if codes else "")
