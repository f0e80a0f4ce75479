"""Run the ETSI NGSI-LD test suite against fresh Renkei nodes and print Renkei next to Scorpio.

    python deploy/conformance.py [--parts CommonBehaviours,Consumption/Entity] [--out DIR]
                                 [--suite ../shared/etsi] [--robot-args "--test 018_01_01*"]

``make conformance`` runs it for every part. For each part a fresh node (an authority plus one
city node, SQLite store, in this process) starts on 127.0.0.1 with OS-chosen ports, in the
development mode ``[http] dev_open_on_loopback`` (the suite sends no token), with the suite's
@context documents registered under ``[contexts]`` (the node never fetches them) and
``notification_allow = ["127.0.0.0/8"]`` so that subscriptions may notify the suite's receiver,
which listens on 127.0.0.1 on a free port. The harness ``run.sh`` of the suite directory runs the
part; its last line ``N passed, M failed`` is Renkei's figure. Scorpio's figures are read from the
suite's published report ``etsi-failures.md``.

Output: a table on stdout, then one line of JSON (``{"parts": [...], ...}``); the same JSON goes
to ``DIR/conformance.json`` and every part's robot outputs to ``DIR/<part>/``. Exit 0 when every
part ran (whatever the counts), 2 when the harness could not run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from broker.demo.harness import LocalFederation, NodeSpec  # noqa: E402

# Part name (as in the issue and the README) -> suite folder, and the name in etsi-failures.md.
PARTS: dict[str, tuple[str, str]] = {
    "CommonBehaviours": ("TP/NGSI-LD/CommonBehaviours", "CommonBehaviours"),
    "Consumption/Discovery": ("TP/NGSI-LD/ContextInformation/Consumption/Discovery",
                              "Consumption-Discovery"),
    "Consumption/Entity": ("TP/NGSI-LD/ContextInformation/Consumption/Entity",
                           "Consumption-Entity"),
    "Consumption/TemporalEntity": ("TP/NGSI-LD/ContextInformation/Consumption/TemporalEntity",
                                   "Consumption-TemporalEntity"),
    "Provision/BatchEntities": ("TP/NGSI-LD/ContextInformation/Provision/BatchEntities",
                                "Provision-BatchEntities"),
    "Provision/Entities": ("TP/NGSI-LD/ContextInformation/Provision/Entities",
                           "Provision-Entities"),
    "Provision/EntityAttributes": ("TP/NGSI-LD/ContextInformation/Provision/EntityAttributes",
                                   "Provision-EntityAttributes"),
    "Provision/TemporalEntity": ("TP/NGSI-LD/ContextInformation/Provision/TemporalEntity",
                                 "Provision-TemporalEntity"),
    "Provision/TemporalEntityAttributes": (
        "TP/NGSI-LD/ContextInformation/Provision/TemporalEntityAttributes",
        "Provision-TemporalEntityAttributes"),
    "Subscription": ("TP/NGSI-LD/ContextInformation/Subscription", "Subscription"),
    "ContextSource": ("TP/NGSI-LD/ContextSource", "ContextSource"),
}
# Parts whose tests publish/subscribe over MQTT (SubscriptionNotificationBehaviour/MQTT).
MQTT_PARTS = frozenset({"Subscription"})
MQTT_HOST = "127.0.0.1"  # the machine's Mosquitto (the suite expects a docker one by name)
MQTT_SECOND_PORT = 8085  # the suite's mqtt_broker_non_default_port (resources/variables.py)
NODE_ID = "jp-999999"  # member ids are jp- and a six-digit local government code
RESULT_LINE = re.compile(r"^(\d+) passed, (\d+) failed$")


@dataclass
class PartResult:
    part: str
    passed: int
    failed: int
    scorpio_passed: int | None
    scorpio_total: int | None
    seconds: float

    @property
    def total(self) -> int:
        return self.passed + self.failed


def scorpio_figures(report: Path) -> dict[str, tuple[int, int]]:
    """``{report suite name: (passed, total)}`` from the table at the top of etsi-failures.md."""
    figures: dict[str, tuple[int, int]] = {}
    row = re.compile(r"^\|\s*([A-Za-z-]+)\s*\|\s*(\d+)\s*\|\s*\**(\d+)\**\s*\|$")
    for line in report.read_text(encoding="utf-8").splitlines():
        match = row.match(line.strip())
        if match:
            name, passed, failed = match.group(1), int(match.group(2)), int(match.group(3))
            figures.setdefault(name, (passed, passed + failed))
    return figures


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def contexts_toml(etsi: Path, node_dir: Path) -> str:
    """The suite's @contexts copied beside the node and registered under ``[contexts]``."""
    mapping = json.loads((etsi / "contexts" / "contexts.json").read_text(encoding="utf-8"))
    local = node_dir / "contexts"
    local.mkdir(parents=True, exist_ok=True)
    lines = ["", "[contexts]"]
    for url, file_name in mapping.items():
        shutil.copyfile(etsi / "contexts" / file_name, local / file_name)
        lines.append(f'"{url}" = "contexts/{file_name}"')
    return "\n".join(lines) + "\n"


