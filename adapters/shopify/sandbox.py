"""A local stand-in for Shopify's GraphQL Admin API (2025-01): customers, orders and the customer
mutations Concord uses, served over real HTTP by graphql-core from a subset of Shopify's own schema.

It behaves like Shopify where integrations usually break: one POST endpoint, `X-Shopify-Access-Token`
auth with Shopify's 401 body, cost-based throttling (a leaky bucket of query cost, reported in
`extensions.cost`, and HTTP 200 `THROTTLED` errors when a query costs more than the bucket holds),
the single-query cost cap, connections paged with opaque cursors and cut off at 25,000 objects,
search queries on `updated_at` and `tag`, validation failures as HTTP 200 `userErrors`, consent that
only its own mutations may change (or customerCreate sets), and customerRequestDataErasure. Shopify
carries an erasure out days later; the sandbox does it at once (the customer is gone from every
query) so that tests need not wait. State lives in SQLite under the state directory.

`python -m adapters.shopify.sandbox --port 0` prints one JSON line (base URL, access token, state
file) and serves until SIGTERM or SIGINT."""
from __future__ import annotations

import base64
import binascii
import json
import re
import sqlite3
import time
from datetime import datetime, timezone
from pathlib import Path

from graphql import GraphQLError, execute, parse, validate

from adapters.sandbox import ApiError, Faults, Request, Route, SandboxServer, SlidingWindow, SqliteState
from adapters.sandbox import auth, cli
from adapters.shopify import graphql_schema
from adapters.shopify.graphql_schema import Execution
from adapters.shopify.seed import seed

API_VERSION = "2025-01"
API_PATH = f"/admin/api/{API_VERSION}/graphql.json"
SHOP_DOMAIN = "concord-sandbox.myshopify.com"
TOKEN_PREFIX = "shpat_"
MAX_PAGE = 250
MAX_QUERY_COST = 1000
PAGINATION_LIMIT = 25_000
THROTTLE_DOCS = "https://shopify.dev/api/usage/rate-limits"
# Shopify Plus; a standard shop has 1000 points restored at 50 a second.
MAXIMUM_AVAILABLE, RESTORE_RATE = 2000.0, 100.0
CUSTOMER_GID = re.compile(r"gid://shopify/Customer/(\d+)")
EMAIL_PATTERN = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
WRITABLE_CONSENT_STATES = ("SUBSCRIBED", "UNSUBSCRIBED", "PENDING")
CUSTOMER_FIELDS = ("firstName", "lastName", "email", "phone", "note", "tags")
CONSENT = {  # channel -> (field on Customer, the contact it needs, its mutation, the error without one)
    "email": ("emailMarketingConsent", "email", "customerEmailMarketingConsentUpdate",
              "Customer must have an email address"),
    "sms": ("smsMarketingConsent", "phone", "customerSmsMarketingConsentUpdate",
            "Customer must have a phone number"),
}
SORT_COLUMNS = {
    "customers": {"ID": "id", "UPDATED_AT": "updated_epoch"},
    "orders": {"ID": "id", "UPDATED_AT": "updated_epoch", "PROCESSED_AT": "processed_epoch"},
}
SEARCH_COLUMNS = {"updated_at": "updated_epoch"}
# Shopify matches a tag whole and ignoring case; the sandbox keeps a node's tags in its JSON body.
TAG_CLAUSE = "EXISTS (SELECT 1 FROM json_each(body, '$.tags') AS tag WHERE lower(tag.value) = ?)"
SEARCH_TERM = re.compile(r"(\w+):(>=|<=|>|<)?('[^']*'|\"[^\"]*\"|\S+)")
SCHEMA = """
CREATE TABLE IF NOT EXISTS customers (
    id INTEGER PRIMARY KEY, updated_epoch INTEGER NOT NULL, email_key TEXT, phone_key TEXT, body TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS customers_updated ON customers (updated_epoch, id);
CREATE INDEX IF NOT EXISTS customers_email ON customers (email_key);
CREATE INDEX IF NOT EXISTS customers_phone ON customers (phone_key);
CREATE TABLE IF NOT EXISTS orders (
    id INTEGER PRIMARY KEY, updated_epoch INTEGER NOT NULL, processed_epoch INTEGER NOT NULL, body TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS orders_updated ON orders (updated_epoch, id);
CREATE INDEX IF NOT EXISTS orders_processed ON orders (processed_epoch, id);
CREATE TABLE IF NOT EXISTS erasures (id INTEGER PRIMARY KEY, requested_at TEXT NOT NULL);
"""


