"""A local stand-in for the Zendesk Support users API, served over real HTTP.

The sandbox lets the Zendesk adapter, the contract kit and the benchmarks run against
something that behaves like Zendesk where integrations usually break: Basic token auth,
the cursor-based incremental export (which hides the most recent minute), list paging,
create-or-update semantics (201 vs 200), 422 validation bodies, per-bucket rate limits
with ``Retry-After``, and optional injected 503s. State lives in SQLite under the state
directory so a second run sees what the first one wrote.

Run it with ``python -m adapters.zendesk.sandbox --port 0``: it prints one JSON line
(base URL, credentials, state file) on stdout and serves until SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import calendar
import hmac
import json
import math
import random
import re
import secrets
import signal
import sqlite3
import sys
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

from adapters.zendesk.seed import iso, seed_users

EMAIL = "concord@sandbox.zendesk.test"
EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
WINDOW_SECONDS = 60.0
EXPORT_MAX_PAGE = 1000
LIST_MAX_PAGE = 100
NONE = type(None)
# Only these fields can be written; anything else in a payload is ignored, as Zendesk
# ignores read-only attributes such as id, role or created_at.
WRITABLE_TYPES: dict[str, tuple[type, ...]] = {
    "name": (str,),
    "email": (str, NONE),
    "phone": (str, NONE),
    "external_id": (str, int, NONE),
    "tags": (list,),
    "user_fields": (dict,),
    "verified": (bool,),
    "time_zone": (str,),
    "locale": (str,),
    "organization_id": (int, NONE),
}
NEW_USER_DEFAULTS = {
    "name": "", "email": None, "phone": None, "external_id": None, "role": "end-user",
    "verified": False, "active": True, "suspended": False, "tags": [], "user_fields": {},
    "organization_id": None, "time_zone": "Eastern Time (US & Canada)", "locale": "en-US",
}


class ApiError(Exception):
    """An error answer: HTTP status plus the Zendesk-shaped JSON body."""

    def __init__(self, status: int, body: dict):
        super().__init__(status, body)
        self.status = status
        self.body = body


def _bad_value(description: str) -> ApiError:
    return ApiError(400, {"error": "InvalidValue", "description": description})


def _record_invalid(details: dict) -> ApiError:
    return ApiError(422, {"error": "RecordInvalid", "description": "Record validation errors", "details": details})


def _encode_cursor(kind: str, *numbers: int) -> str:
    raw = ":".join([kind, *map(str, numbers)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(kind: str, token: str, count: int) -> tuple[int, ...]:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        prefix, *numbers = raw.split(":")
        if prefix != kind or len(numbers) != count:
            raise ValueError(raw)
        return tuple(int(n) for n in numbers)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise _bad_value("cursor is invalid") from None


def _int_param(query: dict, name: str, default: int, maximum: int) -> int:
    # Zendesk clamps oversized pages instead of rejecting them.
    value = query.get(name, [str(default)])[0]
    if not value.lstrip("-").isdigit() or int(value) < 1:
        raise _bad_value(f"{name} must be a positive integer")
    return min(int(value), maximum)


def _epoch(timestamp: str) -> int:
    return calendar.timegm(time.strptime(timestamp, "%Y-%m-%dT%H:%M:%SZ"))


class SlidingWindow:
    """A rate-limit bucket: at most ``limit`` admitted requests in any 60-second window."""

    def __init__(self, limit: int):
        self.limit = limit
        self._hits: deque[float] = deque()

    def remaining(self, now: float) -> int:
        while self._hits and self._hits[0] <= now - WINDOW_SECONDS:
            self._hits.popleft()
        return max(0, self.limit - len(self._hits))

    def try_acquire(self, now: float) -> bool:
        if self.remaining(now) == 0:
            return False
        self._hits.append(now)
        return True

    def retry_after(self, now: float) -> int:
        return max(1, math.ceil(self._hits[0] + WINDOW_SECONDS - now)) if self._hits else 1


class UserStore:
    """Users and meta in one SQLite file; callers hold ``lock`` around every use."""

    def __init__(self, path: Path, seed: int, customers: int, reset: bool):
        if reset:
            for suffix in ("", "-journal", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
        self.path = path
        self.lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False)
        self._create_schema()
        if self.meta("seed") is None:
            self._seed(seed, customers)
        self._check_seed(seed, customers)

    def _create_schema(self) -> None:
        self._db.executescript(
            """
            CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
            CREATE TABLE IF NOT EXISTS users (
                id INTEGER PRIMARY KEY, updated_epoch INTEGER NOT NULL,
                email_key TEXT, external_id TEXT, body TEXT NOT NULL);
            CREATE INDEX IF NOT EXISTS users_updated ON users (updated_epoch, id);
            CREATE INDEX IF NOT EXISTS users_email ON users (email_key);
            CREATE INDEX IF NOT EXISTS users_external ON users (external_id);
            """
        )

    def _seed(self, seed: int, customers: int) -> None:
        users, _ = seed_users(seed, customers)
        with self._db:
            self._db.executemany("INSERT INTO users VALUES (?, ?, ?, ?, ?)", map(self._row, users))
            meta = {"seed": seed, "customers": customers, "api_token": secrets.token_hex(16)}
            self._db.executemany("INSERT INTO meta VALUES (?, ?)", [(k, str(v)) for k, v in meta.items()])

    def _check_seed(self, seed: int, customers: int) -> None:
        stored = (int(self.meta("seed")), int(self.meta("customers")))
        if stored != (seed, customers):
            self._db.close()
            raise ValueError(
                f"{self.path} was seeded with seed={stored[0]} customers={stored[1]}; "
                "pass --reset to re-seed"
            )

    @staticmethod
    def _row(user: dict) -> tuple:
        email_key = user["email"].lower() if user["email"] else None
        external_id = None if user["external_id"] is None else str(user["external_id"])
        return (user["id"], _epoch(user["updated_at"]), email_key, external_id, json.dumps(user))

    def meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def get(self, user_id: int) -> dict | None:
        row = self._db.execute("SELECT body FROM users WHERE id = ?", (user_id,)).fetchone()
        return json.loads(row[0]) if row else None

    def find_id(self, column: str, key: str) -> int | None:
        assert column in ("email_key", "external_id")
        row = self._db.execute(f"SELECT id FROM users WHERE {column} = ? ORDER BY id LIMIT 1", (key,)).fetchone()
        return row[0] if row else None

    def export_after(self, position: tuple[int, int], cutoff: float, limit: int) -> list[dict]:
        epoch, user_id = position
        rows = self._db.execute(
            "SELECT body FROM users WHERE (updated_epoch > ? OR (updated_epoch = ? AND id > ?))"
            " AND updated_epoch <= ? ORDER BY updated_epoch, id LIMIT ?",
            (epoch, epoch, user_id, cutoff, limit),
        )
        return [json.loads(body) for (body,) in rows]

    def list_after(self, after_id: int, limit: int) -> list[dict]:
        rows = self._db.execute("SELECT body FROM users WHERE id > ? ORDER BY id LIMIT ?", (after_id, limit))
        return [json.loads(body) for (body,) in rows]

    def next_id(self) -> int:
        return (self._db.execute("SELECT MAX(id) FROM users").fetchone()[0] or 0) + 7

    def save(self, user: dict) -> None:
        with self._db:
            self._db.execute("INSERT OR REPLACE INTO users VALUES (?, ?, ?, ?, ?)", self._row(user))

    def close(self) -> None:
        self._db.close()


class _Handler(BaseHTTPRequestHandler):
    """Moves bytes between the socket and ``ZendeskSandbox.handle``; no API logic here."""

    protocol_version = "HTTP/1.1"
    server_version = "ZendeskSandbox/1"
    # Headers and body leave in two writes; with Nagle on, each keep-alive reply waits ~40 ms for
    # the client's delayed ACK, which would make the sandbox, not Concord, the bottleneck.
    disable_nagle_algorithm = True

    def _serve(self) -> None:
        try:
            body = self.rfile.read(max(0, int(self.headers.get("Content-Length") or 0)))
        except ValueError:
            self.send_error(400)
            return
        sandbox = self.server.sandbox  # type: ignore[attr-defined]
        status, headers, payload = sandbox.handle(self.command, self.path, self.headers.get("Authorization"), body)
        data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_PUT = do_POST = do_DELETE = do_PATCH = _serve

    def log_request(self, code="-", size="-") -> None:
        # The path only: query strings and bodies may carry personal data.
        sys.stderr.write(f"zendesk-sandbox {self.command} {urlsplit(self.path).path} {code}\n")

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - signature from the base class
        sys.stderr.write(f"zendesk-sandbox {format % args}\n")


class ZendeskSandbox:
    """The sandbox server. Binds on construction; ``start()`` serves in a daemon thread."""

    ROUTES = [
        ("GET", re.compile(r"/api/v2/incremental/users/cursor\.json"), "_export", "export"),
        ("GET", re.compile(r"/api/v2/users\.json"), "_list", "general"),
        ("GET", re.compile(r"/api/v2/users/(\d+)\.json"), "_show", "general"),
        ("PUT", re.compile(r"/api/v2/users/(\d+)\.json"), "_update", "general"),
        ("POST", re.compile(r"/api/v2/users/create_or_update\.json"), "_create_or_update", "general"),
    ]

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, state_dir: Path, seed: int = 1,
                 customers: int = 1000, rate_limit: int = 700, export_rate_limit: int = 20,
                 recent_window: float = 60.0, reset: bool = False, fault_rate: float = 0.0):
        Path(state_dir).mkdir(parents=True, exist_ok=True)
        self.seed, self.customers = seed, customers
        self.recent_window, self.fault_rate = recent_window, fault_rate
        self.stats: dict[str, int] = {"requests": 0, "429": 0, "503": 0}
        self._buckets = {"general": SlidingWindow(rate_limit), "export": SlidingWindow(export_rate_limit)}
        self._faults = random.Random(seed)
        self._lock = threading.Lock()
        self._store = UserStore(Path(state_dir) / "zendesk.sqlite", seed, customers, reset)
        self._api_token = self._store.meta("api_token") or ""
        self._expected_auth = f"{EMAIL}/token:{self._api_token}".encode()
        self._server = ThreadingHTTPServer((host, port), _Handler)
        self._server.sandbox = self  # type: ignore[attr-defined]
        self._thread: threading.Thread | None = None
        self._serving = False

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def email(self) -> str:
        return EMAIL

    @property
    def api_token(self) -> str:
        return self._api_token

    def info(self) -> dict:
        return {"system": "zendesk", "base_url": self.base_url, "email": self.email,
                "api_token": self.api_token, "state": str(self._store.path),
                "seed": self.seed, "customers": self.customers}

    def start(self) -> ZendeskSandbox:
        self._serving = True
        # A short poll interval keeps stop() quick; shutdown() waits for the next poll.
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.1,),
                                        name="zendesk-sandbox", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._serving = True
        self._server.serve_forever()

    def stop(self) -> None:
        # shutdown() waits for a serve loop, so it is only safe once one was started.
        if self._serving:
            self._server.shutdown()
            self._serving = False
        if self._thread:
            self._thread.join()
            self._thread = None
        self._server.server_close()
        with self._store.lock:
            self._store.close()

    def __enter__(self) -> ZendeskSandbox:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    # -- request pipeline: route, authenticate, rate-limit, maybe fail, then act --

    def handle(self, method: str, target: str, authorization: str | None, body: bytes) -> tuple[int, dict, dict]:
        """Answer one request: returns (status, extra headers, JSON body)."""
        parts = urlsplit(target)
        route = self._route(method, parts.path)
        bucket = self._buckets[route[2] if route else "general"]
        status, headers, payload = self._gate(bucket, authorization)
        if status is None:
            status, payload = self._dispatch(route, parse_qs(parts.query), body)
        self._count(status)
        return status, headers, payload

    def _route(self, method: str, path: str) -> tuple[str, tuple[str, ...], str] | None:
        for verb, pattern, action, bucket in self.ROUTES:
            match = pattern.fullmatch(path)
            if match and verb == method:
                return action, match.groups(), bucket
        return None

    def _gate(self, bucket: SlidingWindow, authorization: str | None) -> tuple[int | None, dict, dict | None]:
        now = time.monotonic()
        with self._lock:
            if not self._authenticated(authorization):
                return 401, self._limit_headers(bucket, now), {"error": "Couldn't authenticate you"}
            if not bucket.try_acquire(now):
                headers = {**self._limit_headers(bucket, now), "Retry-After": str(bucket.retry_after(now))}
                return 429, headers, {"error": "TooManyRequests", "description": "Rate limit exceeded"}
            headers = self._limit_headers(bucket, now)
            if self._faults.random() < self.fault_rate:
                return 503, headers, {"error": "ServiceUnavailable"}
        return None, headers, None

    @staticmethod
    def _limit_headers(bucket: SlidingWindow, now: float) -> dict:
        return {"X-Rate-Limit": str(bucket.limit), "X-Rate-Limit-Remaining": str(bucket.remaining(now))}

    def _authenticated(self, authorization: str | None) -> bool:
        scheme, _, encoded = (authorization or "").partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            given = base64.b64decode(encoded.strip(), validate=True)
        except binascii.Error:
            return False
        return hmac.compare_digest(given, self._expected_auth)

    def _dispatch(self, route, query: dict, body: bytes) -> tuple[int, dict]:
        if route is None:
            return 404, {"error": "InvalidEndpoint", "description": "Not found"}
        action, groups, _ = route
        try:
            with self._store.lock:
                return getattr(self, action)(*groups, query=query, body=body)
        except ApiError as error:
            return error.status, error.body

    def _count(self, status: int) -> None:
        with self._lock:
            self.stats["requests"] += 1
            self.stats[str(status)] = self.stats.get(str(status), 0) + 1

    def _present(self, user: dict) -> dict:
        return {"id": user["id"], "url": f"{self.base_url}/api/v2/users/{user['id']}.json", **user}

    # -- endpoints: each runs under the store lock and returns (status, body) --

    def _export(self, *, query: dict, body: bytes) -> tuple[int, dict]:
        """GET /api/v2/incremental/users/cursor.json (start_time= or cursor=, per_page=)."""
        per_page = _int_param(query, "per_page", EXPORT_MAX_PAGE, EXPORT_MAX_PAGE)
        position = self._export_position(query)
        cutoff = time.time() - self.recent_window
        rows = self._store.export_after(position, cutoff, per_page + 1)
        page = rows[:per_page]
        if page:
            position = (_epoch(page[-1]["updated_at"]), page[-1]["id"])
        after = _encode_cursor("u", *position)
        extra = {"per_page": query["per_page"][0]} if "per_page" in query else {}
        after_url = f"{self.base_url}/api/v2/incremental/users/cursor.json?{urlencode({'cursor': after, **extra})}"
        return 200, {"users": [self._present(u) for u in page], "after_cursor": after, "after_url": after_url,
                     "before_cursor": None, "before_url": None, "end_of_stream": len(rows) <= per_page}

    @staticmethod
    def _export_position(query: dict) -> tuple[int, int]:
        if "cursor" in query:
            return _decode_cursor("u", query["cursor"][0], 2)  # type: ignore[return-value]
        if "start_time" in query:
            start = query["start_time"][0]
            if not start.isdigit():
                raise _bad_value("start_time must be an epoch timestamp in seconds")
            # id -1 sorts before every real id, so start_time itself is included.
            return int(start), -1
        raise _bad_value("start_time or cursor is required")

    def _list(self, *, query: dict, body: bytes) -> tuple[int, dict]:
        """GET /api/v2/users.json (page[size]=, page[after]=), ordered by id."""
        size = _int_param(query, "page[size]", LIST_MAX_PAGE, LIST_MAX_PAGE)
        after_id = _decode_cursor("p", query["page[after]"][0], 1)[0] if "page[after]" in query else 0
        rows = self._store.list_after(after_id, size + 1)
        page, has_more = rows[:size], len(rows) > size
        after = _encode_cursor("p", page[-1]["id"]) if page else None
        next_url = None
        if has_more:
            next_url = f"{self.base_url}/api/v2/users.json?{urlencode({'page[size]': size, 'page[after]': after})}"
        return 200, {"users": [self._present(u) for u in page],
                     "meta": {"has_more": has_more, "after_cursor": after, "before_cursor": None},
                     "links": {"next": next_url, "prev": None}}

    def _show(self, user_id: str, *, query: dict, body: bytes) -> tuple[int, dict]:
        return 200, {"user": self._present(self._existing(int(user_id)))}

    def _update(self, user_id: str, *, query: dict, body: bytes) -> tuple[int, dict]:
        user = self._existing(int(user_id))
        return 200, {"user": self._present(self._apply(user, _user_payload(body)))}

    def _create_or_update(self, *, query: dict, body: bytes) -> tuple[int, dict]:
        changes = _user_payload(body)
        match_id = self._match(changes)
        if match_id is not None:
            return 200, {"user": self._present(self._apply(self._store.get(match_id), changes))}
        return 201, {"user": self._present(self._create(changes))}

    # -- write helpers --

    def _existing(self, user_id: int) -> dict:
        user = self._store.get(user_id)
        if user is None:
            raise ApiError(404, {"error": "RecordNotFound", "description": "Not found"})
        return user

    def _match(self, changes: dict) -> int | None:
        # Zendesk matches on external_id first, then on email.
        if changes.get("external_id") is not None:
            found = self._store.find_id("external_id", str(changes["external_id"]))
            if found is not None:
                return found
        if isinstance(changes.get("email"), str):
            return self._store.find_id("email_key", changes["email"].lower())
        return None

    def _apply(self, user: dict, changes: dict) -> dict:
        self._validate(changes, user["id"])
        updated = _merged(user, changes)
        if updated != user:
            updated["updated_at"] = iso(int(time.time()))
            self._store.save(updated)
        return updated

    def _create(self, changes: dict) -> dict:
        if not str(changes.get("name") or "").strip():
            raise _record_invalid({"name": [{"description": "Name:  is too short (minimum one character)",
                                             "error": "BlankValue"}]})
        self._validate(changes, None)
        now = iso(int(time.time()))
        user = _merged({"id": self._store.next_id(), **NEW_USER_DEFAULTS}, changes)
        user.update(created_at=now, updated_at=now)
        self._store.save(user)
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
        found = self._store.find_id(column, key)
        return found is not None and found != own_id


def _user_payload(body: bytes) -> dict:
    try:
        document = json.loads(body or b"null")
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


def _default_state_dir() -> Path:
    from canonical.paths import sandboxes_dir  # var/sandboxes, or under CONCORD_VAR_DIR when set

    return sandboxes_dir()


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Serve a Zendesk Support users API sandbox.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--customers", type=int, default=1000)
    parser.add_argument("--state-dir", type=Path, default=None)
    parser.add_argument("--rate-limit", type=int, default=700)
    parser.add_argument("--export-rate-limit", type=int, default=20)
    parser.add_argument("--recent-window", type=float, default=60.0)
    parser.add_argument("--fault-rate", type=float, default=0.0)
    parser.add_argument("--reset", action="store_true")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    try:
        sandbox = ZendeskSandbox(
            args.host, args.port, state_dir=args.state_dir or _default_state_dir(), seed=args.seed,
            customers=args.customers, rate_limit=args.rate_limit, export_rate_limit=args.export_rate_limit,
            recent_window=args.recent_window, reset=args.reset, fault_rate=args.fault_rate,
        )
    except ValueError as error:
        print(f"zendesk-sandbox: {error}", file=sys.stderr)
        return 2
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    sandbox.start()
    print(json.dumps(sandbox.info()), flush=True)
    sys.stderr.write(f"zendesk-sandbox listening on {sandbox.base_url}\n")
    # A timed wait keeps the main thread responsive to signals on every platform.
    while not stopping.wait(0.5):
        pass
    sandbox.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
