"""Credential checks the vendors share, done in constant time so a sandbox leaks nothing by timing."""
from __future__ import annotations

import base64
import binascii
import hmac

from adapters.sandbox.server import Request


def basic_credentials(request: Request) -> tuple[str, str] | None:
    """(user, password) from an HTTP Basic Authorization header, or None when there is none."""
    scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, _, password = base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return user, password


def same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


def basic_is(request: Request, user: str | None, password: str) -> bool:
    """Basic auth with this password, and this user unless `user` is None (any user name)."""
    found = basic_credentials(request)
    return found is not None and (user is None or same(found[0], user)) and same(found[1], password)


def bearer_is(request: Request, token: str) -> bool:
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and same(given.strip(), token)
