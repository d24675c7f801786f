"""A local stand-in for HubSpot's CRM contacts v3, Communication Preferences v4 (and the v3 endpoints
it replaces) and the legacy email events API, served over real HTTP on 127.0.0.1.

It behaves like HubSpot where integrations usually break: private-app bearer tokens; every property
a string or null, and only the requested ones returned; list paging by an `after` token; search with
filterGroups, one sort, `limit` ≤ 200 and at most 10,000 results per query (400 beyond); batch upsert
answering 207 with `errors[]` and results in no promised order, by id, email or the unique-value
property concord_customer_id; GDPR deletion (204; the contact and its subscription status gone);
`lastmodifieddate` moving on a real change only (a subscription change counts: it changes the
contact's opt-out property); subscription statuses stamped with the time of their last change, read
and written in batches of at most 100 addresses (each batch one request against the limits), a
malformed address an error of a 207, a status set again a success without a change; a ten-secondly
bucket, a secondly search bucket and a daily allowance, each with HubSpot's rate-limit headers and 429
bodies (no Retry-After, as HubSpot sends none); HubSpot's error bodies; the kit's seeded faults. State
lives in SQLite under the state directory.

`concord sandbox hubspot --port 0` prints one JSON line (base URL, token, portal and subscription
ids, state file) and serves until SIGTERM or SIGINT.
"""
from __future__ import annotations

import base64
import binascii
import json
import re
import sqlite3
import time
import uuid
from datetime import datetime
from pathlib import Path
from urllib.parse import unquote, urlencode

from adapters.hubspot.seed import (PORTAL_ID, PROPERTIES, READ_ONLY, SUBSCRIPTION_ID, SUBSCRIPTION_NAME, email_key,
                                   iso_millis, millis, seed)
from adapters.sandbox import ApiError, Faults, Request, Route, SandboxServer, SlidingWindow, SqliteState
from adapters.sandbox import auth, cli

EMAIL_PATTERN = re.compile(r"^[^@\s()\[\]]+@[^@\s()\[\]]+\.[^@\s()\[\]]+$")
DATE_PATTERN = re.compile(r"^\d{4}-\d{2}-\d{2}$")
DEFAULT_PROPERTIES = ("createdate", "hs_object_id", "lastmodifieddate")
SEARCH_DEFAULT_PROPERTIES = ("createdate", "email", "firstname", "hs_object_id", "lastmodifieddate", "lastname")
LIST_MAX, SEARCH_MAX, BATCH_MAX, EVENTS_MAX = 100, 200, 100, 1000
SEARCH_RESULT_CAP = 10_000
MAX_GROUPS, MAX_FILTERS_PER_GROUP, MAX_FILTERS = 5, 6, 18
# Custom properties this portal marks "unique value": an upsert may name a contact by them.
UNIQUE_PROPERTIES = ("concord_customer_id",)
# What the sandbox can filter and sort on: the properties an integration pages by or matches on.
SEARCHABLE = {"lastmodifieddate": "modified_ms", "hs_object_id": "id", "email": "email_key"}
OPERATORS = {"EQ": "=", "NEQ": "!=", "GT": ">", "GTE": ">=", "LT": "<", "LTE": "<="}
LEGAL_BASES = ("CONSENT_WITH_NOTICE", "LEGITIMATE_INTEREST_CLIENT", "LEGITIMATE_INTEREST_OTHER",
               "LEGITIMATE_INTEREST_PQL", "NON_GDPR", "PERFORMANCE_OF_CONTRACT", "PROCESS_AND_STORE")
SUBSCRIPTION_CREATED = "2019-04-01T09:00:00.000Z"
# HubSpot's spec states no cap for the v4 status batches (read or write); this sandbox holds them to the
# 100 inputs of HubSpot's other batch endpoints, so that a client that sends more is caught here first.
STATUS_BATCH_MAX = 100
CHANNELS = ("EMAIL",)
V4_STATES = ("SUBSCRIBED", "UNSUBSCRIBED", "NOT_SPECIFIED")
# v3 has one word for "opted out" and "never opted in"; statuses are kept in v4's words.
V3_STATUS = {"SUBSCRIBED": "SUBSCRIBED", "UNSUBSCRIBED": "NOT_SUBSCRIBED", "NOT_SPECIFIED": "NOT_SUBSCRIBED"}
V4_STATUS = {"SUBSCRIBED": "SUBSCRIBED", "NOT_SUBSCRIBED": "UNSUBSCRIBED"}
UNAUTHORIZED_MESSAGE = ("Authentication credentials not found. This API supports OAuth 2.0 authentication and you "
                        "can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview")
SCHEMA = """
CREATE TABLE IF NOT EXISTS contacts (
    id INTEGER PRIMARY KEY, modified_ms INTEGER NOT NULL, email_key TEXT, body TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS contacts_modified ON contacts (modified_ms, id);
CREATE INDEX IF NOT EXISTS contacts_email ON contacts (email_key);
CREATE TABLE IF NOT EXISTS subscriptions (
    email_key TEXT NOT NULL, subscription_id TEXT NOT NULL, status TEXT NOT NULL, legal_basis TEXT,
    explanation TEXT, changed_ms INTEGER NOT NULL, PRIMARY KEY (email_key, subscription_id));
CREATE TABLE IF NOT EXISTS email_events (
    created_ms INTEGER NOT NULL, id TEXT NOT NULL, body TEXT NOT NULL, PRIMARY KEY (created_ms, id));
"""


def now_ms() -> int:
    return int(time.time() * 1000)


def hubspot_error(status: int, category: str, message: str, **extra) -> ApiError:
    return ApiError(status, {"status": "error", "message": message, "correlationId": str(uuid.uuid4()),
                             "category": category, **extra})


