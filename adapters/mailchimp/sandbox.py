"""A local stand-in for the Mailchimp Marketing API (/3.0): one audience's members and one
campaign's email-activity report, served over real HTTP on 127.0.0.1.

It behaves like Mailchimp where integrations break: Basic auth with any user name and the API key
("<32 hex>-us21") as password, `count`/`offset` paging (count at most 1000) with
`since_last_changed` (members after that instant, oldest change first), upsert by PUT to the
subscriber hash with `status_if_new`, batch subscribe of up to 500 members (sandbox_batch.py),
permanent deletion (`actions/delete-permanent`: 204, the
member gone, its address "forgotten" and its report entries anonymized), RFC 9457 problem bodies
("Invalid Resource" with `errors`, "Forgotten Email Not Subscribed", "Member In Compliance State"),
and throttling as a bare 429 without rate-limit headers (Mailchimp limits simultaneous connections;
modelled here as requests per second). State lives in SQLite under the state directory.

`python -m adapters.mailchimp.sandbox --port 0` prints one JSON line and serves until SIGTERM.
"""
from __future__ import annotations

import json
import re
import sqlite3
import uuid
from datetime import datetime, timezone
from pathlib import Path

from adapters.mailchimp import seed as seeding
from adapters.mailchimp.sandbox_batch import BatchMembers
from adapters.sandbox import ApiError, Faults, Request, Route, SandboxServer, SlidingWindow, SqliteState
from adapters.sandbox import auth, cli
from adapters.world import World

