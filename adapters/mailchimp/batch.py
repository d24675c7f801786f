"""Mailchimp member writes through batch subscribe (`POST /3.0/lists/{list_id}`, 500 members a request).

The batch needs each member's address and status: there is no `status_if_new` there, the status is
set on existing members too. A change brings its address when it creates a member or names it in its
patch (`email_address`), and its status when it writes consent; what it lacks comes from the
adapter's StatusBook, so that the status sent back is the one Mailchimp holds (a name change never
moves consent). Mailchimp has no way to read many chosen members at once (the members list filters by
status and change time, not by id), so the book reads the whole audience's ids, addresses and statuses,
1,000 a request, once for the delivery (the adapter lives for one delivery, which calls write() a
chunk at a time) instead of once per call; it keeps itself current with every batch answer, trusts
what it read for MAX_AGE only, and falls back to one GET per member when that costs fewer requests.

A status read ahead of the write can be overtaken by the member: Mailchimp offers no conditional
write. When the member opted out or bounced meanwhile, Mailchimp refuses the stale "subscribed"
("compliance state"); that member's status is then read again and the change sent once more with it,
so the name is written and the opt-out stays. Nobody is ever re-subscribed by a name change.

Creates go with `update_existing: false`: a member that exists already (a create retried after a lost
answer, or someone who signed up meanwhile) comes back as ERROR_CONTACT_EXISTS and is then written as
an update, with its own status; so a create never overwrites anyone's consent."""
from __future__ import annotations

import json
import math
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterable

from adapters.base import Change, FatalError, RetriableError, WriteResult
from adapters.http import HttpClient

BATCH_MAX = 500
LOOKUP_PAGE = 1000
MAX_AGE = 30.0  # seconds a status read from the audience is trusted for (counted from the end of its read)
# Requests in flight at once (Mailchimp allows about 10 connections per key): while Mailchimp works
# on one batch, the next is built and sent and the last answer read; the pacer still keeps the rate.
CONCURRENCY = 3
# Parts of Mailchimp's batch error texts, with the problem each is (as the single-member endpoints
# title it) and the field it concerns, although the batch names none: the texts quote the address.
KNOWN_ERRORS = {"compliance state": ("Member In Compliance State", "status"),
                "permanently deleted": ("Forgotten Email Not Subscribed", "email_address"),
                "looks fake or invalid": ("Invalid Resource", "email_address")}

Member = tuple[str, str]  # (address, status)


class StatusBook:
    """The audience's members as (address, status) by id, for one adapter (one delivery).

    `lookup` answers from the last full read of the audience while it is younger than MAX_AGE; else it
    either reads the whole audience again (1,000 a request) or GETs the members one by one, whichever
    costs fewer requests counting the single GETs this book already spent (so that many small calls
    add up to one read of the audience rather than to thousands of GETs). Members written since are
    kept current from the batch answers."""

    def __init__(self, http: HttpClient, list_id: str, clock: Callable[[], float] = time.monotonic):
        self.http, self.list_id, self.clock = http, list_id, clock
        self.members: dict[str, Member] = {}
        self.read_at: float | None = None   # when the last full read ended
        self.total: int | None = None       # the audience's size, as its first page said
        self.singles = 0                    # one-member GETs spent since the last full read

    def fresh(self) -> bool:
        return self.read_at is not None and self.clock() - self.read_at < MAX_AGE

    def lookup(self, wanted: set[str]) -> dict[str, Member]:
        """(address, status) of each wanted member Mailchimp has; the others are left out."""
        if not wanted:
            return {}
        if not self.fresh():
            just_read = self._read_or_fetch(wanted)
            found = {i: just_read[i] for i in wanted if i in just_read}
            if not self.fresh():  # only the first page read, or none: GET the rest
                found.update(self._fetch(wanted - found.keys()))
            return found
        found = {i: self.members[i] for i in wanted if i in self.members}
        # Not there when the audience was read: created since, or not a member at all.
        found.update(self._fetch(wanted - found.keys()))
        return found

    def refetch(self, wanted: set[str]) -> dict[str, Member]:
        """Reads these members again, one by one (what the book held for them proved stale)."""
        for member_id in wanted:
            self.members.pop(member_id, None)
        return self._fetch(wanted)

    def note(self, member: dict) -> None:
        """A member as a batch answer returned it: what Mailchimp holds now."""
        if member.get("id") and member.get("email_address") and member.get("status"):
            self.members[member["id"]] = (member["email_address"], member["status"])

    def _read_or_fetch(self, wanted: set[str]) -> dict[str, Member]:
        """Reads the whole audience when that costs fewer requests than the single GETs (the first
        page tells the audience's size, and is the read's first page); returns what it read."""
        if self.total is not None and not self._worth_reading(len(wanted), math.ceil(self.total / LOOKUP_PAGE)):
            return {}
        members, total = self._page(0)
        pages_left = max(0, math.ceil(total / LOOKUP_PAGE) - 1)
        self.total = total
        if pages_left and not self._worth_reading(len(wanted - members.keys()), pages_left):
            self.members.update(members)
            return members
        for more, _ in _at_once(self._page, [page * LOOKUP_PAGE for page in range(1, pages_left + 1)]):
            members.update(more)
        self.members, self.read_at, self.singles = members, self.clock(), 0
        return members

    def _worth_reading(self, missing: int, pages: int) -> bool:
        return self.singles + missing > pages

    def _page(self, offset: int) -> tuple[dict[str, Member], int]:
        body = self.http.request("GET", f"/3.0/lists/{self.list_id}/members", params={
            "count": LOOKUP_PAGE, "offset": offset,
            "fields": "members.id,members.email_address,members.status,total_items"}).json()
        members = {m["id"]: (m["email_address"], m["status"]) for m in body.get("members") or [] if m.get("id")}
        return members, int(body.get("total_items") or 0)

    def _fetch(self, wanted: set[str]) -> dict[str, Member]:
        found = {}
        for member_id in sorted(wanted):
            self.singles += 1
            try:
                body = self.http.request("GET", f"/3.0/lists/{self.list_id}/members/{member_id}",
                                         params={"fields": "id,email_address,status"}).json()
            except FatalError as exc:
                if exc.status == 404:
                    continue
                raise
            found[member_id] = (body["email_address"], body["status"])
            self.members[member_id] = found[member_id]
        return found


