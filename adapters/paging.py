"""Paginator strategies: how to ask for the next page and when to stop, one small object per scheme.
An adapter picks one and calls `paginate`; the paginator never knows about records or retries.

Each paginator's docstring shows the response it reads."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator

from adapters.http import HttpClient


@dataclass
class PageRequest:
    method: str
    path: str
    params: dict = field(default_factory=dict)
    json: dict | None = None


class Paginator:
    has_next: bool = True

    def init_request(self, request: PageRequest) -> None:
        """Sets the first page's parameters."""

    def update_state(self, body: dict) -> None:
        raise NotImplementedError

    def update_request(self, request: PageRequest) -> None:
        raise NotImplementedError


class NextUrlPaginator(Paginator):
    """Follows a URL the response names: `{"next_page_uri": "/2010-04-01/...&PageToken=PA.."}` (Twilio),
    `{"links": {"next": "https://..."}}` (Zendesk lists), `{"meta": {"next_page_url": ...}}` (Twilio Sync)."""

    def __init__(self, path_to_next: str):
        self.keys = path_to_next.split(".")
        self.next_url: str | None = None

    def update_state(self, body: dict) -> None:
        value = body
        for key in self.keys:
            value = value.get(key) if isinstance(value, dict) else None
        self.next_url, self.has_next = value, bool(value)

    def update_request(self, request: PageRequest) -> None:
        request.path, request.params = self.next_url, {}  # the URL carries every parameter


class AfterTokenPaginator(Paginator):
    """An opaque token to send back: `{"paging": {"next": {"after": "123"}}}` (HubSpot) into `after`."""

    def __init__(self, path_to_token: str, param: str = "after", in_body: bool = False):
        self.keys, self.param, self.in_body = path_to_token.split("."), param, in_body
        self.token = None

    def update_state(self, body: dict) -> None:
        value = body
        for key in self.keys:
            value = value.get(key) if isinstance(value, dict) else None
        self.token, self.has_next = value, value is not None

    def update_request(self, request: PageRequest) -> None:
        if self.in_body:
            request.json = {**(request.json or {}), self.param: self.token}
        else:
            request.params = {**request.params, self.param: self.token}


class OffsetPaginator(Paginator):
    """`count`/`offset` against a total: `{"members": [...], "total_items": 2300}` (Mailchimp)."""

    def __init__(self, records_key: str, limit: int, total_key: str = "total_items",
                 limit_param: str = "count", offset_param: str = "offset"):
        self.records_key, self.limit, self.total_key = records_key, limit, total_key
        self.limit_param, self.offset_param, self.offset = limit_param, offset_param, 0

    def init_request(self, request: PageRequest) -> None:
        request.params = {**request.params, self.limit_param: self.limit, self.offset_param: 0}

    def update_state(self, body: dict) -> None:
        got = len(body.get(self.records_key) or [])
        self.offset += got
        self.has_next = got > 0 and self.offset < int(body.get(self.total_key) or 0)

    def update_request(self, request: PageRequest) -> None:
        request.params = {**request.params, self.offset_param: self.offset}


def paginate(http: HttpClient, request: PageRequest, paginator: Paginator,
             bucket: str = "general", expect=(200,)) -> Iterator[dict]:
    """Response bodies, one per page, until the paginator says there is no next page."""
    paginator.init_request(request)
    while True:
        body = http.request(request.method, request.path, params=request.params or None, json=request.json,
                            expect=expect, bucket=bucket).json()
        paginator.update_state(body)
        yield body
        if not paginator.has_next:
            return
        paginator.update_request(request)

