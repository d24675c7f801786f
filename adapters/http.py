"""The one HTTP client every adapter uses: a requests session whose calls are retried per request
(never per task) on 429, 5xx, timeouts and dropped connections, honouring Retry-After, otherwise
backing off with jitter, and giving up once a bounded total wait is spent."""
from __future__ import annotations

import logging
import threading
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Iterable

import requests
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, stop_after_delay, wait_random_exponential

from adapters.base import AuthError, FatalError, RetriableError
from adapters.pacing import Pacer, RateLimit
from canonical.pii import mask_path

log = logging.getLogger(__name__)
RETRIABLE_STATUS = {408, 425, 429, 500, 502, 503, 504}


class HttpClient:
    def __init__(self, system: str, base_url: str, *, auth=None, headers: dict | None = None,
                 timeout: tuple[float, float] = (5.0, 60.0), max_wait: float = 300.0, max_attempts: int = 12,
                 rate_limits: dict[str, RateLimit] | None = None):
        self.system = system
        self.base_url = base_url.rstrip("/")
        self.session = requests.Session()
        self.session.auth = auth
        self.session.headers.update({"Accept": "application/json", "User-Agent": "concord/0.1", **(headers or {})})
        self.timeout = timeout
        self.max_wait = max_wait
        self.max_attempts = max_attempts
        self.pacers = {bucket: Pacer(rate) for bucket, rate in (rate_limits or {}).items()}
        self.stats = {"requests": 0, "retries": 0, "429": 0}
        self.last_date: datetime | None = None  # the vendor's clock (Date header) at its latest answer
        self._stats_lock = threading.Lock()  # adapters may write from a few threads (Twilio)

    def request(self, method: str, path: str, *, expect: Iterable[int] = (200,), bucket: str = "general",
                **kwargs) -> requests.Response:
        """The response when its status is expected; RetriableError/FatalError/AuthError otherwise.
        `bucket` names the vendor's rate-limit bucket this call counts against."""
        retrying = Retrying(
            retry=retry_if_exception_type(RetriableError),
            stop=stop_after_delay(self.max_wait) | stop_after_attempt(self.max_attempts),
            wait=self._wait,
            before_sleep=self._note_retry,
            reraise=True,
        )
        return retrying(self._once, method, path, tuple(expect), self.pacers.get(bucket), kwargs)

    def _once(self, method: str, path: str, expect: tuple[int, ...], pacer: Pacer | None,
              kwargs: dict) -> requests.Response:
        url = path if path.startswith("http") else f"{self.base_url}{path}"
        if pacer:
            pacer.before()
        self._count("requests")
        try:
            response = self.session.request(method, url, timeout=self.timeout, **kwargs)
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise RetriableError(f"{self.system}: {method} {_path(url)}: {type(exc).__name__}") from None
        if pacer:
            pacer.after(response.headers)
        self.last_date = _date(response) or self.last_date
        if response.status_code in expect:
            return response
        raise self._error(method, url, response)

    def _count(self, stat: str, by: int = 1) -> None:
        with self._stats_lock:
            self.stats[stat] += by

    def _error(self, method: str, url: str, response: requests.Response) -> Exception:
        status = response.status_code
        where = f"{self.system}: {method} {_path(url)} answered {status}"
        if status in RETRIABLE_STATUS:
            self._count("429", status == 429)
            return RetriableError(where, retry_after=_retry_after(response))
        body = _body(response)
        if status in (401, 403):
            return AuthError(f"{where}: the credentials of connection concord_{self.system} were refused", status, body)
        return FatalError(f"{where}: {_summary(body)}", status, body)

    def _wait(self, retry_state) -> float:
        """Retry-After when the vendor sent one, jittered backoff otherwise; never past max_wait."""
        error = retry_state.outcome.exception()
        left = max(0.0, self.max_wait - (retry_state.seconds_since_start or 0.0))
        if isinstance(error, RetriableError) and error.retry_after is not None:
            return min(error.retry_after, left)
        # Retry-After is sometimes missing in practice: back off anyway, with jitter so that
        # parallel workers do not retry in lock-step.
        return min(wait_random_exponential(multiplier=0.5, max=30)(retry_state), left)

    def _note_retry(self, retry_state) -> None:
        self._count("retries")
        log.info("%s (attempt %d), retrying", retry_state.outcome.exception(), retry_state.attempt_number)


def _path(url: str) -> str:
    # Query strings can carry filters with PII (an email filter), and some vendors key records by
    # email or phone in the path itself.
    return mask_path(url.split("?", 1)[0])


def _date(response: requests.Response) -> datetime | None:
    try:
        return parsedate_to_datetime(response.headers["Date"])
    except (KeyError, TypeError, ValueError):
        return None


def _retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After")
    try:
        return max(float(value), 0.0) if value is not None else None
    except ValueError:
        return None


def _body(response: requests.Response) -> object:
    try:
        return response.json()
    except ValueError:
        return response.text[:500]


def _summary(body: object) -> str:
    if isinstance(body, dict):
        return str(body.get("error") or body.get("message") or body.get("title") or "error")
    return "error"
