"""Seeded fault injection, bounded by rates: server errors, throttling storms, slow answers and dropped
connections, so that adapters are tested against the failures real APIs have."""
from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field


@dataclass
class Faults:
    seed: int = 0
    error_rate: float = 0.0      # 5xx answers
    throttle_rate: float = 0.0   # 429 answers on top of the real rate limit (a "429 storm")
    slow_rate: float = 0.0       # answers delayed by slow_seconds
    slow_seconds: float = 2.0
    drop_rate: float = 0.0       # connections closed without an answer
    _rng: random.Random = field(init=False, repr=False)
    _lock: threading.Lock = field(init=False, repr=False, default_factory=threading.Lock)

    def __post_init__(self):
        self._rng = random.Random(f"faults:{self.seed}")

    def draw(self) -> str | None:
        """The fault for the next request: 'error', 'throttle', 'slow', 'drop', or None."""
        with self._lock:
            roll = self._rng.random()
        for kind, rate in (("error", self.error_rate), ("throttle", self.throttle_rate),
                           ("slow", self.slow_rate), ("drop", self.drop_rate)):
            if roll < rate:
                return kind
            roll -= rate
        return None