async def run_part(part: str, etsi: Path, out: Path, robot_args: str,
                   scorpio: dict[str, tuple[int, int]]) -> PartResult:
    subset, report_name = PARTS[part]
    part_out = out / part.replace("/", "-")
    part_out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="renkei-conformance-") as tmp:
        root = Path(tmp)
        fed = LocalFederation(root, dev_open=True, notification_allow=("127.0.0.0/8",))
        # The suite's non-default-port MQTT tests expect a broker there too (its docker
        # broker listens on both); a second local Mosquitto stands in for the run.
        second_broker = start_mosquitto(MQTT_SECOND_PORT) if part in MQTT_PARTS else None
        await fed.start_authority()
        try:
            spec = NodeSpec(NODE_ID, "city", "適合性試験", "Conformance",
                            extra_toml=contexts_toml(etsi, root / NODE_ID))
            node = await fed.add_node(spec)
            url = f"{node.http.url}/ngsi-ld/v1"
            env = {"ETSI_SUBSET": subset, "ETSI_NOTIFICATION_HOST": "127.0.0.1",
                   "ETSI_NOTIFICATION_PORT": str(free_port())}
            if part in MQTT_PARTS:
                # The suite's own variables name a docker container; point it at the local
                # broker, and give its venv the MQTT keywords the harness leaves out.
                ensure_mqtt_library(etsi)
                robot_args = f"--variable mqtt_broker_host:{MQTT_HOST} {robot_args}".strip()
            if robot_args:
                env["ETSI_ROBOT_ARGS"] = robot_args
            proc = await asyncio.create_subprocess_exec(
                "bash", str(etsi / "run.sh"), url, str(part_out),
                env={**_environ(), **env}, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT)
            stdout, _ = await proc.communicate()
        finally:
            if second_broker is not None:
                second_broker.terminate()
                second_broker.wait(10)
            await fed.stop()
            if fed.authority is not None:
                await fed.authority.stop()
    text = stdout.decode(errors="replace")
    (part_out / "run.log").write_text(text, encoding="utf-8")
    last = text.strip().splitlines()[-1] if text.strip() else ""
    match = RESULT_LINE.match(last)
    if proc.returncode != 0 or match is None:
        raise SystemExit(f"conformance: run.sh failed for {part} (exit {proc.returncode}); "
                         f"see {part_out / 'run.log'}:\n{text[-2000:]}")
    figures = scorpio.get(report_name)
    passed, total = figures if figures else (None, None)
    return PartResult(part, int(match.group(1)), int(match.group(2)), passed, total,
                      round(time.monotonic() - started, 1))


def suite_venv() -> Path:
    """The venv run.sh uses (its ETSI_VENV default)."""
    import os

    if os.environ.get("ETSI_VENV"):
        return Path(os.environ["ETSI_VENV"])
    return Path(os.environ.get("TMPDIR") or "/tmp") / "renkei-etsi-venv"


