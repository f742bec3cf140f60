"""Interoperability of mla_tracker.crypto.age with the reference `age` CLI (X25519 only).

The installed age 1.1.1 has no post-quantum support, so hybrid recipients are covered by the
testkit vectors instead. Skipped if /usr/bin/age is missing, except under CI=true.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from mla_tracker.crypto.age import (
    X25519Identity,
    X25519Recipient,
    decrypt,
    encrypt,
    parse_identity_file,
)

AGE = "/usr/bin/age"
AGE_KEYGEN = "/usr/bin/age-keygen"

if not (os.path.exists(AGE) and os.path.exists(AGE_KEYGEN)):
    if os.environ.get("CI") == "true":
        pytest.fail(f"{AGE} / {AGE_KEYGEN} are required under CI=true", pytrace=False)
    pytest.skip(f"{AGE} / {AGE_KEYGEN} not installed", allow_module_level=True)

SIZES = [0, 1, 65536, 65537, 1024 * 1024 + 123]
IDS = ["empty", "one", "64KiB", "64KiB+1", "1MiB+123"]


def _run(args: list[str], stdin: bytes = b"") -> bytes:
    proc = subprocess.run(args, input=stdin, capture_output=True, check=False, timeout=60)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    return proc.stdout


@pytest.mark.parametrize("size", SIZES, ids=IDS)
def test_we_encrypt_age_decrypts(size: int, tmp_path: Path) -> None:
    ident = X25519Identity.generate()
    keyfile = tmp_path / "key.txt"
    keyfile.write_text(
        f"# created by mla_tracker\n# public key: {ident.recipient().to_string()}\n"
        f"{ident.to_string()}\n"
    )
    data = os.urandom(size)
    blob = io.BytesIO()
    encrypt([ident.recipient()], io.BytesIO(data), blob)
    enc = tmp_path / "data.age"
    enc.write_bytes(blob.getvalue())
    assert _run([AGE, "-d", "-i", str(keyfile), str(enc)]) == data


@pytest.mark.parametrize("size", SIZES, ids=IDS)
def test_age_encrypts_we_decrypt(size: int, tmp_path: Path) -> None:
    keyfile = tmp_path / "key.txt"
    _run([AGE_KEYGEN, "-o", str(keyfile)])
    identities = parse_identity_file(keyfile.read_text())
    assert len(identities) == 1
    recipient = _run([AGE_KEYGEN, "-y", str(keyfile)]).decode().strip()
    assert identities[0].recipient().to_string() == recipient
    data = os.urandom(size)
    plain = tmp_path / "plain"
    plain.write_bytes(data)
    blob = _run([AGE, "-r", recipient, str(plain)])
    out = io.BytesIO()
    decrypt(identities, io.BytesIO(blob), out)
    assert out.getvalue() == data


def test_multiple_recipients_both_ways(tmp_path: Path) -> None:
    ours = X25519Identity.generate()
    keyfile = tmp_path / "theirs.txt"
    _run([AGE_KEYGEN, "-o", str(keyfile)])
    theirs = parse_identity_file(keyfile.read_text())
    their_rec = X25519Recipient.from_string(_run([AGE_KEYGEN, "-y", str(keyfile)]).decode().strip())
    data = os.urandom(200_000)
    blob = io.BytesIO()
    encrypt([ours.recipient(), their_rec], io.BytesIO(data), blob)
    assert _run([AGE, "-d", "-i", str(keyfile)], blob.getvalue()) == data
    out = io.BytesIO()
    decrypt([ours], io.BytesIO(blob.getvalue()), out)
    assert out.getvalue() == data
    blob2 = _run([AGE, "-r", ours.recipient().to_string(), "-r", their_rec.to_string()], data)
    for ids in ([ours], theirs):
        out = io.BytesIO()
        decrypt(ids, io.BytesIO(blob2), out)
        assert out.getvalue() == data


def test_age_keygen_recipient_conversion(tmp_path: Path) -> None:
    ident = X25519Identity.generate()
    keyfile = tmp_path / "key.txt"
    keyfile.write_text(ident.to_string() + "\n")
    assert _run([AGE_KEYGEN, "-y", str(keyfile)]).decode().strip() == (
        ident.recipient().to_string()
    )


def test_age_rejects_our_tampered_file(tmp_path: Path) -> None:
    ident = X25519Identity.generate()
    keyfile = tmp_path / "key.txt"
    keyfile.write_text(ident.to_string() + "\n")
    blob = io.BytesIO()
    encrypt([ident.recipient()], io.BytesIO(os.urandom(1000)), blob)
    tampered = bytearray(blob.getvalue())
    tampered[-1] ^= 1
    proc = subprocess.run(
        [AGE, "-d", "-i", str(keyfile)], input=bytes(tampered), capture_output=True, check=False
    )
    assert proc.returncode != 0
    assert shutil.which(AGE) is not None
