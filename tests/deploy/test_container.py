"""Static checks of deploy/Dockerfile and deploy/compose.yaml (CI has no Docker engine;
`make smoke-container`, deploy/smoke.sh, builds and runs them by hand).

The Dockerfile: multi-stage, the final stage runs as a non-root user, has a HEALTHCHECK
through the gRPC health service, and installs no compiler. compose.yaml: PostgreSQL, the
authority and two city nodes whose configs the node's own loader accepts.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from broker.config import parse_config

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
BUILD_TOOLS = re.compile(r"\b(build-essential|gcc|g\+\+|clang|make|cmake|cargo|rustc|"
                         r"python3?-dev|libpq-dev)\b")


@dataclass
class Stage:
    base: str
    name: str
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [args for kw, args in self.instructions if kw == keyword]


def stages(dockerfile: Path) -> list[Stage]:
    """Instructions per stage, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", dockerfile.read_text(encoding="utf-8"))
    out: list[Stage] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, args = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            words = args.split()
            out.append(Stage(words[0], words[2] if len(words) > 2 else str(len(out))))
        elif out:
            out[-1].instructions.append((keyword, args.strip()))
    return out


def test_dockerfile_is_multi_stage_and_the_final_image_is_lean_and_unprivileged() -> None:
    parsed = stages(DEPLOY / "Dockerfile")
    assert len(parsed) >= 2
    build, final = parsed[0], parsed[-1]
    # The compilers come in by default (ARG BUILD_PACKAGES=build-essential; empty skips them).
    assert any(BUILD_TOOLS.search(r) for r in build.all("RUN") + build.all("ARG")), \
        "the builder compiles"
    for run in final.all("RUN"):
        assert not BUILD_TOOLS.search(run), f"build tools in the final stage: {run}"
    assert any(f"--from={build.name}" in c for c in final.all("COPY"))
    (user,) = final.all("USER")
    assert user.split(":")[0] not in ("root", "0")
    assert user.split(":")[0].isdigit(), "numeric, so runAsNonRoot can check it"
    (check,) = final.all("HEALTHCHECK")
    assert "broker.federation.health" in check and "CMD" in check
    assert final.all("ENTRYPOINT") == ['["renkei"]']


def test_the_build_context_is_limited_to_what_the_image_needs() -> None:
    ignore = (DEPLOY / "Dockerfile.dockerignore").read_text(encoding="utf-8").splitlines()
    assert ignore[ignore.index("**") + 1:].count("!broker/") == 1
    assert "!.venv" not in ignore and "!tests/" not in ignore


def compose() -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))


def city_config(name: str, tmp_path: Path) -> Any:
    text = (DEPLOY / "compose" / f"{name}.toml").read_text(encoding="utf-8")
    text = text.replace("@AUTHORITY_TLS_FINGERPRINT@", "sha256:" + "0" * 64)
    return parse_config(tmp_path / f"{name}.toml", tomllib.loads(text))


def test_compose_runs_postgres_the_authority_and_two_cities(tmp_path: Path) -> None:
    services = compose()["services"]
    assert {"postgres", "authority"} <= set(services)
    cities = [s for s in services if s not in ("postgres", "authority")]
    assert len(cities) == 2
    assert services["postgres"]["image"].startswith("postgres:")
    assert "healthcheck" in services["postgres"]
    assert services["authority"]["command"][:2] == ["authority", "serve"]
    assert "broker.federation.health" in services["authority"]["healthcheck"]["test"]
    schemas = set()
    for city in cities:
        service = services[city]
        assert service["depends_on"]["postgres"]["condition"] == "service_healthy"
        assert service["read_only"] is True and service["cap_drop"] == ["ALL"]
        assert "PGPASSWORD" in service["environment"]
        mounts = {m.split(":")[1]: m.split(":")[0] for m in service["volumes"]}
        assert mounts["/etc/renkei/renkei.toml"] == f"./compose/config/{city}.toml"
        config = city_config(city, tmp_path)
        assert config.role == "city" and config.store.backend == "postgresql"
        assert config.trust is not None and config.trust.authority_endpoint == "authority:7700"
        assert "@postgres:5432/" in config.store.dsn and ":@" not in config.store.dsn
        schemas.add(config.store.schema)
    assert len(schemas) == 2, "each city in its own schema"


def test_bootstrap_script_is_valid_shell_and_uses_the_cli_in_order() -> None:
    script = DEPLOY / "compose" / "bootstrap.sh"
    if shutil.which("bash") is None:
        pytest.skip("no bash")
    subprocess.run(["bash", "-n", str(script)], check=True)
    text = "\n".join(line for line in script.read_text(encoding="utf-8").splitlines()
                     if not line.lstrip().startswith("#"))
    steps = ["authority init", "node init", "node join-request", "authority admit",
             "authority publish", "compose up -d"]
    positions = [text.index(step) for step in steps]
    assert positions == sorted(positions)
