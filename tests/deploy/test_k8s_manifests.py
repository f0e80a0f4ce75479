"""The Kubernetes overlays render, and every object validates against the Kubernetes schemas.

Offline: no cluster. Rendering uses ``kubectl kustomize`` (or ``kustomize build``) when one is
installed and the small renderer in ``kustomize_lite.py`` otherwise; with kubectl present the
two must agree exactly. The operator-provided identity files (never committed) are stood in
for by dummies in a copy of ``deploy/k8s``.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from broker.config import parse_config

REPO = Path(__file__).resolve().parents[2]
K8S_VERSION = "1.30.0"  # oldest Kubernetes still commonly run; newer schemas accept as much
OVERLAYS = ("sqlite", "postgres")
IDENTITY_FILES = ("node.key", "tls.crt", "tls.key", "authority.jwk.json")
HEALTH = ["python", "-m", "broker.federation.health", "127.0.0.1:50051"]

_spec = importlib.util.spec_from_file_location("kustomize_lite",
                                               Path(__file__).with_name("kustomize_lite.py"))
assert _spec is not None and _spec.loader is not None
kustomize_lite = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(kustomize_lite)

Obj = dict[str, Any]


def external_renderer() -> Callable[[Path], list[Obj]] | None:
    if shutil.which("kustomize"):
        command = ["kustomize", "build"]
    elif shutil.which("kubectl"):
        command = ["kubectl", "kustomize"]
    else:
        return None

    def render(path: Path) -> list[Obj]:
        out = subprocess.run([*command, str(path)], capture_output=True, text=True, check=True,
                             timeout=60).stdout
        return [d for d in yaml.safe_load_all(out) if d]

    return render


@pytest.fixture(scope="module")
def k8s_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tree = tmp_path_factory.mktemp("k8s") / "k8s"
    shutil.copytree(REPO / "deploy" / "k8s", tree)
    for overlay in OVERLAYS:
        identity = tree / "overlays" / overlay / "identity"
        identity.mkdir(exist_ok=True)
        for name in IDENTITY_FILES:
            (identity / name).write_text(f"stand-in for {name}\n", encoding="utf-8")
    return tree


@pytest.fixture(scope="module", params=OVERLAYS)
def rendered(request: pytest.FixtureRequest, k8s_tree: Path) -> tuple[str, dict[str, Obj]]:
    overlay = request.param
    path = k8s_tree / "overlays" / overlay
    render = external_renderer() or kustomize_lite.build
    objects = render(path)
    return overlay, {f"{o['kind']}/{o['metadata']['name']}": o for o in objects}


def by_kind(objects: dict[str, Obj], kind: str) -> list[Obj]:
    return [o for o in objects.values() if o["kind"] == kind]


def test_every_object_validates_against_the_kubernetes_schemas(
        rendered: tuple[str, dict[str, Obj]]) -> None:
    _, objects = rendered
    assert {o["kind"] for o in objects.values()} >= {
        "Deployment", "Service", "ConfigMap", "Secret", "PodDisruptionBudget"}
    for name, obj in objects.items():
        try:
            kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{name}: {exc.message} at {list(exc.path)}")


def test_the_small_renderer_matches_kubectl(k8s_tree: Path) -> None:
    render = external_renderer()
    if render is None:
        pytest.skip("no kustomize or kubectl here: kustomize_lite rendered the overlays alone")
    for overlay in OVERLAYS:
        path = k8s_tree / "overlays" / overlay

        def key(o: Obj) -> tuple[str, str]:
            return o["kind"], o["metadata"]["name"]

        assert sorted(kustomize_lite.build(path), key=key) == sorted(render(path), key=key)


def test_pods_run_the_node_unprivileged_with_health_probes(
        rendered: tuple[str, dict[str, Obj]]) -> None:
    _, objects = rendered
    (deployment,) = by_kind(objects, "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    (node,) = pod["containers"]
    for probe in ("livenessProbe", "startupProbe"):
        assert node[probe]["exec"]["command"] == HEALTH
    # Ready while /health answers 200 (503: the store or a background loop is down).
    ready = node["readinessProbe"]["httpGet"]
    ports = {p["name"]: p["containerPort"] for p in node["ports"]}
    assert ready["path"] == "/health" and ready["port"] == "http" and "http" in ports
    assert node["securityContext"]["allowPrivilegeEscalation"] is False
    assert node["securityContext"]["readOnlyRootFilesystem"] is True
    # The config and the identity come from the generated ConfigMap and Secret.
    volumes = {v["name"]: v for v in pod["volumes"]}
    config_map = volumes["config"]["configMap"]["name"]
    secret = volumes["identity-secret"]["secret"]["secretName"]
    assert f"ConfigMap/{config_map}" in objects and f"Secret/{secret}" in objects
    assert set(objects[f"Secret/{secret}"]["data"]) == {"node.key", "tls.crt", "tls.key"}


def test_services_and_disruption_budget_select_the_node_pods(
        rendered: tuple[str, dict[str, Obj]]) -> None:
    _, objects = rendered
    (deployment,) = by_kind(objects, "Deployment")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    ports = {}
    for service in by_kind(objects, "Service"):
        assert service["spec"]["selector"].items() <= pod_labels.items()
        ports.update({p["name"]: p["targetPort"] for p in service["spec"]["ports"]})
    assert ports == {"grpc": "grpc", "http": "http"}
    (pdb,) = by_kind(objects, "PodDisruptionBudget")
    assert pdb["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()


def test_each_overlay_runs_its_store_the_way_it_must(
        rendered: tuple[str, dict[str, Obj]], tmp_path: Path) -> None:
    overlay, objects = rendered
    (deployment,) = by_kind(objects, "Deployment")
    (config_map,) = by_kind(objects, "ConfigMap")
    text = config_map["data"]["renkei.toml"]
    # The node's own loader accepts the shipped config (unknown keys would be errors).
    config = parse_config(tmp_path / "renkei.toml", tomllib.loads(text))
    assert config.grpc.listen.endswith(":50051") and config.http.listen.endswith(":8080")
    if overlay == "sqlite":
        assert config.store.backend == "sqlite"
        assert deployment["spec"]["replicas"] == 1
        assert deployment["spec"]["strategy"]["type"] == "Recreate"  # never two on one file
        mounts = {m["name"]: m["mountPath"]
                  for m in deployment["spec"]["template"]["spec"]["containers"][0]
                  ["volumeMounts"]}
        assert str(config.store.path).startswith(mounts["data"])
        volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
        claim = volumes["data"]["persistentVolumeClaim"]["claimName"]
        assert claim == "renkei-data" and f"PersistentVolumeClaim/{claim}" in objects
    else:
        assert config.store.backend == "postgresql"
        assert ":@" not in config.store.dsn and "password" not in config.store.dsn
        assert deployment["spec"]["replicas"] >= 2
        env = {e["name"]: e for e in
               deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
        assert env["PGPASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == "renkei-postgres"
        assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0


def test_identity_files_are_never_committed() -> None:
    for overlay in OVERLAYS:
        ignore = (REPO / "deploy" / "k8s" / "overlays" / overlay / ".gitignore").read_text()
        assert "identity/" in ignore.splitlines()


def test_metrics_are_scraped_and_only_the_node_ports_are_open(
        rendered: tuple[str, dict[str, Obj]]) -> None:
    _, objects = rendered
    (deployment,) = by_kind(objects, "Deployment")
    template = deployment["spec"]["template"]
    (node,) = template["spec"]["containers"]
    ports = {p["name"]: p["containerPort"] for p in node["ports"]}
    notes = template["metadata"]["annotations"]
    assert notes["prometheus.io/scrape"] == "true" and notes["prometheus.io/path"] == "/metrics"
    assert int(notes["prometheus.io/port"]) == ports["http"]
    (policy,) = by_kind(objects, "NetworkPolicy")
    assert policy["spec"]["podSelector"]["matchLabels"].items() <= \
        template["metadata"]["labels"].items()
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    (rule,) = policy["spec"]["ingress"]
    assert "from" not in rule  # peers are other cities: anywhere
    assert sorted(p["port"] for p in rule["ports"]) == sorted(ports) == ["grpc", "http"]


def test_source_files_come_from_a_volume_mounted_read_only(
        rendered: tuple[str, dict[str, Obj]]) -> None:
    _, objects = rendered
    (deployment,) = by_kind(objects, "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    claim = volumes["sources"]["persistentVolumeClaim"]
    assert claim["readOnly"] is True
    assert f"PersistentVolumeClaim/{claim['claimName']}" in objects
    (mount,) = [m for m in pod["containers"][0]["volumeMounts"] if m["name"] == "sources"]
    assert mount["readOnly"] is True and mount["mountPath"] == "/srv/renkei/sources"


def test_the_postgres_overlay_migrates_the_store_in_a_job(
        rendered: tuple[str, dict[str, Obj]]) -> None:
    overlay, objects = rendered
    jobs = by_kind(objects, "Job")
    if overlay == "sqlite":
        assert jobs == []  # one pod on one file: it migrates as it starts
        return
    (job,) = jobs
    (deployment,) = by_kind(objects, "Deployment")
    pod, node_pod = job["spec"]["template"]["spec"], deployment["spec"]["template"]["spec"]
    (migrate,) = pod["containers"]
    (node,) = node_pod["containers"]
    assert migrate["args"] == ["db", "migrate", "--config", "/etc/renkei/renkei.toml"]
    assert migrate["image"] == node["image"]
    # The same (generated, hash-named) config and the same database password as the node.
    config = {v["name"]: v for v in pod["volumes"]}["config"]["configMap"]["name"]
    assert config == {v["name"]: v for v in node_pod["volumes"]}["config"]["configMap"]["name"]
    assert f"ConfigMap/{config}" in objects
    env = {e["name"]: e for e in migrate["env"]}
    assert env["PGPASSWORD"] == {e["name"]: e for e in node["env"]}["PGPASSWORD"]
    assert pod["securityContext"]["runAsNonRoot"] is True


@pytest.fixture(scope="module")
def authority(k8s_tree: Path) -> dict[str, Obj]:
    render = external_renderer() or kustomize_lite.build
    objects = render(k8s_tree / "authority")
    if external_renderer() is not None:  # the small renderer agrees here too

        def key(o: Obj) -> tuple[str, str]:
            return o["kind"], o["metadata"]["name"]

        assert sorted(kustomize_lite.build(k8s_tree / "authority"), key=key) == \
            sorted(objects, key=key)
    return {f"{o['kind']}/{o['metadata']['name']}": o for o in objects}


def test_the_authority_manifests_validate_against_the_kubernetes_schemas(
        authority: dict[str, Obj]) -> None:
    assert {o["kind"] for o in authority.values()} == {
        "Deployment", "Service", "CronJob", "PersistentVolumeClaim", "NetworkPolicy"}
    for name, obj in authority.items():
        try:
            kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{name}: {exc.message} at {list(exc.path)}")


def test_the_authority_serves_its_volume_and_a_cronjob_republishes_before_expiry(
        authority: dict[str, Obj]) -> None:
    (deployment,) = by_kind(authority, "Deployment")
    (service,) = by_kind(authority, "Service")
    (cronjob,) = by_kind(authority, "CronJob")
    pod = deployment["spec"]["template"]
    (serve,) = pod["spec"]["containers"]
    assert serve["args"][:2] == ["authority", "serve"]
    listen = serve["args"][serve["args"].index("--listen") + 1]
    port = {p["name"]: p["containerPort"] for p in serve["ports"]}["grpc"]
    assert listen == f"0.0.0.0:{port}"
    assert serve["readinessProbe"]["exec"]["command"][-1] == f"127.0.0.1:{port}"
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
    assert deployment["spec"]["replicas"] == 1 and \
        deployment["spec"]["strategy"]["type"] == "Recreate"  # one writer of the state

    publish_pod = cronjob["spec"]["jobTemplate"]["spec"]["template"]
    (publish,) = publish_pod["spec"]["containers"]
    assert publish["args"][:2] == ["authority", "publish"]
    state_dir = serve["args"][serve["args"].index("--dir") + 1]
    assert publish["args"][publish["args"].index("--dir") + 1] == state_dir
    # Both mount the one state volume there, and the publish pod runs beside the authority.
    for p, c in ((pod, serve), (publish_pod, publish)):
        (mount,) = [m for m in c["volumeMounts"] if m["mountPath"] == state_dir]
        volume = {v["name"]: v for v in p["spec"]["volumes"]}[mount["name"]]
        assert volume["persistentVolumeClaim"]["claimName"] == "renkei-authority"
    assert "PersistentVolumeClaim/renkei-authority" in authority
    (term,) = publish_pod["spec"]["affinity"]["podAffinity"][
        "requiredDuringSchedulingIgnoredDuringExecution"]
    assert term["labelSelector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
    # The Service reaches the authority and never a publish pod.
    selector = service["spec"]["selector"].items()
    assert selector <= pod["metadata"]["labels"].items()
    assert not selector <= publish_pod["metadata"]["labels"].items()
    # Republished at least twice within a directory's validity: a missed run leaves a valid one.
    minute, hour, *_ = cronjob["spec"]["schedule"].split()
    assert minute.isdigit() and hour.startswith("*/")
    validity = float(publish["args"][publish["args"].index("--validity-hours") + 1])
    assert validity >= 2 * int(hour.removeprefix("*/"))
    assert cronjob["spec"]["concurrencyPolicy"] == "Forbid"
