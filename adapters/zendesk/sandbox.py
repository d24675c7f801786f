"""A local stand-in for Zendesk Support's users and tickets APIs, served over real HTTP.

It behaves like Zendesk where integrations usually break: Basic `{email}/token:{api_token}` auth,
the cursor-based incremental exports (which hide the most recent minute), `page[size]` list paging,
create-or-update (201 vs 200), 422 `RecordInvalid` bodies, the two-step deletion (a soft delete that
keeps everything, then a permanent one that leaves only a tombstone in the export), per-bucket rate
limits with `Retry-After`, and the kit's seeded faults. State lives in SQLite under the state directory.

`concord sandbox zendesk --port 0` prints one JSON line (base URL, credentials, state file) and
serves until SIGTERM or SIGINT.
"""
from __future__ import annotations

import base64
import binascii
import calendar
import json
import re
import sqlite3
import time
from pathlib import Path
from urllib.parse import urlencode

from adapters.sandbox import ApiError, Faults, Request, Route, SandboxServer, SlidingWindow, SqliteState
from adapters.sandbox import auth, cli
from adapters.sandbox.jobs import JobQueue
from adapters.zendesk.sandbox_bulk import JOB_QUEUE_LIMIT, BulkUsers
from adapters.zendesk.seed import iso, seed