def invalid(message: str, **extra) -> ApiError:
    return hubspot_error(400, "VALIDATION_ERROR", message, **extra)


class DailyAllowance:
    """The portal's requests per day, shared by every bucket; resets at midnight UTC."""

    def __init__(self, limit: int):
        self.limit, self.day, self.used = limit, None, 0

    def remaining(self) -> int:
        self._roll()
        return max(0, self.limit - self.used)

    def spend(self) -> None:
        self._roll()
        self.used += 1

    def seconds_left(self) -> int:
        return max(1, 86_400 - int(time.time()) % 86_400)

    def _roll(self) -> None:
        today = int(time.time()) // 86_400
        if today != self.day:
            self.day, self.used = today, 0


class Bucket(SlidingWindow):
    """A rolling-window bucket that also spends the daily allowance; refused when either is spent."""

    def __init__(self, limit: int, window: float, daily: DailyAllowance):
        super().__init__(limit, window)
        self.daily = daily

    def try_acquire(self, now: float) -> bool:
        if self.daily.remaining() == 0 or not super().try_acquire(now):
            return False
        self.daily.spend()
        return True

    def retry_after(self, now: float) -> int:
        return self.daily.seconds_left() if self.daily.remaining() == 0 else super().retry_after(now)


class HubSpotSandbox(SandboxServer):
    """The HubSpot sandbox. Binds on construction; `start()` serves in a daemon thread."""

    system = "hubspot"
    routes = (
        Route("GET", r"/crm/v3/objects/contacts", "_list"),
        Route("POST", r"/crm/v3/objects/contacts/search", "_search", "search"),
        Route("POST", r"/crm/v3/objects/contacts/batch/upsert", "_batch_upsert"),
        Route("POST", r"/crm/v3/objects/contacts/batch/read", "_batch_read"),
        Route("POST", r"/crm/v3/objects/contacts/gdpr-delete", "_gdpr_delete"),
        Route("GET", r"/crm/v3/objects/contacts/([^/]+)", "_show"),
        Route("PATCH", r"/crm/v3/objects/contacts/([^/]+)", "_patch"),
        Route("GET", r"/communication-preferences/v3/definitions", "_definitions"),
        Route("GET", r"/communication-preferences/v3/status/email/([^/]+)", "_status"),
        Route("POST", r"/communication-preferences/v3/subscribe", "_subscribe"),
        Route("POST", r"/communication-preferences/v3/unsubscribe", "_unsubscribe"),
        Route("POST", r"/communication-preferences/v4/statuses/batch/read", "_batch_read_statuses"),
        Route("POST", r"/communication-preferences/v4/statuses/batch/write", "_batch_write_statuses"),
        Route("POST", r"/communication-preferences/v4/statuses/([^/]+)", "_update_status"),
        Route("GET", r"/email/public/v1/events", "_events"),
    )

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, state_dir: Path, seed: int = 1,
                 customers: int = 1000, reset: bool = False, faults: Faults | None = None,
                 rate_limit: int = 100, search_rate_limit: int = 5, daily_limit: int = 250_000,
                 search_result_cap: int = SEARCH_RESULT_CAP):
        self.seed, self.customers, self.search_result_cap = seed, customers, search_result_cap
        self.state = SqliteState(Path(state_dir) / "hubspot.sqlite", seed=seed, customers=customers, reset=reset,
                                 schema=SCHEMA, populate=lambda db: _populate(db, seed, customers))
        self.daily = DailyAllowance(daily_limit)
        buckets = {"general": Bucket(rate_limit, 10.0, self.daily),
                   "search": Bucket(search_rate_limit, 1.0, self.daily)}
        super().__init__(host, port, faults=faults or Faults(seed=seed), buckets=buckets)
        self.lock = self.state.lock
        _upgrade(self.state.db)

    @property
    def token(self) -> str:
        return self.state.meta("secret") or ""

    def info(self) -> dict:
        return {"system": "hubspot", "base_url": self.base_url, "password": self.token, "portal_id": PORTAL_ID,
                "subscription_id": SUBSCRIPTION_ID, "state": str(self.state.path), "seed": self.seed,
                "customers": self.customers}

    def close_state(self) -> None:
        self.state.close()

    # -- HubSpot's answers --

    def authenticate(self, request: Request) -> bool:
        return auth.bearer_is(request, self.token)

    def unauthorized(self) -> tuple[int, dict]:
        error = hubspot_error(401, "INVALID_AUTHENTICATION", UNAUTHORIZED_MESSAGE)
        return error.status, error.body

    def throttled(self, retry_after: int, request: Request, bucket: str) -> tuple[int, dict, dict]:
        # HubSpot names the policy it hit.
        if self.daily.remaining() == 0:
            policy, limit = "DAILY", "daily"
        elif bucket == "search":
            policy, limit = "SECONDLY", "secondly"
        else:
            policy, limit = "TEN_SECONDLY_ROLLING", "ten_secondly_rolling"
        return 429, {}, {"status": "error", "message": f"You have reached your {limit} limit.",
                         "errorType": "RATE_LIMIT", "correlationId": str(uuid.uuid4()), "policyName": policy,
                         "groupName": f"private-app:{PORTAL_ID}"}

    def server_error(self) -> tuple[int, dict]:
        error = hubspot_error(500, "INTERNAL_ERROR", "internal error")
        return error.status, error.body

    def not_found(self) -> tuple[int, dict]:
        error = hubspot_error(404, "OBJECT_NOT_FOUND", "Resource not found")
        return error.status, error.body

    def limit_headers(self, bucket: SlidingWindow, now: float) -> dict:
        return {"X-HubSpot-RateLimit-Daily": str(self.daily.limit),
                "X-HubSpot-RateLimit-Daily-Remaining": str(self.daily.remaining()),
                "X-HubSpot-RateLimit-Interval-Milliseconds": str(int(bucket.window * 1000)),
                "X-HubSpot-RateLimit-Max": str(bucket.limit),
                "X-HubSpot-RateLimit-Remaining": str(bucket.remaining(now))}

    # -- CRM contacts (each endpoint runs under the state lock) --

    def _list(self, request: Request) -> tuple[int, dict]:
        """`GET /crm/v3/objects/contacts?limit=&after=&properties=`: by id, `after` names the next id."""
        limit = _limit(request.arg("limit"), 10, LIST_MAX)
        after = _int_token(request.arg("after"), "after") if request.arg("after") else 0
        names = _requested(request)
        archived = (request.arg("archived") or "false").lower() == "true"
        rows = [] if archived else self.state.db.execute(
            "SELECT body FROM contacts WHERE id >= ? ORDER BY id LIMIT ?", (after, limit + 1)).fetchall()
        page = [json.loads(body) for (body,) in rows[:limit]]
        answer = {"results": [_present(c, names) for c in page]}
        if len(rows) > limit:
            following = json.loads(rows[limit][0])["id"]
            wanted = {"properties": ",".join(names)} if names else {}
            query = urlencode({"limit": limit, "after": following, **wanted})
            answer["paging"] = {"next": {"after": following, "link": f"{self.base_url}{request.path}?{query}"}}
        return 200, answer

    def _show(self, request: Request, contact_id: str) -> tuple[int, dict]:
        return 200, _present(self._lookup(unquote(contact_id), request.arg("idProperty")), _requested(request))

    def _patch(self, request: Request, contact_id: str) -> tuple[int, dict]:
        contact = self._lookup(unquote(contact_id), request.arg("idProperty"))
        properties = _properties_of(_json_object(request))
        errors = self._property_errors(properties, contact["id"])
        if errors:
            raise _rejection(errors)
        with self.state.db:
            return 200, _present(self._apply(contact, properties, now_ms()), properties)

    def _search(self, request: Request) -> tuple[int, dict]:
        """`POST /crm/v3/objects/contacts/search`: filterGroups (OR of ANDs), one sort, limit, after."""
        query = _json_object(request)
        limit = _limit(query.get("limit"), 10, SEARCH_MAX)
        after = _int_token(query.get("after"), "after") if query.get("after") not in (None, "") else 0
        if after >= self.search_result_cap:
            raise invalid(f"The search endpoints page through at most {self.search_result_cap} results; "
                          "narrow the query with filters instead of paging further.")
        where, params = _where(query.get("filterGroups") or [])
        total = self.state.db.execute(f"SELECT COUNT(*) FROM contacts WHERE {where}", params).fetchone()[0]
        rows = self.state.db.execute(f"SELECT body FROM contacts WHERE {where} ORDER BY {_order(query.get('sorts'))}"
                                     " LIMIT ? OFFSET ?", (*params, limit, after)).fetchall()
        names = _names(query.get("properties")) or SEARCH_DEFAULT_PROPERTIES
        answer = {"total": total, "results": [_present(json.loads(body), names) for (body,) in rows]}
        if after + limit < total:
            answer["paging"] = {"next": {"after": str(after + limit)}}
        return 200, answer

    def _batch_upsert(self, request: Request) -> tuple[int, dict]:
        """`POST .../batch/upsert`: by contact id (no idProperty or hs_object_id) or by email (creates)."""
        inputs = _batch_inputs(_json_object(request))
        started, stamp = iso_millis(now_ms()), now_ms()
        results, errors = [], []
        with self.state.db:
            for item in inputs:
                try:
                    results.append(self._upsert_one(item, stamp))
                except ApiError as error:
                    errors.append(_batch_error(error, str(item.get("id"))))
        # HubSpot does not promise input order; clients must match results by id.
        results.sort(key=lambda r: int(r["id"]))
        answer = {"status": "COMPLETE", "results": results, "startedAt": started, "completedAt": iso_millis(now_ms())}
        if errors:
            return 207, {**answer, "errors": errors, "numErrors": len(errors)}
        return 200, answer

    def _batch_read(self, request: Request) -> tuple[int, dict]:
        """`POST .../batch/read` with `{"inputs": [{"id"}], "properties": [...][, "idProperty"]}`: the contacts
        found (in no promised order), each id not found as an error (207)."""
        document = _json_object(request)
        inputs = _batch_inputs(document)
        if not isinstance(document.get("properties"), list):
            raise invalid("properties is required and must be a list of property names")
        names = _names(document["properties"])
        started, results, missing = iso_millis(now_ms()), [], []
        for item in inputs:
            given = str(item.get("id"))
            try:
                results.append(_present(self._lookup(given, document.get("idProperty")), names))
            except ApiError as error:
                if error.status != 404:
                    raise
                missing.append(given)
        answer = {"status": "COMPLETE", "results": results, "startedAt": started, "completedAt": iso_millis(now_ms())}
        if missing:
            # HubSpot reports every id it could not find in one error.
            error = {"status": "error", "category": "OBJECT_NOT_FOUND", "message": "Could not get some CONTACT objects, "
                     "they may be deleted or not exist. Check that ids are valid.", "context": {"ids": missing},
                     "errors": [], "links": {}}
            return 207, {**answer, "errors": [error], "numErrors": 1}
        return 200, answer

    def _gdpr_delete(self, request: Request) -> tuple[int, None]:
        """`POST .../gdpr-delete` with `{"objectId"[, "idProperty"]}`: the contact, its address's
        subscription status and the email events sent to it are deleted for good (204, no body), as
        HubSpot's GDPR deletion removes the contact's associated content; 404 when no such contact exists."""
        document = _json_object(request)
        if not isinstance(document.get("objectId"), str) or not document["objectId"]:
            raise invalid("objectId is required and must be a string")
        contact = self._lookup(document["objectId"], document.get("idProperty"))
        key = email_key(contact["properties"].get("email"))
        with self.state.db:
            self.state.db.execute("DELETE FROM contacts WHERE id = ?", (int(contact["id"]),))
            self.state.db.execute("DELETE FROM subscriptions WHERE email_key = ?", (key,))
            self.state.db.execute("DELETE FROM email_events WHERE lower(trim(json_extract(body, '$.recipient'))) = ?",
                                  (key,))
        return 204, None

    # -- Communication Preferences v3 --

    def _definitions(self, request: Request) -> tuple[int, dict]:
        return 200, {"subscriptionDefinitions": [{
            "id": SUBSCRIPTION_ID, "name": SUBSCRIPTION_NAME, "description": "Newsletters and offers",
            "purpose": "Marketing", "communicationMethod": "Email", "isActive": True, "isDefault": True,
            "isInternal": False, "createdAt": SUBSCRIPTION_CREATED, "updatedAt": SUBSCRIPTION_CREATED}]}

    def _status(self, request: Request, address: str) -> tuple[int, dict]:
        address = unquote(address)
        key = _valid_address(address)
        return 200, {"recipient": address, "subscriptionStatuses": [self._subscription_status(key)]}

    def _subscribe(self, request: Request) -> tuple[int, dict]:
        return self._set_subscription(request, "SUBSCRIBED")

    def _unsubscribe(self, request: Request) -> tuple[int, dict]:
        return self._set_subscription(request, "NOT_SUBSCRIBED")

    # -- Communication Preferences v4 --

    def _batch_read_statuses(self, request: Request) -> tuple[int, dict]:
        """`POST /communication-preferences/v4/statuses/batch/read?channel=EMAIL` with `{"inputs": [address]}`:
        each well-formed address with its statuses (200), the malformed ones as errors (207)."""
        _channel(request.arg("channel"))
        _business_unit(request.arg("businessUnitId"))
        inputs = _address_inputs(_json_object(request))
        started, results, errors = iso_millis(now_ms()), [], []
        for address in inputs:
            key = email_key(address) if EMAIL_PATTERN.match(address.strip()) else None
            if key is None:
                errors.append(_address_error(address))
            else:
                results.append({"subscriberIdString": key, "statuses": [self._public_status(key)]})
        answer = {"status": "COMPLETE", "results": results, "startedAt": started, "completedAt": iso_millis(now_ms())}
        if errors:
            return 207, {**answer, "errors": errors, "numErrors": len(errors)}
        return 200, answer

    def _batch_write_statuses(self, request: Request) -> tuple[int, dict]:
        """`POST /communication-preferences/v4/statuses/batch/write` with a BatchInputPublicStatusRequest:
        each input set as the single update sets it (NO_STATUS_CHANGE for a status already held), answered
        as a BatchResponsePublicStatus. A body that breaks the request schema is refused whole (400); a
        malformed address or an unknown subscription is that input's error (207), the others are written."""
        inputs = _status_inputs(_json_object(request))
        started, stamp, results, errors = iso_millis(now_ms()), now_ms(), [], []
        with self.state.db:
            for update in inputs:
                address = update["subscriberIdString"]
                if not EMAIL_PATTERN.match(address.strip()):
                    errors.append(_address_error(address))
                    continue
                try:
                    _check_subscription(update["subscriptionId"])
                except ApiError as error:
                    errors.append(_input_error(error, address))
                    continue
                results.append(self._set_status(email_key(address), update, stamp))
        # HubSpot does not promise input order; clients must match results by address.
        results.sort(key=lambda r: r["subscriberIdString"])
        answer = {"status": "COMPLETE", "results": results, "startedAt": started, "completedAt": iso_millis(now_ms())}
        if errors:
            # The spec lists only 200 here, but its BatchResponsePublicStatus carries errors and numErrors;
            # a partial failure answers 207, as the status batch read and every HubSpot batch endpoint do.
            return 207, {**answer, "errors": errors, "numErrors": len(errors)}
        return 200, answer

    def _update_status(self, request: Request, address: str) -> tuple[int, dict]:
        """`POST /communication-preferences/v4/statuses/{subscriberIdString}` with a PartialPublicStatusRequest;
        setting the status an address already has succeeds with NO_STATUS_CHANGE (unlike v3)."""
        key = _valid_address(unquote(address))
        update = _json_object(request)
        _status_fields(update)
        _check_subscription(update.get("subscriptionId"))
        started = iso_millis(now_ms())
        with self.state.db:
            status = self._set_status(key, update, now_ms())
        return 200, {"status": "COMPLETE", "results": [status], "startedAt": started,
                     "completedAt": iso_millis(now_ms())}

    def _set_status(self, key: str, update: dict, stamp: int) -> dict:
        """A checked update applied (within the caller's transaction); the PublicStatus with its reason."""
        state, before = update["statusState"], self._stored_status(key)
        if before != state:
            self._store_subscription(key, state, update.get("legalBasis"), update.get("legalBasisExplanation"), stamp)
        return {**self._public_status(key), "setStatusSuccessReason": _success_reason(before, state)}

    # -- legacy email events --

    def _events(self, request: Request) -> tuple[int, dict]:
        """`GET /email/public/v1/events?limit=&offset=&startTimestamp=&endTimestamp=`, oldest first."""
        limit = _limit(request.arg("limit"), 100, EVENTS_MAX)
        after_ms, after_id = _decode_offset(request.arg("offset")) if request.arg("offset") else (-1, "")
        start = _int_token(request.arg("startTimestamp") or "0", "startTimestamp")
        end = _int_token(request.arg("endTimestamp") or str(2**62), "endTimestamp")
        rows = self.state.db.execute(
            "SELECT created_ms, id, body FROM email_events WHERE (created_ms > ? OR (created_ms = ? AND id > ?))"
            " AND created_ms >= ? AND created_ms <= ? ORDER BY created_ms, id LIMIT ?",
            (after_ms, after_ms, after_id, start, end, limit + 1)).fetchall()
        page = rows[:limit]
        position = (page[-1][0], page[-1][1]) if page else (after_ms, after_id)
        return 200, {"events": [json.loads(body) for _, _, body in page], "hasMore": len(rows) > limit,
                     "offset": _encode_offset(*position)}

    # -- state --

    def _get(self, contact_id: int) -> dict | None:
        row = self.state.db.execute("SELECT body FROM contacts WHERE id = ?", (contact_id,)).fetchone()
        return json.loads(row[0]) if row else None

    def _by_email(self, key: str | None) -> dict | None:
        row = self.state.db.execute("SELECT body FROM contacts WHERE email_key = ? ORDER BY id LIMIT 1",
                                    (key,)).fetchone() if key else None
        return json.loads(row[0]) if row else None

    def _by_unique(self, name: str, value: str) -> dict | None:
        row = self.state.db.execute(f"SELECT body FROM contacts WHERE json_extract(body, '$.properties.{name}') = ?"
                                    " ORDER BY id LIMIT 1", (value,)).fetchone()
        return json.loads(row[0]) if row else None

    def _lookup(self, given: str, id_property: str | None) -> dict:
        if id_property == "email":
            found = self._by_email(email_key(given))
        elif id_property in UNIQUE_PROPERTIES:
            found = self._by_unique(id_property, given)
        elif id_property in (None, "", "hs_object_id"):
            found = self._get(int(given)) if given.isdigit() else None
        else:
            raise invalid(f"Property {id_property} is not a unique identifier property")
        if found is None:
            raise hubspot_error(404, "OBJECT_NOT_FOUND", "Object not found.  objectId are usually numeric.",
                                context={"id": [given]})
        return found

    def _save(self, contact: dict) -> None:
        """Within the calling endpoint's transaction (`with self.state.db:`), so a batch commits once."""
        self.state.db.execute("INSERT OR REPLACE INTO contacts VALUES (?, ?, ?, ?)", _contact_row(contact))

    def _apply(self, contact: dict, properties: dict, stamp: int) -> dict:
        """The contact with `properties` set; saved, and lastmodifieddate moved, only on a real change."""
        merged = {**contact["properties"], **{k: (v or None) for k, v in properties.items()}}
        if merged == contact["properties"]:
            return contact
        updated = {**contact, "properties": merged}
        _touch(updated, stamp)
        self._save(updated)
        return updated

    def _create(self, properties: dict, stamp: int) -> dict:
        new_id = (self.state.db.execute("SELECT MAX(id) FROM contacts").fetchone()[0] or 51000) + 3
        created = iso_millis(stamp)
        values = {name: None for name in PROPERTIES} | {k: (v or None) for k, v in properties.items()}
        values.update(hs_object_id=str(new_id), createdate=created, lastmodifieddate=created)
        contact = {"id": str(new_id), "properties": values, "createdAt": created, "updatedAt": created,
                   "archived": False}
        self._save(contact)
        return contact

    def _upsert_one(self, item: dict, stamp: int) -> dict:
        properties = _properties_of(item)
        id_property = item.get("idProperty")
        given = str(item.get("id") or "")
        if id_property == "email":
            existing = self._by_email(email_key(given))
            properties = {"email": given, **properties} if existing is None else properties
        elif id_property in UNIQUE_PROPERTIES:
            existing = self._by_unique(id_property, given)
            properties = {**properties, id_property: given}
        elif id_property in (None, "hs_object_id"):
            existing = self._get(int(given)) if given.isdigit() else None
            if existing is None:
                raise invalid(f"No contact with id {given} exists", errors=[
                    {"message": "The object does not exist", "code": "OBJECT_NOT_FOUND", "in": "id"}])
        else:
            raise invalid(f"Property {id_property} is not a unique identifier property",
                          errors=[{"message": "Not a unique property", "code": "INVALID_ID_PROPERTY",
                                   "in": "idProperty"}])
        errors = self._property_errors(properties, existing["id"] if existing else None)
        if errors:
            raise _rejection(errors)
        contact = self._apply(existing, properties, stamp) if existing else self._create(properties, stamp)
        return {**_present(contact, properties), "new": existing is None}

    def _property_errors(self, properties: dict, own_id: str | None) -> list[dict]:
        errors = [e for name, value in properties.items() if (e := _property_error(name, value))]
        address = properties.get("email")
        if not errors and address:
            holder = self._by_email(email_key(address))
            if holder and holder["id"] != own_id:
                raise hubspot_error(409, "CONFLICT", f"Contact already exists. Existing ID: {holder['id']}",
                                    errors=[{"message": "Another contact has this email", "code": "CONFLICT",
                                             "in": "email"}])
        return errors

    def _subscription_row(self, key: str) -> tuple[str, str | None, str | None, int | None]:
        """(v4 status, legal basis, explanation, changed at epoch ms); never set: NOT_SPECIFIED, undated."""
        row = self.state.db.execute(
            "SELECT status, legal_basis, explanation, changed_ms FROM subscriptions"
            " WHERE email_key = ? AND subscription_id = ?", (key, SUBSCRIPTION_ID)).fetchone()
        return row or ("NOT_SPECIFIED", None, None, None)

    def _stored_status(self, key: str) -> str:
        return self._subscription_row(key)[0]

    def _subscription_status(self, key: str) -> dict:
        """The v3 shape."""
        status, basis, explanation, _ = self._subscription_row(key)
        answer = {"id": SUBSCRIPTION_ID, "name": SUBSCRIPTION_NAME, "description": "Newsletters and offers",
                  "status": V3_STATUS[status], "sourceOfStatus": "SUBSCRIPTION_STATUS"}
        if basis:
            answer.update(legalBasis=basis, legalBasisExplanation=explanation or "")
        return answer

    def _public_status(self, key: str) -> dict:
        """The v4 shape (PublicStatus): `timestamp` is the last change, or the subscription's creation for
        an address whose status was never set."""
        status, basis, explanation, changed = self._subscription_row(key)
        answer = {"channel": "EMAIL", "source": "Public API", "status": status, "subscriberIdString": key,
                  "subscriptionId": int(SUBSCRIPTION_ID), "subscriptionName": SUBSCRIPTION_NAME, "businessUnitId": 0,
                  "timestamp": iso_millis(changed) if changed is not None else SUBSCRIPTION_CREATED}
        if basis:
            answer.update(legalBasis=basis, legalBasisExplanation=explanation or "")
        return answer

    def _set_subscription(self, request: Request, status: str) -> tuple[int, dict]:
        update = _json_object(request)
        address = update.get("emailAddress")
        if not isinstance(address, str) or str(update.get("subscriptionId") or "") == "":
            raise invalid("emailAddress and subscriptionId are required")
        key = _valid_address(address)
        _check_subscription(update["subscriptionId"])
        basis = _legal_basis(update.get("legalBasis"))
        if self._subscription_status(key)["status"] == status:
            verb = "subscribed to" if status == "SUBSCRIBED" else "unsubscribed from"
            raise invalid(f"{address} is already {verb} subscription {SUBSCRIPTION_ID}")
        self._record_subscription(key, V4_STATUS[status], basis, update.get("legalBasisExplanation"))
        return 200, self._subscription_status(key)

    def _record_subscription(self, key: str, status: str, basis: str | None, explanation: str | None) -> None:
        with self.state.db:
            self._store_subscription(key, status, basis, explanation, now_ms())

    def _store_subscription(self, key: str, status: str, basis: str | None, explanation: str | None,
                            stamp: int) -> None:
        """Within the calling endpoint's transaction, so that a batch commits once."""
        self.state.db.execute("INSERT OR REPLACE INTO subscriptions VALUES (?, ?, ?, ?, ?, ?)",
                              (key, SUBSCRIPTION_ID, status, basis, explanation, stamp))
        # The contact's opt-out property changes with the status, so the contact counts as modified.
        for (body,) in self.state.db.execute("SELECT body FROM contacts WHERE email_key = ?", (key,)).fetchall():
            contact = json.loads(body)
            _touch(contact, stamp)
            self._save(contact)