ERRORS_DOC = "https://mailchimp.com/developer/marketing/docs/errors/"
MAX_COUNT, DEFAULT_COUNT = 1000, 10
RATE_LIMIT = 10  # requests a second: Mailchimp allows about 10 simultaneous connections per key
STATUSES = ("subscribed", "unsubscribed", "cleaned", "pending", "transactional")
# Members who opted out or bounced cannot be put back to "subscribed" through the API; only a
# confirmation ("pending") can bring them back.
COMPLIANCE_STATES = ("unsubscribed", "cleaned")
TEXT_MERGE_FIELDS = ("FNAME", "LNAME", "PHONE")
BIRTHDAY = re.compile(r"^(0[1-9]|1[0-2])/(0[1-9]|[12]\d|3[01])$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# Top-level keys every member has (seed.blank_member's), safe to name in SQL.
MEMBER_KEYS = frozenset(seeding.blank_member("0" * 32, "x@example.com", "0"))
INVALID_DETAIL = "The resource submitted could not be validated. For field-specific details, see the 'errors' array."
SCHEMA = """
CREATE TABLE IF NOT EXISTS members (id TEXT PRIMARY KEY, last_changed TEXT NOT NULL, body TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS members_changed ON members (last_changed, id);
CREATE TABLE IF NOT EXISTS forgotten (id TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS activity (
    seq INTEGER PRIMARY KEY, email_id TEXT NOT NULL, email_address TEXT, action TEXT NOT NULL,
    timestamp TEXT NOT NULL, url TEXT);
CREATE INDEX IF NOT EXISTS activity_email ON activity (email_id, timestamp);
CREATE INDEX IF NOT EXISTS activity_time ON activity (timestamp, email_id);
"""


def problem(status: int, title: str, detail: str, errors: list[dict] | None = None) -> ApiError:
    """Mailchimp's RFC 9457 error body."""
    body = {"type": ERRORS_DOC, "title": title, "status": status, "detail": detail, "instance": str(uuid.uuid4())}
    if errors is not None:
        body["errors"] = errors
    return ApiError(status, body)


def invalid(errors: list[dict], detail: str = INVALID_DETAIL) -> ApiError:
    return problem(400, "Invalid Resource", detail, errors)


def now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S+00:00")


def _instant(value: str, name: str) -> str:
    """An ISO 8601 parameter as the stored form, truncated to the second (stored times are whole
    seconds, so "after T" and "after T's second" select the same rows)."""
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise invalid([{"field": name, "message": "Please use ISO 8601 time format."}]) from None
    parsed = parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S+00:00")


def _int_arg(request: Request, name: str, default: int) -> int:
    value = request.arg(name, str(default))
    if not value.isdigit():
        raise invalid([{"field": name, "message": "Please provide a non-negative integer."}])
    return int(value)


def _page(request: Request) -> tuple[int, int]:
    # Mailchimp caps count at 1000 rather than refusing a larger one.
    return min(_int_arg(request, "count", DEFAULT_COUNT), MAX_COUNT), _int_arg(request, "offset", 0)


def _project(data, paths: list[list[str]]):
    """The `fields=` projection: keeps only the dotted paths asked for, through lists."""
    if isinstance(data, list):
        return [_project(item, paths) for item in data]
    if not isinstance(data, dict):
        return data
    kept = {}
    for key in dict.fromkeys(path[0] for path in paths):
        if key in data:
            rest = [path[1:] for path in paths if path[0] == key]
            kept[key] = data[key] if any(not r for r in rest) else _project(data[key], rest)
    return kept


def _member_keys(fields: str | None) -> list[str] | None:
    """The members' keys a `fields=` asks for when it asks for members only by top-level keys that
    every member has (so that cutting them out in SQL answers exactly what the projection would)."""
    paths = [f.strip().split(".") for f in (fields or "").split(",") if f.strip()]
    wanted = [p[1] for p in paths if p[0] == "members"]
    if not wanted or any(p[0] == "members" and (len(p) != 2 or p[1] not in MEMBER_KEYS) for p in paths):
        return None
    return list(dict.fromkeys(wanted))


def projected(request: Request, body: dict) -> dict:
    fields = request.arg("fields")
    return _project(body, [f.strip().split(".") for f in fields.split(",") if f.strip()]) if fields else body


class MailchimpSandbox(BatchMembers, SandboxServer):
    """The Mailchimp sandbox. Binds on construction; `start()` serves in a daemon thread."""

    system = "mailchimp"
    routes = (
        Route("GET", r"/3\.0/?", "_root"),
        Route("GET", r"/3\.0/ping", "_ping"),
        Route("GET", r"/3\.0/lists/([^/]+)/members", "_list_members"),
        Route("POST", r"/3\.0/lists/([^/]+)", "_batch_members"),
        Route("GET", r"/3\.0/lists/([^/]+)/members/([^/]+)", "_get_member"),
        Route("PUT", r"/3\.0/lists/([^/]+)/members/([^/]+)", "_put_member"),
        Route("POST", r"/3\.0/lists/([^/]+)/members/([^/]+)/actions/delete-permanent", "_delete_permanent"),
        Route("GET", r"/3\.0/reports/([^/]+)/email-activity", "_email_activity"),
    )

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, state_dir: Path, seed: int = 1,
                 customers: int = 1000, reset: bool = False, faults: Faults | None = None,
                 rate_limit: int = RATE_LIMIT, rate_window: float = 1.0):
        self.seed, self.customers = seed, customers
        self.list_id, self.campaign_id = seeding.list_id(seed), seeding.campaign_id(seed)
        self.state = SqliteState(Path(state_dir) / "mailchimp.sqlite", seed=seed, customers=customers, reset=reset,
                                 schema=SCHEMA, populate=lambda db: _populate(db, seed, customers))
        super().__init__(host, port, faults=faults or Faults(seed=seed),
                         buckets={"general": SlidingWindow(rate_limit, rate_window)})
        self.lock = self.state.lock
        # The state file is the sandbox's own: a write-ahead log without an fsync per commit keeps
        # a 500-member batch from waiting on the disk (a crash may lose the last commits, not corrupt).
        self.state.db.execute("PRAGMA journal_mode=WAL")
        self.state.db.execute("PRAGMA synchronous=NORMAL")

    @property
    def api_key(self) -> str:
        return f"{self.state.meta('secret')}-{seeding.DATA_CENTER}"

    def info(self) -> dict:
        return {"system": self.system, "base_url": self.base_url, "login": "concord", "password": self.api_key,
                "list_id": self.list_id, "campaign_id": self.campaign_id, "state": str(self.state.path),
                "seed": self.seed, "customers": self.customers}

    def close_state(self) -> None:
        self.state.close()

    # -- Mailchimp's answers --

    def authenticate(self, request: Request) -> bool:
        return auth.basic_is(request, None, self.api_key)  # any user name; the API key is the password

    def unauthorized(self) -> tuple[int, dict]:
        error = problem(401, "API Key Invalid",
                        "Your API key may be invalid, or you've attempted to access the wrong datacenter.")
        return error.status, error.body

    def throttled(self, retry_after: int, request: Request, bucket: str) -> tuple[int, dict, dict]:
        # Mailchimp sends no Retry-After and no rate-limit headers: clients back off on their own.
        error = problem(429, "Too Many Requests", "You have exceeded the limit of 10 simultaneous connections.")
        return error.status, {}, error.body

    def server_error(self) -> tuple[int, dict]:
        error = problem(500, "Internal Server Error",
                        "An unexpected internal error has occurred. Please contact Support for more information.")
        return error.status, error.body

    def not_found(self) -> tuple[int, dict]:
        error = problem(404, "Resource Not Found", "The requested resource could not be found.")
        return error.status, error.body

    # -- endpoints (each runs under the state lock) --

    def _root(self, request: Request) -> tuple[int, dict]:
        account = {"account_id": seeding.hex_id("account", self.seed, length=25), "login_id": "concord",
                   "account_name": "Concord Sandbox", "email": "concord@sandbox.mailchimp.test",
                   "total_subscribers": self._member_count()}
        return 200, projected(request, account)

    def _ping(self, request: Request) -> tuple[int, dict]:
        return 200, {"health_status": "Everything's Chimpy!"}

    def _list_members(self, request: Request, list_id: str) -> tuple[int, dict]:
        """count/offset paging; with since_last_changed, members changed after it, oldest change first."""
        self._audience(list_id)
        count, offset = _page(request)
        since = request.arg("since_last_changed")
        if since:
            where, args, order = "WHERE last_changed > ?", [_instant(since, "since_last_changed")], "last_changed, id"
        else:
            where, args, order = "", [], "id"
        keys = _member_keys(request.arg("fields"))
        # With `fields` naming only members' top-level keys, SQLite cuts them out of the stored bodies
        # (the same answer as the projection below, without parsing every whole member in Python).
        pairs = ", ".join(f"'{k}', json(body -> '$.{k}')" for k in keys or ())
        column = f"json_object({pairs})" if keys else "body"
        rows = self.state.db.execute(f"SELECT {column} FROM members {where} ORDER BY {order} LIMIT ? OFFSET ?",
                                     (*args, count, offset)).fetchall()
        total = self.state.db.execute(f"SELECT COUNT(*) FROM members {where}", args).fetchone()[0]
        members = json.loads("[" + ",".join(body for (body,) in rows) + "]")  # one parse for the page
        return 200, projected(request, {"members": members, "list_id": list_id, "total_items": total, "_links": []})

    def _get_member(self, request: Request, list_id: str, subscriber_hash: str) -> tuple[int, dict]:
        self._audience(list_id)
        return 200, projected(request, self._existing(subscriber_hash.lower()))

    def _put_member(self, request: Request, list_id: str, subscriber_hash: str) -> tuple[int, dict]:
        """Add or update: idempotent by construction, keyed by the md5 of the address."""
        self._audience(list_id)
        body = _member_payload(request)
        member_id = self._check_key(body, subscriber_hash.lower())
        current = self._get(member_id)
        _validate(body, is_new=current is None)
        if current is None:
            return 200, self._create(member_id, body)
        return 200, self._update(current, body)

    def _delete_permanent(self, request: Request, list_id: str, subscriber_hash: str) -> tuple[int, None]:
        """The GDPR erasure: the member and its personal data go for good, its address is "forgotten"
        (no upsert may bring it back), and the report keeps its events with the address removed.
        A member that is not there (never was, or erased already) is Mailchimp's 404."""
        self._audience(list_id)
        member_id = self._existing(subscriber_hash.lower())["id"]
        with self.state.db:
            self.state.db.execute("DELETE FROM members WHERE id = ?", (member_id,))
            self.state.db.execute("INSERT OR IGNORE INTO forgotten VALUES (?)", (member_id,))
            self.state.db.execute("UPDATE activity SET email_address = NULL WHERE email_id = ?", (member_id,))
        return 204, None

    def _email_activity(self, request: Request, campaign_id: str) -> tuple[int, dict]:
        """Per member, the campaign's events after `since` (all of them without it), by member id."""
        if campaign_id != self.campaign_id:
            raise self._missing()
        count, offset = _page(request)
        since = _instant(request.arg("since"), "since") if request.arg("since") else ""
        ids = [row[0] for row in self.state.db.execute(
            "SELECT DISTINCT email_id FROM activity WHERE timestamp > ? ORDER BY email_id LIMIT ? OFFSET ?",
            (since, count, offset))]
        total = self.state.db.execute("SELECT COUNT(DISTINCT email_id) FROM activity WHERE timestamp > ?",
                                      (since,)).fetchone()[0]
        emails = [self._email_entry(email_id, since) for email_id in ids]
        return 200, projected(request, {"emails": emails, "campaign_id": campaign_id, "total_items": total,
                                        "_links": []})

    # -- state --

    def _audience(self, list_id: str) -> None:
        if list_id != self.list_id:
            raise self._missing()

    def _missing(self) -> ApiError:
        return problem(404, "Resource Not Found", "The requested resource could not be found.")

    def _member_count(self) -> int:
        return self.state.db.execute("SELECT COUNT(*) FROM members").fetchone()[0]

    def _get(self, member_id: str) -> dict | None:
        row = self.state.db.execute("SELECT body FROM members WHERE id = ?", (member_id,)).fetchone()
        return json.loads(row[0]) if row else None

    def _existing(self, member_id: str) -> dict:
        member = self._get(member_id)
        if member is None:
            raise self._missing()
        return member

    def _save(self, member: dict) -> dict:
        with self.state.db:
            self.state.db.execute("INSERT OR REPLACE INTO members VALUES (?, ?, ?)",
                                  (member["id"], member["last_changed"], json.dumps(member)))
        return member

    def _check_key(self, body: dict, subscriber_hash: str) -> str:
        email = body["email_address"]
        if seeding.subscriber_hash(email) != subscriber_hash:
            raise invalid([{"field": "email_address",
                            "message": "The email address does not match the subscriber hash."}])
        if self.state.db.execute("SELECT 1 FROM forgotten WHERE id = ?", (subscriber_hash,)).fetchone():
            raise problem(400, "Forgotten Email Not Subscribed",
                          f"{email} was permanently deleted and cannot be re-imported. "
                          "The contact must re-subscribe to get back on the list.")
        return subscriber_hash

    def _create(self, member_id: str, body: dict) -> dict:
        return self._save(created(member_id, body, self.list_id))

    def _update(self, member: dict, body: dict) -> dict:
        changed = updated(member, body)
        return member if changed is member else self._save(changed)

    def _email_entry(self, email_id: str, since: str) -> dict:
        rows = self.state.db.execute(
            "SELECT email_address, action, timestamp, url FROM activity WHERE email_id = ? AND timestamp > ?"
            " ORDER BY timestamp, seq", (email_id, since)).fetchall()
        activity = [{"action": action, "timestamp": stamp, "ip": "", **({"url": url} if url else {})}
                    for _, action, stamp, url in rows]
        return {"campaign_id": self.campaign_id, "list_id": self.list_id, "list_is_active": True,
                "email_id": email_id, "email_address": rows[0][0] if rows else None, "activity": activity,
                "_links": []}


