"""``[telemetry]`` is validated like every section, and log records carry the trace id."""

from __future__ import annotations

import io
import logging
from pathlib import Path

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from broker.config import TelemetryConfig, load_config
from broker.errors import ConfigError
from broker.logs import _FORMATTERS as FORMATTERS
from broker.logs import fields
from broker.telemetry import logs as trace_logs
from broker.telemetry.spans import allowed, span
from broker.telemetry.tracing import Telemetry

BASE = """
[node]
id = "jp-172022"
role = "city"

[trust]
authority_jwk = "authority.jwk.json"
"""


def write(tmp_path: Path, telemetry: str) -> Path:
    path = tmp_path / "renkei.toml"
    path.write_text(BASE + "\n[telemetry]\n" + telemetry, encoding="utf-8")
    return path


def test_telemetry_is_off_by_default_and_read_when_given(tmp_path: Path) -> None:
    path = tmp_path / "plain.toml"
    path.write_text(BASE, encoding="utf-8")
    assert load_config(path).telemetry == TelemetryConfig(enabled=False)
    config = load_config(write(tmp_path, 'enabled = true\n'
                                         'endpoint = "http://127.0.0.1:4318/v1/traces"\n'
                                         "sampling_ratio = 0.25\n"))
    assert config.telemetry == TelemetryConfig(True, "http://127.0.0.1:4318/v1/traces", 0.25)


@pytest.mark.parametrize(("text", "key", "expected"), [
    ("enable = true\n", "telemetry.enable", "unknown key"),
    ("service_name = \"x\"\n", "telemetry.service_name", "unknown key"),  # = the member id
    ("enabled = \"yes\"\n", "telemetry.enabled", "true or false"),
    ("sampling_ratio = 1.5\n", "telemetry.sampling_ratio", "from 0 to 1"),
    ("sampling_ratio = -0.1\n", "telemetry.sampling_ratio", ">= 0"),
    ("endpoint = \"127.0.0.1:4318\"\n", "telemetry.endpoint", "OTLP/HTTP traces URL"),
    ("endpoint = \"http://h:4318/v1/traces?key=1\"\n", "telemetry.endpoint", "URL"),
    ("endpoint = \"https://user:hunter2@h/v1/traces\"\n", "telemetry.endpoint", "credentials"),
])
def test_a_bad_telemetry_key_names_the_file_and_the_key(
        tmp_path: Path, text: str, key: str, expected: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.key == key
    assert str(path) in str(info.value) and expected in str(info.value)
    assert "hunter2" not in str(info.value)


@pytest.mark.parametrize(("log_format", "outside", "inside"), [
    ("text", "WARNING renkei.test.spans: outside [peer=jp-172049]",
     "WARNING renkei.test.spans: inside [peer=jp-172049 trace_id={}]"),
    ("json", '"msg": "outside", "peer": "jp-172049"}',
     '"msg": "inside", "peer": "jp-172049", "trace_id": "{}"}'),
    ("logfmt", "msg=outside peer=jp-172049", "msg=inside peer=jp-172049 trace_id={}"),
])
def test_a_log_line_inside_a_span_carries_its_trace_id_in_every_format(
        log_format: str, outside: str, inside: str) -> None:
    exporter = InMemorySpanExporter()
    telemetry = Telemetry("jp-172022", TelemetryConfig(enabled=True), exporter)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(FORMATTERS[log_format]())
    trace_logs.install([handler])
    logger = logging.getLogger("renkei.test.spans")
    logger.addHandler(handler)
    logger.propagate = False
    extra = fields(peer="jp-172049")  # one mapping for both calls: it must not be changed
    try:
        logger.warning("outside", extra=extra)
        with telemetry.active(), span("work") as opened:
            assert opened is not None
            logger.warning("inside", extra=extra)
            trace_id = format(opened.get_span_context().trace_id, "032x")
    finally:
        logger.removeHandler(handler)
        telemetry.shutdown()
    first, second = stream.getvalue().splitlines()
    assert first.endswith(outside) and "trace_id" not in first
    assert second.endswith(inside.replace("{}", trace_id))
    (finished,) = exporter.get_finished_spans()
    assert format(finished.context.trace_id, "032x") == trace_id


def test_attributes_outside_the_list_never_reach_a_span() -> None:
    # A q, a token or an attribute's value cannot be attached by a careless call.
    assert allowed({"renkei.peer": "jp-172049", "url.query": "q=capacity>1",
                    "authorization": "Bearer x", "renkei.reason": None}) == {
        "renkei.peer": "jp-172049"}


def test_spans_are_opened_only_under_an_active_tracer() -> None:
    with span("nothing") as opened:
        assert opened is None  # no entry point activated a tracer: telemetry is off
    off = Telemetry("jp-172022", TelemetryConfig(enabled=False))
    assert not off.enabled
    with off.active(), span("still nothing") as opened:
        assert opened is None


async def test_an_ingest_run_is_a_span_with_its_counts(tmp_path: Path) -> None:
    from broker.ingest import Ingestor
    from broker.store.sqlite import SqliteStore
    from mappings.loader import bundled_sample
    from trust.clock import SystemClock

    exporter = InMemorySpanExporter()
    telemetry = Telemetry("jp-172022", TelemetryConfig(enabled=True), exporter)
    store = SqliteStore(tmp_path / "renkei.db")
    await store.open()
    try:
        with telemetry.active():
            report = await Ingestor(store, SystemClock()).ingest(
                "sites", "bundled:nanao_evacuation_sites",
                bundled_sample("nanao_evacuation_sites"))
    finally:
        await store.close()
        telemetry.shutdown()
    (run,) = exporter.get_finished_spans()
    assert run.name == "ingest.run" and run.resource.attributes["service.name"] == "jp-172022"
    assert dict(run.attributes or {}) == {
        "renkei.source": "sites", "renkei.read": report.read, "renkei.mapped": report.mapped,
        "renkei.quarantined": report.quarantined}
    assert report.read > 0