# -- shapes and rules (no state) --

def _populate(db: sqlite3.Connection, seed_value: int, customers: int) -> None:
    data = seed(seed_value, customers)
    db.executemany("INSERT INTO contacts VALUES (?, ?, ?, ?)", map(_contact_row, data.contacts))
    db.executemany("INSERT INTO subscriptions VALUES (?, ?, ?, NULL, NULL, ?)",
                   ((key, SUBSCRIPTION_ID, status, at) for key, status, at in data.subscriptions))
    db.executemany("INSERT INTO email_events VALUES (?, ?, ?)",
                   ((e["created"], e["id"], json.dumps(e)) for e in data.events))


def _upgrade(db: sqlite3.Connection) -> None:
    # State files seeded before v4 hold v3's word for an explicit opt-out.
    with db:
        db.execute("UPDATE subscriptions SET status = 'UNSUBSCRIBED' WHERE status = 'NOT_SUBSCRIBED'")


def _contact_row(contact: dict) -> tuple:
    return (int(contact["id"]), millis(contact["updatedAt"]), email_key(contact["properties"].get("email")),
            json.dumps(contact))


def _touch(contact: dict, stamp: int) -> None:
    contact["updatedAt"] = contact["properties"]["lastmodifieddate"] = iso_millis(stamp)