def created(member_id: str, body: dict, list_id: str, stamp: str | None = None) -> dict:
    """A new member from a validated body (`status`, else `status_if_new`); nothing saved."""
    member = seeding.blank_member(member_id, body["email_address"].strip(), list_id)
    status = body.get("status") or body["status_if_new"]
    return _changed(member, body.get("merge_fields") or {}, status, stamp)


def updated(member: dict, body: dict, stamp: str | None = None) -> dict:
    """The member as a validated body changes it; the same object when nothing changes (last_changed
    stays, so a repeated upsert is no news). Nothing saved. A member who opted out or bounced is
    never set back to "subscribed": that is Mailchimp's "Member In Compliance State"."""
    status = body.get("status") or member["status"]
    if status == "subscribed" and member["status"] in COMPLIANCE_STATES:
        raise problem(400, "Member In Compliance State",
                      f"{member['email_address']} is already a list member in compliance state due to "
                      "unsubscribe, bounce, or compliance review and cannot be subscribed.")
    fields = {**member["merge_fields"], **(body.get("merge_fields") or {})}
    if fields == member["merge_fields"] and status == member["status"]:
        return member
    return _changed(member, fields, status, stamp)


def _changed(member: dict, fields: dict, status: str, stamp: str | None = None) -> dict:
    """The member with merge fields merged key by key (absent ones keep their value), the status set,
    and the change stamped now (or at `stamp`: one instant for a whole batch)."""
    stamp = stamp or now()
    updated = {**member, "merge_fields": {**member["merge_fields"], **fields}, "status": status,
               "last_changed": stamp}
    updated["full_name"] = f"{updated['merge_fields']['FNAME']} {updated['merge_fields']['LNAME']}".strip()
    if status == "subscribed" and member.get("status") != "subscribed":
        updated["timestamp_opt"] = stamp
    return updated


