"""C2SP signed notes, checkpoints and cosignatures against published vectors and the spec text.

- Ed25519 (type 0x01): the golang.org/x/mod/sumdb/note example key and note (PeterNeumann).
  Ed25519 is deterministic, so signing that text with that key must give that note byte for byte.
- ECDSA (type 0x02): the key ID of Sigstore's Rekor log key, published with its verifier key.
- cosignature/v1 (type 0x04): the timestamp of the example line in c2sp.org/tlog-cosignature,
  and a signature checked here by rebuilding the signed message from the spec's wording.
"""

from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from trust.checkpoint import TreeHead, open_checkpoint, sign_checkpoint
from trust.errors import AuditError
from trust.keys import NodeKey
from trust.note import (
    ALG_COSIGNATURE_V1,
    ALG_ECDSA,
    ALG_ED25519,
    CosignatureV1Signer,
    CosignatureV1Verifier,
    Note,
    NoteSignature,
    PublicKeyVerifier,
    key_id,
    log_signer,
    open_note,
    parse_note,
    parse_signature_line,
    sign_note,
    vkey,
)

GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_TEXT = ("If you think cryptography is the answer to your problem,\n"
           "then you don't know what your problem is.\n")
GO_NOTE = GO_TEXT + "\n\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN" \
    "1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
REKOR_VKEY = ("rekor.sigstore.dev+c0d23d6a+AjBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABNhtmPtrWm3U1eQXBogS"
              "MdGvXwBcK5AW5i0hrZLOC96l+smGNM7nwZ4QvFK/4sueRoVj//QP22Ni4Qt9DPfkWLc=")
SPEC_COSIG_LINE = ("\u2014 witness.example.com/w1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI"
                   "5OWXEhZCB9dlrDJsX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA==")


def _go_key() -> NodeKey:
    raw = base64.b64decode(GO_SKEY.split("+", 4)[4])
    assert raw[0] == 1
    return NodeKey("go", "EdDSA", ed25519.Ed25519PrivateKey.from_private_bytes(raw[1:]))


def test_ed25519_note_matches_the_go_reference_byte_for_byte() -> None:
    key = _go_key()
    note = sign_note(GO_TEXT, [log_signer("PeterNeumann", key)])
    assert note.format() == GO_NOTE
    public = key.private_key.public_key()
    assert vkey("PeterNeumann", public, ALG_ED25519) == GO_VKEY
    verified = open_note(parse_note(GO_NOTE), [PublicKeyVerifier("PeterNeumann", public)])
    assert [s.key_id for s in verified] == [0xC74F20A3]


def test_a_changed_text_or_signature_from_a_known_key_rejects_the_note() -> None:
    verifier = PublicKeyVerifier("PeterNeumann", _go_key().private_key.public_key())
    with pytest.raises(AuditError) as err:
        open_note(parse_note(GO_NOTE.replace("cryptography", "cryptographY")), [verifier])
    assert err.value.code == "bad_note_signature"


def test_unknown_keys_are_ignored_but_one_known_signature_is_required() -> None:
    other = NodeKey.generate("EdDSA")
    note = parse_note(GO_NOTE)
    stranger = PublicKeyVerifier("PeterNeumann", other.private_key.public_key())
    with pytest.raises(AuditError) as err:
        open_note(note, [stranger])  # same name, other key ID: ignored, so nothing verifies
    assert err.value.code == "untrusted_note"
    extra = sign_note(GO_TEXT, [log_signer("someone.else/key", other)])
    both = note.with_signatures(extra.signatures)
    known = PublicKeyVerifier("PeterNeumann", _go_key().private_key.public_key())
    assert [s.name for s in open_note(both, [known])] == ["PeterNeumann"]


def test_ecdsa_key_id_is_the_spki_hash_as_published_for_rekor() -> None:
    raw = base64.b64decode(REKOR_VKEY.split("+", 2)[2])
    assert raw[0] == ALG_ECDSA
    public = serialization.load_der_public_key(raw[1:])
    assert key_id("rekor.sigstore.dev", public, ALG_ECDSA) == 0xC0D23D6A  # type: ignore[arg-type]


def test_ecdsa_note_verifies_with_an_independent_check() -> None:
    key = NodeKey.generate("ES256")
    note = sign_note("renkei.audit/jp-1\n0\n" + base64.b64encode(bytes(32)).decode() + "\n",
                     [log_signer("renkei.audit/jp-1", key)])
    sig = note.signatures[0]
    public = key.private_key.public_key()
    spki = public.public_bytes(serialization.Encoding.DER,
                               serialization.PublicFormat.SubjectPublicKeyInfo)
    assert sig.key_id == int.from_bytes(hashlib.sha256(spki).digest()[:4], "big")
    assert isinstance(public, ec.EllipticCurvePublicKey)
    public.verify(sig.signature, note.text.encode(), ec.ECDSA(hashes.SHA256()))