class CostBucket:
    """Shopify's leaky bucket of query cost: holds up to `maximum` points, refills at `rate` a second."""

    def __init__(self, maximum: float, rate: float):
        self.maximum, self.rate = maximum, rate
        self.level, self.at = maximum, time.monotonic()

    def available(self, now: float) -> float:
        return min(self.maximum, self.level + (now - self.at) * self.rate)

    def spend(self, cost: int, now: float) -> None:
        self.level, self.at = self.available(now) - cost, now

    def cost(self, requested: int, actual: int | None, now: float) -> dict:
        """The `extensions.cost` object Shopify adds to every answer."""
        return {"requestedQueryCost": requested, "actualQueryCost": actual,
                "throttleStatus": {"maximumAvailable": self.maximum, "currentlyAvailable": int(self.available(now)),
                                   "restoreRate": self.rate}}


class ShopifySandbox(SandboxServer):
    """The Shopify sandbox. Binds on construction; `start()` serves in a daemon thread."""

    system = "shopify"
    routes = (Route("POST", re.escape(API_PATH), "_graphql"),)

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, state_dir: Path, seed: int = 1,
                 customers: int = 1000, reset: bool = False, faults: Faults | None = None,
                 maximum_available: float = MAXIMUM_AVAILABLE, restore_rate: float = RESTORE_RATE,
                 pagination_limit: int = PAGINATION_LIMIT):
        self.seed, self.customers = seed, customers
        self.state = SqliteState(Path(state_dir) / "shopify.sqlite", seed=seed, customers=customers, reset=reset,
                                 schema=SCHEMA, populate=lambda db: _populate(db, seed, customers))
        self.shop = Shop(self.state, pagination_limit)
        self.schema = graphql_schema.schema()
        self.bucket = CostBucket(maximum_available, restore_rate)
        # Shopify's GraphQL API counts query cost, not requests: the kit's request window never fills.
        super().__init__(host, port, faults=faults or Faults(seed=seed),
                         buckets={"general": SlidingWindow(limit=10**9, window=1.0)})
        self.lock = self.state.lock

    @property
    def access_token(self) -> str:
        return TOKEN_PREFIX + (self.state.meta("secret") or "")

    def info(self) -> dict:
        return {"system": "shopify", "base_url": self.base_url, "password": self.access_token, "shop": SHOP_DOMAIN,
                "api_version": API_VERSION, "state": str(self.state.path), "seed": self.seed,
                "customers": self.customers}

    def close_state(self) -> None:
        self.state.close()

    # -- Shopify's answers --

    def authenticate(self, request: Request) -> bool:
        return auth.same(request.headers.get("x-shopify-access-token", ""), self.access_token)

    def unauthorized(self) -> tuple[int, dict]:
        return 401, {"errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"}

    def throttled(self, retry_after: int, request: Request, bucket: str) -> tuple[int, dict, dict]:
        # Shopify's THROTTLED body prices the refused request.
        return 200, {}, self._throttled_body(_requested_cost(self.schema, request), time.monotonic())

    def server_error(self) -> tuple[int, dict]:
        return 503, {"errors": "Service Unavailable"}

    def not_found(self) -> tuple[int, dict]:
        return 404, {"errors": "Not Found"}

    # -- the one endpoint (runs under the state lock) --

    def _graphql(self, request: Request) -> tuple[int, dict, dict]:
        query, variables, operation_name = _payload(request)
        try:
            document = parse(query)
        except GraphQLError as error:
            return self._answer({"errors": [error.formatted]})
        invalid = validate(self.schema, document)
        if invalid:
            return self._answer({"errors": [error.formatted for error in invalid]})
        requested = graphql_schema.requested_cost(self.schema, document, variables, operation_name)
        if requested > MAX_QUERY_COST:
            return self._answer(_max_cost_body(requested))
        now = time.monotonic()
        if self.bucket.available(now) < requested:
            return self._answer(self._throttled_body(requested, now))
        return self._answer(self._run(document, variables, operation_name, requested, now))

    def _run(self, document, variables: dict | None, operation_name: str | None, requested: int, now: float) -> dict:
        context = Execution(self.shop)
        result = execute(self.schema, document, variable_values=variables, operation_name=operation_name,
                         context_value=context)
        actual = requested - context.refund
        self.bucket.spend(actual, now)
        body: dict = {"errors": [error.formatted for error in result.errors]} if result.errors else {}
        if result.data is not None:
            body["data"] = result.data
        body["extensions"] = {"cost": self.bucket.cost(requested, actual, now)}
        return body

    def _throttled_body(self, requested: int, now: float) -> dict:
        error = {"message": "Throttled", "extensions": {"code": "THROTTLED", "documentation": THROTTLE_DOCS}}
        return {"errors": [error],
                "extensions": {"cost": self.bucket.cost(requested, None, now)}}

    @staticmethod
    def _answer(body: dict) -> tuple[int, dict, dict]:
        return 200, body, {"X-Shopify-API-Version": API_VERSION}


