"""The named transforms a mapping may use, each with its reverse for fields that are written back.
Mappings name them; they never carry code of their own. The shared ones are here; a system's own
(its consent states, its date format) live in its adapter package as `adapters/<system>/transforms.py`
with a `TRANSFORMS` dict, merged in for that system's mapping only."""
from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module
from typing import Callable


@dataclass(frozen=True)
class Transform:
    forward: Callable[[object], object]
    reverse: Callable[[object], object]


def _identity(value):
    return value


def _to_string(value):
    return None if value is None else str(value)


def _one_item_list(value):
    return [value] if value not in (None, "") else []


def _first_item(value):
    return value[0] if value else None


def _negate(value):
    return None if value is None else not value


TRANSFORMS: dict[str, Transform] = {
    "identity": Transform(_identity, _identity),
    "to_string": Transform(_to_string, _identity),
    "one_item_list": Transform(_one_item_list, _first_item),
    "negate": Transform(_negate, _negate),
}


def for_system(system: str) -> dict[str, Transform]:
    """The shared transforms plus the system's own, if its adapter package has any."""
    try:
        own = import_module(f"adapters.{system}.transforms").TRANSFORMS
    except ModuleNotFoundError as exc:
        if exc.name not in (f"adapters.{system}", f"adapters.{system}.transforms"):
            raise
        own = {}
    return {**TRANSFORMS, **own}
