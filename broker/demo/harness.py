"""A whole federation in one process: an authority and nodes on 127.0.0.1 with OS-chosen ports.

``renkei demo`` runs on it, and so do the end-to-end tests, so that both exercise exactly the
path an operator follows: write a config, ``node init``, start, join (signed request admitted
by the authority), publish the directory, propose and countersign agreements.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trust.agreement_model import Agreement, RateLimits
from trust.clock import Clock, SystemClock
from trust.geo import Area

from ..authority_server import AuthorityService, authority_fingerprint, init_authority
from ..config import load_config
from ..identity import init_identity, join_request
from ..node import Node
from .node_process import ChildNode

log = logging.getLogger("renkei.demo")


@dataclass
class NodeSpec:
    """What a demo or test node is: identity, role and data sources."""

    id: str
    role: str
    name_ja: str
    name_en: str
    sources: list[dict[str, str]] = field(default_factory=list)
    http: bool = True
    extra_toml: str = ""
    grpc_port: int = 0  # 0: the OS picks one at first start; restarts keep it


class LocalFederation:
    """An authority plus nodes, all in this process, under one root directory."""

    def __init__(self, root: Path, *, clock: Clock | None = None, insecure: bool = False,
                 dev_open_read: bool = False, notification_allow: tuple[str, ...] = (),
                 dev_open: bool = False) -> None:
        self.root = Path(root)
        # CIDRs the nodes' subscriptions may notify beyond public addresses (tests' receivers
        # listen on 127.0.0.1).
        self.notification_allow = notification_allow
        self.clock = clock or SystemClock()
        self.insecure = insecure
        self.dev_open_read = dev_open_read
        # Unauthenticated reads and writes on loopback (conformance runs of a standard suite).
        self.dev_open = dev_open
        self.authority: AuthorityService | None = None
        self.nodes: dict[str, Node] = {}
        self.config_files: dict[str, Path] = {}
        self.specs: dict[str, NodeSpec] = {}
        self.children: dict[str, ChildNode] = {}

    async def start_authority(self) -> AuthorityService:
        state = self.root / "authority"
        authority = init_authority(state, clock=self.clock)
        self.authority = AuthorityService(authority, state, "127.0.0.1:0", self.insecure)
        await self.authority.start()
        return self.authority

    def write_config(self, spec: NodeSpec) -> Path:
        """The node's TOML config, exactly as an operator would write it."""
        assert self.authority is not None, "start the authority first"
        node_dir = self.root / spec.id
        node_dir.mkdir(parents=True, exist_ok=True)
        state = self.root / "authority"
        (node_dir / "authority.jwk.json").write_text(
            json.dumps(self.authority.authority.public_jwk()))
        lines = [
            "[node]",
            f'id = "{spec.id}"',
            f'role = "{spec.role}"',
            f'name_ja = "{spec.name_ja}"',
            f'name_en = "{spec.name_en}"',
            'data_dir = "."',
            "",
            "[grpc]",
            f'listen = "127.0.0.1:{spec.grpc_port}"',
            f"insecure_dev = {'true' if self.insecure else 'false'}",
            "shutdown_grace_seconds = 0.5",
            "",
            "[http]",
            f"enabled = {'true' if spec.http else 'false'}",
            'listen = "127.0.0.1:0"',
            f"dev_open_read_on_loopback = {'true' if self.dev_open_read else 'false'}",
            f"dev_open_on_loopback = {'true' if self.dev_open else 'false'}",
            f"notification_allow = {json.dumps(list(self.notification_allow))}",
            "",
            "[trust]",
            'authority_jwk = "authority.jwk.json"',
            f'authority_endpoint = "127.0.0.1:{self.authority.port}"',
            f'authority_tls_fingerprint = "{authority_fingerprint(state)}"',
            "",
        ]
        for source in spec.sources:
            lines += ["[[sources]]"] + [f'{k} = "{v}"' for k, v in source.items()] + [""]
        path = node_dir / "renkei.toml"
        path.write_text("\n".join(lines) + spec.extra_toml, encoding="utf-8")
        self.config_files[spec.id] = path
        return path

    async def add_node(self, spec: NodeSpec) -> Node:
        """Write the config, init the identity, start the node and admit its join request."""
        assert self.authority is not None
        config = load_config(self.write_config(spec))
        identity = init_identity(config)
        node = await Node.start(config, clock=self.clock)
        self.nodes[spec.id] = node
        self.specs[spec.id] = spec
        if not spec.grpc_port:
            # Pin the port the OS chose, as an operator's config names a fixed one: a restart
            # then comes back where the directory says the node is.
            spec.grpc_port = node.grpc_port
            self.write_config(spec)
        self.authority.authority.admit(join_request(config, identity, [node.grpc_endpoint]))
        return node

    async def add_child(self, spec: NodeSpec) -> ChildNode:
        """Like ``add_node``, but the node runs in a child process (see ``node_process``)."""
        assert self.authority is not None
        config = load_config(self.write_config(spec))
        identity = init_identity(config)
        child = await ChildNode.start(spec.id, self.config_files[spec.id])
        self.children[spec.id] = child
        self.specs[spec.id] = spec
        if not spec.grpc_port:  # pinned, as in add_node: a restarted child comes back there
            spec.grpc_port = int(child.endpoint.rpartition(":")[2])
            self.write_config(spec)
        self.authority.authority.admit(join_request(config, identity, [child.endpoint]))
        return child

    async def restart_child(self, member_id: str) -> ChildNode:
        """Start a child node again (after ``kill``) from its config and data directory."""
        await self.children[member_id].stop()
        child = await ChildNode.start(member_id, self.config_files[member_id])
        self.children[member_id] = child
        return child

    async def stop_node(self, member_id: str) -> None:
        """Stop one node (its data directory stays: ``start_node`` brings it back)."""
        await self.nodes.pop(member_id).stop()

    async def start_node(self, member_id: str) -> Node:
        """Start a stopped node again from the same config and data directory."""
        config = load_config(self.config_files[member_id])
        node = await Node.start(config, clock=self.clock)
        self.nodes[member_id] = node
        return node

    async def restart(self, member_id: str) -> Node:
        await self.stop_node(member_id)
        return await self.start_node(member_id)

    async def publish(self) -> int:
        """Publish the next directory version and make every node fetch it."""
        assert self.authority is not None
        self.authority.authority.publish(self.clock.now())
        versions = [await node.refresh_directory() for node in self.nodes.values()]
        for child in self.children.values():
            if child.process.returncode is None:
                versions.append((await child.command("refresh"))["version"])
        return max(versions, default=0)

    async def agree(self, *, provider: str, consumer: str, agreement_id: str, purpose: str,
                    types: dict[str, list[str]], **terms: Any) -> Agreement:
        """The consumer proposes, the provider's operator countersigns: an active agreement."""
        agreement = self.agreement(provider=provider, consumer=consumer,
                                   agreement_id=agreement_id, purpose=purpose, types=types,
                                   **terms)
        await self.nodes[consumer].exchange.propose(agreement)
        if provider in self.children:
            await self.children[provider].command("countersign", agreement_id=agreement_id)
        else:
            await self.nodes[provider].exchange.countersign(agreement_id)
        return agreement

    def agreement(self, *, provider: str, consumer: str, agreement_id: str, purpose: str,
                  types: dict[str, list[str]], area: Any = None, days: int = 365,
                  aggregate_only: bool = False, k: int = 1, requests_per_minute: int = 600,
                  entities_per_day: int = 1_000_000, retention_days: int = 30,
                  freshness_seconds: int = 3600, onward_sharing: bool = False) -> Agreement:
        """The terms of an agreement (not yet signed by anyone)."""
        now = int(self.clock.now())
        directory = self.nodes[consumer].directory.current
        agreement = Agreement(
            id=agreement_id, provider=provider, consumer=consumer, purpose=purpose,
            entity_types=frozenset(types),
            attributes={t: frozenset(a) for t, a in types.items()},
            area=Area(area) if area is not None else None,
            not_before=now - 60, not_after=now + days * 86400,
            freshness_seconds=freshness_seconds,
            rate_limits=RateLimits(requests_per_minute, entities_per_day),
            aggregate_only=aggregate_only, k_threshold=k, onward_sharing=onward_sharing,
            retention_days=retention_days, directory_version=directory.version)
        return agreement

    async def stop(self) -> None:
        for node in list(self.nodes.values()):
            try:
                await node.stop()
            except Exception:  # keep stopping the others
                log.exception("stopping %s failed", node.id)
        self.nodes.clear()
        for child in list(self.children.values()):
            await child.stop()
        self.children.clear()
        if self.authority is not None:
            await self.authority.stop(0.2)
            self.authority = None
