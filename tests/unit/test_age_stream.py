"""STREAM payload, Encryptor/Decryptor file objects and key encodings of mla_tracker.crypto.age."""

from __future__ import annotations

import hashlib
import io
import os
import random
import tarfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mla_tracker.crypto.age import (
    AgeError,
    Decryptor,
    Encryptor,
    HeaderError,
    HeaderMACError,
    HybridIdentity,
    HybridRecipient,
    Identity,
    KeyFormatError,
    MixedRecipientsError,
    NoIdentityMatchError,
    PayloadError,
    Recipient,
    X25519Identity,
    X25519Recipient,
    decrypt,
    encrypt,
    parse_identity,
    parse_identity_file,
    parse_recipient,
)
from mla_tracker.crypto.age._format import SourceReader, parse_header

VECTORS = Path(__file__).parent.parent / "vectors" / "age-testkit"

CHUNK = 64 * 1024
ENC_CHUNK = CHUNK + 16
SIZES = [0, 1, 65535, 65536, 65537, 3 * 65536]

X_ID = X25519Identity.generate()
PQ_ID = HybridIdentity.generate()


def _encrypt(data: bytes, recipients: list[Recipient] | None = None) -> bytes:
    out = io.BytesIO()
    encrypt(recipients or [X_ID.recipient()], io.BytesIO(data), out)
    return out.getvalue()


def _decrypt(blob: bytes, identities: list[Identity] | None = None) -> bytes:
    out = io.BytesIO()
    decrypt(identities or [X_ID], io.BytesIO(blob), out)
    return out.getvalue()


def _payload_offset(blob: bytes) -> int:
    """Offset of the first STREAM chunk (after header and 16-byte nonce)."""
    return blob.index(b"\n--- ") + len(b"\n--- ") + 43 + 1 + 16