EMAIL = "concord@sandbox.zendesk.test"
EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
EXPORT_MAX_PAGE = 1000
LIST_MAX_PAGE = 100
NONE = type(None)
# Only these fields can be written; anything else in a payload is ignored, as Zendesk
# ignores read-only attributes such as id, role or created_at.
WRITABLE_TYPES: dict[str, tuple[type, ...]] = {
    "name": (str,), "email": (str, NONE), "phone": (str, NONE), "external_id": (str, int, NONE),
    "tags": (list,), "user_fields": (dict,), "verified": (bool,), "time_zone": (str,), "locale": (str,),
    "organization_id": (int, NONE),
}
NEW_USER_DEFAULTS = {
    "name": "", "email": None, "phone": None, "external_id": None, "role": "end-user",
    "verified": False, "active": True, "suspended": False, "tags": [], "user_fields": {},
    "organization_id": None, "time_zone": "Eastern Time (US & Canada)", "locale": "en-US",
}
SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    id INTEGER PRIMARY KEY, updated_epoch INTEGER NOT NULL, email_key TEXT, external_id TEXT, body TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS users_updated ON users (updated_epoch, id);
CREATE INDEX IF NOT EXISTS users_email ON users (email_key);
CREATE INDEX IF NOT EXISTS users_external ON users (external_id);
CREATE TABLE IF NOT EXISTS tickets (id INTEGER PRIMARY KEY, updated_epoch INTEGER NOT NULL, body TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS tickets_updated ON tickets (updated_epoch, id);
CREATE TABLE IF NOT EXISTS erased_users (id INTEGER PRIMARY KEY);
"""


def _bad_value(description: str) -> ApiError:
    return ApiError(400, {"error": "InvalidValue", "description": description})


def _record_not_found() -> ApiError:
    return ApiError(404, {"error": "RecordNotFound", "description": "Not found"})


def _record_invalid(details: dict) -> ApiError:
    return ApiError(422, {"error": "RecordInvalid", "description": "Record validation errors", "details": details})


def _encode_cursor(kind: str, *numbers: int) -> str:
    return base64.urlsafe_b64encode(":".join([kind, *map(str, numbers)]).encode()).decode().rstrip("=")


def _decode_cursor(kind: str, token: str, count: int) -> tuple[int, ...]:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        prefix, *numbers = raw.split(":")
        if prefix != kind or len(numbers) != count:
            raise ValueError(raw)
        return tuple(int(n) for n in numbers)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise _bad_value("cursor is invalid") from None


def _int_param(request: Request, name: str, default: int, maximum: int) -> int:
    # Zendesk clamps oversized pages instead of rejecting them.
    value = request.arg(name, str(default))
    if not value.lstrip("-").isdigit() or int(value) < 1:
        raise _bad_value(f"{name} must be a positive integer")
    return min(int(value), maximum)


def _epoch(timestamp: str) -> int:
    return calendar.timegm(time.strptime(timestamp, "%Y-%m-%dT%H:%M:%SZ"))


def _user_row(user: dict) -> tuple:
    email_key = user["email"].lower() if user["email"] else None
    external_id = None if user["external_id"] is None else str(user["external_id"])
    return user["id"], _epoch(user["updated_at"]), email_key, external_id, json.dumps(user)


def _ticket_row(ticket: dict) -> tuple:
    return ticket["id"], _epoch(ticket["updated_at"]), json.dumps(ticket)


class ZendeskSandbox(BulkUsers, SandboxServer):
    """The Zendesk sandbox. Binds on construction; `start()` serves in a daemon thread."""

    system = "zendesk"
    routes = (
        Route("GET", r"/api/v2/incremental/users/cursor\.json", "_export_users", "export"),
        Route("GET", r"/api/v2/incremental/tickets/cursor\.json", "_export_tickets", "export"),
        Route("GET", r"/api/v2/users\.json", "_list_users"),
        Route("GET", r"/api/v2/tickets\.json", "_list_tickets"),
        Route("GET", r"/api/v2/users/(\d+)\.json", "_show"),
        Route("PUT", r"/api/v2/users/(\d+)\.json", "_update"),
        Route("POST", r"/api/v2/users/create_or_update\.json", "_create_or_update"),
        Route("PUT", r"/api/v2/users/update_many\.json", "_update_many"),
        Route("POST", r"/api/v2/users/create_or_update_many\.json", "_create_or_update_many"),
        Route("GET", r"/api/v2/job_statuses/show_many\.json", "_job_statuses"),
        Route("GET", r"/api/v2/job_statuses/([0-9a-f]+)\.json", "_job_status"),
        Route("DELETE", r"/api/v2/users/(\d+)\.json", "_soft_delete"),
        Route("DELETE", r"/api/v2/deleted_users/(\d+)\.json", "_delete_permanently"),
    )

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, state_dir: Path, seed: int = 1,
                 customers: int = 1000, rate_limit: int = 700, export_rate_limit: int = 20,
                 recent_window: float = 60.0, reset: bool = False, fault_rate: float = 0.0,
                 faults: Faults | None = None):
        self.seed, self.customers, self.recent_window = seed, customers, recent_window
        self.state = SqliteState(Path(state_dir) / "zendesk.sqlite", seed=seed, customers=customers, reset=reset,
                                 schema=SCHEMA, populate=lambda db: _populate(db, seed, customers))
        super().__init__(host, port, faults=faults or Faults(seed=seed, error_rate=fault_rate),
                         buckets={"general": SlidingWindow(rate_limit), "export": SlidingWindow(export_rate_limit)})
        self.lock = self.state.lock
        self.jobs, self.bulk = JobQueue(JOB_QUEUE_LIMIT), False

    def start(self):
        self.jobs.start()
        return super().start()

    def stop(self) -> None:
        self.jobs.stop()
        super().stop()

    @property
    def email(self) -> str:
        return EMAIL

    @property
    def api_token(self) -> str:
        return self.state.meta("secret") or ""

    def info(self) -> dict:
        return {"system": "zendesk", "base_url": self.base_url, "email": self.email, "api_token": self.api_token,
                "state": str(self.state.path), "seed": self.seed, "customers": self.customers}

    def close_state(self) -> None:
        self.state.close()

    # -- Zendesk's answers --

    def authenticate(self, request: Request) -> bool:
        return auth.basic_is(request, f"{EMAIL}/token", self.api_token)

    def unauthorized(self) -> tuple[int, dict]:
        return 401, {"error": "Couldn't authenticate you"}

    def throttled(self, retry_after: int, request: Request, bucket: str) -> tuple[int, dict, dict]:
        return 429, {"Retry-After": str(retry_after)}, {"error": "TooManyRequests", "description": "Rate limit exceeded"}

    def server_error(self) -> tuple[int, dict]:
        return 503, {"error": "ServiceUnavailable"}

    def not_found(self) -> tuple[int, dict]:
        return 404, {"error": "InvalidEndpoint", "description": "Not found"}

    def limit_headers(self, bucket: SlidingWindow, now: float) -> dict:
        return {"X-Rate-Limit": str(bucket.limit), "X-Rate-Limit-Remaining": str(bucket.remaining(now))}

    # -- endpoints (each runs under the state lock) --

    def _export_users(self, request: Request) -> tuple[int, dict]:
        return self._export(request, "users", "u", self._present)

    def _export_tickets(self, request: Request) -> tuple[int, dict]:
        return self._export(request, "tickets", "t", self._present_ticket)

    def _export(self, request: Request, table: str, kind: str, present) -> tuple[int, dict]:
        """The cursor-based incremental export: `start_time=` or `cursor=`, `per_page=`."""
        per_page = _int_param(request, "per_page", EXPORT_MAX_PAGE, EXPORT_MAX_PAGE)
        position = _export_position(request, kind)
        cutoff = time.time() - self.recent_window  # Zendesk leaves out the most recent minute
        rows = self._export_rows(table, position, cutoff, per_page + 1)
        page = rows[:per_page]
        if page:
            position = (_epoch(page[-1]["updated_at"]), page[-1]["id"])
        after = _encode_cursor(kind, *position)
        extra = {"per_page": request.arg("per_page")} if request.arg("per_page") else {}
        after_url = f"{self.base_url}/api/v2/incremental/{table}/cursor.json?{urlencode({'cursor': after, **extra})}"
        return 200, {table: [present(r) for r in page], "after_cursor": after, "after_url": after_url,
                     "before_cursor": None, "before_url": None, "end_of_stream": len(rows) <= per_page}

    def _export_rows(self, table: str, position: tuple[int, int], cutoff: float, limit: int) -> list[dict]:
        epoch, row_id = position
        rows = self.state.db.execute(
            f"SELECT body FROM {table} WHERE (updated_epoch > ? OR (updated_epoch = ? AND id > ?))"
            " AND updated_epoch <= ? ORDER BY updated_epoch, id LIMIT ?", (epoch, epoch, row_id, cutoff, limit))
        return [json.loads(body) for (body,) in rows]

    def _list_users(self, request: Request) -> tuple[int, dict]:
        # A permanently deleted user is only a tombstone in the export; lists no longer show it.
        return self._list(request, "users", self._present, "id NOT IN (SELECT id FROM erased_users)")

    def _list_tickets(self, request: Request) -> tuple[int, dict]:
        return self._list(request, "tickets", self._present_ticket)

    def _list(self, request: Request, table: str, present, visible: str = "1") -> tuple[int, dict]:
        """Cursor list paging: `page[size]=` (max 100), `page[after]=`, ordered by id; `visible` is an
        SQL condition on the rows the list may show."""
        size = _int_param(request, "page[size]", LIST_MAX_PAGE, LIST_MAX_PAGE)
        after_id = _decode_cursor("p", request.arg("page[after]"), 1)[0] if request.arg("page[after]") else 0
        rows = [json.loads(b) for (b,) in self.state.db.execute(
            f"SELECT body FROM {table} WHERE id > ? AND {visible} ORDER BY id LIMIT ?", (after_id, size + 1))]
        page, has_more = rows[:size], len(rows) > size
        after = _encode_cursor("p", page[-1]["id"]) if page else None
        next_url = (f"{self.base_url}/api/v2/{table}.json?{urlencode({'page[size]': size, 'page[after]': after})}"
                    if has_more else None)
        return 200, {table: [present(r) for r in page],
                     "meta": {"has_more": has_more, "after_cursor": after, "before_cursor": None},
                     "links": {"next": next_url, "prev": None}}

    def _show(self, request: Request, user_id: str) -> tuple[int, dict]:
        return 200, {"user": self._present(self._existing(int(user_id)))}

    def _update(self, request: Request, user_id: str) -> tuple[int, dict]:
        user = self._existing(int(user_id))
        return 200, {"user": self._present(self._apply(user, _user_payload(request)))}

    def _create_or_update(self, request: Request) -> tuple[int, dict]:
        changes = _user_payload(request)
        match_id = self._match(changes)
        if match_id is not None:
            return 200, {"user": self._present(self._apply(self._get(match_id), changes))}
        return 201, {"user": self._present(self._create(changes))}

    def _soft_delete(self, request: Request, user_id: str) -> tuple[int, dict]:
        """DELETE /users/{id}: the user turns inactive but keeps every field until deleted for good."""
        user = self._existing(int(user_id))
        return 200, {"user": self._present(self._stamped(user, {**user, "active": False}))}

    def _delete_permanently(self, request: Request, user_id: str) -> tuple[int, None]:
        """DELETE /deleted_users/{id}: only a soft-deleted user can go; what stays is a tombstone that
        the export still serves (so that syncs learn of the deletion) and that reads answer 404 for."""
        user = self._get(int(user_id))
        if user is None or user["active"] or self._erased(user["id"]):
            raise _record_not_found()
        self._stamped(user, _tombstone(user))
        with self.state.db:
            self.state.db.execute("INSERT INTO erased_users VALUES (?)", (user["id"],))
        return 204, None

    # -- reads and writes of state --

    def _present(self, user: dict) -> dict:
        return {"id": user["id"], "url": f"{self.base_url}/api/v2/users/{user['id']}.json", **user}

    def _present_ticket(self, ticket: dict) -> dict:
        return {"id": ticket["id"], "url": f"{self.base_url}/api/v2/tickets/{ticket['id']}.json", **ticket}

    def _get(self, user_id: int) -> dict | None:
        row = self.state.db.execute("SELECT body FROM users WHERE id = ?", (user_id,)).fetchone()
        return json.loads(row[0]) if row else None

    def _find_id(self, column: str, key: str) -> int | None:
        assert column in ("email_key", "external_id")
        row = self.state.db.execute(f"SELECT id FROM users WHERE {column} = ? ORDER BY id LIMIT 1", (key,)).fetchone()
        return row[0] if row else None

    def _save(self, user: dict) -> None:
        if self.bulk:  # a bulk job commits once, at its end
            self.state.db.execute("INSERT OR REPLACE INTO users VALUES (?, ?, ?, ?, ?)", _user_row(user))
            return
        with self.state.db:
            self.state.db.execute("INSERT OR REPLACE INTO users VALUES (?, ?, ?, ?, ?)", _user_row(user))

    def _existing(self, user_id: int) -> dict:
        user = self._get(user_id)
        if user is None or self._erased(user_id):
            raise _record_not_found()
        return user

    def _erased(self, user_id: int) -> bool:
        return self.state.db.execute("SELECT 1 FROM erased_users WHERE id = ?", (user_id,)).fetchone() is not None

    def _match(self, changes: dict) -> int | None:
        # Zendesk matches on external_id first, then on email.
        if changes.get("external_id") is not None:
            found = self._find_id("external_id", str(changes["external_id"]))
            if found is not None:
                return found
        if isinstance(changes.get("email"), str):
            return self._find_id("email_key", changes["email"].lower())
        return None

    def _apply(self, user: dict, changes: dict) -> dict:
        self._validate(changes, user["id"])
        return self._stamped(user, _merged(user, changes))

    def _stamped(self, user: dict, updated: dict) -> dict:
        """Saves `updated` in place of `user` with a new updated_at, unless nothing changed."""
        if updated != user:
            updated["updated_at"] = iso(int(time.time()))
            self._save(updated)
        return updated

    def _create(self, changes: dict) -> dict:
        if not str(changes.get("name") or "").strip():
            raise _record_invalid({"name": [{"description": "Name:  is too short (minimum one character)",
                                             "error": "BlankValue"}]})
        self._validate(changes, None)
        now = iso(int(time.time()))
        next_id = (self.state.db.execute("SELECT MAX(id) FROM users").fetchone()[0] or 0) + 7
        user = _merged({"id": next_id, **NEW_USER_DEFAULTS}, changes)
        user.update(created_at=now, updated_at=now)
        self._save(user)
        return user

    def _validate(self, changes: dict, own_id: int | None) -> None:
        details = _type_errors(changes)
        for field, check in (("email", self._email_error), ("external_id", self._external_id_error)):
            if field not in details and changes.get(field) is not None:
                error = check(changes[field], own_id)
                if error:
                    details[field] = [error]
        if details:
            raise _record_invalid(details)

    def _email_error(self, email: str, own_id: int | None) -> dict | None:
        if not EMAIL_PATTERN.match(email):
            return {"description": f"Email: {email} is not properly formatted", "error": "InvalidFormat"}
        if self._taken("email_key", email.lower(), own_id):
            return {"description": f"Email: {email} is already being used by another user", "error": "DuplicateValue"}
        return None

    def _external_id_error(self, external_id: str | int, own_id: int | None) -> dict | None:
        if self._taken("external_id", str(external_id), own_id):
            return {"description": f"External: {external_id} has already been taken", "error": "DuplicateValue"}
        return None

    def _taken(self, column: str, key: str, own_id: int | None) -> bool:
        found = self._find_id(column, key)
        return found is not None and found != own_id


def _populate(db: sqlite3.Connection, seed_value: int, customers: int) -> None:
    users, tickets = seed(seed_value, customers)
    db.executemany("INSERT INTO users VALUES (?, ?, ?, ?, ?)", map(_user_row, users))
    db.executemany("INSERT INTO tickets VALUES (?, ?, ?)", map(_ticket_row, tickets))


def _export_position(request: Request, kind: str) -> tuple[int, int]:
    if request.arg("cursor"):
        return _decode_cursor(kind, request.arg("cursor"), 2)  # type: ignore[return-value]
    start = request.arg("start_time")
    if start is not None:
        if not start.isdigit():
            raise _bad_value("start_time must be an epoch timestamp in seconds")
        return int(start), -1  # id -1 sorts before every real id, so start_time itself is included
    raise _bad_value("start_time or cursor is required")


def _user_payload(request: Request) -> dict:
    try:
        document = request.json()
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ApiError(400, {"error": "InvalidJSON", "description": "The request body is not valid JSON"}) from None
    if not isinstance(document, dict) or not isinstance(document.get("user"), dict):
        raise _bad_value("user is required")
    return document["user"]


def _type_errors(changes: dict) -> dict:
    return {
        field: [{"description": f"{field} has an invalid type", "error": "InvalidValue"}]
        for field, allowed in WRITABLE_TYPES.items()
        if field in changes and not isinstance(changes[field], allowed)
    }


def _tombstone(user: dict) -> dict:
    """What a permanently deleted user leaves behind: its id, role and creation date, nothing personal."""
    scrubbed = dict.fromkeys(("name", "email", "phone", "external_id", "organization_id", "time_zone", "locale"))
    return {**user, **scrubbed, "verified": False, "active": False, "tags": [], "user_fields": {}}


def _merged(user: dict, changes: dict) -> dict:
    """The user with the writable changes applied, normalised the way Zendesk stores them."""
    merged = dict(user)
    for field in WRITABLE_TYPES.keys() & changes.keys():
        merged[field] = changes[field]
    if "user_fields" in changes:
        # Zendesk merges user_fields key by key rather than replacing the object.
        merged["user_fields"] = {**user.get("user_fields", {}), **changes["user_fields"]}
    if isinstance(merged.get("email"), str):
        merged["email"] = merged["email"].lower()
    if merged.get("external_id") is not None:
        merged["external_id"] = str(merged["external_id"])
    return merged


def main(argv: list[str] | None = None) -> int:
    p = cli.parser("zendesk", "Serve a Zendesk Support users and tickets API sandbox.")
    p.add_argument("--rate-limit", type=int, default=700, help="requests a minute (Enterprise plan)")
    p.add_argument("--export-rate-limit", type=int, default=20, help="incremental export requests a minute")
    p.add_argument("--recent-window", type=float, default=60.0, help="seconds of recent changes the export hides")
    args = p.parse_args(argv)
    return cli.serve("zendesk", lambda: ZendeskSandbox(
        args.host, args.port, state_dir=cli.state_dir(args), seed=args.seed, customers=args.customers,
        rate_limit=args.rate_limit, export_rate_limit=args.export_rate_limit, recent_window=args.recent_window,
        reset=args.reset, faults=cli.faults(args)))


if __name__ == "__main__":
    raise SystemExit(main())
