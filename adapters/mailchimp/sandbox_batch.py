"""Mailchimp's batch subscribe for the sandbox: `POST /3.0/lists/{list_id}` with `{"members": [...],
"update_existing": bool}`, up to 500 members, answered at once.

What it checks for the whole request (a 400 "Invalid Resource" naming `members.item:N.<field>`, and
nothing written): that `members` is a list of at most 500, and that every member has an
`email_address` and a valid `status` — unlike the single-member PUT there is no `status_if_new`, so the
status applies to existing members too. What fails one member only (an entry in `errors[]` with an
`error_code`, the others written): an address that is not one, a "forgotten" address, a merge field
that does not fit, a member in a compliance state sent as subscribed, and, without `update_existing`,
a member that is already there (ERROR_CONTACT_EXISTS). The answer lists `new_members`,
`updated_members` (whole members), `errors` and their counts; `fields=` trims it as on every endpoint.

The upsert runs in bulk: a few set-wise queries and one write in one transaction, not a round trip per
member, so that the sandbox answers 500 members well inside the tenth of a second that ten requests
a second leave it (the real API's own speed is not what is being measured)."""
from __future__ import annotations

import json

from adapters.mailchimp import seed as seeding
from adapters.sandbox import ApiError, Request

BATCH_MAX = 500


class BatchMembers:
    """Mixed into MailchimpSandbox, which provides the audience, the state and its lock; the member
    rules (created, updated, _validate) are sandbox.py's, shared with the single-member PUT."""

    def _batch_members(self, request: Request, list_id: str) -> tuple[int, dict]:
        # Imported here: sandbox.py imports this module for the mixin.
        from adapters.mailchimp.sandbox import STATUSES, _json_body, invalid, projected

        self._audience(list_id)
        body = _json_body(request)
        members = body.get("members")
        if not isinstance(members, list):
            raise invalid([{"field": "members", "message": "Schema describes array, "
                            f"{type(members).__name__ if members is not None else 'NULL'} found instead"}])
        if len(members) > BATCH_MAX:
            raise invalid([{"field": "members", "message": f"Array must contain at most {BATCH_MAX} items."}])
        problems = [error for n, member in enumerate(members) for error in _schema_errors(n, member, STATUSES)]
        if problems:
            raise invalid(problems)
        update_existing = body.get("update_existing") is True
        answer = {"new_members": [], "updated_members": [], "errors": []}
        self._batch_upsert(members, update_existing, answer)
        return 200, projected(request, {**answer, "total_created": len(answer["new_members"]),
                                        "total_updated": len(answer["updated_members"]),
                                        "error_count": len(answer["errors"]), "_links": []})

    def _batch_upsert(self, members: list[dict], update_existing: bool, answer: dict) -> None:
        """The members one by one in the order sent (a later entry for the same address sees the
        earlier one), with the same rules as the single-member PUT, but in bulk against the database:
        one query for the forgotten addresses among them, one for the members that exist, one write
        of everything changed, in one transaction, all stamped with the request's instant."""
        from adapters.mailchimp.sandbox import EMAIL, _validate, created, now, updated  # see _batch_members

        emails = [member["email_address"].strip() for member in members]
        ids = [seeding.subscriber_hash(email) for email in emails]
        wanted = json.dumps(sorted(set(ids)))
        db = self.state.db
        forgotten = {row[0] for row in db.execute(
            "SELECT id FROM forgotten WHERE id IN (SELECT value FROM json_each(?))", (wanted,))}
        bodies = [body for (body,) in db.execute(
            "SELECT body FROM members WHERE id IN (SELECT value FROM json_each(?))", (wanted,))]
        current = {m["id"]: m for m in json.loads("[" + ",".join(bodies) + "]")}
        stamp, dirty = now(), {}
        for member, email, member_id in zip(members, emails, ids):
            if not EMAIL.match(email):
                answer["errors"].append(_error(email, f"{email} looks fake or invalid, please enter a real email address.",
                                               field="email_address", message="Please provide a valid email address."))
                continue
            if member_id in forgotten:
                answer["errors"].append(_error(email, f"{email} was permanently deleted and cannot be re-imported. "
                                               "The contact must re-subscribe to get back on the list."))
                continue
            held = current.get(member_id)
            if held is not None and not update_existing:
                answer["errors"].append(_error(email, f"{email} is already a list member, do you want to update? "
                                               "please provide update_existing:true in the request body",
                                               code="ERROR_CONTACT_EXISTS"))
                continue
            single = {k: v for k, v in member.items() if k in ("email_address", "status", "merge_fields")}
            try:
                _validate(single, is_new=held is None)
                if held is None:
                    now_held = created(member_id, {**single, "status_if_new": single["status"]}, self.list_id, stamp)
                    answer["new_members"].append(now_held)
                else:
                    now_held = updated(held, single, stamp)
                    answer["updated_members"].append(now_held)
            except ApiError as refused:
                answer["errors"].append(_refusal(email, refused))
                continue
            if now_held is not held:
                current[member_id] = dirty[member_id] = now_held
        if dirty:
            with db:
                db.execute("INSERT OR REPLACE INTO members (id, last_changed, body) "
                           "SELECT json_extract(value, '$.id'), json_extract(value, '$.last_changed'), value "
                           "FROM json_each(?)", (json.dumps(list(dirty.values())),))


def _schema_errors(n: int, member, statuses: tuple[str, ...]) -> list[dict]:
    where = f"members.item:{n}"
    if not isinstance(member, dict):
        return [{"field": where, "message": "Schema describes object, found something else instead"}]
    errors = []
    if not isinstance(member.get("email_address"), str):
        errors.append({"field": f"{where}.email_address", "message": "This value should not be blank."})
    if member.get("status") not in statuses:
        errors.append({"field": f"{where}.status",
                       "message": f"Data presented is not one of the accepted values: {', '.join(statuses)}."})
    return errors


def _error(email: str, error: str, *, code: str = "ERROR_GENERIC", field: str = "", message: str = "") -> dict:
    return {"email_address": email, "error": error, "error_code": code, "field": field, "field_message": message}


def _refusal(email: str, refused: ApiError) -> dict:
    """A member the single-member rules refused, as a batch error entry (the first field it names)."""
    body = refused.body if isinstance(refused.body, dict) else {}
    first = next(iter(body.get("errors") or []), {})
    return _error(email, str(body.get("detail") or body.get("title") or "error"),
                  field=str(first.get("field") or ""), message=str(first.get("message") or ""))
