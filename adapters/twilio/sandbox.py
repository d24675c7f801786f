"""A local stand-in for the two Twilio APIs Concord uses, served over real HTTP on one port:
Voice's call log (`/2010-04-01/Accounts/{AccountSid}/Calls.json`) and the caller directory, a Sync
Map keyed by E.164 number (`/v1/Services/{ServiceSid}/Maps/{MapSid}/Items`).

It behaves like Twilio where integrations usually break: Basic `AccountSid:AuthToken` auth with
Twilio's 20003 body, the `.json` suffix, day-granular `StartTime` filters, newest-first call lists
paged by `PageToken` with `next_page_uri`, Sync's key-ordered item pages with `meta.next_page_url`,
item revisions with `If-Match` (412 on a stale revision), 409 on a duplicate key, deletes of map
items and call records answered 204 with no body (404 once gone), and 429 with code 20429 over the
requests-per-second limit. Error bodies are Twilio's
`{code, message, more_info, status}`; the codes used here are 20001 (bad parameter), 20003,
20404, 20429, 20500, 54006 (data too large), 54008 (invalid data), 54103 (revision mismatch) and
54208 (key exists). State lives in SQLite under the state directory.

`python -m adapters.twilio.sandbox --port 0` prints one JSON line (base URL, credentials, SIDs, state
file) and serves until SIGTERM or SIGINT.
"""
from __future__ import annotations

import base64
import binascii
import json
import secrets
import sqlite3
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from pathlib import Path
from urllib.parse import quote, unquote, urlencode

from adapters.sandbox import ApiError, Faults, Request, Route, SandboxServer, SlidingWindow, SqliteState
from adapters.sandbox import auth, cli
from adapters.twilio.seed import call, iso, seed
from adapters.world import Activity