class BatchWriter:
    def __init__(self, http: HttpClient, list_id: str, hash_of: Callable[[str], str], reason: Callable,
                 book: StatusBook | None = None):
        self.http, self.list_id, self.hash_of, self.reason = http, list_id, hash_of, reason
        self.book = book or StatusBook(http, list_id)

    def write(self, changes: list[Change]) -> list[WriteResult]:
        results: dict[int, WriteResult] = {}
        creates, updates = [], []
        for n, change in enumerate(changes):
            email = change.patch.get("email_address")
            if change.source_id is None and not email:
                # The address is the member's key: without it there is no member to make, and no id.
                results[n] = WriteResult("", ok=False,
                                         reason="mailchimp: a new member needs its address (fields: email_address)")
            elif change.source_id and email and self.hash_of(email) != change.source_id.lower():
                results[n] = WriteResult(change.source_id, ok=False,
                                         reason="mailchimp: an address change is not an update (fields: email_address)")
            else:
                (creates if change.source_id is None else updates).append((n, change))
        exists, _ = self._send(creates, {}, update_existing=False, results=results)
        updates += [(n, Change(self.hash_of(c.patch["email_address"]), c.patch, c.key)) for n, c in exists]
        known = self._lookup(updates, results, self.book.lookup)
        _, stale = self._send([(n, c) for n, c in updates if n not in results], known, update_existing=True,
                              results=results)
        if stale:
            # Refused as "subscribed" for a member who opted out since its status was read: send the
            # change once more with the status Mailchimp holds now.
            for n, _ in stale:
                del results[n]
            fresh = self._lookup(stale, results, self.book.refetch)
            self._send([(n, c) for n, c in stale if n not in results], fresh, update_existing=True,
                       results=results, retry=False)
        return [results[n] for n in range(len(changes))]

    # -- lookups --

    def _lookup(self, updates: list[tuple[int, Change]], results: dict[int, WriteResult],
                lookup: Callable[[set[str]], dict[str, Member]]) -> dict[str, Member]:
        """(address, status) of every member an update lacks either for; a member Mailchimp no longer
        has is a failed result (a change that names its address is then sent as it is, and creates it)."""
        wanted = {c.source_id.lower() for _, c in updates if not (c.patch.get("email_address") and c.patch.get("status"))}
        found: dict[str, Member] = {}
        try:
            found = lookup(wanted)
        except (RetriableError, FatalError) as exc:
            for n, change in updates:
                if change.source_id.lower() in wanted:
                    results[n] = _failure(change.source_id, exc, self.reason)
            return found
        for n, change in updates:
            if change.source_id.lower() in wanted and change.source_id.lower() not in found:
                if not change.patch.get("email_address"):
                    results[n] = WriteResult(change.source_id, ok=False,
                                             reason="mailchimp: no such member in the audience (404)")
        return found

    # -- batches --

    def _send(self, pending: list[tuple[int, Change]], known: dict[str, Member], *, update_existing: bool,
              results: dict[int, WriteResult], retry: bool = True) -> tuple[list, list]:
        """Sends the changes in batches; returns the creates Mailchimp answered ERROR_CONTACT_EXISTS for,
        and (when `retry`) the updates refused for a status the book held that proved stale."""
        exists: list[tuple[int, Change]] = []
        stale: list[tuple[int, Change]] = []
        batches = _batches([(n, c, _member(c, known)) for n, c in pending])
        for more_exists, more_stale in _at_once(lambda b: self._send_batch(b, update_existing, results), batches):
            exists += more_exists
            stale += more_stale if retry else []
        return exists, stale

    def _send_batch(self, batch: list, update_existing: bool, results: dict[int, WriteResult]) -> tuple[list, list]:
        # Encoded before the request takes its place in the pacer's count, so that it leaves at once.
        body = json.dumps({"members": [member for _, _, member in batch], "update_existing": update_existing})
        try:
            answer = self.http.request("POST", f"/3.0/lists/{self.list_id}", data=body.encode(),
                                       headers={"Content-Type": "application/json"}).json()
        except (RetriableError, FatalError) as exc:
            for n, change, _ in batch:
                results[n] = _failure(change.source_id or "", exc, self.reason)
            return [], []
        for member in (answer.get("new_members") or []) + (answer.get("updated_members") or []):
            self.book.note(member)
        written = {m["email_address"].strip().lower(): m
                   for m in (answer.get("new_members") or []) + (answer.get("updated_members") or [])}
        refused = {e["email_address"].strip().lower(): e for e in answer.get("errors") or [] if e.get("email_address")}
        exists, stale = [], []
        for n, change, member in batch:
            key = member["email_address"].strip().lower()
            member_id = change.source_id or self.hash_of(key)  # a create's id follows from its address
            if key in written:
                results[n] = WriteResult(written[key]["id"], ok=True, record=written[key])
                continue
            if key in refused and refused[key].get("error_code") == "ERROR_CONTACT_EXISTS" and not update_existing:
                exists.append((n, change))
                continue
            if key in refused:
                results[n] = WriteResult(member_id, ok=False, reason=_refusal(refused[key]))
                if _is_compliance(refused[key]) and not change.patch.get("status"):
                    stale.append((n, change))  # the status came from the book; the result stands if no retry
            else:
                results[n] = WriteResult(member_id, ok=False, retriable=True,
                                         reason="mailchimp: the batch answer has no result for this member")
        return exists, stale