def _present(contact: dict, names) -> dict:
    """The contact as HubSpot answers: the requested properties this portal defines, plus the defaults."""
    wanted = [n for n in names if n in PROPERTIES]
    properties = {name: contact["properties"].get(name) for name in (*wanted, *DEFAULT_PROPERTIES)}
    return {"id": contact["id"], "properties": properties, "createdAt": contact["createdAt"],
            "updatedAt": contact["updatedAt"], "archived": contact["archived"]}


def _json_object(request: Request) -> dict:
    try:
        document = request.json()
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise invalid(f"Invalid input JSON on line {getattr(exc, 'lineno', 1)}: the body is not valid JSON") from None
    if not isinstance(document, dict):
        raise invalid("The request body must be a JSON object")
    return document


def _properties_of(document: dict) -> dict:
    properties = document.get("properties")
    if not isinstance(properties, dict):
        raise invalid("properties is required and must be an object")
    return {name: _as_string(value) for name, value in properties.items()}


def _as_string(value) -> str:
    # HubSpot stores every property as a string: numbers and booleans are written as text; null clears.
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    return value if isinstance(value, str) else str(value)


def _property_error(name: str, value: str) -> dict | None:
    if name not in PROPERTIES:
        return {"message": f'Property "{name}" does not exist', "code": "PROPERTY_DOESNT_EXIST", "in": name}
    if name in READ_ONLY:
        return {"message": f'"{name}" is a read only property; its value cannot be set.', "code": "READ_ONLY_VALUE",
                "in": name}
    if name == "email" and value and not EMAIL_PATTERN.match(value.strip()):
        return {"message": f"Email address {value} is invalid", "code": "INVALID_EMAIL", "in": name}
    if name == "date_of_birth" and value and not _is_date(value):
        return {"message": f"{value} is not a valid date (YYYY-MM-DD)", "code": "INVALID_DATE", "in": name}
    return None