class Shop:
    """The shop's data and rules, called by the GraphQL resolvers (under the sandbox's lock)."""

    def __init__(self, state: SqliteState, pagination_limit: int):
        self.db = state.db
        self.pagination_limit = pagination_limit

    # -- reads --

    def customer(self, gid: str) -> dict | None:
        row = self.db.execute("SELECT body FROM customers WHERE id = ?", (_customer_number(gid),)).fetchone()
        return json.loads(row[0]) if row else None

    def page(self, kind: str, *, first: int, after: str | None = None, reverse: bool = False,
             sortKey: str = "ID", query: str | None = None) -> dict:  # noqa: N803 - GraphQL's argument name
        """One page of a connection: edges, nodes and pageInfo, keyset-paged on (sort column, id)."""
        if not 0 <= first <= MAX_PAGE:
            raise GraphQLError(f"The first argument must be between 0 and {MAX_PAGE}.")
        offset, position = _decode_cursor(after) if after else (0, None)
        if offset >= self.pagination_limit:
            raise GraphQLError(f"Pagination is limited to {self.pagination_limit} objects; "
                               "use a search query to narrow the results.")
        column = SORT_COLUMNS[kind][sortKey]
        limit = min(first, self.pagination_limit - offset)
        rows = self._rows(kind, column, reverse, _search(query), position, limit + 1)
        return _connection(rows[:limit], offset, has_next=len(rows) > limit)

    def _rows(self, kind: str, column: str, reverse: bool, search: list, position, limit: int) -> list:
        where, params = [clause for clause, _ in search], [value for _, value in search]
        if position is not None:
            clause, values = _after(column, reverse, *position)
            where.append(clause)
            params += values
        direction = "DESC" if reverse else "ASC"
        sql = (f"SELECT {column}, id, body FROM {kind} {'WHERE ' + ' AND '.join(where) if where else ''} "
               f"ORDER BY {column} {direction}, id {direction} LIMIT ?")
        return self.db.execute(sql, (*params, limit)).fetchall()

    # -- writes --

    def create_customer(self, fields: dict) -> dict:
        """customerCreate: a new customer from CustomerInput, consent included, validated as Shopify does."""
        errors = self._create_errors(fields)
        if errors:
            return _failed(errors)
        stamp = _now()
        blank = {"id": f"gid://shopify/Customer/{self._next_number()}", "note": None, "tags": [],
                 "createdAt": stamp, "updatedAt": stamp, "defaultAddress": None,
                 **dict.fromkeys(("firstName", "lastName", "email", "phone")),
                 **{key: None for key, *_ in CONSENT.values()}}
        node = _merged(blank, fields)
        for key, *_ in CONSENT.values():
            if fields.get(key):
                node[key] = _consent_state(fields[key], stamp)
        self._save(node)
        return {"customer": node, "userErrors": []}

    def request_erasure(self, gid: str) -> dict:
        """customerRequestDataErasure, carried out at once: the customer and its personal data are gone.
        The customer's orders stay, pointing at an id that no longer resolves (as an orphan order does)."""
        number = _customer_number(gid)
        if self.customer(gid) is None:
            return {"customerId": None, "userErrors": [{"code": "DOES_NOT_EXIST", "field": ["customerId"],
                                                        "message": "Customer does not exist"}]}
        self.db.execute("DELETE FROM customers WHERE id = ?", (number,))
        self.db.execute("INSERT OR REPLACE INTO erasures VALUES (?, ?)", (number, _now()))
        self.db.commit()
        return {"customerId": gid, "userErrors": []}

    def update_customer(self, changes: dict) -> dict:
        node = self.customer(changes["id"]) if changes.get("id") else None
        if node is None:
            return _failed([{"field": ["id"], "message": "Customer does not exist"}])
        errors = self._customer_errors(changes, _customer_number(changes["id"]))
        if errors:
            return _failed(errors)
        updated = _merged(node, changes)
        if updated != node:
            updated["updatedAt"] = _now()
            self._save(updated)
        return {"customer": updated, "userErrors": []}

    def update_consent(self, channel: str, changes: dict) -> dict:
        key, contact, _, missing = CONSENT[channel]
        node = self.customer(changes["customerId"])
        consent = changes[key]
        error = self._consent_error(node, key, contact, missing, consent)
        if error:
            return _failed([error])
        stamp = _now()
        node[key] = _consent_state(consent, stamp)
        node["updatedAt"] = stamp
        self._save(node)
        return {"customer": node, "userErrors": []}

    def _create_errors(self, fields: dict) -> list[dict]:
        """What customerCreate refuses: no one to name or reach, a bad or taken contact, consent without it."""
        if not any(fields.get(k) for k in ("firstName", "lastName", "email", "phone")):
            return [{"field": None, "message": "Customer must have a name, phone number or email address"}]
        errors = self._contact_errors_of(fields, own_id=0)
        for key, contact, _, missing in CONSENT.values():
            error = self._consent_error(fields, key, contact, missing, fields[key]) if fields.get(key) else None
            errors += [error] if error else []
        return errors

    def _next_number(self) -> int:
        # Shopify never hands out an id twice, not even an erased customer's.
        row = self.db.execute("SELECT max(id) FROM (SELECT id FROM customers UNION ALL SELECT id FROM erasures)")
        return (row.fetchone()[0] or 0) + 1

    def _customer_errors(self, changes: dict, own_id: int) -> list[dict]:
        errors = [{"field": [key], "message": f"To update {key}, please use the {mutation} Mutation instead."}
                  for key, _, mutation, _ in CONSENT.values() if key in changes]
        return errors + self._contact_errors_of(changes, own_id)

    def _contact_errors_of(self, changes: dict, own_id: int) -> list[dict]:
        """An email or phone that is invalid, or taken by another customer than `own_id`."""
        errors = []
        if changes.get("email") is not None:
            errors += self._contact_errors("email", "Email", _email_key(changes["email"]), own_id)
        if changes.get("phone") is not None:
            errors += self._contact_errors("phone", "Phone", _e164(changes["phone"]), own_id)
        return errors

    def _contact_errors(self, field: str, label: str, key: str | None, own_id: int) -> list[dict]:
        if key is None:
            return [{"field": [field], "message": f"{label} is invalid"}]
        row = self.db.execute(f"SELECT id FROM customers WHERE {field}_key = ? AND id != ? LIMIT 1",
                              (key, own_id)).fetchone()
        return [{"field": [field], "message": f"{label} has already been taken"}] if row else []

    @staticmethod
    def _consent_error(node: dict | None, key: str, contact: str, missing: str, consent: dict) -> dict | None:
        if node is None:
            return {"field": ["input", "customerId"], "message": "Customer not found", "code": "INVALID"}
        if consent["marketingState"] not in WRITABLE_CONSENT_STATES:
            return {"field": ["input", key, "marketingState"], "message": "Marketing state is not included in the list",
                    "code": "INCLUSION"}
        if not node.get(contact):
            return {"field": ["input", key], "message": missing, "code": "INVALID"}
        stamp = consent.get("consentUpdatedAt")
        if stamp and _timestamp(stamp) > _now():
            return {"field": ["input", key, "consentUpdatedAt"], "code": "INVALID",
                    "message": "Consent updated at cannot be in the future"}
        return None

    def _save(self, node: dict) -> None:
        self.db.execute("INSERT OR REPLACE INTO customers VALUES (?, ?, ?, ?, ?)", _customer_row(node))
        self.db.commit()