@pytest.mark.parametrize("size", SIZES)
def test_round_trip_sizes(size: int) -> None:
    data = os.urandom(size)
    blob = _encrypt(data)
    n_chunks = max(1, -(-size // CHUNK))
    assert len(blob) - _payload_offset(blob) == size + 16 * n_chunks
    assert _decrypt(blob) == data


@pytest.mark.parametrize("size", SIZES)
def test_round_trip_hybrid(size: int) -> None:
    data = os.urandom(size)
    assert _decrypt(_encrypt(data, [PQ_ID.recipient()]), [PQ_ID]) == data


def test_multiple_recipients_of_one_kind() -> None:
    other_x, other_pq = X25519Identity.generate(), HybridIdentity.generate()
    data = os.urandom(100_000)
    for ids in ([X_ID, other_x], [PQ_ID, other_pq]):
        blob = _encrypt(data, [i.recipient() for i in ids])
        header = parse_header(SourceReader(io.BytesIO(blob)))
        assert len(header.stanzas) == 2
        assert all(_decrypt(blob, [i]) == data for i in ids)
        with pytest.raises(NoIdentityMatchError):
            _decrypt(blob, [X25519Identity.generate(), HybridIdentity.generate()])


def test_mixing_x25519_and_hybrid_is_refused_when_encrypting() -> None:
    """c2sp.org/age: SHOULD NOT; the X25519 stanza would void the post-quantum protection."""
    with pytest.raises(MixedRecipientsError, match=r"post-quantum .* and classical X25519"):
        _encrypt(b"x", [X_ID.recipient(), PQ_ID.recipient()])


def test_mixed_file_opens_unless_refused() -> None:
    """The testkit's hybrid_and_x25519 must open (expect: success); strict callers refuse it."""
    vector = (VECTORS / "hybrid_and_x25519").read_bytes()
    head, _, blob = vector.partition(b"\n\n")
    ident = parse_identity(head.split(b"identity: ")[1].split(b"\n")[0].decode())
    assert Decryptor(io.BytesIO(blob), [ident]).readall()
    with pytest.raises(MixedRecipientsError, match="file is encrypted to post-quantum"):
        Decryptor(io.BytesIO(blob), [ident], refuse_mixed=True)


@pytest.mark.parametrize("size", [0, 1, 65536, 65537, 3 * 65536])
def test_flipped_byte_anywhere_is_detected(size: int) -> None:
    blob = _encrypt(os.urandom(size))
    rng = random.Random(size)
    positions = set(rng.sample(range(len(blob)), min(len(blob), 60)))
    positions |= {0, len(blob) - 1, _payload_offset(blob) - 1, _payload_offset(blob)}
    for pos in sorted(positions):
        tampered = bytearray(blob)
        tampered[pos] ^= 0x01
        with pytest.raises(AgeError):
            _decrypt(bytes(tampered))


def test_error_classes_for_tampering() -> None:
    blob = _encrypt(os.urandom(70_000))
    off = _payload_offset(blob)
    tampered = bytearray(blob)
    tampered[off + 5] ^= 0x80
    with pytest.raises(PayloadError):
        _decrypt(bytes(tampered))
    tampered = bytearray(blob)
    tampered[off - 1] ^= 0x80  # payload nonce -> wrong payload key
    with pytest.raises(PayloadError):
        _decrypt(bytes(tampered))
    mac_pos = blob.index(b"\n--- ") + 6
    tampered = bytearray(blob)
    tampered[mac_pos] = ord("A") if blob[mac_pos] != ord("A") else ord("B")
    with pytest.raises((HeaderMACError, HeaderError)):
        _decrypt(bytes(tampered))


@pytest.mark.parametrize("size", [1, 65536, 65537, 3 * 65536, 3 * 65536 + 5])
def test_truncation_is_detected(size: int) -> None:
    blob = _encrypt(os.urandom(size))
    off = _payload_offset(blob)
    cuts = {len(blob) - 1, len(blob) - 16, off, off - 1}
    cuts |= {off + k * ENC_CHUNK for k in range(1, 4) if off + k * ENC_CHUNK < len(blob)}
    cuts |= {off + k * ENC_CHUNK - 1 for k in range(1, 4) if off + k * ENC_CHUNK < len(blob)}
    for cut in sorted(cuts):
        with pytest.raises(AgeError):
            _decrypt(blob[:cut])
    # Cutting exactly at a chunk boundary yields only authenticated whole chunks, then an error.
    if size > CHUNK:
        reader = Decryptor(io.BytesIO(blob[: off + ENC_CHUNK]), [X_ID])
        assert len(reader.read(CHUNK)) == CHUNK
        with pytest.raises(PayloadError):
            reader.read(1)
        with pytest.raises(PayloadError):  # the error is sticky
            reader.read(1)


def test_trailing_data_is_rejected() -> None:
    for size in (0, 10, 65536):
        blob = _encrypt(os.urandom(size))
        with pytest.raises(PayloadError):
            _decrypt(blob + b"\x00")


def test_encryptor_file_object_and_abort() -> None:
    data = os.urandom(200_003)
    out = io.BytesIO()
    with Encryptor(out, [X_ID.recipient()]) as enc:
        for i in range(0, len(data), 777):
            enc.write(data[i : i + 777])
        enc.write(b"")
        enc.write(memoryview(b"")[:0])
    assert _decrypt(out.getvalue()) == data

    # An exception inside the with block must not seal a truncated-but-valid file.
    out = io.BytesIO()
    with pytest.raises(RuntimeError), Encryptor(out, [X_ID.recipient()]) as enc:
        enc.write(b"partial")
        raise RuntimeError("boom")
    with pytest.raises(PayloadError):
        _decrypt(out.getvalue())
    with pytest.raises(ValueError):
        enc.write(b"x")


def test_empty_write_sequences_never_produce_empty_final_chunk() -> None:
    out = io.BytesIO()
    with Encryptor(out, [X_ID.recipient()]) as enc:
        enc.write(b"a" * CHUNK)
        enc.write(b"")
    blob = out.getvalue()
    assert len(blob) - _payload_offset(blob) == ENC_CHUNK  # one full final chunk
    assert _decrypt(blob) == b"a" * CHUNK


def test_tar_streams_through_encryptor_and_decryptor() -> None:
    files = {f"f{i}.bin": os.urandom(n) for i, n in enumerate([0, 1, 70_000, 200_000])}
    out = io.BytesIO()
    with Encryptor(out, [PQ_ID.recipient()]) as enc, tarfile.open(fileobj=enc, mode="w|") as tar:
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    got: dict[str, bytes] = {}
    dec = Decryptor(io.BytesIO(out.getvalue()), [PQ_ID])
    with tarfile.open(fileobj=dec, mode="r|") as tar:
        for member in tar:
            fh = tar.extractfile(member)
            assert fh is not None
            got[member.name] = fh.read()
    assert got == files


def test_decryptor_readinto_and_readall() -> None:
    data = os.urandom(150_000)
    blob = _encrypt(data)
    dec = Decryptor(io.BytesIO(blob), [X_ID])
    buf = bytearray(1000)
    assert dec.readinto(buf) == 1000
    assert bytes(buf) == data[:1000]
    assert dec.readall() == data[1000:]
    assert dec.read(10) == b""


def test_header_and_identity_errors() -> None:
    with pytest.raises(HeaderError):
        _decrypt(b"")
    with pytest.raises(HeaderError):
        _decrypt(b"age-encryption.org/v2\n")
    with pytest.raises(NoIdentityMatchError):
        _decrypt(_encrypt(b"x"), [X25519Identity.generate()])
    with pytest.raises(ValueError):
        Encryptor(io.BytesIO(), [])
    with pytest.raises(ValueError):
        decrypt([], io.BytesIO(_encrypt(b"x")), io.BytesIO())


def test_scrypt_header_fails_cleanly() -> None:
    header = (
        b"age-encryption.org/v1\n-> scrypt rF0/NwblUHHTpgQgRpe5CQ 10\n"
        b"gUjEymFKMVXQEKdMMHL24oYexjE3TIC0O0zGSqJ2aUY\n"
        b"--- IOXiQYStkoT1mvZW2tFOqZdhRVvj58egABx/sWfZQbc\n"
    )
    with pytest.raises(NoIdentityMatchError, match=r"^scrypt recipients not supported$"):
        _decrypt(header + bytes(32))


def test_key_encodings() -> None:
    # Examples from c2sp.org/age.
    ident = parse_identity(
        "AGE-SECRET-KEY-1GFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPQ4EGAEX"
    )
    assert isinstance(ident, X25519Identity)
    assert ident.to_string() == (
        "AGE-SECRET-KEY-1GFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPQ4EGAEX"
    )
    rec = parse_recipient("age1zvkyg2lqzraa2lnjvqej32nkuu0ues2s82hzrye869xeexvn73equnujwj")
    assert isinstance(rec, X25519Recipient)
    assert rec == ident.recipient()
    pq = parse_identity(
        "AGE-SECRET-KEY-PQ-1XX76JRALNLXDMEW0CRK45QMCCH4X06SE84UN3VPM33W6HWDX0H3SK3ZQFR"
    )
    assert isinstance(pq, HybridIdentity)
    pq_rec = pq.recipient()
    # The spec's example recipient for this identity (1959 characters), by prefix and hash.
    assert pq_rec.to_string().startswith("age1pq1x34nzsvr0rxjsgdn8zgyhfe8j7ceq5r9rdelkjuh3y")
    assert hashlib.sha256(pq_rec.to_string().encode()).hexdigest() == (
        "a091dd7e0ee9d62b75173dcc98441a0424baa941e66a8776e570a4ae60ff61ea"
    )
    assert len(pq_rec.public_bytes) == 1216
    assert HybridRecipient.from_string(pq_rec.to_string()) == pq_rec
    assert parse_recipient(pq_rec.to_string()) == pq_rec
    for gen in (X25519Identity.generate(), HybridIdentity.generate()):
        assert parse_identity(gen.to_string()).to_string() == gen.to_string()
    bad = ident.to_string()[:-1] + ("A" if ident.to_string()[-1] != "A" else "C")
    for s in (bad, "age1tag1qt8lw0ual6avlwmwatk888yqnmdamm7xfd0wak53ut6elz5c4swx2yqdj4e", "x"):
        with pytest.raises(KeyFormatError):
            parse_recipient(s) if s.startswith("age1") else parse_identity(s)
    with pytest.raises(KeyFormatError):
        parse_recipient(ident.to_string())


def test_parse_identity_file() -> None:
    text = (
        "# created: 2024-01-01T00:00:00Z\n"
        f"# public key: {X_ID.recipient().to_string()}\n"
        f"{X_ID.to_string()}\n\n"
        f"  {PQ_ID.to_string()}  \r\n"
    )
    ids = parse_identity_file(text)
    assert [i.to_string() for i in ids] == [X_ID.to_string(), PQ_ID.to_string()]
    with pytest.raises(KeyFormatError) as info:
        parse_identity_file("# only comments\n" + X_ID.to_string()[:-2] + "\n")
    assert "line 2" in str(info.value)
    assert X_ID.to_string()[:-2] not in str(info.value)
    with pytest.raises(KeyFormatError):
        parse_identity_file("# nothing\n\n")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.binary(max_size=3 * CHUNK + 10)
    | st.integers(0, 3).map(lambda k: b"\x5a" * (k * CHUNK)),
    write_size=st.integers(1, 2 * CHUNK + 3),
    read_size=st.integers(1, 2 * CHUNK + 3),
)
def test_round_trip_property(data: bytes, write_size: int, read_size: int) -> None:
    out = io.BytesIO()
    with Encryptor(out, [X_ID.recipient()]) as enc:
        for i in range(0, len(data), write_size):
            enc.write(data[i : i + write_size])
    dec = Decryptor(io.BytesIO(out.getvalue()), [X_ID])
    got = bytearray()
    while chunk := dec.read(read_size):
        got += chunk
    assert got == data