def _is_date(value: str) -> bool:
    if not DATE_PATTERN.match(value):
        return False
    try:
        datetime.strptime(value, "%Y-%m-%d")
    except ValueError:
        return False
    return True


def _rejection(errors: list[dict]) -> ApiError:
    names = [e["in"] for e in errors]
    return invalid("Property values were not valid: " + json.dumps([{"isValid": False, "message": e["message"],
                                                                      "error": e["code"], "name": e["in"]}
                                                                     for e in errors]),
                   errors=[{**e, "context": {"propertyName": [e["in"]]}} for e in errors],
                   context={"propertyName": names})


def _batch_error(error: ApiError, given_id: str) -> dict:
    body = error.body
    return {"status": "error", "category": body["category"], "message": body["message"],
            "context": {**body.get("context", {}), "ids": [given_id]}, "errors": body.get("errors", []),
            "links": {}}


def _batch_inputs(document: dict) -> list[dict]:
    inputs = document.get("inputs")
    if not isinstance(inputs, list) or not inputs or not all(isinstance(i, dict) for i in inputs):
        raise invalid("inputs is required and must be a non-empty list of objects")
    if len(inputs) > BATCH_MAX:
        raise invalid(f"Batch input is limited to {BATCH_MAX} inputs; got {len(inputs)}")
    ids = [str(i.get("id")) for i in inputs]
    if len(set(ids)) != len(ids):
        raise invalid("Duplicate IDs found in batch input")
    return inputs


