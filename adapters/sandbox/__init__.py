"""The sandbox kit: what every vendor sandbox shares (HTTP plumbing, credentials check, rate-limit
buckets, seeded fault injection, SQLite state that survives restarts, the one-JSON-line command line),
so that a vendor's sandbox module holds only that vendor's paths, shapes and rules."""
from adapters.sandbox.faults import Faults
from adapters.sandbox.ratelimit import SlidingWindow
from adapters.sandbox.server import ApiError, Request, Route, SandboxServer
from adapters.sandbox.state import SqliteState

__all__ = ["ApiError", "Faults", "Request", "Route", "SandboxServer", "SlidingWindow", "SqliteState"]