# -- connections and search --

def _connection(rows: list, offset: int, has_next: bool) -> dict:
    nodes = [json.loads(body) for _, _, body in rows]
    cursors = [_encode_cursor(offset + n + 1, value, row_id) for n, (value, row_id, _) in enumerate(rows)]
    return {"edges": [{"cursor": c, "node": n} for c, n in zip(cursors, nodes)], "nodes": nodes,
            "pageInfo": {"hasNextPage": has_next, "hasPreviousPage": offset > 0,
                         "startCursor": cursors[0] if cursors else None,
                         "endCursor": cursors[-1] if cursors else None}}


def _after(column: str, reverse: bool, value: int, row_id: int) -> tuple[str, list]:
    beyond = "<" if reverse else ">"
    if column == "id":
        return f"id {beyond} ?", [row_id]
    return f"({column} {beyond} ? OR ({column} = ? AND id {beyond} ?))", [value, value, row_id]


def _encode_cursor(offset: int, value: int, row_id: int) -> str:
    raw = json.dumps({"last_id": row_id, "last_value": value, "offset": offset}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode()


def _decode_cursor(cursor: str) -> tuple[int, tuple[int, int]]:
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        return int(data["offset"]), (int(data["last_value"]), int(data["last_id"]))
    except (binascii.Error, ValueError, TypeError, KeyError):
        raise GraphQLError("Invalid cursor for current pagination sort.") from None


def _search(query: str | None) -> list[tuple[str, object]]:
    """(SQL condition, its parameter) per supported term; Shopify ignores terms it cannot search on."""
    terms = []
    for field, operator, value in SEARCH_TERM.findall(query or ""):
        value = value.strip("'\"")
        if field in SEARCH_COLUMNS:
            terms.append((f"{SEARCH_COLUMNS[field]} {operator or '='} ?", _search_epoch(value)))
        elif field == "tag" and not operator:
            terms.append((TAG_CLAUSE, value.lower()))
    return terms


def _search_epoch(value: str) -> float:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise GraphQLError(f"Invalid timestamp in search query: {value}") from None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)).timestamp()