def _at_once(call: Callable, items: list) -> Iterable:
    """call(item) for each item, up to CONCURRENCY at once; the answers in the items' order."""
    if len(items) <= 1:
        return [call(item) for item in items]
    with ThreadPoolExecutor(min(CONCURRENCY, len(items)), thread_name_prefix="mailchimp-write") as pool:
        return list(pool.map(call, items))


def _member(change: Change, known: dict[str, Member]) -> dict:
    """The batch's member: the patch, with the address and status it lacks from the lookup. A create
    without a status starts "transactional": a write never opts anyone in by default."""
    held = known.get((change.source_id or "").lower())
    email = change.patch.get("email_address") or (held[0] if held else None)
    status = change.patch.get("status") or (held[1] if held else "transactional")
    member = {k: v for k, v in change.patch.items() if v is not None and k not in ("merge_fields", "status_if_new")}
    member.update(email_address=email, status=status)
    if change.patch.get("merge_fields"):
        # Mailchimp clears a merge field with "" and refuses null.
        member["merge_fields"] = {tag: "" if value is None else value
                                  for tag, value in change.patch["merge_fields"].items()}
    return member


def _batches(items: list) -> list[list]:
    """Up to 500 members each, and never one address twice in a batch (results are matched by it)."""
    batches, batch, seen = [], [], set()
    for item in items:
        key = item[2]["email_address"].strip().lower()
        if len(batch) == BATCH_MAX or key in seen:
            batches.append(batch)
            batch, seen = [], set()
        batch.append(item)
        seen.add(key)
    return batches + ([batch] if batch else [])


def _is_compliance(error: dict) -> bool:
    return "compliance state" in str(error.get("error"))


def _refusal(error: dict) -> str:
    """The problem, its code and the field; never the error text, which quotes the address."""
    title, field = next((known for part, known in KNOWN_ERRORS.items() if part in str(error.get("error"))),
                        ("refused", ""))
    field = error.get("field") or field
    code = error.get("error_code") or "ERROR_GENERIC"
    return f"mailchimp: {title} ({code}" + (f"; fields: {field})" if field else ")")


def _failure(source_id: str, exc: Exception, reason: Callable) -> WriteResult:
    if isinstance(exc, RetriableError):
        return WriteResult(source_id, ok=False, reason=str(exc), retriable=True)
    return WriteResult(source_id, ok=False, reason=reason(exc))
