"""The public surface docs/architecture.md promises to broker exists and is exported."""

from __future__ import annotations

import importlib

import pytest

SURFACE = {
    "trust.errors": ["TrustError", "AuthenticationError", "PolicyDenied", "RateLimited",
                     "DirectoryError", "AgreementError", "AuditError", "WitnessError"],
    "trust.clock": ["Clock", "SystemClock", "ManualClock"],
    "trust.canonical": ["canonical_bytes", "sha256_hex"],
    "trust.keys": ["NodeKey", "verify_compact"],
    "trust.tls": ["make_node_certificate", "certificate_fingerprint"],
    "trust.directory": ["MemberKey", "Member", "Directory", "sign_directory",
                        "verify_directory", "DirectoryHolder"],
    "trust.authority": ["Authority", "make_join_request"],
    "trust.tokens": ["TokenIssuer", "TokenPolicy", "ReplayCache", "MemoryReplayCache",
                     "TokenVerifier", "VerifiedCaller"],
    "trust.agreements": ["PURPOSES", "Area", "RateLimits", "Agreement", "SignedAgreement",
                         "sign_agreement", "agreement_state", "revoke_agreement",
                         "verify_revocation"],
    "trust.policy": ["Operation", "Near", "Within", "PolicyRequest", "Decision", "decide",
                     "AgreementSet"],
    "trust.enforce": ["FieldMask", "suppress_small_groups", "DifferencingGuard",
                      "filter_area", "enforce_entities"],
    "trust.ratelimit": ["CounterStore", "RateLimiter", "MemoryCounterStore"],
    "trust.audit": ["AuditRecord", "AuditEntry", "GENESIS_HASH", "chain_entry", "entry_leaf",
                    "walk_chain", "verify_legacy_checkpoint", "make_receipt", "verify_receipt",
                    "digest_entities", "receipt_record"],
    "trust.merkle": ["leaf_hash", "node_hash", "EMPTY_ROOT", "CompactRange", "MerkleTree",
                     "frontier_addresses", "inclusion_addresses", "inclusion_proof",
                     "consistency_addresses", "consistency_proof", "verify_inclusion",
                     "verify_consistency"],
    "trust.note": ["parse_note", "sign_note", "open_note", "log_signer", "PublicKeyVerifier",
                   "CosignatureV1Signer", "CosignatureV1Verifier", "key_id", "vkey"],
    "trust.checkpoint": ["TreeHead", "Checkpoint", "audit_origin", "sign_checkpoint",
                         "log_verifiers", "open_checkpoint"],
    "trust.witness": ["format_add_checkpoint", "parse_add_checkpoint", "cosign", "Cosigned",
                      "witness_name", "make_witness_statement", "verify_witness_statement",
                      "verify_cosignatures", "compare_heads"],
    "trust.audit_verify": ["verify_log", "LogReport"],
}


@pytest.mark.parametrize("module_name", sorted(SURFACE))
def test_surface_is_exported(module_name: str) -> None:
    module = importlib.import_module(module_name)
    exported = set(getattr(module, "__all__", ()))
    for name in SURFACE[module_name]:
        assert hasattr(module, name), f"{module_name}.{name} is missing"
        assert name in exported, f"{module_name}.{name} is not in __all__"
    for name in exported:
        assert hasattr(module, name), f"{module_name}.__all__ names missing {name}"
