"""The committed generated protobuf code matches proto/."""

from __future__ import annotations

from pathlib import Path

from broker.federation import protogen


def test_committed_generated_code_matches_the_proto_sources(tmp_path: Path) -> None:
    fresh = protogen.generate(tmp_path)
    stale = [f.name for f in fresh
             if f.read_bytes() != (protogen.OUT_DIR / f.name).read_bytes()]
    assert stale == [], f"run `make proto`: {stale} differ from proto/"
