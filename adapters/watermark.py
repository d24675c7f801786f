"""Incremental reads by timestamp without losing records tied on the cursor's second.

Vendors filter by "changed since T" with coarse timestamps (HubSpot's lastmodifieddate, Shopify's
updated_at, Twilio's day-granular StartTime, Mailchimp's since_last_changed). Reading with `>`
skips records that share T at a page boundary; reading with `>=` alone re-delivers them forever.
So: ask from T minus a lookback, and drop every (id, updated_at) already delivered. The cursor
remembers the delivered pairs inside the lookback window only, so it stays small."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone


def parse_ts(value: str) -> datetime:
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def format_ts(value: datetime) -> str:
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class Watermark:
    def __init__(self, cursor: dict | None, lookback: timedelta):
        cursor = cursor or {}
        self.lookback = lookback
        self.high = parse_ts(cursor["high"]) if cursor.get("high") else None
        self.seen: dict[str, str] = dict(cursor.get("seen") or {})

    def query_from(self) -> datetime | None:
        """Where the vendor query starts (inclusive); None means from the beginning."""
        return self.high - self.lookback if self.high else None

    def admit(self, record_id: str, updated_at: str) -> bool:
        """True the first time this version of the record comes by; records it as delivered."""
        if self.seen.get(record_id) == updated_at:
            return False
        self.seen[record_id] = updated_at
        stamp = parse_ts(updated_at)
        if self.high is None or stamp > self.high:
            self.high = stamp
        return True

    def read_through(self, started: datetime | None) -> None:
        """A read that ran to its last page, having started at `started` (the vendor's clock), delivered
        every record changed before then: the next read may start there, less the lookback, rather than
        at the newest record it delivered (after a burst of writes, re-reading the burst's tail cost a
        page per few records). Only for the end of a complete read: a cursor saved mid-read must not
        pass records its later pages would have brought."""
        if started is not None and (self.high is None or started > self.high):
            self.high = started

    def cursor(self) -> dict:
        if self.high is None:
            return {}
        floor = self.high - self.lookback
        kept = {rid: ts for rid, ts in self.seen.items() if parse_ts(ts) >= floor}
        return {"high": format_ts(self.high), "seen": kept}
