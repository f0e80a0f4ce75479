"""``renkei demo``: a federation of three cities and a national agency, start to finish.

Nanao (七尾市, real open data, Digital Agency evacuation-site layout), Takamatsu (高松市, real
open data, xlsx), Kita-Noto Sample City (北能登サンプル市, SYNTHETIC data from an NGSIv2 City
OS) and the Cabinet Office disaster-management agency (内閣府防災, the consumer). Everything
runs in this process on 127.0.0.1 with ports chosen by the OS and a fresh data directory.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from pathlib import Path
from typing import TextIO

from mappings.loader import bundled_sample

from ..console.accounts import OperatorAccounts, new_password
from ..ingest import Ingestor, IngestReport
from ..service.filters import Comparison, Near
from ..service.model import AggregateQuery, FederatedQuery
from .harness import LocalFederation, NodeSpec
from .report import Report

AGENCY = "jp-gov-bousai"
NANAO, TAKAMATSU, KITANOTO = "jp-172022", "jp-372013", "jp-179999"

NODES = [
    NodeSpec(NANAO, "city", "七尾市", "Nanao City", sources=[
        {"name": "evacuation_sites", "rules": "bundled:nanao_evacuation_sites",
         "path": str(bundled_sample("nanao_evacuation_sites"))},
        {"name": "open_shelters", "rules": "bundled:nanao_open_shelters",
         "path": str(bundled_sample("nanao_open_shelters"))}]),
    NodeSpec(TAKAMATSU, "city", "高松市", "Takamatsu City", sources=[
        {"name": "evacuation_space", "rules": "bundled:takamatsu_evacuation_space",
         "path": str(bundled_sample("takamatsu_evacuation_space"))}]),
    NodeSpec(KITANOTO, "city", "北能登サンプル市", "Kita-Noto Sample City (synthetic)", sources=[
        {"name": "ngsiv2_shelters", "rules": "bundled:ngsiv2_shelters",
         "path": str(bundled_sample("ngsiv2_shelters"))}]),
    NodeSpec(AGENCY, "agency", "内閣府（防災担当）", "Cabinet Office, Disaster Management"),
]

SITE_FIELDS = ["name", "address", "location", "elevation", "telephone", "suitableFor",
               "conditionallySuitableFor", "capacity", "indoorCapacity", "outdoorCapacity",
               "capacityNote", "servedArea"]
# Takamatsu shares no telephone numbers, and only inside the city's bounding area.
TAKAMATSU_FIELDS = [f for f in SITE_FIELDS if f != "telephone"]
TAKAMATSU_AREA = {"type": "Polygon", "coordinates": [[
    [133.90, 34.17], [134.25, 34.17], [134.25, 34.45], [133.90, 34.45], [133.90, 34.17]]]}
# Points of the federated query: JR Nanao station and JR Takamatsu station.
QUERY_POINTS = [("Nanao Station", 136.9669, 37.0433), ("Takamatsu Station", 134.0465, 34.3505)]
MIN_CAPACITY = 300
DEMO_OPERATOR = "demo-admin"


async def run_demo(out: TextIO, *, data_dir: Path | None = None, keep_running: bool = False,
                   stop_event: asyncio.Event | None = None) -> int:
    root = Path(data_dir) if data_dir else Path(tempfile.mkdtemp(prefix="renkei-demo-"))
    report = Report(out)
    fed = LocalFederation(root, dev_open_read=keep_running)
    try:
        report.title(f"Renkei demo federation (data directory {root})")
        await fed.start_authority()
        for spec in NODES:
            await fed.add_node(spec)
        await fed.publish()
        report.directory(fed.nodes[AGENCY].directory.current)

        await _agreements(fed)
        report.agreements(fed.nodes[AGENCY].agreements.views())

        reports = await _ingest(fed)
        report.ingest(reports)

        agency = fed.nodes[AGENCY]
        names = {n.id: n.config.name_en for n in fed.nodes.values()}
        for label, lon, lat in QUERY_POINTS:
            query = FederatedQuery(
                types=("EvacuationSite",), purpose="disaster_response",
                q=(Comparison("suitableFor", "==", "tsunami"),
                   Comparison("capacity", ">=", MIN_CAPACITY)),
                geo=Near(lon, lat, 15_000), limit=1000)
            outcome = await agency.fanout.query(query, deadline=10.0,
                                                peers=[NANAO, TAKAMATSU, KITANOTO])
            report.federated_query(label, lon, lat, MIN_CAPACITY, outcome, names)

        totals = await agency.fanout.aggregate(
            AggregateQuery(types=("EvacuationSite",), attribute="capacity",
                           functions=("count", "sum", "avg"), by_city=True,
                           purpose="disaster_response"),
            deadline=10.0, peers=[NANAO, TAKAMATSU, KITANOTO])
        occupancy = await agency.fanout.aggregate(
            AggregateQuery(types=("ShelterOccupancy",), attribute="occupancy",
                           functions=("count", "sum"), group_by="district",
                           purpose="statistics"),
            deadline=10.0, peers=[NANAO])
        report.aggregates(totals, occupancy, names)

        refused = await agency.fanout.query(
            FederatedQuery(types=("ShelterOccupancy",), purpose="statistics"), deadline=10.0,
            peers=[NANAO])
        masked = await agency.fanout.query(
            FederatedQuery(types=("EvacuationSite",), attrs=("name", "telephone"),
                           purpose="disaster_response"), deadline=10.0, peers=[TAKAMATSU])
        report.refusals([("raw rows of ShelterOccupancy from Nanao (statistics)", refused),
                         ("telephone numbers of Takamatsu's sites", masked)])

        heads = {}
        for node in fed.nodes.values():
            seq, head = await node.audit.head()
            heads[node.id] = (seq, head, (await node.audit.verify()).ok)
        report.audit_heads(heads)

        if keep_running:
            report.urls(fed)
            report.console_logins(await _console_logins(fed))
            await (stop_event or asyncio.Event()).wait()
        report.line("Stopping every node and the authority.")
        return 0
    finally:
        await fed.stop()
        if data_dir is None and not keep_running:
            shutil.rmtree(root, ignore_errors=True)


async def _console_logins(fed: LocalFederation) -> list[tuple[str, str, str, str]]:
    """An admin operator per node with a password made for this run and printed once:
    (node, console URL, name, password). A kept data directory gets new passwords."""
    logins = []
    for node in fed.nodes.values():
        if node.http is None or not node.config.console.enabled:
            continue
        password = new_password()
        await node.store.delete_operator(DEMO_OPERATOR)  # ends an earlier run's sessions
        await OperatorAccounts(node.store, node.clock).add(DEMO_OPERATOR, "admin", password)
        logins.append((node.config.name_en or node.id, f"{node.http.url}/console",
                       DEMO_OPERATOR, password))
    return logins


async def _agreements(fed: LocalFederation) -> None:
    await fed.agree(provider=NANAO, consumer=AGENCY, agreement_id="agr-nanao-evacuation",
                    purpose="disaster_response", types={"EvacuationSite": SITE_FIELDS})
    await fed.agree(provider=NANAO, consumer=AGENCY, agreement_id="agr-nanao-shelter-stats",
                    purpose="statistics",
                    types={"ShelterOccupancy": ["occupancy", "district", "refEvacuationSite"]},
                    aggregate_only=True, k=3)
    await fed.agree(provider=TAKAMATSU, consumer=AGENCY, agreement_id="agr-takamatsu-evacuation",
                    purpose="disaster_response", types={"EvacuationSite": TAKAMATSU_FIELDS},
                    area=TAKAMATSU_AREA)
    await fed.agree(provider=KITANOTO, consumer=AGENCY, agreement_id="agr-kitanoto-evacuation",
                    purpose="disaster_response", types={"EvacuationSite": SITE_FIELDS})


async def _ingest(fed: LocalFederation) -> dict[str, list[IngestReport]]:
    out: dict[str, list[IngestReport]] = {}
    for node in fed.nodes.values():
        ingestor = Ingestor(node.store, node.clock, node.changes.notify)
        out[node.id] = [await ingestor.ingest(s.name, s.rules, s.path, kind=s.kind)
                        for s in node.config.sources]
    return out
