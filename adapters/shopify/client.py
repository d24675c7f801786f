"""Shopify: reads customers and orders through the GraphQL Admin API (2025-01) and writes names, phones
and marketing consent back with customerUpdate and the two consent mutations. Auth is the
`X-Shopify-Access-Token` header, the connection's password.

Shopify has no upsert, so a create looks first for a customer tagged with its key (`concord:<golden
id>`, the tag customerCreate gives it) and updates that one if found; the create itself is sent only
once, since resending it after a lost answer would make a second customer. Erasure goes through
customerRequestDataErasure (customerDelete refuses customers with orders and leaves their orders'
personal data); an id Shopify no longer knows counts as erased, so an erasure is safe to resend.

Reads are incremental on `updated_at`: a search query `updated_at:>='T'` sorted by UPDATED_AT, paged
with `after`, where T is the Watermark's high minus a lookback and records already delivered are
dropped. Shopify stops a connection at 25,000 objects, so a long read moves the window instead:
a new query from the newest timestamp delivered so far.

Throttling is by query cost, not by request: every answer reports the cost bucket, and an empty
bucket answers HTTP 200 with a THROTTLED error. The client waits before a query the bucket cannot
pay for, and turns a THROTTLED answer into a RetriableError inside the HTTP client's retry loop."""
from __future__ import annotations

import copy
import re
import time
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Iterator

from adapters.base import Change, Endpoint, FatalError, Page, RetriableError, WriteResult
from adapters.http import HttpClient
from adapters.watermark import Watermark, format_ts

API_PATH = "/admin/api/2025-01/graphql.json"
PAGE_SIZE = 250                 # Shopify's maximum `first`
PAGINATION_LIMIT = 25_000       # objects one connection query can page through
LOOKBACK = timedelta(minutes=2)
MUTATION_COST = 10
WRITE_BATCH = 10                # changes per request: at most 3 mutations each, far under the 1000-point cap
MIN_THROTTLE_WAIT = 0.25        # seconds; a THROTTLED answer always costs at least this pause
KEY_TAG = "concord:"            # + the golden id: the tag that marks the customer a create made
# Keys go into a quoted search term; anything else could end the quote and match nothing, which
# would turn every retry into another customer.
SAFE_KEY = re.compile(r"[\w.-]{1,200}")

CUSTOMER_FIELDS = """
fragment CustomerFields on Customer {
  id firstName lastName email phone tags createdAt updatedAt
  defaultAddress { address1 address2 city province zip countryCodeV2 }
  emailMarketingConsent { marketingState marketingOptInLevel consentUpdatedAt }
  smsMarketingConsent { marketingState marketingOptInLevel consentUpdatedAt }
}
"""
READS = {
    "customers": """
query Customers($first: Int!, $after: String, $query: String) {
  customers(first: $first, after: $after, sortKey: UPDATED_AT, query: $query) {
    nodes { ...CustomerFields }
    pageInfo { hasNextPage endCursor }
  }
}
""" + CUSTOMER_FIELDS,
    "orders": """
query Orders($first: Int!, $after: String, $query: String) {
  orders(first: $first, after: $after, sortKey: UPDATED_AT, query: $query) {
    nodes { id name createdAt updatedAt customer { id } totalPriceSet { shopMoney { amount currencyCode } } }
    pageInfo { hasNextPage endCursor }
  }
}
""",
}
CREATE = """
mutation Create($input: CustomerInput!) {
  create: customerCreate(input: $input) { customer { ...CustomerFields } userErrors { field message } }
}
""" + CUSTOMER_FIELDS
# The patch keys that are not CustomerInput fields but consent, each with the mutation that sets it.
CONSENT_MUTATIONS = {
    "emailMarketingConsent": ("customerEmailMarketingConsentUpdate", "CustomerEmailMarketingConsentUpdateInput!"),
    "smsMarketingConsent": ("customerSmsMarketingConsentUpdate", "CustomerSmsMarketingConsentUpdateInput!"),
}


