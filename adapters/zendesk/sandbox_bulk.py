"""Zendesk's bulk user endpoints for the sandbox: `PUT /api/v2/users/update_many.json` and
`POST /api/v2/users/create_or_update_many.json` (up to 100 users each) do not write anything in the
request: they queue a job and answer `{"job_status": {...}}` at once; the job runs in the background and
`GET /api/v2/job_statuses/{id}.json` (or `show_many.json?ids=`) reports its progress and, once
completed, one result per user: `{"index", "id", "action", "status": "Updated"|"Created", "success":
true}` or `{"index", "id", "action", "success": false, "error", "details"}`. A bad user fails alone; the
others are written. Zendesk allows 30 jobs queued or running per account and refuses more with a 429."""
from __future__ import annotations

import json

from adapters.sandbox import ApiError, Request
from adapters.sandbox.jobs import Job, JobQueue, QueueFull

BULK_MAX = 100
JOB_QUEUE_LIMIT = 30
SHOW_MANY_MAX = 100


class BulkUsers:
    """Mixed into ZendeskSandbox, which provides the per-user rules (_existing, _apply, _match, _create),
    the state and its lock."""

    jobs: JobQueue

    # -- endpoints --

    def _update_many(self, request: Request) -> tuple[int, dict]:
        """`{"users": [{"id": 1, ...}, ...]}`, or `?ids=1,2` with `{"user": {...}}` for the same change."""
        body = _document(request)
        if request.arg("ids"):
            if not isinstance(body.get("user"), dict):
                raise _invalid("user is required")
            ids = [part.strip() for part in request.arg("ids").split(",") if part.strip()]
            users = [{**body["user"], "id": part} for part in ids]
        else:
            users = _users(body)
        return self._queue(users, self._update_one)

    def _create_or_update_many(self, request: Request) -> tuple[int, dict]:
        return self._queue(_users(_document(request)), self._upsert_one)

    def _job_status(self, request: Request, job_id: str) -> tuple[int, dict]:
        job = self.jobs.get(job_id)
        if job is None:
            raise ApiError(404, {"error": "RecordNotFound", "description": "Not found"})
        return 200, {"job_status": self._present_job(job)}

    def _job_statuses(self, request: Request) -> tuple[int, dict]:
        ids = [part for part in (request.arg("ids") or "").split(",") if part]
        if not ids or len(ids) > SHOW_MANY_MAX:
            raise _invalid(f"ids: between 1 and {SHOW_MANY_MAX} job ids")
        found = [job for job_id in ids if (job := self.jobs.get(job_id)) is not None]
        return 200, {"job_statuses": [self._present_job(job) for job in found]}

    # -- the jobs --

    def _queue(self, users: list[dict], one) -> tuple[int, dict]:
        try:
            job = self.jobs.submit(len(users), lambda: self._run(users, one))
        except QueueFull:
            raise ApiError(429, {"error": "TooManyJobs",
                                 "description": f"Number of allowed jobs in queue ({JOB_QUEUE_LIMIT}) exceeded"}) from None
        return 200, {"job_status": self._present_job(job)}

    def _run(self, users: list[dict], one) -> list[dict]:
        """The job's work, in one transaction: every user's result, in the order they were sent."""
        with self.lock:
            self.bulk = True  # _save leaves the commit to the end of the job
            try:
                results = [self._result(index, user, one) for index, user in enumerate(users)]
                self.state.db.commit()
            finally:
                self.bulk = False
        return results

    def _result(self, index: int, user: dict, one) -> dict:
        try:
            action, saved = one(user)
        except ApiError as error:
            return {"index": index, "id": _id_of(user), "action": "update" if "id" in user else "create",
                    "success": False, "status": "Failed", **_error_of(error)}
        return {"index": index, "id": saved["id"], "action": action,
                "status": "Created" if action == "create" else "Updated", "success": True}

    def _update_one(self, user: dict) -> tuple[str, dict]:
        user_id = _id_of(user)
        if user_id is None:
            raise ApiError(400, {"error": "InvalidValue", "description": "id is required"})
        changes = {k: v for k, v in user.items() if k != "id"}
        return "update", self._apply(self._existing(user_id), changes)

    def _upsert_one(self, user: dict) -> tuple[str, dict]:
        match_id = self._match(user)
        if match_id is not None:
            return "update", self._apply(self._existing(match_id), user)
        return "create", self._create(user)

    def _present_job(self, job: Job) -> dict:
        done = job.status in ("completed", "failed")
        return {"id": job.id, "url": f"{self.base_url}/api/v2/job_statuses/{job.id}.json", "total": job.total,
                "progress": job.progress if done else None, "status": job.status, "message": job.message,
                "results": job.results if done else None}


def _document(request: Request) -> dict:
    try:
        document = request.json()
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ApiError(400, {"error": "InvalidJSON", "description": "The request body is not valid JSON"}) from None
    if not isinstance(document, dict):
        raise _invalid("users is required")
    return document


def _users(document: dict) -> list[dict]:
    users = document.get("users")
    if not isinstance(users, list) or not users or not all(isinstance(u, dict) for u in users):
        raise _invalid("users is required")
    if len(users) > BULK_MAX:
        raise _invalid(f"users: too many values (at most {BULK_MAX})")
    return users


def _id_of(user: dict) -> int | None:
    value = user.get("id")
    if isinstance(value, int) or (isinstance(value, str) and value.isdigit()):
        return int(value)
    return None


def _error_of(error: ApiError) -> dict:
    """A job result's error: Zendesk's code, and its details as one line ("Email: ... is already being
    used by another user"), the way the synchronous endpoints' bodies put them."""
    body = error.body if isinstance(error.body, dict) else {}
    details = body.get("details")
    if isinstance(details, dict):
        text = "; ".join(e.get("description", "") for errs in details.values() for e in errs)
    else:
        text = body.get("description") or ""
    return {"error": body.get("error", "InvalidValue"), "details": text}


def _invalid(description: str) -> ApiError:
    return ApiError(400, {"error": "InvalidValue", "description": description})
