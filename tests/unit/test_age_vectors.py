"""Run every C2SP CCTV age testkit vector (copy in tests/vectors/age-testkit) against our code."""

from __future__ import annotations

import hashlib
import io
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from mla_tracker.crypto.age import (
    AgeError,
    Decryptor,
    HeaderError,
    HeaderMACError,
    Identity,
    NoIdentityMatchError,
    PayloadError,
    UnsupportedRecipientError,
    X25519Identity,
    decrypt,
    parse_identity,
)
from mla_tracker.crypto.age._format import SourceReader, parse_header

VECTORS = Path(__file__).resolve().parent.parent / "vectors" / "age-testkit"

EXPECTED_ERRORS: dict[str, type[AgeError]] = {
    "no match": NoIdentityMatchError,
    "HMAC failure": HeaderMACError,
    "header failure": HeaderError,
    "payload failure": PayloadError,
}


@dataclass
class Vector:
    name: str
    expect: str
    payload_sha256: str | None
    identities: list[str] = field(default_factory=list)
    passphrases: list[str] = field(default_factory=list)
    armored: bool = False
    compressed: str | None = None
    body: bytes = b""


def load(path: Path) -> Vector:
    data = path.read_bytes()
    head, sep, body = data.partition(b"\n\n")
    assert sep, f"{path.name}: no blank line after the vector header"
    vec = Vector(path.name, "", None)
    for line in head.decode("utf-8").split("\n"):
        key, _, value = line.partition(": ")
        if key == "expect":
            vec.expect = value
        elif key == "payload":
            vec.payload_sha256 = value
        elif key == "identity":
            vec.identities.append(value)
        elif key == "passphrase":
            vec.passphrases.append(value)
        elif key == "armored":
            vec.armored = value == "yes"
        elif key == "compressed":
            vec.compressed = value
        elif key in ("file key", "comment"):
            pass
        else:
            pytest.fail(f"{path.name}: unknown vector key {key!r}")
    if vec.compressed is not None:
        assert vec.compressed == "zlib", vec.compressed
        body = zlib.decompress(body)
    vec.body = body
    return vec


ALL = sorted(p for p in VECTORS.iterdir() if p.name != "README.md")


def _skip_reason(vec: Vector) -> str | None:
    if vec.armored or vec.expect == "armor failure":
        return "ASCII armor is not implemented: evidence packages are binary-only"
    if vec.passphrases:
        return "scrypt passphrase recipients are not used by the product"
    return None


def test_vector_directory_is_complete() -> None:
    assert len(ALL) >= 140, "the age testkit copy looks incomplete"


@pytest.mark.parametrize("path", ALL, ids=[p.name for p in ALL])
def test_vector(path: Path) -> None:
    vec = load(path)
    reason = _skip_reason(vec)
    if reason is not None:
        pytest.skip(reason)
    # A vector without identities (e.g. `empty`) fails before any identity is used; any
    # identity will do to exercise the parser.
    identities: list[Identity] = [parse_identity(s) for s in vec.identities] or [
        X25519Identity.generate()
    ]

    if vec.expect == "success":
        out = io.BytesIO()
        decrypt(identities, io.BytesIO(vec.body), out)
        assert hashlib.sha256(out.getvalue()).hexdigest() == vec.payload_sha256
        # Same result through the file-object reader, with odd read sizes.
        reader = Decryptor(io.BytesIO(vec.body), identities)
        got = bytearray()
        while chunk := reader.read(7919):
            got += chunk
        assert hashlib.sha256(got).hexdigest() == vec.payload_sha256
        return

    err = EXPECTED_ERRORS[vec.expect]
    released = bytearray()
    with pytest.raises(AgeError) as info:
        reader = Decryptor(io.BytesIO(vec.body), identities)
        while chunk := reader.read(65536):
            released += chunk
    assert isinstance(info.value, err), f"{vec.name}: got {info.value!r}, want {err.__name__}"
    if vec.expect == "payload failure":
        # Only authenticated plaintext may have been released, and it must match the vector.
        assert hashlib.sha256(released).hexdigest() == vec.payload_sha256
    # The one-shot helper raises the same error class.
    with pytest.raises(err):
        decrypt(identities, io.BytesIO(vec.body), io.BytesIO())


@pytest.mark.parametrize("path", ALL, ids=[p.name for p in ALL])
def test_header_round_trip(path: Path) -> None:
    """Any vector that is not a header failure must re-encode to the identical header bytes."""
    vec = load(path)
    if vec.armored or vec.expect in ("header failure", "armor failure"):
        pytest.skip("armored or malformed-header vector: no header to round-trip")
    header = parse_header(SourceReader(io.BytesIO(vec.body)))
    encoded = b"age-encryption.org/v1\n" + b"".join(s.encode() for s in header.stanzas) + b"---"
    assert encoded == header.mac_input


SCRYPT = [p for p in ALL if p.name.startswith("scrypt")]


@pytest.mark.parametrize("path", SCRYPT, ids=[p.name for p in SCRYPT])
def test_scrypt_vectors_fail_cleanly(path: Path) -> None:
    """We do not implement scrypt, but every scrypt file must still fail with a clear error."""
    vec = load(path)
    with pytest.raises(AgeError) as info:
        Decryptor(io.BytesIO(vec.body), [X25519Identity.generate()])
    if isinstance(info.value, UnsupportedRecipientError):
        assert str(info.value) == "scrypt recipients not supported"
    elif vec.expect == "no match":
        # e.g. scrypt_uppercase: "Scrypt" is an unknown stanza type, ignored by our identity.
        assert isinstance(info.value, NoIdentityMatchError)
    else:
        # Mixed with other stanzas, or a header that does not even parse.
        assert isinstance(info.value, HeaderError), f"{vec.name}: {info.value!r}"
    if path.name in ("scrypt_and_x25519", "scrypt_double"):
        assert isinstance(info.value, HeaderError)
        assert "only stanza" in str(info.value)