class ShopifyAdapter:
    name = "shopify"
    streams = ("customers", "orders")

    def __init__(self, endpoint: Endpoint, *, max_wait: float = 300.0, page_size: int = PAGE_SIZE,
                 pagination_limit: int = PAGINATION_LIMIT):
        self.http = HttpClient(self.name, endpoint.base_url, max_wait=max_wait,
                               headers={"X-Shopify-Access-Token": endpoint.password or ""})
        self.budget = CostBudget()
        self.http.session.hooks["response"].append(self.budget.check)
        # The same client without retries, for the one request that must not be resent (see _create).
        self.once = copy.copy(self.http)
        self.once.max_attempts = 1
        self.page_size, self.pagination_limit = page_size, pagination_limit

    def read(self, stream: str, cursor: dict | None) -> Iterator[Page]:
        if stream not in READS:
            raise FatalError(f"shopify: no stream {stream!r} (streams: {', '.join(self.streams)})")
        mark = Watermark(cursor, LOOKBACK)
        since = mark.query_from()
        while since is not False:
            since = yield from self._window(stream, mark, since)

    def _window(self, stream: str, mark: Watermark, since: datetime | None):
        """Pages of one search query; returns where the next query starts, or False at the end."""
        after, fetched, high_before = None, 0, mark.high
        while True:
            connection = self._page(stream, since, after)
            fetched += len(connection["nodes"])
            yield Page([n for n in connection["nodes"] if mark.admit(n["id"], n["updatedAt"])], mark.cursor())
            if not connection["pageInfo"]["hasNextPage"]:
                return False
            if fetched >= self.pagination_limit:
                if mark.high == high_before:
                    raise FatalError(f"shopify: more {stream} than one query can page through share updated_at "
                                     f"{format_ts(mark.high)}; the window cannot move past them")
                return mark.high  # inclusive: records tied on it were seen and are dropped
            after = connection["pageInfo"]["endCursor"]

    def _page(self, stream: str, since: datetime | None, after: str | None) -> dict:
        variables = {"first": self.page_size, "after": after,
                     "query": f"updated_at:>='{format_ts(since)}'" if since else None}
        body = self._post(READS[stream], variables, cost=2 + self.page_size)
        if body.get("errors") or not body.get("data"):
            raise FatalError(f"shopify: the {stream} query failed: {_summary(body.get('errors'))}", 200, body)
        return body["data"][stream]

    def _post(self, query: str, variables: dict, cost: int, http: HttpClient | None = None) -> dict:
        self.budget.wait_for(cost)
        return (http or self.http).request("POST", API_PATH, json={"query": query, "variables": variables}).json()

    def write(self, changes: list[Change]) -> list[WriteResult]:
        """Updates in batches of aliased mutations, creates in batches that look their keys up first."""
        results: dict[int, WriteResult] = {}
        for creates, send in ((False, self._write_batch), (True, self._create_batch)):
            numbers = [n for n, change in enumerate(changes) if (change.source_id is None) == creates]
            for start in range(0, len(numbers), WRITE_BATCH):
                chunk = numbers[start:start + WRITE_BATCH]
                results.update(zip(chunk, send([changes[n] for n in chunk])))
        return [results[n] for n in range(len(changes))]

    def _create_batch(self, changes: list[Change]) -> list[WriteResult]:
        """Each create as an upsert on its key: an update of the customer already tagged with it (an
        earlier attempt whose answer was lost made it), a customerCreate otherwise."""
        try:
            found = self._find_keyed(sorted({c.key for c in changes if c.key and SAFE_KEY.fullmatch(c.key)}))
        except (RetriableError, FatalError) as exc:
            return [_failure(None, exc) for _ in changes]
        results = []
        for change in changes:
            if not (change.key and SAFE_KEY.fullmatch(change.key)):
                results.append(WriteResult(None, ok=False, reason="shopify: a create needs a key (letters, digits, "
                                                                   "'_', '.', '-') to be safe to retry"))
            elif change.key in found:
                results += self._write_batch([replace(change, source_id=found[change.key])])
            else:
                results.append(self._create(change))
                if results[-1].ok:  # the same key again in this batch is an update of this one
                    found[change.key] = results[-1].source_id
        return results

    def _find_keyed(self, keys: list[str]) -> dict[str, str]:
        """{key: id} of the customers tagged with these keys, in one aliased query."""
        if not keys:
            return {}
        variables = {f"k{n}": f"tag:'{KEY_TAG}{key}'" for n, key in enumerate(keys)}
        body = self._post(lookup_document(len(keys)), variables, cost=3 * len(keys))
        if body.get("errors") or not body.get("data"):
            raise FatalError(f"shopify: the key lookup failed: {_summary(body.get('errors'))}", 200, body)
        return {key: nodes[0]["id"] for n, key in enumerate(keys) if (nodes := body["data"][f"k{n}"]["nodes"])}

    def _create(self, change: Change) -> WriteResult:
        """customerCreate, sent once: after a lost answer the caller's retry finds the customer by its key."""
        try:
            body = self._post(CREATE, {"input": create_input(change)}, cost=MUTATION_COST, http=self.once)
        except (RetriableError, FatalError) as exc:
            return _failure(None, exc)
        result = _result(change, {"create": "customerCreate"}, body)
        return replace(result, source_id=result.record["id"]) if result.ok else result

    def erase(self, source_ids: list[str]) -> list[WriteResult]:
        results: list[WriteResult] = []
        for start in range(0, len(source_ids), WRITE_BATCH):
            results += self._erase_batch(source_ids[start:start + WRITE_BATCH])
        return results

    def _erase_batch(self, source_ids: list[str]) -> list[WriteResult]:
        """One customerRequestDataErasure per id, aliased into one request (resending it is safe)."""
        variables = {f"e{n}": source_id for n, source_id in enumerate(source_ids)}
        try:
            body = self._post(erasure_document(len(source_ids)), variables, cost=MUTATION_COST * len(source_ids))
        except (RetriableError, FatalError) as exc:
            return [_failure(source_id, exc) for source_id in source_ids]
        if body.get("data") is None and len(source_ids) > 1:
            # A request-wide error (an id that is no global id) must not fail the others.
            return [result for source_id in source_ids for result in self._erase_batch([source_id])]
        return [_erasure_result(source_id, f"e{n}", body) for n, source_id in enumerate(source_ids)]

    def _write_batch(self, changes: list[Change]) -> list[WriteResult]:
        document, variables, aliases = mutation_document(changes)
        if not variables:
            return [WriteResult(c.source_id, ok=True) for c in changes]
        try:
            body = self._post(document, variables, cost=MUTATION_COST * len(variables))
        except (RetriableError, FatalError) as exc:
            return [_failure(c.source_id, exc) for c in changes]
        if body.get("data") is None and len(changes) > 1:
            # A request-wide error (one value that fails the input types) must not fail the others.
            return [result for change in changes for result in self._write_batch([change])]
        return [_result(change, names, body) for change, names in zip(changes, aliases)]