def ensure_mqtt_library(etsi: Path) -> None:
    """Install the suite's MQTT keywords (robotframework-mqttlibrary and the paho-mqtt it
    needs, at the versions the suite's own requirements.txt pins) into the suite's venv when
    they are missing: the harness's requirements leave them out, so without this the MQTT
    tests fail on a missing library rather than on the broker. The venv is created when
    run.sh has not made it yet; run.sh then installs its own requirements beside these."""
    pins = [line.strip() for line in
            (etsi / "ngsi-ld-test-suite" / "requirements.txt").read_text().splitlines()
            if line.strip().lower().startswith(("paho-mqtt==", "robotframework-mqttlibrary=="))]
    if len(pins) != 2:
        raise SystemExit("conformance: the suite's requirements.txt pins no MQTT library")
    venv = suite_venv()
    python = venv / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    probe = subprocess.run([str(python), "-c", "import MQTTLibrary, paho.mqtt"],
                           capture_output=True)
    if probe.returncode != 0:
        subprocess.run([str(python), "-m", "pip", "install", "-q",
                        "--disable-pip-version-check", *pins], check=True)


def start_mosquitto(port: int) -> subprocess.Popen[bytes] | None:
    """A Mosquitto on 127.0.0.1:``port`` for this run (None when one listens already, or
    no mosquitto is installed: those tests then fail, as they should)."""
    binary = shutil.which("mosquitto") or shutil.which("/usr/sbin/mosquitto")
    with socket.socket() as sock:
        if sock.connect_ex(("127.0.0.1", port)) == 0 or binary is None:
            return None
    proc = subprocess.Popen([binary, "-p", str(port)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    for _ in range(100):
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.05)
    return proc


def _environ() -> dict[str, str]:
    import os

    return dict(os.environ)


def table(results: list[PartResult]) -> str:
    width = max(len(r.part) for r in results)
    lines = [f"{'suite part':<{width}}  {'Renkei':>9}  {'Scorpio':>9}  status",
             "-" * (width + 32)]
    for r in results:
        scorpio = (f"{r.scorpio_passed}/{r.scorpio_total}" if r.scorpio_total is not None
                   else "-")
        status = ("" if r.scorpio_passed is None
                  else "ok" if r.passed >= r.scorpio_passed else "below")
        lines.append(f"{r.part:<{width}}  {f'{r.passed}/{r.total}':>9}  {scorpio:>9}  {status}")
    return "\n".join(lines)


async def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--parts", default=",".join(PARTS),
                        help=f"comma-separated parts, of: {', '.join(PARTS)}")
    parser.add_argument("--suite", type=Path, default=ROOT.parent / "shared" / "etsi",
                        help="the suite directory with run.sh (default ../shared/etsi)")
    parser.add_argument("--out", type=Path, default=None,
                        help="where robot outputs and conformance.json go (default a new "
                             "temporary directory)")
    parser.add_argument("--robot-args", default="",
                        help='extra robot arguments for every part, e.g. "--test 018_01_01*"')
    args = parser.parse_args(argv)
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    unknown = [p for p in parts if p not in PARTS]
    if unknown:
        parser.error(f"unknown part {unknown[0]!r}; one of {', '.join(PARTS)}")
    etsi = args.suite.resolve()
    report = etsi / "ngsi-ld-test-suite" / "etsi-failures.md"
    if not (etsi / "run.sh").is_file() or not report.is_file():
        print(f"conformance: {etsi} holds no run.sh and ngsi-ld-test-suite/etsi-failures.md",
              file=sys.stderr)
        return 2
    out = (args.out or Path(tempfile.mkdtemp(prefix="renkei-conformance-out-"))).resolve()
    out.mkdir(parents=True, exist_ok=True)
    scorpio = scorpio_figures(report)
    results = []
    for part in parts:
        result = await run_part(part, etsi, out, args.robot_args, scorpio)
        print(f"{part}: {result.passed} passed, {result.failed} failed ({result.seconds} s)",
              file=sys.stderr, flush=True)
        results.append(result)
    document = {"parts": [{**asdict(r), "total": r.total} for r in results],
                "outputs": str(out)}
    (out / "conformance.json").write_text(json.dumps(document, indent=1), encoding="utf-8")
    print(table(results))
    print(json.dumps(document))
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
