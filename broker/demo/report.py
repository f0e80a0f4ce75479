"""The demo's printed sections: plain, aligned text that reads well in a terminal and in logs."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TextIO

from trust.directory import Directory

from ..federation.fanout import AggregateOutcome, PeerStatus, QueryOutcome
from ..ingest import IngestReport
from ..service.agreement_book import AgreementView
from ..service.filters import entity_geometry, haversine_m

ROWS_PER_CITY = 5
SECTIONS = ("Signed member directory", "Agreements", "Ingest", "Federated query",
            "Aggregates", "Refused requests", "Audit chain heads")


class Report:
    def __init__(self, out: TextIO) -> None:
        self._out = out
        self._section = 0

    def line(self, text: str = "") -> None:
        print(text, file=self._out, flush=True)

    def title(self, text: str) -> None:
        self.line(text)
        self.line("=" * min(len(text) + 8, 100))

    def section(self, name: str) -> None:
        self._section += 1
        self.line()
        self.line(f"## {self._section}. {name}")

    def directory(self, directory: Directory) -> None:
        self.section("Signed member directory")
        self.line(f"version {directory.version}, issued {_when(directory.issued_at)}, "
                  f"next update {_when(directory.next_update)} (verified against the pinned "
                  "authority key)")
        for m in directory.members.values():
            kids = ",".join(k.kid[:10] for k in m.keys)
            fp = m.tls_fingerprints[0][:19] + "…" if m.tls_fingerprints else "-"
            self.line(f"  {m.id:<14} {m.role:<7} {m.name_ja} / {m.name_en}")
            self.line(f"  {'':<14} grpc {','.join(m.endpoints)}  key {kids}  tls {fp}")

    def agreements(self, views: Sequence[AgreementView]) -> None:
        self.section("Agreements")
        for view in views:
            a = view.signed.agreement
            mode = f"aggregate-only (k={a.k_threshold})" if a.aggregate_only else "raw rows"
            area = ("whole city" if a.area is None else
                    "area bbox " + ", ".join(f"{v:.2f}" for v in a.area.bounds))
            signers = " + ".join(sorted(view.signed.signatures))
            self.line(f"  {a.id} [{view.state}, signed by {signers}]")
            self.line(f"    {a.provider} -> {a.consumer}  purpose {a.purpose}  {mode}  {area}")
            for t in sorted(a.entity_types):
                fields = sorted(a.allowed_attributes(t) - {"id", "type"})
                self.line(f"    {t}: {', '.join(fields)}")

    def ingest(self, reports: Mapping[str, list[IngestReport]]) -> None:
        self.section("Ingest")
        for node_id, runs in reports.items():
            for r in runs:
                assert r.read == r.mapped + r.quarantined
                self.line(f"  {node_id:<14} {r.source:<18} read {r.read:>4}  mapped "
                          f"{r.mapped:>4}  quarantined {r.quarantined:>3}")
                for reason in r.first_reasons[:3]:
                    self.line(f"  {'':<14}   quarantined: {reason}")

    def federated_query(self, label: str, lon: float, lat: float, min_capacity: int,
                        outcome: QueryOutcome, names: Mapping[str, str]) -> None:
        self.section("Federated query")
        self.line(f"  EvacuationSite usable for a tsunami, capacity >= {min_capacity}, "
                  f"within 15 km of {label} ({lat:.4f}, {lon:.4f})")
        rows = []
        for e in outcome.entities:
            geometry = entity_geometry(e) or {}
            coords = geometry.get("coordinates", [lon, lat])
            rows.append((haversine_m(lon, lat, coords[0], coords[1]), e))
        rows.sort(key=lambda r: r[0])
        by_city: dict[str, list[tuple[float, dict[str, Any]]]] = {}
        for distance, e in rows:
            city = str(e.get("id", "")).split(":")[3] if e.get("id") else "?"
            by_city.setdefault(city, []).append((distance, e))
        # The nearest few of every city that answered with rows, so each city's part shows.
        for city, found in sorted(by_city.items()):
            for distance, e in found[:ROWS_PER_CITY]:
                self.line(f"    {city:<11} {entity_name(e)[:26]:<26} capacity "
                          f"{capacity_of(e)!s:>6}  {distance / 1000:5.1f} km")
            if len(found) > ROWS_PER_CITY:
                self.line(f"    {city:<11} ... and {len(found) - ROWS_PER_CITY} more")
        self._statuses(outcome.statuses, names)

    def _statuses(self, statuses: Iterable[PeerStatus], names: Mapping[str, str]) -> None:
        for s in statuses:
            detail = f"{s.count} entities" if s.status == "ok" else f"{s.reason}: {s.message}"
            self.line(f"  status {s.peer:<11} {names.get(s.peer, ''):<34} {s.status:<18} "
                      f"{detail} ({s.elapsed_ms:.0f} ms)")

    def aggregates(self, totals: AggregateOutcome, occupancy: AggregateOutcome,
                   names: Mapping[str, str]) -> None:
        self.section("Aggregates")
        self.line("  Total capacity of evacuation sites by city (exact merge of sums and counts):")
        for g in totals.groups:
            avg = f"{g.avg:.0f}" if g.avg is not None else "-"
            self.line(f"    {g.key:<11} {names.get(g.key, ''):<34} sites {g.count:>4}  "
                      f"total capacity {g.sum:>9.0f}  average {avg:>6}")
        grand = sum(g.count for g in totals.groups), sum(g.sum for g in totals.groups)
        self.line(f"    {'all':<11} {'':<34} sites {grand[0]:>4}  total capacity {grand[1]:>9.0f}")
        self._statuses(totals.statuses, names)
        self.line("  Shelter occupancy in Nanao by district (aggregate-only agreement, k=3):")
        for g in sorted(occupancy.groups, key=lambda g: g.suppressed):  # the marker last
            if g.suppressed:
                self.line("    other districts: withheld (fewer than k shelters each; not even "
                          "their names leave the city)")
            else:
                self.line(f"    {g.key:<20} shelters {g.count:>3}  people {g.sum:>6.0f}")
        self._statuses(occupancy.statuses, names)

    def refusals(self, cases: Sequence[tuple[str, QueryOutcome]]) -> None:
        self.section("Refused requests")
        for label, outcome in cases:
            for s in outcome.statuses:
                self.line(f"  asked {s.peer} for {label}:")
                self.line(f"    -> {s.status}, reason '{s.reason}': {s.message}")

    def audit_heads(self, heads: Mapping[str, tuple[int, str, bool]]) -> None:
        self.section("Audit chain heads")
        for node_id, (seq, head, ok) in heads.items():
            self.line(f"  {node_id:<14} entries {seq:>4}  head {head[:24]}…  "
                      f"{'verified' if ok else 'BROKEN'}")

    def console_logins(self, logins: Sequence[tuple[str, str, str, str]]) -> None:
        self.line()
        self.line("Operator consoles (sign in with the login printed here, made for this run):")
        for name, url, operator, password in logins:
            self.line(f"  {name:<38} {url}   operator {operator}  password {password}")

    def urls(self, fed: Any) -> None:
        from mappings.contexts import RENKEI_CONTEXT_URL

        # Without this Link header a client speaks the core context only, and Renkei's names
        # (EvacuationSite, capacity...) are full IRIs.
        link = (f"Link: <{RENKEI_CONTEXT_URL}>; rel=\"http://www.w3.org/ns/json-ld#context\"; "
                f"type=\"application/ld+json\"")
        self.line()
        self.line("The nodes keep running (Ctrl-C stops them). Try:")
        for node in fed.nodes.values():
            if node.http is not None:
                self.line(f"  curl -s -H '{link}' '{node.http.url}/ngsi-ld/v1/entities"
                          f"?type=EvacuationSite&limit=3&local=true'   # {node.config.name_en}")
            self.line(f"  grpc {node.grpc_endpoint} (TLS, health + reflection)")


def _when(t: float) -> str:
    return dt.datetime.fromtimestamp(t, dt.UTC).isoformat(timespec="seconds").replace(
        "+00:00", "Z")


def entity_name(entity: dict[str, object]) -> str:
    """The Japanese name of an entity, else any name it has."""
    prop = entity.get("name")
    if isinstance(prop, dict):
        if isinstance(prop.get("languageMap"), dict):
            names = prop["languageMap"]
            return str(names.get("ja") or next(iter(names.values()), ""))
        return str(prop.get("value", ""))
    return ""


def capacity_of(entity: dict[str, object]) -> object:
    prop = entity.get("capacity")
    return prop.get("value") if isinstance(prop, dict) else None