class CostBudget:
    """Shopify's cost bucket as the last answer described it: waits before a query it cannot pay for,
    and raises RetriableError on a THROTTLED answer (a requests response hook, so that it runs inside
    the HTTP client's retry loop)."""

    def __init__(self, clock=time.monotonic, sleep=time.sleep):
        self.clock, self.sleep = clock, sleep
        self.available: float | None = None
        self.rate, self.seen_at = 0.0, 0.0
        self.waited = 0.0
        self.spent, self.maximum = 0.0, 0.0  # for measuring: points paid, and the bucket's size

    def ideal_seconds(self) -> float:
        """The least time the bucket allows for what was spent: a full bucket at once, then its restore rate."""
        return max(0.0, (self.spent - self.maximum) / self.rate) if self.rate else 0.0

    def check(self, response, *args, **kwargs) -> None:
        body = _json(response) if response.status_code == 200 else None
        if not isinstance(body, dict):
            return
        cost = (body.get("extensions") or {}).get("cost") or {}
        self.spent += float(cost.get("actualQueryCost") or 0)
        self._observe(cost.get("throttleStatus"))
        if any((e.get("extensions") or {}).get("code") == "THROTTLED" for e in _errors(body)):
            raise RetriableError("shopify: POST graphql.json answered THROTTLED",
                                 retry_after=max(MIN_THROTTLE_WAIT, self._deficit(cost.get("requestedQueryCost"))))

    def wait_for(self, cost: int) -> None:
        pause = self._deficit(cost)
        if pause > 0:
            self.waited += pause
            self.sleep(pause)

    def _observe(self, status: dict | None) -> None:
        if status and status.get("restoreRate"):
            self.available, self.rate = float(status["currentlyAvailable"]), float(status["restoreRate"])
            self.maximum = float(status.get("maximumAvailable") or self.maximum)
            self.seen_at = self.clock()

    def _deficit(self, cost) -> float:
        """Seconds until the bucket holds `cost` points again (0 when it does or is unknown)."""
        if self.available is None or not isinstance(cost, (int, float)):
            return 0.0
        now_available = self.available + (self.clock() - self.seen_at) * self.rate
        return max(0.0, (cost - now_available) / self.rate)


def mutation_document(changes: list[Change]) -> tuple[str, dict, list[dict[str, str]]]:
    """One mutation document for many changes (Shopify has no batch customer update: aliases are the
    batch), its variables, and per change {alias: mutation} of its mutations."""
    fields, declarations, variables, aliases = [], [], {}, []
    for n, change in enumerate(changes):
        names = {}
        for m, (mutation, input_type, value) in enumerate(_mutations(change)):
            alias = f"c{n}_{m}"
            declarations.append(f"${alias}: {input_type}")
            fields.append(f"  {alias}: {mutation}(input: ${alias}) {{ customer {{ ...CustomerFields }} "
                          "userErrors { field message } }")
            variables[alias] = value
            names[alias] = mutation
        aliases.append(names)
    document = f"mutation Write({', '.join(declarations)}) {{\n" + "\n".join(fields) + "\n}\n" + CUSTOMER_FIELDS
    return document, variables, aliases