def _v4_inputs(document: dict, kind: type, described: str) -> list:
    """A v4 status batch's `inputs`: a non-empty list of `kind`, at most STATUS_BATCH_MAX."""
    inputs = document.get("inputs")
    if not isinstance(inputs, list) or not inputs or not all(isinstance(i, kind) for i in inputs):
        raise invalid(f"inputs is required and must be a non-empty list of {described}")
    if len(inputs) > STATUS_BATCH_MAX:
        raise invalid(f"Batch input is limited to {STATUS_BATCH_MAX} inputs; got {len(inputs)}",
                      errors=[{"message": f"At most {STATUS_BATCH_MAX} inputs", "code": "TOO_MANY_INPUTS",
                               "in": "inputs"}])
    return inputs


def _address_inputs(document: dict) -> list[str]:
    return _v4_inputs(document, str, "strings")


def _status_inputs(document: dict) -> list[dict]:
    """A batch write's inputs, each checked as the single update checks its body (400 for the whole batch
    on the first that breaks the schema; nothing is written then)."""
    inputs = _v4_inputs(document, dict, "objects")
    for update in inputs:
        if not isinstance(update.get("subscriberIdString"), str):
            raise invalid("subscriberIdString is required and must be a string",
                          errors=[{"message": "subscriberIdString is required", "in": "subscriberIdString"}])
        if update.get("subscriptionId") in (None, ""):
            raise invalid("subscriptionId is required",
                          errors=[{"message": "subscriptionId is required", "in": "subscriptionId"}])
        _status_fields(update)
    # The spec is silent on repeats; HubSpot's CRM batches refuse duplicate ids, and so does this sandbox,
    # since an answer names its input only by address and subscription.
    pairs = [(email_key(i["subscriberIdString"]), str(i["subscriptionId"])) for i in inputs]
    if len(set(pairs)) != len(pairs):
        raise invalid("Duplicate IDs found in batch input")
    return inputs


