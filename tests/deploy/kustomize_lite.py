"""A small Kustomize renderer for exactly the subset ``deploy/k8s`` uses, for machines without
``kustomize`` or ``kubectl kustomize``.

Supported: ``resources`` (files and kustomization directories), ``labels`` with
``includeSelectors: true`` (and the older ``commonLabels``), ``patches`` given by ``path``
(strategic merge, with the merge keys of the fields our patches touch), ``configMapGenerator``
and ``secretGenerator`` with ``files`` and ``literals`` (names suffixed with Kustomize's content
hash, references in pod templates rewritten), and ``images``. Anything else in a
kustomization is refused rather than ignored. Where ``kubectl`` is installed, the tests check
that this renderer's output equals ``kubectl kustomize``'s, object for object.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
from pathlib import Path
from typing import Any

import yaml

Obj = dict[str, Any]
SUPPORTED = {"apiVersion", "kind", "resources", "labels", "commonLabels", "patches",
             "configMapGenerator", "secretGenerator", "images"}
# Strategic-merge keys of the lists our patches touch (from the Kubernetes API's
# x-kubernetes-patch-merge-key); other lists are replaced.
MERGE_KEYS = {"containers": "name", "initContainers": "name", "env": "name", "volumes": "name",
              "volumeMounts": "mountPath", "imagePullSecrets": "name",
              "topologySpreadConstraints": "topologyKey"}
WORKLOADS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet"}
# Kinds with a pod template whose images and ConfigMap/Secret references kustomize rewrites.
POD_TEMPLATES = WORKLOADS | {"Job"}


def build(directory: Path) -> list[Obj]:
    """Render the kustomization in ``directory`` into a list of objects."""
    spec = yaml.safe_load((directory / "kustomization.yaml").read_text(encoding="utf-8"))
    unsupported = set(spec) - SUPPORTED
    if unsupported:
        raise NotImplementedError(f"{directory}: kustomize_lite does not do {sorted(unsupported)}")
    objects: list[Obj] = []
    for entry in spec.get("resources", []):
        path = directory / entry
        if path.is_dir():
            objects += build(path)
        else:
            objects += [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]
    renames: dict[tuple[str, str], str] = {}
    for kind, key in (("ConfigMap", "configMapGenerator"), ("Secret", "secretGenerator")):
        for generator in spec.get(key, []):
            obj = _generate(directory, kind, generator)
            renames[(kind, generator["name"])] = obj["metadata"]["name"]
            objects.append(obj)
    for patch in spec.get("patches", []):
        if set(patch) != {"path"}:
            raise NotImplementedError(f"{directory}: only patches given by path: {patch}")
        _apply_patch(objects, yaml.safe_load((directory / patch["path"]).read_text("utf-8")))
    for labels in _label_sets(spec):
        for obj in objects:
            _add_labels(obj, labels)
    for image in spec.get("images", []):
        for obj in objects:
            _set_image(obj, image)
    for obj in objects:
        _rename_references(obj, renames)
    return objects


# -- generators -----------------------------------------------------------------------------
def _generate(directory: Path, kind: str, generator: Obj) -> Obj:
    if set(generator) - {"name", "files", "literals"}:
        raise NotImplementedError(f"generator options {sorted(generator)}")
    raw: dict[str, bytes] = {}
    for item in generator.get("files", []):
        key, _, path = item.rpartition("=")
        raw[key or Path(path).name] = (directory / path).read_bytes()
    for literal in generator.get("literals", []):
        key, _, value = literal.partition("=")
        raw[key] = value.encode()
    name = generator["name"]
    if kind == "ConfigMap":
        data = {k: v.decode("utf-8") for k, v in raw.items()}
        obj: Obj = {"apiVersion": "v1", "kind": kind, "metadata": {"name": name}, "data": data}
        encoded = _go_json({"data": data, "kind": kind, "name": ""})
    else:
        data = {k: base64.b64encode(v).decode() for k, v in raw.items()}
        obj = {"apiVersion": "v1", "kind": kind, "metadata": {"name": name}, "type": "Opaque",
               "data": data}
        encoded = _go_json({"data": data, "kind": kind, "name": "", "type": "Opaque"})
    obj["metadata"]["name"] = f"{name}-{_suffix(encoded)}"
    return obj


def _go_json(value: Any) -> str:
    """``json.Marshal`` of Go, which Kustomize hashes: sorted keys, no spaces, HTML-safe.

    Kustomize (api/hasher) encodes a ConfigMap as {data, kind, name} and a Secret as {data,
    kind, name, type}. Its name lookup uses the path "metadata/name" as one field name, finds
    nothing and hashes "" instead: the suffix depends on the content only, so we do the same.
    """
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    for char, escape in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                         ("\u2028", "\\u2028"), ("\u2029", "\\u2029"), ("\\b", "\\u0008"),
                         ("\\f", "\\u000c")):
        text = text.replace(char, escape)
    return text


def _suffix(encoded: str) -> str:
    """Kustomize's 10-character name suffix: the SHA-256 hex, some characters remapped."""
    digest = hashlib.sha256(encoded.encode()).hexdigest()[:10]
    return digest.translate(str.maketrans({"0": "g", "1": "h", "3": "k", "a": "m", "e": "t"}))