# -- values and rows --

def _customer_number(gid: str) -> int:
    match = CUSTOMER_GID.fullmatch(gid or "")
    if not match:
        raise GraphQLError(f"Invalid global id '{gid}'")
    return int(match.group(1))


def _email_key(email: str) -> str | None:
    email = email.strip().lower()
    return email if EMAIL_PATTERN.fullmatch(email) else None


def _e164(phone: str) -> str | None:
    """Shopify stores phones in E.164 and reads bare 10-digit numbers as North American."""
    compact = re.sub(r"[\s().-]", "", phone)
    if compact.startswith("00"):
        compact = "+" + compact[2:]
    if re.fullmatch(r"\+[1-9]\d{7,14}", compact):
        return compact
    if re.fullmatch(r"1?\d{10}", compact):
        return "+1" + compact[-10:]
    return None


def _merged(node: dict, changes: dict) -> dict:
    merged = dict(node)
    for field in CUSTOMER_FIELDS:
        if field in changes:
            merged[field] = changes[field]
    if merged.get("phone"):
        merged["phone"] = _e164(merged["phone"]) or merged["phone"]
    # Consent exists only with its contact: it goes with a cleared email or phone, starts with a new one.
    for key, contact, _, _ in CONSENT.values():
        if not merged.get(contact):
            merged[key] = None
        elif merged.get(key) is None:
            merged[key] = {"marketingState": "NOT_SUBSCRIBED", "marketingOptInLevel": "SINGLE_OPT_IN",
                           "consentUpdatedAt": None}
    return merged


