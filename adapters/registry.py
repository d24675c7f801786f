"""The systems Concord knows, by name. Adding a system adds one line here."""
from __future__ import annotations

from importlib import import_module

from adapters.base import Adapter
from adapters.connections import endpoint, is_configured

ADAPTERS = {
    "zendesk": "adapters.zendesk.client:ZendeskAdapter",
}


def known() -> list[str]:
    return sorted(ADAPTERS)


def configured() -> list[str]:
    """The systems that have a connection; the ones a sync run reads and writes."""
    return [system for system in known() if is_configured(system)]


def build(system: str, **options) -> Adapter:
    module, _, cls = ADAPTERS[system].partition(":")
    return getattr(import_module(module), cls)(endpoint(system), **options)
