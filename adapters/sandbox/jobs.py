"""Background jobs, as vendors run their bulk endpoints: the request only queues the work and answers at
once; a worker does it later, and the client asks for the job's status and per-record results.

A vendor sandbox submits a callable that does the work under its own state lock and returns the job's
per-record results; the queue refuses a submission once `limit` jobs are waiting or running (Zendesk
allows 30 per account), which the sandbox answers in its vendor's own words."""
from __future__ import annotations

import itertools
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Callable


class QueueFull(Exception):
    """More jobs are waiting or running than the vendor allows."""


@dataclass
class Job:
    id: str
    total: int
    status: str = "queued"          # queued -> working -> completed | failed
    progress: int = 0
    results: list[dict] = field(default_factory=list)
    message: str | None = None
    queued_at: float = field(default_factory=time.time)


class JobQueue:
    def __init__(self, limit: int = 30, keep: int = 10_000):
        self.limit, self.keep = limit, keep
        self.jobs: dict[str, Job] = {}
        self._waiting: deque[tuple[Job, Callable[[], list[dict]]]] = deque()
        self._lock = threading.Condition()
        self._order = itertools.count()
        self._stopping = False
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._work, name="sandbox-jobs", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        with self._lock:
            self._stopping = True
            self._lock.notify_all()
        if self._thread:
            self._thread.join(timeout=10)

    def submit(self, total: int, work: Callable[[], list[dict]]) -> Job:
        with self._lock:
            if sum(j.status in ("queued", "working") for j in self.jobs.values()) >= self.limit:
                raise QueueFull()
            job = Job(f"{next(self._order):06d}{secrets.token_hex(13)}", total)
            self.jobs[job.id] = job
            self._forget_old()
            self._waiting.append((job, work))
            self._lock.notify_all()
            return job

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self.jobs.get(job_id)

    def _forget_old(self) -> None:
        # Vendors keep finished jobs for a while only (Zendesk: about an hour); keep the newest.
        while len(self.jobs) > self.keep:
            oldest = next(iter(self.jobs))
            if self.jobs[oldest].status in ("queued", "working"):
                return
            del self.jobs[oldest]

    def _work(self) -> None:
        while True:
            with self._lock:
                while not self._waiting and not self._stopping:
                    self._lock.wait()
                if self._stopping:
                    return
                job, work = self._waiting.popleft()
                job.status = "working"
            try:
                results = work()
            except Exception as error:  # a sandbox bug fails the job, as a vendor's internal error would
                with self._lock:
                    job.status, job.message = "failed", f"{type(error).__name__}"
                continue
            with self._lock:
                job.results, job.progress = results, len(results)
                job.status, job.message = "completed", f"Completed at {time.strftime('%Y-%m-%d %H:%M:%S +0000', time.gmtime())}"