def test_cosignature_v1_timestamp_of_the_spec_example() -> None:
    sig = parse_signature_line(SPEC_COSIG_LINE)
    assert sig.name == "witness.example.com/w1"
    assert CosignatureV1Verifier.timestamp(sig.signature) == 1679315147


def test_cosignature_v1_signs_the_message_the_spec_describes() -> None:
    witness = _go_key()
    body = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    signer = CosignatureV1Signer("witness.example/w1", witness, 1679315147)
    blob = signer.sign(body.encode())
    assert len(blob) == 72 and int.from_bytes(blob[:8], "big") == 1679315147
    public = witness.private_key.public_key()
    assert isinstance(public, ed25519.Ed25519PublicKey)
    message = b"cosignature/v1\ntime 1679315147\n" + body.encode()
    public.verify(blob[8:], message)  # raises if the signed message is not the spec's
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    expected_id = hashlib.sha256(b"witness.example/w1\n\x04" + raw).digest()[:4]
    assert signer.key_id == int.from_bytes(expected_id, "big")
    assert key_id("witness.example/w1", public, ALG_COSIGNATURE_V1) != key_id(
        "witness.example/w1", public, ALG_ED25519)
    verifier = CosignatureV1Verifier("witness.example/w1", public)
    assert verifier.verify(body.encode(), blob)
    assert not verifier.verify(body.replace("20852163", "20852164").encode(), blob)


@pytest.mark.parametrize("bad", [
    "no blank line\n\u2014 a AAAAAAA=\n".encode(),
    GO_TEXT.encode() + b"\n",  # no signatures
    GO_TEXT.encode() + b"\n- PeterNeumann AAAAAAA=\n",  # ASCII dash
    GO_TEXT.encode() + "\n\u2014 Peter+Neumann AAAAAAA=\n".encode(),  # '+' in name
    GO_TEXT.encode() + "\n\u2014 PeterNeumann AAAA\n".encode(),  # too short
    GO_TEXT.encode() + "\n\u2014 PeterNeumann !!!!\n".encode(),  # not base64
    GO_TEXT.encode() + "\n\u2014 PeterNeumann AAAAAAA=".encode(),  # no final newline
    b"text\twith a tab\n\n" + "\u2014 a AAAAAAA=\n".encode(),
    b"\xff\xfe\n\n" + "\u2014 a AAAAAAA=\n".encode(),
    GO_TEXT.encode() + b"\n" + "\u2014 a AAAAAAA=\n".encode() * 33,
])
def test_malformed_notes_are_refused(bad: bytes) -> None:
    with pytest.raises(AuditError) as err:
        parse_note(bad)
    assert err.value.code == "malformed_note"


def test_checkpoint_round_trip_and_strict_body() -> None:
    key = NodeKey.generate("ES256")
    head = TreeHead("renkei.audit/jp-172022", 1287, hashlib.sha256(b"x").digest())
    checkpoint = sign_checkpoint(head, key)
    text = checkpoint.format()
    assert text.startswith("renkei.audit/jp-172022\n1287\n")
    verifier = PublicKeyVerifier("renkei.audit/jp-172022", key.private_key.public_key())
    assert open_checkpoint(text, [verifier], origin=head.origin).head == head
    with pytest.raises(AuditError):
        open_checkpoint(text, [verifier], origin="renkei.audit/jp-999999")
    for body in ("renkei.audit/jp-1\n01\n" + base64.b64encode(bytes(32)).decode() + "\n",
                 "renkei.audit/jp-1\n1\n" + base64.b64encode(bytes(31)).decode() + "\n",
                 "renkei.audit/jp-1\n1\n" + base64.b64encode(bytes(32)).decode() + "\next\n"):
        note = sign_note(body, [log_signer("renkei.audit/jp-1", key)])
        with pytest.raises(AuditError) as err:
            open_checkpoint(note, [PublicKeyVerifier("renkei.audit/jp-1",
                                                     key.private_key.public_key())])
        assert err.value.code == "bad_checkpoint"


def test_note_signature_lines_round_trip() -> None:
    sig = NoteSignature("a.example/b", 0x01020304, b"\x05" * 64)
    assert parse_signature_line(sig.line()[:-1]) == sig
    note = Note("hello\n", (sig,))
    assert parse_note(note.format()) == note
