"""The systems Concord knows: every package under adapters/ whose __init__ names its adapter class
(`ADAPTER = "module:Class"`). Adding a system adds its package and nothing here."""
from __future__ import annotations

import pkgutil
from functools import lru_cache
from importlib import import_module
from pathlib import Path

from adapters.base import Adapter
from adapters.connections import endpoint, is_configured


@lru_cache(maxsize=1)
def _adapters() -> dict[str, str]:
    found = {}
    for info in pkgutil.iter_modules([str(Path(__file__).parent)]):
        if info.ispkg:
            spec = getattr(import_module(f"adapters.{info.name}"), "ADAPTER", None)
            if spec:
                found[info.name] = spec
    return found


def known() -> list[str]:
    return sorted(_adapters())


def configured() -> list[str]:
    """The systems that have a connection; the ones a sync run reads and writes."""
    return [system for system in known() if is_configured(system)]


def adapter_class(system: str) -> type:
    module, _, cls = _adapters()[system].partition(":")
    return getattr(import_module(module), cls)


def build(system: str, **options) -> Adapter:
    return adapter_class(system)(endpoint(system), **options)