def _json_body(request: Request) -> dict:
    try:
        body = request.json()
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise problem(400, "JSON Parse Exception", "We encountered an unspecified JSON parsing error.") from None
    if not isinstance(body, dict):
        raise problem(400, "JSON Parse Exception", "We encountered an unspecified JSON parsing error.")
    return body


def _member_payload(request: Request) -> dict:
    body = _json_body(request)
    email = body.get("email_address")
    if not isinstance(email, str) or not EMAIL.match(email.strip()):
        raise invalid([{"field": "email_address", "message": "Please provide a valid email address."}])
    return body


def _validate(body: dict, is_new: bool) -> None:
    errors = _status_errors(body, is_new)
    if errors:
        raise invalid(errors)
    errors = _merge_field_errors(body.get("merge_fields", {}))
    if errors:
        raise invalid(errors, "Your merge fields were invalid.")


def _status_errors(body: dict, is_new: bool) -> list[dict]:
    errors = []
    for name in ("status", "status_if_new"):
        if name in body and body[name] not in STATUSES:
            accepted = ", ".join(STATUSES)
            errors.append({"field": name, "message": f"Data presented is not one of the accepted values: {accepted}."})
    if is_new and not body.get("status_if_new") and not body.get("status"):
        errors.append({"field": "status_if_new", "message": "This value should not be blank."})
    return errors