def _consent_state(consent: dict, stamp: str) -> dict:
    """The consent state a consent input sets; without a time of its own, it was given at `stamp`."""
    return {"marketingState": consent["marketingState"],
            "marketingOptInLevel": consent.get("marketingOptInLevel") or "SINGLE_OPT_IN",
            "consentUpdatedAt": _timestamp(consent["consentUpdatedAt"]) if consent.get("consentUpdatedAt") else stamp}


def _failed(errors: list[dict]) -> dict:
    return {"customer": None, "userErrors": errors}


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _timestamp(value: str) -> str:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise GraphQLError("Invalid DateTime") from None
    return parsed.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _epoch(timestamp: str) -> int:
    return int(datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp())


def _customer_row(node: dict) -> tuple:
    email_key = _email_key(node["email"]) if node.get("email") else None
    phone_key = _e164(node["phone"]) if node.get("phone") else None
    return _customer_number(node["id"]), _epoch(node["updatedAt"]), email_key, phone_key, json.dumps(node)


def _order_row(node: dict) -> tuple:
    number = int(node["id"].rsplit("/", 1)[1])
    return number, _epoch(node["updatedAt"]), _epoch(node["processedAt"]), json.dumps(node)


def _populate(db: sqlite3.Connection, seed_value: int, customers: int) -> None:
    nodes, orders = seed(seed_value, customers)
    db.executemany("INSERT INTO customers VALUES (?, ?, ?, ?, ?)", map(_customer_row, nodes))
    db.executemany("INSERT INTO orders VALUES (?, ?, ?, ?)", map(_order_row, orders))


def _payload(request: Request) -> tuple[str, dict | None, str | None]:
    try:
        body = request.json()
    except (UnicodeDecodeError, json.JSONDecodeError):
        body = None
    if not isinstance(body, dict) or not isinstance(body.get("query"), str) or not isinstance(
            body.get("variables") or {}, dict):
        raise ApiError(400, {"errors": {"query": "Required parameter missing or invalid"}})
    return body["query"], body.get("variables"), body.get("operationName")


def _requested_cost(schema, request: Request | None) -> int:
    """What a request would cost, or 0 when it would not even parse."""
    try:
        query, variables, operation_name = _payload(request)
        document = parse(query)
    except (ApiError, GraphQLError, AttributeError):
        return 0
    if validate(schema, document):
        return 0
    return graphql_schema.requested_cost(schema, document, variables, operation_name)


def _max_cost_body(requested: int) -> dict:
    return {"errors": [{"message": f"Query cost is {requested}, which exceeds the single query max cost limit "
                                   f"({MAX_QUERY_COST}).",
                        "extensions": {"code": "MAX_COST_EXCEEDED", "cost": requested, "maxCost": MAX_QUERY_COST}}]}


def main(argv: list[str] | None = None) -> int:
    p = cli.parser("shopify", "Serve a Shopify GraphQL Admin API sandbox (customers and orders).")
    p.add_argument("--maximum-available", type=float, default=MAXIMUM_AVAILABLE,
                   help="query cost points the bucket holds (Shopify Plus 2000, standard 1000)")
    p.add_argument("--restore-rate", type=float, default=RESTORE_RATE,
                   help="points restored a second (Shopify Plus 100, standard 50)")
    args = p.parse_args(argv)
    return cli.serve("shopify", lambda: ShopifySandbox(
        args.host, args.port, state_dir=cli.state_dir(args), seed=args.seed, customers=args.customers,
        reset=args.reset, faults=cli.faults(args), maximum_available=args.maximum_available,
        restore_rate=args.restore_rate))


if __name__ == "__main__":
    raise SystemExit(main())
