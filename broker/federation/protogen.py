"""Generate the protobuf/gRPC modules in ``broker/federation/_pb`` from ``proto/``.

The generated code is committed so that an install needs no code generator;
``tests/broker/federation/test_protogen.py`` regenerates it into a temporary
directory and fails when the committed copy no longer matches ``proto/``.
"""

from __future__ import annotations

import re
import shutil
import sys
import tempfile
from pathlib import Path

PROTO_ROOT = Path(__file__).resolve().parents[2] / "proto"
PROTO_FILE = "renkei/federation/v1/federation.proto"
OUT_DIR = Path(__file__).resolve().parent / "_pb"
GENERATED = ("federation_pb2.py", "federation_pb2.pyi", "federation_pb2_grpc.py")
_HEADER = f"# Generated from proto/{PROTO_FILE} by `make proto`. Do not edit.\n"


def generate(out_dir: Path) -> list[Path]:
    """Run protoc on the federation proto and write flat, relatively-imported modules."""
    from grpc_tools import protoc  # test/dev dependency only

    with tempfile.TemporaryDirectory() as tmp:
        args = [
            "protoc",
            f"-I{PROTO_ROOT}",
            f"--python_out={tmp}",
            f"--pyi_out={tmp}",
            f"--grpc_python_out={tmp}",
            str(PROTO_ROOT / PROTO_FILE),
        ]
        if protoc.main(args) != 0:
            raise RuntimeError("protoc failed on " + PROTO_FILE)
        src = Path(tmp) / "renkei" / "federation" / "v1"
        out_dir.mkdir(parents=True, exist_ok=True)
        written = []
        for name in GENERATED:
            text = (src / name).read_text(encoding="utf-8")
            # Generated code imports its sibling by the proto package path; we
            # keep the modules private and flat, so make the import relative.
            text = re.sub(
                r"^from renkei\.federation\.v1 import federation_pb2",
                "from . import federation_pb2",
                text,
                flags=re.MULTILINE,
            )
            target = out_dir / name
            target.write_text(_HEADER + text, encoding="utf-8")
            written.append(target)
        return written


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        files = generate(Path(tmp))
        for f in files:
            shutil.copyfile(f, OUT_DIR / f.name)
    (OUT_DIR / "__init__.py").touch()
    print(f"generated {', '.join(GENERATED)} in {OUT_DIR}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
