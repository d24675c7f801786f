"""Client-side pacing: stay just under a vendor's rate limit instead of bouncing off it.

A Pacer counts what this client sent in the vendor's window and waits before the request that would
cross `headroom` of the limit. It learns the limit from the vendor's limit header when there is one,
and when the vendor's remaining count says others spent part of the budget, it counts those too.

A vendor's limit is per account, not per client: when N tasks of one system run at once (the N slots
of the system's Airflow pool), each takes a `share` of 1/N of the limit, so that together they stay
under it. The share is set around the code that builds the clients (`sharing`), because adapters
build their own HTTP clients."""
from __future__ import annotations

import contextvars
import math
import threading
import time
from collections import deque
from contextlib import contextmanager
from dataclasses import dataclass

_SHARE = contextvars.ContextVar("concord_rate_share", default=1.0)


@contextmanager
def sharing(fraction: float):
    """Pacers created inside take `fraction` of their limit (one of several concurrent clients)."""
    if not 0 < fraction <= 1:
        raise ValueError(f"a rate-limit share is in (0, 1], not {fraction}")
    token = _SHARE.set(fraction)
    try:
        yield
    finally:
        _SHARE.reset(token)


def current_share() -> float:
    return _SHARE.get()


@dataclass(frozen=True)
class RateLimit:
    limit: int                        # requests per window, the vendor's documented default
    window: float                     # seconds
    limit_header: str | None = None   # e.g. "X-Rate-Limit"; overrides `limit` once seen
    remaining_header: str | None = None
    headroom: float = 1.0             # share of the limit this client lets itself use (less when shared)


class Pacer:
    def __init__(self, rate: RateLimit, clock=time.monotonic, sleep=time.sleep, share: float | None = None):
        self.rate, self.limit = rate, rate.limit
        self.share = current_share() if share is None else share
        self._clock, self._sleep = clock, sleep
        self._sent: deque[float] = deque()
        self._lock = threading.Lock()
        self.waited = 0.0
        self.sent = 0

    def before(self) -> None:
        """Blocks until one more request fits in the window, then counts it."""
        with self._lock:
            while True:
                now = self._clock()
                self._forget(now)
                if len(self._sent) < self._cap():
                    self._sent.append(now)
                    self.sent += 1
                    return
                # The vendor counts arrivals, we count departures: wait a hair past the window.
                pause = self._sent[0] + self.rate.window * 1.01 - now
                self.waited += pause
                self._sleep(pause)

    def after(self, headers) -> None:
        """Learns from the answer's rate-limit headers."""
        limit = _int(headers.get(self.rate.limit_header)) if self.rate.limit_header else None
        remaining = _int(headers.get(self.rate.remaining_header)) if self.rate.remaining_header else None
        with self._lock:
            if limit:
                self.limit = limit
            if remaining is not None:
                self._count_others(remaining)

    def ideal_seconds(self, requests: int | None = None) -> float:
        """The least time the vendor's limit allows for `requests` (default: all sent so far): the
        first window's worth at once, then one window per further window's worth (of this client's share)."""
        count = self.sent if requests is None else requests
        return self.rate.window * max(0, math.ceil(count / max(1.0, self.limit * self.share)) - 1)

    def _cap(self) -> int:
        return max(1, math.floor(self.limit * self.rate.headroom * self.share))

    def _others_allowance(self) -> int:
        """What the other slots of our pool may spend in a window: the rest of the headroom."""
        return max(0, math.floor(self.limit * self.rate.headroom) - self._cap())

    def _forget(self, now: float) -> None:
        while self._sent and self._sent[0] <= now - self.rate.window:
            self._sent.popleft()

    def _count_others(self, remaining: int) -> None:
        # The server saw more than we sent: other clients share the budget; count their requests as ours,
        # beyond what our own pool's other slots are allowed (their shares are already kept out of ours).
        missing = (self.limit - remaining) - len(self._sent) - self._others_allowance()
        now = self._clock()
        for _ in range(max(0, missing)):
            self._sent.append(now)


def _int(value) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None
