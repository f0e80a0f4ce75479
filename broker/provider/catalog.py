"""What this node offers a caller: one DCAT-style dataset per agreement and entity type, and
to every member (an agreement yet to be proposed) the entity types and attributes its sources
publish, taken from its rules, never from its data.

The catalog must not say more than the agreement lets the caller see: entity counts are those
inside the agreed area, and under an aggregate-only agreement a count below the k-threshold is
withheld (reported as 0), since it is itself a small aggregate. A catalog call counts against
the request rate of every agreement it lists (it is a call under them, and its entity counts
cost a query each): over any of them it is refused as ``rate_limited``.
"""

from __future__ import annotations

import datetime as dt

from trust.agreement_model import Agreement
from trust.clock import Clock
from trust.enforce import entity_in_area

from ..service.agreement_book import AgreementBook
from ..service.model import Catalog, CatalogDataset, CatalogOffer
from ..service.query import any_of
from ..store.base import Store
from .limits import CallLimits
from .query import EntityQuery, count_matches


class CatalogService:
    def __init__(self, node_id: str, publisher: str, license_name: str, store: Store,
                 agreements: AgreementBook, limits: CallLimits, clock: Clock) -> None:
        self._node_id = node_id
        self._publisher = publisher
        self._license = license_name
        self._store = store
        self._agreements = agreements
        self._limits = limits
        self._clock = clock
        # What this node publishes to every member, agreement or not: entity types and the
        # attributes its sources' rules produce (set at start from the config; no data).
        self.offers: tuple[CatalogOffer, ...] = ()

    async def catalog(self, caller: str, purpose: str = "") -> Catalog:
        """The caller's datasets under its agreements, and this node's offers (to any
        member); ``RateLimited`` when a listed agreement's rate is spent."""
        self._limits.check_refusals(caller)
        listed = []
        for view in self._agreements.views():
            a = view.signed.agreement
            if (view.state != "active" or a.provider != self._node_id or a.consumer != caller
                    or (purpose and a.purpose != purpose) or "catalog" not in a.operations):
                continue
            listed.append(a)
        for a in listed:  # before any counting work
            await self._limits.before_call(caller, a)
        counts = await self._store.entity_types()
        runs = await self._store.list_runs(limit=20)
        modified = max((r.finished_at or r.started_at for r in runs), default=None)
        datasets = []
        for a in listed:
            for entity_type in sorted(a.entity_types):
                count = await self._count(a, entity_type, counts.get(entity_type, 0))
                datasets.append(CatalogDataset(
                    identifier=f"{self._node_id}/{a.id}/{entity_type}",
                    title=f"{entity_type} — {self._publisher}",
                    description=(f"{entity_type} entities shared by {self._publisher} for "
                                 f"{a.purpose} under agreement {a.id}"
                                 + (" (aggregates only)" if a.aggregate_only else "")),
                    publisher=self._publisher, license=self._license, entity_type=entity_type,
                    attributes=tuple(sorted(a.allowed_attributes(entity_type))),
                    spatial=a.area.to_document() if a.area is not None else None,
                    entity_count=count,
                    accrual_periodicity=_periodicity(a.freshness_seconds),
                    modified=_iso(modified) if modified else "",
                    agreement_id=a.id, aggregate_only=a.aggregate_only))
        return Catalog(self._node_id, tuple(datasets), self.offers)

    async def _count(self, agreement: Agreement, entity_type: str, total: int) -> int:
        """Entities of the type the caller may see under ``agreement``."""
        count = total
        if agreement.area is not None and total:
            area = agreement.area
            count = await count_matches(
                self._store, EntityQuery(types=any_of((entity_type,))), area_bbox=area.bounds,
                area_test=lambda entity: entity_in_area(entity, area))
        if agreement.aggregate_only and count < agreement.k_threshold:
            return 0
        return count


def _periodicity(seconds: int) -> str:
    """ISO 8601 duration of the agreed freshness window (how often data is refreshed)."""
    if seconds <= 0:
        return "PT0S"
    if seconds % 86400 == 0:
        return f"P{seconds // 86400}D"
    if seconds % 3600 == 0:
        return f"PT{seconds // 3600}H"
    return f"PT{seconds}S"


def _iso(t: float) -> str:
    return dt.datetime.fromtimestamp(t, dt.UTC).isoformat().replace("+00:00", "Z")