# -- patches --------------------------------------------------------------------------------
def _apply_patch(objects: list[Obj], patch: Obj) -> None:
    for obj in objects:
        if obj["kind"] == patch["kind"] and obj["metadata"]["name"] == patch["metadata"]["name"]:
            merged = _merge(obj, patch, "")
            obj.clear()
            obj.update(merged)
            return
    raise LookupError(f"patch target {patch['kind']}/{patch['metadata']['name']} not found")


def _merge(base: Any, patch: Any, field: str) -> Any:
    if isinstance(base, dict) and isinstance(patch, dict):
        out = dict(base)
        for key, value in patch.items():
            if value is None:
                out.pop(key, None)
            elif key in out:
                out[key] = _merge(out[key], value, key)
            else:
                out[key] = copy.deepcopy(value)
        return out
    key = MERGE_KEYS.get(field)
    if key and isinstance(base, list) and isinstance(patch, list):
        # Kustomize (kyaml) puts list items new to the base first, then the base's own.
        by_key = {item[key]: item for item in patch}
        fresh = [copy.deepcopy(p) for p in patch if p[key] not in {b[key] for b in base}]
        return fresh + [_merge(b, by_key[b[key]], "") if b[key] in by_key else b for b in base]
    return copy.deepcopy(patch)


# -- labels, images, references -------------------------------------------------------------
def _label_sets(spec: Obj) -> list[dict[str, str]]:
    sets = []
    if spec.get("commonLabels"):
        sets.append(spec["commonLabels"])
    for entry in spec.get("labels", []):
        if entry.get("includeSelectors") is not True or set(entry) - {"pairs",
                                                                      "includeSelectors"}:
            raise NotImplementedError("labels: only includeSelectors: true is implemented")
        sets.append(entry["pairs"])
    return sets


def _add_labels(obj: Obj, labels: dict[str, str]) -> None:
    obj.setdefault("metadata", {}).setdefault("labels", {}).update(labels)
    spec = obj.get("spec", {})
    kind = obj["kind"]
    if kind == "Service":
        spec["selector"] = {**(spec.get("selector") or {}), **labels}
    if kind in WORKLOADS or kind == "PodDisruptionBudget":
        selector = spec.setdefault("selector", {})
        selector["matchLabels"] = {**(selector.get("matchLabels") or {}), **labels}
    if kind in WORKLOADS:
        meta = spec.setdefault("template", {}).setdefault("metadata", {})
        meta["labels"] = {**(meta.get("labels") or {}), **labels}


def _containers(obj: Obj) -> list[Obj]:
    pod = obj.get("spec", {}).get("template", {}).get("spec", {}) \
        if obj["kind"] in POD_TEMPLATES else {}
    return list(pod.get("initContainers", [])) + list(pod.get("containers", []))


def _set_image(obj: Obj, image: Obj) -> None:
    for container in _containers(obj):
        name, tag = _split_image(container["image"])
        if name == image["name"]:
            container["image"] = (f"{image.get('newName', name)}:"
                                  f"{image.get('newTag', tag)}")


def _split_image(ref: str) -> tuple[str, str]:
    slash = ref.rfind("/")
    colon = ref.rfind(":")
    return (ref[:colon], ref[colon + 1:]) if colon > slash else (ref, "latest")


def _rename_references(obj: Obj, renames: dict[tuple[str, str], str]) -> None:
    if obj["kind"] not in POD_TEMPLATES:
        return
    pod = obj["spec"]["template"]["spec"]
    for volume in pod.get("volumes", []):
        if "configMap" in volume:
            ref = volume["configMap"]
            ref["name"] = renames.get(("ConfigMap", ref["name"]), ref["name"])
        if "secret" in volume:
            ref = volume["secret"]
            ref["secretName"] = renames.get(("Secret", ref["secretName"]), ref["secretName"])
    for container in _containers(obj):
        for env in container.get("env", []):
            source = env.get("valueFrom", {})
            for kind, field in (("ConfigMap", "configMapKeyRef"), ("Secret", "secretKeyRef")):
                if field in source:
                    ref = source[field]
                    ref["name"] = renames.get((kind, ref["name"]), ref["name"])