def _status_fields(update: dict) -> None:
    """What the single update and the batch write both check in a status request, beside the address."""
    _channel(update.get("channel"))
    if update.get("statusState") not in V4_STATES:
        raise invalid(f"statusState must be one of {', '.join(V4_STATES)}")
    _legal_basis(update.get("legalBasis"))


def _input_error(error: ApiError, address: str) -> dict:
    body = error.body
    return {"status": "error", "category": body["category"], "message": body["message"],
            "context": {**body.get("context", {}), "subscriberIdString": [address]},
            "errors": body.get("errors", []), "links": {}}


def _address_error(address: str) -> dict:
    return {"status": "error", "category": "VALIDATION_ERROR", "message": "Invalid email address",
            "context": {"subscriberIdString": [address]},
            "errors": [{"message": "Invalid email address", "code": "INVALID_EMAIL", "in": "subscriberIdString"}],
            "links": {}}


def _channel(value) -> None:
    if value not in CHANNELS:
        raise invalid(f"channel is required and must be one of {', '.join(CHANNELS)}")


def _business_unit(value) -> None:
    # A portal without the business units add-on has only the default unit, 0.
    if value not in (None, "", "0"):
        raise invalid(f"Business unit {value} does not exist in this portal")


def _check_subscription(value) -> None:
    if str(value) != SUBSCRIPTION_ID:
        raise invalid(f"Subscription {value} does not exist in this portal",
                      errors=[{"message": "No such subscription", "in": "subscriptionId"}])


