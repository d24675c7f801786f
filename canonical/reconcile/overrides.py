"""Overrides: people force or forbid a link between two source records (`concord link`). Stored in
the match_overrides table and applied on every reconcile: a forbid outranks any score or rule, a
force joins the two records' clusters."""
from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from canonical.store import session
from canonical.store.models import MatchOverride

Key = tuple[str, str]
KINDS = ("force", "forbid")


def parse_key(text: str) -> Key:
    """'shopify:gid://shopify/Customer/7' -> ('shopify', 'gid://shopify/Customer/7')."""
    source, sep, source_id = text.partition(":")
    if not (sep and source and source_id):
        raise ValueError(f"expected SOURCE:ID, got {text!r}")
    return source, source_id


def _ordered(a: Key, b: Key) -> tuple[Key, Key]:
    return (a, b) if a <= b else (b, a)


def set_override(a: Key, b: Key, kind: str, reason: str = "") -> None:
    if kind not in KINDS or a == b:
        raise ValueError(f"an override is force or forbid between two different records, got {kind} {a} {b}")
    (sa, ia), (sb, ib) = _ordered(a, b)
    with session() as s:
        row = s.scalar(select(MatchOverride).where(MatchOverride.source_a == sa, MatchOverride.source_id_a == ia,
                                                   MatchOverride.source_b == sb, MatchOverride.source_id_b == ib))
        if row is None:
            s.add(MatchOverride(source_a=sa, source_id_a=ia, source_b=sb, source_id_b=ib, kind=kind, reason=reason))
        else:
            row.kind, row.reason = kind, reason


def remove_override(a: Key, b: Key) -> bool:
    (sa, ia), (sb, ib) = _ordered(a, b)
    with session() as s:
        done = s.execute(delete(MatchOverride).where(
            MatchOverride.source_a == sa, MatchOverride.source_id_a == ia,
            MatchOverride.source_b == sb, MatchOverride.source_id_b == ib))
        return done.rowcount > 0


def load(s: Session) -> list[tuple[Key, Key, str]]:
    return [((o.source_a, o.source_id_a), (o.source_b, o.source_id_b), o.kind) for o in s.scalars(select(MatchOverride))]