def _mutations(change: Change) -> list[tuple[str, str, dict]]:
    """(mutation, input type, input) for one change: customerUpdate for the plain fields, then one
    consent mutation per channel; a consent without a state to set is left as Shopify holds it."""
    plain = {k: v for k, v in change.patch.items() if k not in CONSENT_MUTATIONS}
    steps = [("customerUpdate", "CustomerInput!", {"id": change.source_id, **plain})] if plain else []
    for key, (mutation, input_type) in CONSENT_MUTATIONS.items():
        consent = change.patch.get(key) or {}
        if consent.get("marketingState"):
            steps.append((mutation, input_type, {"customerId": change.source_id, key: consent}))
    return steps


def lookup_document(count: int) -> str:
    """A query of `count` aliased customer searches ($k0, $k1, ...), each for the customer holding a key."""
    declarations = ", ".join(f"$k{n}: String" for n in range(count))
    # By ID, first 1: the oldest, should two customers ever carry one key.
    fields = " ".join(f"k{n}: customers(first: 1, sortKey: ID, query: $k{n}) {{ nodes {{ id }} }}"
                      for n in range(count))
    return f"query Keyed({declarations}) {{ {fields} }}"


def erasure_document(count: int) -> str:
    """A mutation of `count` aliased customerRequestDataErasure calls ($e0, $e1, ...)."""
    declarations = ", ".join(f"$e{n}: ID!" for n in range(count))
    fields = " ".join(f"e{n}: customerRequestDataErasure(customerId: $e{n}) {{ customerId userErrors {{ code }} }}"
                      for n in range(count))
    return f"mutation Erase({declarations}) {{ {fields} }}"


def create_input(change: Change) -> dict:
    """The CustomerInput of a create: the patch, tagged with its key; a consent without a state to set
    is left out (Shopify then starts the channel NOT_SUBSCRIBED)."""
    fields = {k: v for k, v in change.patch.items()
              if k not in CONSENT_MUTATIONS or (v or {}).get("marketingState")}
    return {**fields, "tags": [*(change.patch.get("tags") or []), KEY_TAG + change.key]}


def _failure(source_id: str | None, error: RetriableError | FatalError) -> WriteResult:
    """The result of a request that failed as a whole; the error's text names no value."""
    return WriteResult(source_id, ok=False, reason=str(error), retriable=isinstance(error, RetriableError))


def _erasure_result(source_id: str, alias: str, body: dict) -> WriteResult:
    """Erased unless Shopify refused: DOES_NOT_EXIST means there is nothing left to erase, which is what
    a resent erasure meets. Codes only: no message reaches the reason."""
    problems = [f"refused ({_code(e)})" for e in _errors(body) if (e.get("path") or [alias])[0] == alias]
    payload = (body.get("data") or {}).get(alias)
    if payload is None and not problems:
        problems.append("no answer")
    codes = [e.get("code") or "error" for e in (payload or {}).get("userErrors") or []]
    problems += [f"customerRequestDataErasure: {code}" for code in codes if code != "DOES_NOT_EXIST"]
    if problems:
        return WriteResult(source_id, ok=False, reason="shopify: " + "; ".join(problems))
    return WriteResult(source_id, ok=True)


def _result(change: Change, aliases: dict[str, str], body: dict) -> WriteResult:
    data = body.get("data") or {}
    problems = _top_level_errors(change, aliases, body)
    record = None
    for alias, mutation in aliases.items():
        payload = data.get(alias) or {}
        problems += [f"{mutation}: {_user_error(e)}" for e in payload.get("userErrors") or []]
        record = payload.get("customer") or record
    if problems:
        return WriteResult(change.source_id, ok=False, reason="shopify: " + "; ".join(problems), record=record)
    return WriteResult(change.source_id, ok=True, record=record)


def _top_level_errors(change: Change, aliases: dict[str, str], body: dict) -> list[str]:
    """Errors of this change's mutations (their path starts with its alias), and request-wide ones (no
    path: a value that does not fit Shopify's input types). Codes and field names only: the messages
    quote values."""
    problems = []
    for error in _errors(body):
        path = error.get("path") or []
        if not path:
            problems.append(f"refused ({_code(error)}); fields sent: {', '.join(sorted(change.patch))}")
        elif path[0] in aliases:
            problems.append(f"{aliases[path[0]]}: refused ({_code(error)})")
    return problems


def _user_error(error: dict) -> str:
    # Shopify's messages name the field ("Phone is invalid"), never the value.
    field = ".".join(error.get("field") or ["input"])
    return f"{field}: {error.get('message') or 'invalid'}"


def _summary(errors) -> str:
    return "; ".join(f"{_code(e)} {e.get('message', '')}".strip() for e in errors or []) or "no data"


def _code(error: dict) -> str:
    return str((error.get("extensions") or {}).get("code") or "error")


def _errors(body: dict) -> list[dict]:
    errors = body.get("errors")
    return [e for e in errors if isinstance(e, dict)] if isinstance(errors, list) else []


def _json(response):
    try:
        return response.json()
    except ValueError:
        return None