def _merge_field_errors(fields) -> list[dict]:
    if not isinstance(fields, dict):
        return [{"field": "merge_fields", "message": f"Schema describes object, {type(fields).__name__} found instead"}]
    messages = {tag: _merge_field_error(tag, value) for tag, value in fields.items()}
    return [{"field": tag, "message": message} for tag, message in messages.items() if message]


def _merge_field_error(tag: str, value) -> str | None:
    if tag in TEXT_MERGE_FIELDS:
        return None if isinstance(value, str) else "Please enter a text value."
    if tag == "BIRTHDAY":
        valid = value == "" or (isinstance(value, str) and BIRTHDAY.match(value))
        return None if valid else "Please enter the date (MM/DD)."
    if tag == "ADDRESS":
        return None if value == "" or _complete_address(value) else "Please enter a complete address."
    return "This merge field does not exist in this audience."


def _complete_address(value) -> bool:
    required = ("addr1", "city", "state", "zip")
    return isinstance(value, dict) and all(isinstance(value.get(k), str) and value[k].strip() for k in required)


def _populate(db: sqlite3.Connection, seed: int, customers: int) -> None:
    world = World(seed, customers)
    members = seeding.members(world, seeding.list_id(seed))
    db.executemany("INSERT INTO members VALUES (?, ?, ?)",
                   ((m["id"], m["last_changed"], json.dumps(m)) for m in members))
    db.executemany("INSERT INTO forgotten VALUES (?)",
                   ((seeding.subscriber_hash(e),) for e in seeding.forgotten_emails(seed)))
    db.executemany("INSERT INTO activity (email_id, email_address, action, timestamp, url) VALUES (?, ?, ?, ?, ?)",
                   seeding.email_activity(world, seeding.campaign_id(seed)))


def main(argv: list[str] | None = None) -> int:
    p = cli.parser("mailchimp", "Serve a Mailchimp Marketing API sandbox (audience members, email activity).")
    p.add_argument("--rate-limit", type=int, default=RATE_LIMIT,
                   help="requests per --rate-window seconds (Mailchimp: ~10 simultaneous connections)")
    p.add_argument("--rate-window", type=float, default=1.0)
    args = p.parse_args(argv)
    return cli.serve("mailchimp", lambda: MailchimpSandbox(
        args.host, args.port, state_dir=cli.state_dir(args), seed=args.seed, customers=args.customers,
        reset=args.reset, faults=cli.faults(args), rate_limit=args.rate_limit, rate_window=args.rate_window))


if __name__ == "__main__":
    raise SystemExit(main())
