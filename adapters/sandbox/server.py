"""The HTTP side of every sandbox: a threaded server on 127.0.0.1 that routes each request through
the same gate (credentials, rate-limit bucket, injected fault) to a vendor's endpoint method.

A vendor sandbox subclasses SandboxServer and declares `system`, `routes`, and the vendor's own
answers for `authenticate`, `unauthorized`, `throttled`, `server_error` and `not_found`.
"""
from __future__ import annotations

import json
import logging
import re
import sys
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from adapters.sandbox.faults import Faults
from adapters.sandbox.ratelimit import SlidingWindow
from canonical.pii import mask_path


log = logging.getLogger(__name__)


class ApiError(Exception):
    """An error answer in the vendor's own shape: raise it from an endpoint."""

    def __init__(self, status: int, body: dict, headers: dict | None = None):
        super().__init__(status, body)
        self.status, self.body, self.headers = status, body, headers or {}


@dataclass(frozen=True)
class Route:
    method: str
    pattern: str        # a regex matched against the whole path; groups become endpoint arguments
    action: str         # the endpoint method's name
    bucket: str = "general"


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def arg(self, name: str, default: str | None = None) -> str | None:
        return self.query.get(name, [default])[0]

    def json(self):
        """The JSON body; a 400 in the vendor's shape is the endpoint's to raise on ValueError."""
        return json.loads(self.body or b"null")

    def form(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(self.body.decode("utf-8", "replace")).items()}


class SandboxServer:
    system = "sandbox"
    routes: tuple[Route, ...] = ()

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, buckets: dict[str, SlidingWindow],
                 faults: Faults | None = None):
        self.buckets = buckets
        self.faults = faults or Faults()
        self.stats: dict[str, int] = {"requests": 0}
        self.lock = threading.RLock()  # one request acts at a time: state stays consistent, like a real API's DB
        self._compiled = [(r, re.compile(r.pattern)) for r in self.routes]
        self._server = ThreadingHTTPServer((host, port), _Handler)
        self._server.sandbox = self  # type: ignore[attr-defined]
        self._thread: threading.Thread | None = None

    # -- what a vendor sandbox answers in its own shape --

    def authenticate(self, request: Request) -> bool:
        raise NotImplementedError

    def unauthorized(self) -> tuple[int, dict]:
        return 401, {"error": "unauthorized"}

    def throttled(self, retry_after: int, request: Request, bucket: str) -> tuple[int, dict, dict]:
        """The vendor's answer over a limit: `bucket` names the limit hit, `request` what was refused."""
        return 429, {"Retry-After": str(retry_after)}, {"error": "rate limited"}

    def server_error(self) -> tuple[int, dict]:
        return 503, {"error": "service unavailable"}

    def not_found(self) -> tuple[int, dict]:
        return 404, {"error": "not found"}

    def limit_headers(self, bucket: SlidingWindow, now: float) -> dict:
        return {}

    def info(self) -> dict:
        return {"system": self.system, "base_url": self.base_url}

    def close_state(self) -> None:
        """Closes what the subclass holds open (its SqliteState)."""

    # -- lifecycle --

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self):
        # A short poll interval keeps stop() quick; shutdown() waits for the next poll.
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.1,),
                                        name=f"{self.system}-sandbox", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread:
            self._server.shutdown()
            self._thread.join()
            self._thread = None
        self._server.server_close()
        self.close_state()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    # -- the request pipeline: route, authenticate, rate-limit, maybe fail, then act --

    def handle(self, request: Request) -> tuple[int, dict, object] | None:
        """(status, headers, JSON body), or None to drop the connection without an answer."""
        route, groups = self._route(request)
        status, headers, payload = self._gate(route, request)
        if status is None:
            status, extra, payload = self._dispatch(route, groups, request)
            headers.update(extra)
        self._count(status)
        return status, headers, payload

    def _route(self, request: Request) -> tuple[Route | None, tuple]:
        for route, pattern in self._compiled:
            match = pattern.fullmatch(request.path)
            if match and route.method == request.method:
                return route, match.groups()
        return None, ()

    def _gate(self, route: Route | None, request: Request) -> tuple[int | None, dict, object]:
        name = route.bucket if route else "general"
        bucket = self.buckets[name]
        now = time.monotonic()
        with self.lock:
            if not self.authenticate(request):
                status, body = self.unauthorized()
                return status, self.limit_headers(bucket, now), body
            fault = self.faults.draw()
            if fault == "throttle" or not bucket.try_acquire(now):
                status, headers, body = self.throttled(bucket.retry_after(now) if fault is None else 1, request, name)
                return status, {**self.limit_headers(bucket, now), **headers}, body
            headers = self.limit_headers(bucket, now)
        if fault == "error":
            status, body = self.server_error()
            return status, headers, body
        if fault == "drop":
            raise _Drop()
        if fault == "slow":
            time.sleep(self.faults.slow_seconds)
        return None, headers, None

    def _dispatch(self, route: Route | None, groups: tuple, request: Request) -> tuple[int, dict, object]:
        if route is None:
            status, body = self.not_found()
            return status, {}, body
        try:
            with self.lock:
                answer = getattr(self, route.action)(request, *groups)
        except ApiError as error:
            return error.status, error.headers, error.body
        except Exception:  # a sandbox bug answers 500, as a vendor's would, instead of hanging up
            log.exception("%s sandbox: %s %s failed", self.system, request.method, mask_path(request.path))
            status, body = self.server_error()
            return 500, {}, body
        return (answer[0], {}, answer[1]) if len(answer) == 2 else (answer[0], answer[2], answer[1])

    def _count(self, status: int) -> None:
        with self.lock:
            self.stats["requests"] += 1
            self.stats[str(status)] = self.stats.get(str(status), 0) + 1


class _Drop(Exception):
    """Raised by the gate to close the connection without an answer."""


class _Handler(BaseHTTPRequestHandler):
    """Moves bytes between the socket and SandboxServer.handle; no API logic here."""

    protocol_version = "HTTP/1.1"
    # Headers and body leave in two writes; with Nagle on, each keep-alive reply waits ~40 ms for
    # the client's delayed ACK, which would make the sandbox, not Concord, the bottleneck.
    disable_nagle_algorithm = True

    def _serve(self) -> None:
        sandbox: SandboxServer = self.server.sandbox  # type: ignore[attr-defined]
        try:
            body = self.rfile.read(max(0, int(self.headers.get("Content-Length") or 0)))
        except ValueError:
            self.send_error(400)
            return
        parts = urlsplit(self.path)
        request = Request(self.command, parts.path, parse_qs(parts.query, keep_blank_values=True),
                          {k.lower(): v for k, v in self.headers.items()}, body)
        try:
            status, headers, payload = sandbox.handle(request)
        except _Drop:
            self.close_connection = True
            return
        if payload is None:  # 204 and friends: no body at all, as vendors answer deletes
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_PUT = do_POST = do_DELETE = do_PATCH = _serve

    def log_request(self, code="-", size="-") -> None:
        # The path only, masked: query strings and bodies carry personal data, and some paths do.
        self.log_message("%s %s %s", self.command, mask_path(urlsplit(self.path).path), code)

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - the base class's signature
        sys.stderr.write(f"{self.server.sandbox.system}-sandbox {format % args}\n")  # type: ignore[attr-defined]
