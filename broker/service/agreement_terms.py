"""The terms of a new agreement as an operator states them: ``renkei agreement propose`` and
the console's proposal form both build the ``Agreement`` here, then hand it to
``AgreementExchange.propose``, so the two cannot drift apart."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from trust.agreement_model import Agreement, RateLimits
from trust.directory import Directory
from trust.errors import AgreementError, GeometryError
from trust.geo import Area

from ..errors import BadRequest

DAY = 86400


@dataclass(frozen=True)
class Terms:
    """What the proposing consumer asks for (defaults: the CLI's)."""

    provider: str
    purpose: str
    types: Mapping[str, frozenset[str]]  # entity type -> allowed attributes
    area: Area | None = None
    agreement_id: str = ""  # empty: a new id
    days: int = 365
    requests_per_minute: int = 60
    entities_per_day: int = 100_000
    aggregate_only: bool = False
    k: int = 1
    freshness_seconds: int = 3600
    retention_days: int = 30
    onward_sharing: bool = False


def parse_type_attributes(values: Iterable[str], what: str = "--type") -> dict[str, frozenset[str]]:
    """``TYPE[:ATTR,ATTR...]`` values into type -> attributes."""
    out: dict[str, frozenset[str]] = {}
    for value in values:
        name, _, attrs = value.strip().partition(":")
        if not name.strip():
            raise BadRequest(f"{what} {value!r}: expected TYPE[:ATTR,ATTR...]")
        out[name.strip()] = frozenset(a.strip() for a in attrs.split(",") if a.strip())
    return out


def parse_bbox(text: str, what: str = "--bbox") -> Area:
    """``MINLON,MINLAT,MAXLON,MAXLAT`` into an area."""
    try:
        return Area([float(v) for v in text.split(",")])
    except ValueError:
        raise BadRequest(f"{what}: expected four numbers west,south,east,north") from None
    except GeometryError as exc:
        raise BadRequest(f"{what}: {exc.message}") from None


def check_party(directory: Directory, node_id: str, member_id: str) -> None:
    """Refuse a party that is not a current member of the directory this node holds."""
    member = directory.members.get(member_id)
    if member is None or member.revoked:
        known = ", ".join(sorted(m for m, v in directory.members.items()
                                 if m != node_id and not v.revoked))
        state = "revoked in" if member is not None else "not a member of"
        raise BadRequest(f"{member_id} is {state} the member directory v{directory.version}; "
                         f"members: {known or 'none'}", code="not_a_member")


def draft_agreement(terms: Terms, consumer: str, directory_version: int,
                    now: float) -> Agreement:
    """The unsigned agreement ``consumer`` proposes, valid from ``now`` for ``terms.days``."""
    start = int(now)
    try:
        return Agreement(
            id=terms.agreement_id or f"agr-{uuid.uuid4().hex[:12]}", provider=terms.provider,
            consumer=consumer, purpose=terms.purpose, entity_types=frozenset(terms.types),
            attributes=dict(terms.types), area=terms.area, not_before=start,
            not_after=start + terms.days * DAY, freshness_seconds=terms.freshness_seconds,
            rate_limits=RateLimits(terms.requests_per_minute, terms.entities_per_day),
            aggregate_only=terms.aggregate_only, k_threshold=terms.k,
            onward_sharing=terms.onward_sharing, retention_days=terms.retention_days,
            directory_version=directory_version)
    except AgreementError as exc:
        raise BadRequest(f"invalid agreement: {exc.message}") from None
