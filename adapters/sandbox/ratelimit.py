"""Rate-limit buckets as vendors count them: at most `limit` admitted requests in any `window` seconds
(Zendesk counts per minute, HubSpot per ten seconds)."""
from __future__ import annotations

import math
from collections import deque


class SlidingWindow:
    def __init__(self, limit: int, window: float = 60.0):
        self.limit = limit
        self.window = window
        self._hits: deque[float] = deque()

    def remaining(self, now: float) -> int:
        while self._hits and self._hits[0] <= now - self.window:
            self._hits.popleft()
        return max(0, self.limit - len(self._hits))

    def try_acquire(self, now: float) -> bool:
        if self.remaining(now) == 0:
            return False
        self._hits.append(now)
        return True

    def retry_after(self, now: float) -> int:
        """Whole seconds until a slot frees (vendors send integers), at least 1."""
        return max(1, math.ceil(self._hits[0] + self.window - now)) if self._hits else 1
