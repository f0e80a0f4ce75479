"""The operator console in a real browser: headless Chromium (Debian's chromium and
chromium-driver, driven by Selenium) signs in to two nodes of a federation on 127.0.0.1, opens
every page and checks what it shows against the nodes' state, proposes an agreement through
the form on the agency, countersigns it on the city, revokes it, sees a stopped peer backing
off, and keeps a screenshot of every page (``test-artifacts/console/``, or
``$RENKEI_TEST_ARTIFACTS/console``).

``make test`` installs the two packages (deploy/install-chromium.sh); with CI=true a missing
browser fails this test, elsewhere it is skipped with the reason.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from broker.console.accounts import OperatorAccounts
from broker.demo.harness import LocalFederation, NodeSpec
from broker.service.entity_write import entity_write
from broker.service.model import FederatedQuery
from broker.store.base import QuarantineRecord

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "broker" / "federation"))
from fedtools import FAST, site  # noqa: E402

CITY, AGENCY = "jp-172022", "jp-gov-fdma"
PASSWORD = "browser test password"
XSS = '<img src=x onerror="window.__pwned = 1">'

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("RENKEI_TEST_ARTIFACTS", REPO / "test-artifacts")) / "console"
T = TypeVar("T")


def _browser_or_reason() -> str:
    missing = [n for n in ("chromium", "chromedriver") if shutil.which(n) is None]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("selenium (pip: the test extras)")
    return f"missing {', '.join(missing)}" if missing else ""


@pytest.fixture
def browser() -> Iterator[Any]:
    reason = _browser_or_reason()
    if reason:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true and the console's browser test cannot run: {reason} "
                        "(deploy/install-chromium.sh installs them)")
        pytest.skip(f"{reason}: run deploy/install-chromium.sh as root")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "chromium"
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1400,1000", "--no-first-run", "--disable-extensions",
                "--disable-background-networking", "--disable-component-update"):
        options.add_argument(arg)
    driver = webdriver.Chrome(options=options,
                              service=Service(shutil.which("chromedriver") or "chromedriver"))
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


class Operator:
    """One operator at one node's console, in the shared browser (run in a thread: the
    nodes serve from the test's event loop, which Selenium's blocking calls must not hold)."""

    def __init__(self, driver: Any, base: str, node: str) -> None:
        self.driver = driver
        self.base = base
        self.node = node

    def open(self, page: str) -> str:
        self.driver.get(f"{self.base}/console/{page}")
        return str(self.driver.find_element("tag name", "main").text)

    def shot(self, name: str) -> None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        self.driver.save_screenshot(str(ARTIFACTS / f"{self.node}-{name}.png"))

    def sign_in(self, name: str, password: str) -> None:
        self.open("login")
        self.driver.find_element("id", "name").send_keys(name)
        self.driver.find_element("id", "password").send_keys(password)
        self.submit(self.driver.find_element("css selector", "form.block button"))
        assert self.driver.current_url.endswith("/console/federation"), \
            (self.driver.current_url, self.driver.find_element("tag name", "main").text)
        assert name in self.driver.find_element("css selector", "header .who").text

    def submit(self, button: Any, *, confirm: bool = False) -> None:
        """Click a form's button and wait for the page it leads to (``confirm``: accept the
        browser's confirmation first)."""
        from selenium.webdriver.support import expected_conditions
        from selenium.webdriver.support.ui import WebDriverWait

        old = self.driver.find_element("tag name", "html")
        button.click()
        if confirm:
            WebDriverWait(self.driver, 10).until(expected_conditions.alert_is_present())
            self.driver.switch_to.alert.accept()
        WebDriverWait(self.driver, 30).until(expected_conditions.staleness_of(old))

    def map_drawn(self, map_id: str) -> str:
        """How many features the page's map drew, once console-map.js is done."""
        from selenium.webdriver.support.ui import WebDriverWait

        element = self.driver.find_element("id", map_id)
        WebDriverWait(self.driver, 30).until(lambda d: element.get_attribute("data-ready"))
        assert element.get_attribute("data-ready") == "yes", element.text
        return str(element.get_attribute("data-drawn"))

    def notice(self) -> str:
        return str(self.driver.find_element("css selector", "p.notice").text)

    def fill(self, field: str, value: str) -> None:
        element = self.driver.find_element("id", field)
        element.clear()
        element.send_keys(value)