def _legal_basis(value) -> str | None:
    if value is not None and value not in LEGAL_BASES:
        raise invalid(f"legalBasis must be one of {', '.join(LEGAL_BASES)}")
    return value


def _success_reason(before: str, after: str) -> str:
    if before == after:
        return "NO_STATUS_CHANGE"
    return "RESUBSCRIBE_OCCURRED" if (before, after) == ("UNSUBSCRIBED", "SUBSCRIBED") else "REQUESTED_CHANGE_OCCURRED"


def _limit(value, default: int, maximum: int) -> int:
    if value in (None, ""):
        return default
    if not str(value).isdigit() or int(value) < 1:
        raise invalid("limit must be a positive integer")
    if int(value) > maximum:
        raise invalid(f"limit must be less than or equal to {maximum}")
    return int(value)


def _int_token(value, name: str) -> int:
    if not str(value).lstrip("-").isdigit():
        raise invalid(f"{name} is not valid")
    return int(value)


def _names(value) -> list[str]:
    if isinstance(value, str):
        return [n for n in value.split(",") if n]
    if isinstance(value, list):
        return [str(n) for n in value]
    return []


def _requested(request: Request) -> list[str]:
    # `properties` may be one comma-separated value or repeated.
    return [name for value in request.query.get("properties", []) for name in _names(value)]


def _valid_address(address: str) -> str:
    if not EMAIL_PATTERN.match(address.strip()):
        raise invalid("Invalid email address", errors=[{"message": "Invalid email address", "code": "INVALID_EMAIL",
                                                         "in": "emailAddress"}])
    return email_key(address)


def _where(groups) -> tuple[str, list]:
    """filterGroups as SQL: groups are ORed, the filters of a group ANDed."""
    if not isinstance(groups, list) or len(groups) > MAX_GROUPS:
        raise invalid(f"filterGroups must be a list of at most {MAX_GROUPS} groups")
    filters = [g.get("filters") if isinstance(g, dict) else None for g in groups]
    if any(not isinstance(f, list) or len(f) > MAX_FILTERS_PER_GROUP for f in filters):
        raise invalid(f"each filter group needs a list of at most {MAX_FILTERS_PER_GROUP} filters")
    if sum(len(f) for f in filters) > MAX_FILTERS:
        raise invalid(f"a search takes at most {MAX_FILTERS} filters")
    clauses, params = [], []
    for group in filters:
        parts = [_condition(f, params) for f in group]
        clauses.append("(" + (" AND ".join(parts) or "1") + ")")
    return " OR ".join(clauses) or "1", params


def _condition(spec, params: list) -> str:
    if not isinstance(spec, dict) or spec.get("propertyName") not in SEARCHABLE:
        raise invalid(f"this sandbox filters on {', '.join(SEARCHABLE)} only")
    if spec.get("operator") not in OPERATORS:
        raise invalid(f"operator must be one of {', '.join(OPERATORS)} in this sandbox")
    params.append(_filter_value(spec["propertyName"], spec.get("value")))
    return f"{SEARCHABLE[spec['propertyName']]} {OPERATORS[spec['operator']]} ?"


def _filter_value(name: str, value):
    text = "" if value is None else str(value)
    if name == "email":
        return text.strip().lower()
    if text.lstrip("-").isdigit():
        return int(text)
    if name == "lastmodifieddate":
        try:
            return millis(text)  # HubSpot takes epoch milliseconds or an ISO 8601 timestamp
        except ValueError:
            pass
    raise invalid(f"{text!r} is not a valid value for {name}")


def _order(sorts) -> str:
    if not sorts:
        return "id"
    if not isinstance(sorts, list) or len(sorts) > 1:
        raise invalid("a search takes at most one sort")
    name, direction = _sort(sorts[0])
    if name not in SEARCHABLE or direction not in ("ASCENDING", "DESCENDING"):
        raise invalid(f"this sandbox sorts on {', '.join(SEARCHABLE)} only, ASCENDING or DESCENDING")
    way = "ASC" if direction == "ASCENDING" else "DESC"
    return f"{SEARCHABLE[name]} {way}, id {way}"


def _sort(spec) -> tuple[str | None, str]:
    # Both forms HubSpot takes: {"propertyName": ..., "direction": ...} and "name" / "-name".
    if isinstance(spec, dict):
        return spec.get("propertyName"), spec.get("direction", "ASCENDING")
    text = str(spec)
    return (text[1:], "DESCENDING") if text.startswith("-") else (text, "ASCENDING")


def _encode_offset(created_ms: int, event_id: str) -> str:
    return base64.urlsafe_b64encode(f"{created_ms}:{event_id}".encode()).decode().rstrip("=")


def _decode_offset(token: str) -> tuple[int, str]:
    try:
        created, _, event_id = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode().partition(":")
        return int(created), event_id
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise invalid("offset is not valid") from None


def main(argv: list[str] | None = None) -> int:
    p = cli.parser("hubspot", "Serve a HubSpot CRM contacts, subscriptions and email events API sandbox.")
    p.add_argument("--rate-limit", type=int, default=100, help="requests per 10 seconds (190 on Pro/Enterprise)")
    p.add_argument("--search-rate-limit", type=int, default=5, help="search requests per second")
    p.add_argument("--daily-limit", type=int, default=250_000, help="requests per day")
    args = p.parse_args(argv)
    return cli.serve("hubspot", lambda: HubSpotSandbox(
        args.host, args.port, state_dir=cli.state_dir(args), seed=args.seed, customers=args.customers,
        reset=args.reset, faults=cli.faults(args), rate_limit=args.rate_limit,
        search_rate_limit=args.search_rate_limit, daily_limit=args.daily_limit))


if __name__ == "__main__":
    raise SystemExit(main())
