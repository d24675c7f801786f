"""Sandbox state in one SQLite file under the state directory, kept across restarts so that a second
run sees what the first one wrote. Seeds once; refuses a different seed unless told to reset."""
from __future__ import annotations

import secrets
import sqlite3
import threading
from pathlib import Path
from typing import Callable


class SqliteState:
    """`db` is shared by the server's threads; hold `lock` around every use (the server does)."""

    def __init__(self, path: Path, *, seed: int, customers: int, reset: bool, schema: str,
                 populate: Callable[[sqlite3.Connection], None]):
        path.parent.mkdir(parents=True, exist_ok=True)
        if reset:
            for suffix in ("", "-journal", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
        self.path = path
        self.lock = threading.RLock()
        self.db = sqlite3.connect(path, check_same_thread=False)
        # A write-ahead log without an fsync per commit: a vendor's database answers a write in
        # milliseconds, and a sandbox that spends its time in fsync would be the bottleneck the
        # write benchmarks measure instead of the client. State still survives a restart.
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);" + schema)
        if self.meta("seed") is None:
            with self.db:
                populate(self.db)
                self._set_meta(seed=seed, customers=customers, secret=secrets.token_hex(16))
        self._check_seed(seed, customers)

    def meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def _set_meta(self, **values) -> None:
        self.db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", [(k, str(v)) for k, v in values.items()])

    def _check_seed(self, seed: int, customers: int) -> None:
        stored = (int(self.meta("seed")), int(self.meta("customers")))
        if stored != (seed, customers):
            self.db.close()
            raise ValueError(f"{self.path} was seeded with seed={stored[0]} customers={stored[1]}; "
                             "pass --reset to re-seed")

    def close(self) -> None:
        with self.lock:
            self.db.close()