async def in_thread(fn: Callable[..., T], *args: Any) -> T:
    return await asyncio.to_thread(fn, *args)


async def test_operators_run_an_agreement_through_the_console(tmp_path: Path,
                                                              browser: Any) -> None:
    fed = LocalFederation(tmp_path)
    try:
        await fed.start_authority()
        city = await fed.add_node(NodeSpec(CITY, "city", "七尾市", "Nanao", extra_toml=FAST))
        agency = await fed.add_node(NodeSpec(AGENCY, "agency", "消防庁", "FDMA",
                                             extra_toml=FAST))
        await fed.publish()
        await city.store.upsert_entities([entity_write(site(CITY, n, capacity=50 + n))
                                          for n in range(3)], time.time())
        # Attacker text that reaches the map's labels (Leaflet would take a string as HTML).
        await city.store.upsert_entities([entity_write({
            "id": f"urn:ngsi-ld:PointOfInterest:{CITY}:x", "type": "PointOfInterest",
            "name": {"type": "Property", "value": XSS},
            "location": {"type": "GeoProperty",
                         "value": {"type": "Point", "coordinates": [136.97, 37.05]}}})],
            time.time())
        run = await city.store.start_run("shelters", "shelters.csv", time.time())
        await city.store.commit_batch(run, "shelters", [], [QuarantineRecord(
            "shelters", "shelters.csv", 12, "収容人数", "約100", "not_a_number",
            "'約100' is not a number")], None, 4, time.time())
        await city.store.finish_run(run, time.time())
        for node in (city, agency):
            await OperatorAccounts(node.store, node.clock).add("chief", "admin", PASSWORD)
        assert city.http is not None and agency.http is not None
        at_city = Operator(browser, city.http.url, CITY)
        at_agency = Operator(browser, agency.http.url, AGENCY)

        # -- the agency proposes through the form -----------------------------------------
        await in_thread(at_agency.sign_in, "chief", PASSWORD)
        text = await in_thread(at_agency.open, "federation")
        assert f"version {agency.directory.version}" in text
        assert CITY in text and "七尾市" in text
        await in_thread(at_agency.shot, "federation")

        def propose() -> str:
            at_agency.open("agreements")
            browser.find_element("css selector", f"#provider option[value='{CITY}']").click()
            browser.find_element("css selector",
                                 "#purpose option[value='disaster_response']").click()
            at_agency.fill("types", "EvacuationSite:name,capacity,location")
            at_agency.fill("agreement_id", "agr-browser")
            at_agency.fill("rpm", "120")
            at_agency.fill("bbox", "136.9,37.0,137.1,37.1")
            at_agency.submit(browser.find_element("css selector", "form.block button"))
            return at_agency.notice()

        assert "proposed agr-browser" in await in_thread(propose)
        assert agency.agreements.get("agr-browser").state == "proposed"
        assert city.agreements.get("agr-browser").state == "proposed"  # it travelled
        await in_thread(at_agency.shot, "agreements-proposed")

        # -- the city countersigns --------------------------------------------------------
        await in_thread(at_city.sign_in, "chief", PASSWORD)

        def countersign() -> tuple[str, str]:
            at_city.open("agreements")
            assert at_city.map_drawn("area-map") == "1"  # the proposal's area
            row = browser.find_element("id", "agreement-agr-browser")
            shown = str(row.text)
            at_city.submit(row.find_element("xpath", ".//button[text()='Countersign']"))
            return shown, at_city.notice()

        shown, notice = await in_thread(countersign)
        terms = city.agreements.get("agr-browser").signed.agreement
        assert terms.attributes["EvacuationSite"] - {"id", "type"} == frozenset(
            {"name", "capacity", "location"})
        assert terms.rate_limits.requests_per_minute == 120
        assert terms.area is not None and terms.area.bounds == (136.9, 37.0, 137.1, 37.1)
        for value in ("capacity, location, name", f"{AGENCY}", "disaster_response",
                      "120/min", "raw rows", "bbox 136.9000, 37.0000, 137.1000, 37.1000"):
            assert value in shown, (value, shown)
        assert "countersigned agr-browser: active" in notice
        assert city.agreements.get("agr-browser").state == "active"
        assert agency.agreements.get("agr-browser").state == "active"
        await in_thread(at_city.shot, "agreements-active")
        entries = (await city.audit.entries())
        signed = [e for e in entries if e.operation == "console.countersign"]
        assert signed and signed[-1].caller == "operator:chief"

        # A federated query under it: the city's traffic page counts it.
        outcome = await agency.fanout.query(FederatedQuery(types=("EvacuationSite",),
                                                           purpose="disaster_response"),
                                            deadline=10)
        assert [s.status for s in outcome.statuses] == ["ok"] and len(outcome.entities) == 3

        def traffic() -> str:
            text = at_city.open("traffic")
            at_city.shot("traffic")
            return str(browser.find_element("id", "served").text) if "Served" in text else ""

        served = await in_thread(traffic)
        assert AGENCY in served and "agr-browser" in served, served

        # -- data and audit pages against the store -----------------------------------------
        def data() -> tuple[str, str, str, object]:
            at_city.open("data")
            drawn = at_city.map_drawn("entity-map")
            at_city.shot("data")
            return (str(browser.find_element("id", "quarantine").text),
                    str(browser.find_element("id", "entity-types").text), drawn,
                    browser.execute_script("return window.__pwned"))

        quarantine, types, drawn, pwned = await in_thread(data)
        assert drawn == "4" and pwned is None  # 3 sites + the hostile one, its label as text
        held = await city.store.list_quarantine()
        assert held[0].message in quarantine and "約100" in quarantine
        assert "shelters.csv" in quarantine and "12" in quarantine
        assert f"EvacuationSite {(await city.store.entity_types())['EvacuationSite']}" in types

        def audit() -> tuple[str, str]:
            at_city.open("audit")
            length = str(browser.find_element("id", "chain-length").text)
            at_city.submit(browser.find_element("xpath", "//button[text()='Verify the log']"))
            at_city.shot("audit")
            return length, at_city.notice()

        length, verdict = await in_thread(audit)
        assert int(length) == (await city.audit.head())[0]  # verifying adds no entry
        assert "the log verifies" in verdict

        # -- revoke, with a reason and the browser's confirmation -------------------------------
        def revoke() -> str:
            at_city.open("agreements")
            row = browser.find_element("id", "agreement-agr-browser")
            row.find_element("name", "reason").send_keys("drill over")
            row.find_element("name", "confirm").click()
            at_city.submit(row.find_element("xpath", ".//button[text()='Revoke']"), confirm=True)
            return at_city.notice()

        assert "revoked agr-browser" in await in_thread(revoke)
        assert city.agreements.get("agr-browser").state == "revoked"
        assert agency.agreements.get("agr-browser").state == "revoked"
        await in_thread(at_city.shot, "agreements-revoked")

        # -- a stopped peer is shown backing off after a retry ------------------------------------
        await fed.stop_node(AGENCY)

        def retry() -> str:
            at_city.open("federation")
            row = browser.find_element("id", f"member-{AGENCY}")
            at_city.submit(row.find_element("xpath", ".//button[text()='Retry now']"))
            state = str(browser.find_element("id", f"member-{AGENCY}").text)
            at_city.shot("federation-peer-down")
            return state

        state = await in_thread(retry)
        backoff = await city.backoff.state(AGENCY)
        assert backoff.failures >= 1 and "health probe" in backoff.last_error
        assert "backing off until" in state or "retry due" in state, state
        # Nothing the pages did broke the Content-Security-Policy (Chromium logs each refusal).
        logs = await in_thread(browser.get_log, "browser")
        refused = [entry["message"] for entry in logs if "Content Security Policy" in
                   entry.get("message", "")]
        assert refused == [], refused
    finally:
        await fed.stop()