CALLS_MAX_PAGE, ITEMS_MAX_PAGE, DEFAULT_PAGE = 1000, 100, 50
MAX_DATA_BYTES = 16 * 1024
MAX_KEY_LENGTH = 320
MAP_NAME = "callers"  # the map's unique_name, which Sync accepts in place of its SID
CALL_STATUSES = {"queued", "ringing", "in-progress", "completed", "busy", "failed", "no-answer", "canceled"}
DAY = 86_400
CALL_SUBRESOURCES = {
    "notifications": "Notifications", "recordings": "Recordings", "payments": "Payments", "events": "Events",
    "siprec": "Siprec", "streams": "Streams", "transcriptions": "Transcriptions",
    "user_defined_message_subscriptions": "UserDefinedMessageSubscriptions",
    "user_defined_messages": "UserDefinedMessages",
}
SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
    key TEXT PRIMARY KEY, revision INTEGER NOT NULL, data TEXT NOT NULL, date_created TEXT NOT NULL,
    date_updated TEXT NOT NULL, date_expires TEXT, created_by TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS calls (
    sid TEXT PRIMARY KEY, start_epoch INTEGER NOT NULL, from_number TEXT, to_number TEXT, status TEXT,
    body TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS calls_start ON calls (start_epoch DESC, sid);
CREATE INDEX IF NOT EXISTS calls_from ON calls (from_number, start_epoch DESC, sid);
"""
# Voice list filters: query parameter -> SQL on start_epoch, given the day's first second.
START_FILTERS = {"StartTime>": "start_epoch >= ?", "StartTime<": "start_epoch < ?"}


def twilio_error(status: int, code: int, message: str) -> ApiError:
    return ApiError(status, {"code": code, "message": message,
                             "more_info": f"https://www.twilio.com/docs/errors/{code}", "status": status})


def _bad_parameter(message: str) -> ApiError:
    return twilio_error(400, 20001, message)


def _not_found(path: str) -> ApiError:
    return twilio_error(404, 20404, f"The requested resource {path} was not found")


def _sid(prefix: str) -> str:
    return prefix + secrets.token_hex(16)


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(microsecond=0)


def _page_size(request: Request, maximum: int) -> int:
    value = request.arg("PageSize", str(DEFAULT_PAGE))
    if not value.isdigit() or int(value) < 1:
        raise _bad_parameter("PageSize must be a positive integer")
    return min(int(value), maximum)  # Twilio clamps an oversized page instead of refusing it


def _page_number(request: Request) -> int:
    value = request.arg("Page", "0")
    if not value.isdigit():
        raise _bad_parameter("Page must be a non-negative integer")
    return int(value)


def _day_epoch(name: str, value: str) -> int:
    """The first second of the day a StartTime filter names; only the date counts."""
    try:
        day = datetime.strptime(value[:10], "%Y-%m-%d").replace(tzinfo=timezone.utc)
    except ValueError:
        raise _bad_parameter(f"{name} must be a date in YYYY-MM-DD format") from None
    return int(day.timestamp())


def _token(direction: str, value: str) -> str:
    return direction + base64.urlsafe_b64encode(value.encode()).decode().rstrip("=")


def _untoken(token: str) -> tuple[str, str]:
    """("PA" for the page after, "PB" for the page before, the position); 400 when malformed."""
    try:
        direction, body = token[:2], token[2:]
        if direction not in ("PA", "PB"):
            raise ValueError(token)
        return direction, base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise _bad_parameter("PageToken is invalid") from None


def _start_epoch(call: dict) -> int:
    return int(parsedate_to_datetime(call["start_time"]).timestamp())


def _call_mark(call: dict) -> str:
    """A call's place in the newest-first order, as a page token carries it: "start_epoch:sid".
    The token holds the place itself, so that deleting the call it names breaks no resumed read."""
    return f"{_start_epoch(call)}:{call['sid']}"


def _call_position(mark: str) -> tuple[int, str]:
    start, _, sid = mark.partition(":")
    if not (start.isdigit() and sid):
        raise _bad_parameter("PageToken is invalid")
    return int(start), sid


def _call_row(body: dict) -> tuple:
    return body["sid"], _start_epoch(body), body["from"], body["to"], body["status"], json.dumps(body)


def _populate(db: sqlite3.Connection, seed_value: int, customers: int) -> None:
    world = seed(seed_value, customers)
    db.executemany("INSERT INTO items VALUES (?, 0, ?, ?, ?, NULL, 'system')",
                   [(i["key"], json.dumps(i["data"]), i["date_created"], i["date_updated"]) for i in world.items])
    db.executemany("INSERT INTO calls VALUES (?, ?, ?, ?, ?, ?)", map(_call_row, world.calls))
    # The account's SIDs are made once per state, like the AuthToken the kit keeps as `secret`.
    sids = {"account_sid": _sid("AC"), "service_sid": _sid("IS"), "map_sid": _sid("MP"),
            "phone_number_sid": _sid("PN")}
    db.executemany("INSERT INTO meta VALUES (?, ?)", sids.items())


class TwilioSandbox(SandboxServer):
    """The Twilio sandbox. Binds on construction; `start()` serves in a daemon thread."""

    system = "twilio"
    routes = (
        Route("GET", r"/2010-04-01/Accounts/([^/]+)/Calls\.json", "_list_calls"),
        Route("GET", r"/2010-04-01/Accounts/([^/]+)/Calls/([^/]+)\.json", "_show_call"),
        Route("GET", r"/v1/Services/([^/]+)/Maps/([^/]+)/Items", "_list_items"),
        Route("POST", r"/v1/Services/([^/]+)/Maps/([^/]+)/Items", "_create_item"),
        Route("GET", r"/v1/Services/([^/]+)/Maps/([^/]+)/Items/([^/]+)", "_show_item"),
        Route("POST", r"/v1/Services/([^/]+)/Maps/([^/]+)/Items/([^/]+)", "_update_item"),
        Route("DELETE", r"/2010-04-01/Accounts/([^/]+)/Calls/([^/]+)\.json", "_delete_call"),
        Route("DELETE", r"/v1/Services/([^/]+)/Maps/([^/]+)/Items/([^/]+)", "_delete_item"),
    )

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, state_dir: Path, seed: int = 1,
                 customers: int = 1000, reset: bool = False, faults: Faults | None = None,
                 rate_limit: int = 100):
        self.seed, self.customers = seed, customers
        self.state = SqliteState(Path(state_dir) / "twilio.sqlite", seed=seed, customers=customers, reset=reset,
                                 schema=SCHEMA, populate=lambda db: _populate(db, seed, customers))
        self.account_sid, self.service_sid = self.state.meta("account_sid"), self.state.meta("service_sid")
        self.map_sid, self.phone_number_sid = self.state.meta("map_sid"), self.state.meta("phone_number_sid")
        # Twilio counts concurrent requests per account; a per-second window is the sandbox's stand-in.
        super().__init__(host, port, faults=faults or Faults(seed=seed),
                         buckets={"general": SlidingWindow(rate_limit, 1.0)})
        self.lock = self.state.lock

    @property
    def auth_token(self) -> str:
        return self.state.meta("secret") or ""

    def info(self) -> dict:
        return {"system": "twilio", "base_url": self.base_url, "login": self.account_sid,
                "password": self.auth_token, "account_sid": self.account_sid, "service_sid": self.service_sid,
                "map_sid": self.map_sid, "state": str(self.state.path), "seed": self.seed,
                "customers": self.customers}

    def close_state(self) -> None:
        self.state.close()

    # -- Twilio's answers --

    def authenticate(self, request: Request) -> bool:
        return auth.basic_is(request, self.account_sid, self.auth_token)

    def unauthorized(self) -> tuple[int, dict]:
        return 401, twilio_error(401, 20003, "Authenticate").body

    def throttled(self, retry_after: int, request: Request, bucket: str) -> tuple[int, dict, dict]:
        # Twilio sends no Retry-After with 20429; the request was not processed and is safe to retry.
        return 429, {}, twilio_error(429, 20429, "Too Many Requests").body

    def server_error(self) -> tuple[int, dict]:
        return 500, twilio_error(500, 20500, "An internal server error has occurred").body

    def not_found(self) -> tuple[int, dict]:
        return 404, twilio_error(404, 20404, "The requested resource was not found").body

    # -- Voice: the call log --

    def _list_calls(self, request: Request, account_sid: str) -> tuple[int, dict]:
        """Calls newest first, filtered by To/From/Status/StartTime, paged by PageToken."""
        self._own_account(account_sid, request)
        size, page = _page_size(request, CALLS_MAX_PAGE), _page_number(request)
        where, args = _call_filters(request)
        token = request.arg("PageToken")
        direction, position = _untoken(token) if token else ("PA", None)
        rows = self._call_rows(where, args, direction, position, size)
        calls = [self._present_call(json.loads(body)) for body in rows[:size]]
        more = len(rows) > size if direction == "PA" else bool(calls)
        return 200, self._calls_page(request, calls, page, size, more)

    def _call_rows(self, where: list[str], args: list, direction: str, position: str | None,
                   size: int) -> list[str]:
        where, args = list(where), list(args)
        if position is not None:
            start, sid = _call_position(position)
            older = direction == "PA"
            where.append("(start_epoch < ? OR (start_epoch = ? AND sid > ?))" if older
                         else "(start_epoch > ? OR (start_epoch = ? AND sid < ?))")
            args += [start, start, sid]
        order = "start_epoch DESC, sid ASC" if direction == "PA" else "start_epoch ASC, sid DESC"
        sql = f"SELECT body FROM calls {_where(where)} ORDER BY {order} LIMIT ?"
        bodies = [body for (body,) in self.state.db.execute(sql, (*args, size + 1))]
        return bodies if direction == "PA" else list(reversed(bodies[:size]))

    def _calls_page(self, request: Request, calls: list[dict], page: int, size: int, more: bool) -> dict:
        base = {k: v[0] for k, v in request.query.items() if k not in ("Page", "PageToken", "PageSize")}
        base["PageSize"] = size

        def uri(number: int, token: str | None = None) -> str:
            extra = {"Page": number, **({"PageToken": token} if token else {})}
            return f"{request.path}?{urlencode({**base, **extra})}"

        start = page * size
        return {
            "calls": calls, "first_page_uri": uri(0), "uri": uri(page, request.arg("PageToken")),
            "next_page_uri": uri(page + 1, _token("PA", _call_mark(calls[-1]))) if more else None,
            "previous_page_uri": uri(page - 1, _token("PB", _call_mark(calls[0]))) if page > 0 and calls else None,
            "page": page, "page_size": size, "start": start, "end": start + max(len(calls) - 1, 0),
        }

    def _show_call(self, request: Request, account_sid: str, sid: str) -> tuple[int, dict]:
        self._own_account(account_sid, request)
        row = self.state.db.execute("SELECT body FROM calls WHERE sid = ?", (sid,)).fetchone()
        if row is None:
            raise _not_found(request.path)
        return 200, self._present_call(json.loads(row[0]))

    def _delete_call(self, request: Request, account_sid: str, sid: str) -> tuple[int, None]:
        """Deletes a call record for good: Voice no longer lists or shows it."""
        self._own_account(account_sid, request)
        with self.state.db:
            gone = self.state.db.execute("DELETE FROM calls WHERE sid = ?", (sid,)).rowcount
        if not gone:
            raise _not_found(request.path)
        return 204, None

    def _present_call(self, body: dict) -> dict:
        uri = f"/2010-04-01/Accounts/{self.account_sid}/Calls/{body['sid']}"
        return {**body, "account_sid": self.account_sid, "phone_number_sid": self.phone_number_sid,
                "uri": f"{uri}.json",
                "subresource_uris": {name: f"{uri}/{path}.json" for name, path in CALL_SUBRESOURCES.items()}}

    def _own_account(self, account_sid: str, request: Request) -> None:
        if account_sid != self.account_sid:
            raise _not_found(request.path)

    def record_call(self, from_number: str, *, started: datetime | None = None, duration: int = 60,
                    status: str = "completed") -> dict:
        """An inbound call to the support number that has ended (the phone network's doing, not an
        API call): what a test uses to make the call log grow. It started `duration` seconds ago
        unless `started` says when."""
        start = started or _now() - timedelta(seconds=duration)
        arrival = Activity("twilio", _sid("CA"), "call", from_number, None, iso(start),
                           {"duration": str(duration), "status": status})
        body = call(arrival)
        with self.lock, self.state.db:
            self.state.db.execute("INSERT INTO calls VALUES (?, ?, ?, ?, ?, ?)", _call_row(body))
        return self._present_call(body)

    # -- Sync: the caller directory --

    def _list_items(self, request: Request, service_sid: str, map_sid: str) -> tuple[int, dict]:
        """Items ordered by key (Order asc|desc), from a key (From, Bounds) or a PageToken."""
        self._own_map(service_sid, map_sid, request)
        size, page = _page_size(request, ITEMS_MAX_PAGE), _page_number(request)
        order = _choice(request, "Order", ("asc", "desc"))
        where, args, backwards = self._item_position(request, order)
        ascending = (order == "asc") != backwards
        sql = (f"SELECT * FROM items {_where(where)} ORDER BY key {'ASC' if ascending else 'DESC'} LIMIT ?")
        rows = self.state.db.execute(sql, (*args, size + 1)).fetchall()
        items = [self._present_item(row) for row in (list(reversed(rows[:size])) if backwards else rows[:size])]
        more = bool(items) if backwards else len(rows) > size
        return 200, self._items_page(request, items, order, page, size, more)

    def _item_position(self, request: Request, order: str) -> tuple[list[str], list, bool]:
        """SQL conditions for where the page starts, and whether it is read backwards (PB token)."""
        where, args = ["(date_expires IS NULL OR date_expires > ?)"], [iso(_now())]
        after = ">" if order == "asc" else "<"
        before = "<" if order == "asc" else ">"
        token = request.arg("PageToken")
        if token:
            direction, key = _untoken(token)
            where.append(f"key {after if direction == 'PA' else before} ?")
            return where, [*args, key], direction == "PB"
        if request.arg("From") is not None:
            inclusive = _choice(request, "Bounds", ("inclusive", "exclusive")) == "inclusive"
            where.append(f"key {after}{'=' if inclusive else ''} ?")
            args.append(request.arg("From"))
        return where, args, False

    def _items_page(self, request: Request, items: list[dict], order: str, page: int, size: int,
                    more: bool) -> dict:
        path = f"{self.base_url}{request.path}"
        base = {k: v[0] for k, v in request.query.items() if k in ("From", "Bounds")}

        def url(number: int, token: str | None = None, start: dict | None = None) -> str:
            query = {**(start or {}), "Order": order, "PageSize": size, "Page": number,
                     **({"PageToken": token} if token else {})}
            return f"{path}?{urlencode(query)}"

        return {"items": items, "meta": {
            "page": page, "page_size": size, "key": "items",
            "first_page_url": url(0, start=base), "url": url(page, request.arg("PageToken"), base),
            "next_page_url": url(page + 1, _token("PA", items[-1]["key"])) if more else None,
            "previous_page_url": url(page - 1, _token("PB", items[0]["key"])) if page > 0 and items else None,
        }}

    def _show_item(self, request: Request, service_sid: str, map_sid: str, key: str) -> tuple[int, dict, dict]:
        self._own_map(service_sid, map_sid, request)
        item = self._present_item(self._existing_item(unquote(key), request))
        return 200, item, {"ETag": item["revision"]}

    def _create_item(self, request: Request, service_sid: str, map_sid: str) -> tuple[int, dict, dict]:
        self._own_map(service_sid, map_sid, request)
        form = request.form()
        key = form.get("Key")
        if not key or len(key) > MAX_KEY_LENGTH:
            raise _bad_parameter(f"Key is required and at most {MAX_KEY_LENGTH} characters long")
        data = _data(form, required=True)
        if self._item_row(key) is not None:
            raise twilio_error(409, 54208, "Map Item with the given key already exists")
        now = iso(_now())
        with self.state.db:
            self.state.db.execute("INSERT OR REPLACE INTO items VALUES (?, 0, ?, ?, ?, ?, 'system')",
                                  (key, json.dumps(data), now, now, _expires(form)))
        item = self._present_item(self._item_row(key))
        return 201, item, {"ETag": item["revision"]}

    def _update_item(self, request: Request, service_sid: str, map_sid: str, key: str) -> tuple[int, dict, dict]:
        """Replaces the item's data (Sync does not merge), moving its revision and date_updated."""
        self._own_map(service_sid, map_sid, request)
        row = self._existing_item(unquote(key), request)
        self._check_revision(request, row)
        form = request.form()
        data = _data(form, required=not _ttl(form))
        changes = {"revision": row["revision"] + 1, "date_updated": iso(_now()),
                   "data": json.dumps(data) if data is not None else row["data"],
                   "date_expires": _expires(form) if _ttl(form) is not None else row["date_expires"]}
        with self.state.db:
            self.state.db.execute("UPDATE items SET revision = :revision, date_updated = :date_updated, "
                                  "data = :data, date_expires = :date_expires WHERE key = :key",
                                  {**changes, "key": row["key"]})
        item = self._present_item(self._item_row(row["key"]))
        return 200, item, {"ETag": item["revision"]}

    def _delete_item(self, request: Request, service_sid: str, map_sid: str, key: str) -> tuple[int, None]:
        """Deletes the item for good (Sync keeps no tombstone); If-Match guards it as it guards updates."""
        self._own_map(service_sid, map_sid, request)
        row = self._existing_item(unquote(key), request)
        self._check_revision(request, row)
        with self.state.db:
            self.state.db.execute("DELETE FROM items WHERE key = ?", (row["key"],))
        return 204, None

    def _check_revision(self, request: Request, row: sqlite3.Row) -> None:
        expected = request.headers.get("if-match")
        if expected is not None and expected != str(row["revision"]):
            raise twilio_error(412, 54103, "The revision of the Map Item does not match the expected revision")

    def _item_row(self, key: str) -> sqlite3.Row | None:
        cursor = self.state.db.execute(
            "SELECT * FROM items WHERE key = ? AND (date_expires IS NULL OR date_expires > ?)", (key, iso(_now())))
        cursor.row_factory = sqlite3.Row
        return cursor.fetchone()

    def _existing_item(self, key: str, request: Request) -> sqlite3.Row:
        row = self._item_row(key)
        if row is None:
            raise _not_found(request.path)
        return row

    def _present_item(self, row) -> dict:
        key, revision, data, created, updated, expires, created_by = tuple(row)
        return {"key": key, "account_sid": self.account_sid, "service_sid": self.service_sid,
                "map_sid": self.map_sid, "url": self._item_url(key), "revision": str(revision),
                "data": json.loads(data), "date_expires": expires, "date_created": created,
                "date_updated": updated, "created_by": created_by}

    def _item_url(self, key: str) -> str:
        return f"{self.base_url}/v1/Services/{self.service_sid}/Maps/{self.map_sid}/Items/{quote(key, safe='')}"

    def _own_map(self, service_sid: str, map_sid: str, request: Request) -> None:
        if service_sid != self.service_sid or map_sid not in (self.map_sid, MAP_NAME):
            raise _not_found(request.path)


def _where(conditions: list[str]) -> str:
    return f"WHERE {' AND '.join(conditions)}" if conditions else ""


def _choice(request: Request, name: str, allowed: tuple[str, ...]) -> str:
    value = request.arg(name, allowed[0])
    if value not in allowed:
        raise _bad_parameter(f"{name} must be one of: {', '.join(allowed)}")
    return value


def _call_filters(request: Request) -> tuple[list[str], list]:
    where, args = [], []
    for name, column in (("From", "from_number"), ("To", "to_number"), ("Status", "status")):
        value = request.arg(name)
        if value is not None:
            if name == "Status" and value not in CALL_STATUSES:
                raise _bad_parameter(f"Status must be one of: {', '.join(sorted(CALL_STATUSES))}")
            where.append(f"{column} = ?")
            args.append(value)
    for name, condition in START_FILTERS.items():
        if request.arg(name) is not None:
            where.append(condition)
            args.append(_day_epoch(name, request.arg(name)))
    if request.arg("StartTime") is not None:
        day = _day_epoch("StartTime", request.arg("StartTime"))
        where.append("start_epoch >= ? AND start_epoch < ?")
        args += [day, day + DAY]
    return where, args


def _ttl(form: dict) -> int | None:
    value = form.get("ItemTtl", form.get("Ttl"))
    if value is None:
        return None
    if not value.isdigit():
        raise _bad_parameter("ItemTtl must be a non-negative integer")
    return int(value)


def _expires(form: dict) -> str | None:
    ttl = _ttl(form)
    return iso(_now() + timedelta(seconds=ttl)) if ttl else None  # 0 means: never expires


def _data(form: dict, required: bool) -> dict | None:
    raw = form.get("Data")
    if raw is None:
        if required:
            raise _bad_parameter("Data is required")
        return None
    if len(raw.encode()) > MAX_DATA_BYTES:
        raise twilio_error(400, 54006, "Data is too large: it can be up to 16 KiB")
    try:
        data = json.loads(raw)
    except json.JSONDecodeError:
        data = None
    if not isinstance(data, dict):
        raise twilio_error(400, 54008, "Data must be a JSON object")
    return data


def main(argv: list[str] | None = None) -> int:
    p = cli.parser("twilio", "Serve a Twilio Voice call log and Sync caller directory sandbox.")
    p.add_argument("--rate-limit", type=int, default=100, help="requests a second before 429 (code 20429)")
    args = p.parse_args(argv)
    return cli.serve("twilio", lambda: TwilioSandbox(
        args.host, args.port, state_dir=cli.state_dir(args), seed=args.seed, customers=args.customers,
        reset=args.reset, faults=cli.faults(args), rate_limit=args.rate_limit))


if __name__ == "__main__":
    raise SystemExit(main())
