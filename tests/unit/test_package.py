"""Evidence packages: age v1 around a tar of a BagIt bag, sealed and opened in one pass."""

from __future__ import annotations

import hashlib
import io
import os
import re
import tarfile
from datetime import UTC, datetime
from pathlib import Path

import msgspec
import pytest

from mla_tracker.crypto.age import (
    AgeError,
    Encryptor,
    HeaderError,
    HeaderMACError,
    HybridIdentity,
    KeyFormatError,
    MixedRecipientsError,
    NoIdentityMatchError,
    PayloadError,
    X25519Identity,
    parse_identity,
)
from mla_tracker.domain.content import EvidenceDelivery
from mla_tracker.evidence.bagit import (
    BagError,
    BagValidationError,
    SourceError,
    UnsafeArchiveError,
    validate_bag_dir,
)
from mla_tracker.evidence.package import (
    PACKAGE_ID_RE,
    OpenedPackage,
    PackageError,
    SealedPackage,
    new_package_id,
    open_package,
    read_recipients,
    seal,
)

SEALED_AT = datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC)
BIG = 1 << 40


@pytest.fixture
def evidence(tmp_path: Path) -> tuple[Path, Path]:
    """A single file and a folder with a nested folder, as sources."""
    src = tmp_path / "src"
    src.mkdir()
    single = src / "subscriber.csv"
    single.write_text("msisdn,name\n+66800000000,Somchai\n")
    folder = src / "logs"
    (folder / "2025" / "03").mkdir(parents=True)
    (folder / "index.txt").write_text("index\n")
    (folder / "2025" / "03" / "access.log").write_bytes(os.urandom(200_000))
    (folder / "2025" / "empty.bin").write_bytes(b"")
    return single, folder


def do_seal(
    tmp_path: Path,
    sources: list[Path],
    recipients: list[object] | None = None,
    *,
    name: str = "pkg.age",
    package_id: str = "PKG-1",
) -> tuple[Path, SealedPackage]:
    """Seal `sources` into tmp_path/name for a fresh identity unless recipients are given."""
    out = tmp_path / name
    with open(out, "wb") as f:
        sealed = seal(
            sources,
            f,
            recipients,  # type: ignore[arg-type]
            package_id=package_id,
            producer="Royal Thai Police",
            request_id="7c0e8d5a-0000-4000-8000-000000000001",
            sealed_at=SEALED_AT,
        )
    return out, sealed


def do_open(pkg: Path | bytes, identities: list[object], dest: Path, **kw: object) -> OpenedPackage:
    """open_package from a file or bytes with generous limits."""
    kw.setdefault("max_total_bytes", BIG)
    kw.setdefault("max_files", 1000)
    if isinstance(pkg, bytes):
        return open_package(io.BytesIO(pkg), identities, dest, **kw)  # type: ignore[arg-type]
    with open(pkg, "rb") as f:
        return open_package(f, identities, dest, **kw)  # type: ignore[arg-type]


def assert_nothing_at(dest: Path) -> None:
    """No destination and no partial work directory next to it."""
    assert not dest.exists()
    leftovers = [p.name for p in dest.parent.iterdir() if p.name.startswith(f".{dest.name}")]
    assert leftovers == []


# --------------------------------------------------------------------------- round trips


def test_round_trip_files_and_nested_dir(tmp_path: Path, evidence: tuple[Path, Path]) -> None:
    """What was sealed opens, validates, and matches byte for byte."""
    single, folder = evidence
    ident = X25519Identity.generate()
    progress: list[int] = []
    out = tmp_path / "pkg.age"
    with open(out, "wb") as f:
        sealed = seal(
            [single, folder],
            f,
            [ident.recipient()],
            package_id="PKG-1",
            producer="Royal Thai Police",
            request_id="REQ-1",
            on_progress=progress.append,
        )
    data = out.read_bytes()
    assert sealed.ciphertext_sha256 == hashlib.sha256(data).hexdigest()
    assert sealed.ciphertext_size == len(data)
    assert data.startswith(b"age-encryption.org/v1\n")
    paths = [f.path for f in sealed.files]
    assert paths == [
        "data/subscriber.csv",
        "data/logs/index.txt",
        "data/logs/2025/empty.bin",
        "data/logs/2025/03/access.log",
    ]
    total = sum(f.size for f in sealed.files)
    assert progress and progress[-1] == total

    dest = tmp_path / "opened"
    seen: list[int] = []
    opened = do_open(out, [ident], dest, on_progress=seen.append)
    assert opened.ciphertext_sha256 == sealed.ciphertext_sha256
    assert opened.ciphertext_size == sealed.ciphertext_size
    assert seen[-1] == len(data)
    assert opened.package_id == "PKG-1"
    assert opened.bag.path == dest
    assert opened.bag.info("MLA-Request-Id") == "REQ-1"
    assert opened.bag.info("Source-Organization") == "Royal Thai Police"
    assert sorted(opened.bag.payload, key=str) == sorted(sealed.files, key=str)
    assert (dest / "data/subscriber.csv").read_bytes() == single.read_bytes()
    assert (dest / "data/logs/2025/03/access.log").read_bytes() == (
        folder / "2025/03/access.log"
    ).read_bytes()
    assert (dest / "data/logs/2025/empty.bin").read_bytes() == b""
    for entry in sealed.files:
        assert hashlib.sha256((dest / entry.path).read_bytes()).hexdigest() == entry.sha256
    assert validate_bag_dir(dest).payload_oxum == opened.bag.payload_oxum


def test_delivery_body_is_a_valid_deliver_evidence_body(
    tmp_path: Path, evidence: tuple[Path, Path]
) -> None:
    """delivery_body() decodes as EvidenceDelivery and carries exactly the documented keys."""
    ident = X25519Identity.generate()
    pkg, sealed = do_seal(tmp_path, list(evidence), [ident.recipient()])
    body = sealed.delivery_body()
    assert set(body) == {
        "package_id",
        "ciphertext_sha256",
        "ciphertext_size",
        "files",
        "recipients",
    }
    assert body["recipients"] == [ident.recipient().to_string()]
    assert body["ciphertext_size"] == pkg.stat().st_size
    assert all(set(f) == {"path", "sha256", "size"} for f in body["files"])
    decoded = msgspec.convert(body, EvidenceDelivery)
    assert decoded.package_id == "PKG-1"
    assert decoded.ciphertext_sha256 == hashlib.sha256(pkg.read_bytes()).hexdigest()


def test_multiple_recipients_each_open(tmp_path: Path, evidence: tuple[Path, Path]) -> None:
    """Every recipient can open the package on its own (hybrid ones together, too)."""
    x, x2 = X25519Identity.generate(), X25519Identity.generate()
    pq, pq2 = HybridIdentity.generate(), HybridIdentity.generate()
    for n, group in enumerate([[x, x2], [pq, pq2]]):
        recipients = [i.recipient() for i in group]
        (tmp_path / str(n)).mkdir()
        pkg, sealed = do_seal(tmp_path / str(n), list(evidence), recipients)
        assert sealed.recipients == tuple(r.to_string() for r in recipients)
        for i, ident in enumerate(group):
            opened = do_open(pkg, [ident], tmp_path / f"out{n}{i}")
            assert opened.ciphertext_sha256 == sealed.ciphertext_sha256
            assert len(opened.bag.payload) == len(sealed.files)


def test_mixing_x25519_and_hybrid_recipients_refused(
    tmp_path: Path, evidence: tuple[Path, Path]
) -> None:
    """Sealing to both would silently drop the post-quantum protection (c2sp.org/age)."""
    x, pq = X25519Identity.generate(), HybridIdentity.generate()
    with pytest.raises(MixedRecipientsError, match="post-quantum"):
        do_seal(tmp_path, list(evidence), [x.recipient(), pq.recipient()])


def test_opening_a_mixed_package_refused(tmp_path: Path) -> None:
    """A package made elsewhere with both kinds (the testkit's file) is refused, not opened."""
    vector = Path(__file__).parent.parent / "vectors" / "age-testkit" / "hybrid_and_x25519"
    head, _, blob = vector.read_bytes().partition(b"\n\n")
    ident = parse_identity(head.split(b"identity: ")[1].split(b"\n")[0].decode())
    pkg = tmp_path / "mixed.age"
    pkg.write_bytes(blob)
    with pytest.raises(MixedRecipientsError, match="file is encrypted to post-quantum"):
        do_open(pkg, [ident], tmp_path / "dest")
    assert_nothing_at(tmp_path / "dest")


def test_default_package_ids_are_valid() -> None:
    """new_package_id() fits the statement's pattern and differs each time."""
    a, b = new_package_id(), new_package_id()
    assert a != b
    assert re.fullmatch(r"pkg-[0-9a-f]{32}", a)
    assert PACKAGE_ID_RE.fullmatch(a)


@pytest.mark.parametrize("bad", ["", "..", "a/b", "x" * 129, "sp ace", "é"])
def test_bad_package_id_refused(tmp_path: Path, evidence: tuple[Path, Path], bad: str) -> None:
    """Package ids the deliver_evidence statement would reject are refused before sealing."""
    out = io.BytesIO()
    with pytest.raises(PackageError, match="package id"):
        seal(
            list(evidence),
            out,
            [X25519Identity.generate().recipient()],
            package_id=bad,
            producer="P",
            request_id=None,
        )
    assert out.getvalue() == b""


def test_no_recipients_refused(tmp_path: Path, evidence: tuple[Path, Path]) -> None:
    """Sealing for nobody is a PackageError (a CryptoError), not a silent plaintext."""
    with pytest.raises(PackageError, match="no recipients"):
        seal(list(evidence), io.BytesIO(), [], package_id="P", producer="P", request_id=None)


def test_missing_source_refused_and_output_unusable(tmp_path: Path) -> None:
    """A missing input raises SourceError; what was written never decrypts to a bag."""
    ident = X25519Identity.generate()
    out = io.BytesIO()
    with pytest.raises(SourceError, match="no such file"):
        seal(
            [tmp_path / "nope"],
            out,
            [ident.recipient()],
            package_id="P",
            producer="P",
            request_id=None,
        )
    dest = tmp_path / "dest"
    with pytest.raises(AgeError):
        do_open(out.getvalue(), [ident], dest)
    assert_nothing_at(dest)


# --------------------------------------------------------------------------- refusals


def test_wrong_identity_refused_nothing_at_dest(
    tmp_path: Path, evidence: tuple[Path, Path]
) -> None:
    """A package for someone else raises NoIdentityMatchError and creates nothing."""
    pkg, _ = do_seal(tmp_path, list(evidence), [X25519Identity.generate().recipient()])
    dest = tmp_path / "dest"
    with pytest.raises(NoIdentityMatchError):
        do_open(pkg, [X25519Identity.generate(), HybridIdentity.generate()], dest)
    assert_nothing_at(dest)


def _header_len(data: bytes) -> int:
    return data.index(b"\n---") + data[data.index(b"\n---") + 1 :].index(b"\n") + 2


@pytest.mark.parametrize(
    ("where", "error"),
    [
        ("stanza body", (HeaderError, HeaderMACError, NoIdentityMatchError)),
        ("header mac", HeaderMACError),
        ("nonce", PayloadError),
        ("first chunk", PayloadError),
        ("middle chunk", PayloadError),
        ("last byte", PayloadError),
    ],
)
def test_flipped_ciphertext_byte_refused(
    tmp_path: Path,
    evidence: tuple[Path, Path],
    where: str,
    error: type[Exception] | tuple[type[Exception], ...],
) -> None:
    """Any changed byte, in the header or the payload, is refused with nothing at dest."""
    ident = X25519Identity.generate()
    pkg, _ = do_seal(tmp_path, list(evidence), [ident.recipient()])
    data = bytearray(pkg.read_bytes())
    header = _header_len(bytes(data))
    mac_at = data.index(b"\n---") + 6
    offsets = {
        "stanza body": data.index(b"\n", data.index(b"-> X25519")) + 3,
        "header mac": mac_at,
        "nonce": header + 3,
        "first chunk": header + 16 + 100,
        "middle chunk": header + 16 + 65536 + 16 + 10,
        "last byte": len(data) - 1,
    }
    at = offsets[where]
    if where == "header mac":
        # Stay inside the base64 alphabet, or the header fails to parse before the MAC check.
        data[at] = ord("A") if data[at] != ord("A") else ord("B")
    else:
        data[at] ^= 0x01
    dest = tmp_path / "dest"
    with pytest.raises(error):
        do_open(bytes(data), [ident], dest)
    assert_nothing_at(dest)


@pytest.mark.parametrize("keep", ["header only", "half", "one chunk", "all but one byte"])
def test_truncated_package_refused(tmp_path: Path, evidence: tuple[Path, Path], keep: str) -> None:
    """A truncated package fails as truncated (PayloadError) and leaves nothing behind."""
    ident = X25519Identity.generate()
    pkg, _ = do_seal(tmp_path, list(evidence), [ident.recipient()])
    data = pkg.read_bytes()
    header = _header_len(data) + 16
    cut = {
        "header only": header,
        "half": len(data) // 2,
        "one chunk": header + 65536 + 16,
        "all but one byte": len(data) - 1,
    }[keep]
    dest = tmp_path / "dest"
    with pytest.raises(PayloadError, match=r"truncated|authentication failed"):
        do_open(data[:cut], [ident], dest)
    assert_nothing_at(dest)


def test_trailing_data_refused(tmp_path: Path, evidence: tuple[Path, Path]) -> None:
    """Bytes appended after the final chunk are refused."""
    ident = X25519Identity.generate()
    pkg, _ = do_seal(tmp_path, list(evidence), [ident.recipient()])
    dest = tmp_path / "dest"
    with pytest.raises(PayloadError, match=r"trailing data|authentication failed"):
        do_open(pkg.read_bytes() + b"x", [ident], dest)
    assert_nothing_at(dest)


def test_expect_sha256_mismatch_refused(tmp_path: Path, evidence: tuple[Path, Path]) -> None:
    """A package that opens but is not the announced one is refused, dest left as it was."""
    ident = X25519Identity.generate()
    pkg, sealed = do_seal(tmp_path, list(evidence), [ident.recipient()])
    dest = tmp_path / "dest"
    with pytest.raises(PackageError, match="ciphertext sha256 mismatch"):
        do_open(pkg, [ident], dest, expect_sha256="0" * 64)
    assert_nothing_at(dest)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(PackageError, match="ciphertext sha256 mismatch"):
        do_open(pkg, [ident], empty, expect_sha256="ab" * 32)
    assert empty.is_dir() and list(empty.iterdir()) == []
    opened = do_open(pkg, [ident], dest, expect_sha256=sealed.ciphertext_sha256.upper())
    assert opened.ciphertext_sha256 == sealed.ciphertext_sha256


def _encrypt(plaintext: bytes, ident: X25519Identity) -> bytes:
    out = io.BytesIO()
    with Encryptor(out, [ident.recipient()]) as enc:
        enc.write(plaintext)
    return out.getvalue()


def _member(name: str, data: bytes | None = None, **attrs: object) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    if data is None:
        info.type = tarfile.DIRTYPE
        info.mode = 0o755
        data = b""
    else:
        info.size = len(data)
    for key, value in attrs.items():
        setattr(info, key, value)
    return info, data


def _tar(*members: tuple[tarfile.TarInfo, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return buf.getvalue()


BAGIT_TXT = b"BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n"


def _tagmanifest(bag: str, **tags: bytes) -> tuple[tarfile.TarInfo, bytes]:
    """A tagmanifest-sha256.txt member listing the given tag files (bagit.txt too)."""
    tags = {"bagit.txt": BAGIT_TXT, **tags}
    lines = "".join(f"{hashlib.sha256(c).hexdigest()}  {n}\n" for n, c in tags.items())
    return _member(f"{bag}/tagmanifest-sha256.txt", lines.encode())


def test_lying_manifest_refused(tmp_path: Path) -> None:
    """A hand-made bag whose manifest lies (encrypted with our Encryptor) is refused by name."""
    ident = X25519Identity.generate()
    real = b"the real evidence\n"
    claimed = hashlib.sha256(b"something else\n").hexdigest()
    plaintext = _tar(
        _member("bag"),
        _member("bag/bagit.txt", BAGIT_TXT),
        _member("bag/data"),
        _member("bag/data/x.txt", real),
        _member("bag/manifest-sha256.txt", f"{claimed}  data/x.txt\n".encode()),
        _tagmanifest("bag", **{"manifest-sha256.txt": f"{claimed}  data/x.txt\n".encode()}),
    )
    dest = tmp_path / "dest"
    with pytest.raises(BagValidationError) as caught:
        do_open(_encrypt(plaintext, ident), [ident], dest)
    message = str(caught.value)
    assert message.startswith("bag is invalid: data/x.txt: sha256 mismatch")
    assert claimed in message and hashlib.sha256(real).hexdigest() in message
    assert_nothing_at(dest)


def test_honest_hand_made_bag_opens(tmp_path: Path) -> None:
    """The same hand-made bag with a true manifest opens (so the refusal above is about the lie)."""
    ident = X25519Identity.generate()
    real = b"the real evidence\n"
    manifest = f"{hashlib.sha256(real).hexdigest()}  data/x.txt\n".encode()
    plaintext = _tar(
        _member("bag"),
        _member("bag/bagit.txt", BAGIT_TXT),
        _member("bag/data"),
        _member("bag/data/x.txt", real),
        _member("bag/manifest-sha256.txt", manifest),
        _tagmanifest("bag", **{"manifest-sha256.txt": manifest}),
    )
    opened = do_open(_encrypt(plaintext, ident), [ident], tmp_path / "dest")
    assert [e.path for e in opened.bag.payload] == ["data/x.txt"]
    assert opened.package_id == "bag"


@pytest.mark.parametrize(
    ("member", "reason"),
    [
        (_member("bag/../evil.txt", b"x"), "'..'"),
        (_member("/etc/evil.txt", b"x"), "absolute path"),
        (_member("bag/data/link", b"", type=tarfile.SYMTYPE, linkname="/etc/passwd"), "symbolic"),
        (_member("other/evil.txt", b"x"), "outside the bag directory"),
    ],
)
def test_unsafe_tar_inside_age_refused(
    tmp_path: Path, member: tuple[tarfile.TarInfo, bytes], reason: str
) -> None:
    """Path traversal, absolute paths and links inside an encrypted tar are refused."""
    ident = X25519Identity.generate()
    plaintext = _tar(
        _member("bag"),
        _member("bag/bagit.txt", BAGIT_TXT),
        _member("bag/data"),
        member,
    )
    dest = tmp_path / "sub" / "dest"
    dest.parent.mkdir()
    with pytest.raises(UnsafeArchiveError, match=re.escape(reason)):
        do_open(_encrypt(plaintext, ident), [ident], dest)
    assert_nothing_at(dest)
    assert not (tmp_path / "evil.txt").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sub"]


def test_plaintext_that_is_not_a_tar_refused(tmp_path: Path) -> None:
    """An age file of random bytes is a BagError, not a crash, with nothing at dest."""
    ident = X25519Identity.generate()
    dest = tmp_path / "dest"
    with pytest.raises(BagError):
        do_open(_encrypt(os.urandom(5000), ident), [ident], dest)
    assert_nothing_at(dest)


def test_limits_apply(tmp_path: Path, evidence: tuple[Path, Path]) -> None:
    """max_total_bytes and max_files are enforced through open_package."""
    ident = X25519Identity.generate()
    pkg, _ = do_seal(tmp_path, list(evidence), [ident.recipient()])
    with pytest.raises(BagError, match="exceeds 1000 bytes"):
        do_open(pkg, [ident], tmp_path / "a", max_total_bytes=1000)
    with pytest.raises(BagError, match=r"more than 2 (files|folders)"):
        do_open(pkg, [ident], tmp_path / "b", max_files=2)
    assert_nothing_at(tmp_path / "a")
    assert_nothing_at(tmp_path / "b")


# --------------------------------------------------------------------------- recipients


def test_read_recipients_strings_and_files(tmp_path: Path) -> None:
    """Strings and -R style files (comments, blank lines) mix; duplicates collapse."""
    a = X25519Identity.generate().recipient().to_string()
    b = X25519Identity.generate().recipient().to_string()
    pq = HybridIdentity.generate().recipient().to_string()
    listing = tmp_path / "recipients.txt"
    listing.write_text(f"# Thai OAG\n{b}\n\n   # hybrid key\n  {pq}  \n{a}\n")
    got = read_recipients([a, str(listing)])
    assert [r.to_string() for r in got] == [a, b, pq]


def test_read_recipients_bad_string() -> None:
    """A malformed recipient is a KeyFormatError naming it."""
    good = X25519Identity.generate().recipient().to_string()
    with pytest.raises(KeyFormatError, match="not a valid age recipient"):
        read_recipients([good[:-1] + ("q" if good[-1] != "q" else "p")])


def test_read_recipients_bad_line_in_file(tmp_path: Path) -> None:
    """A bad line in a recipients file is named by file and line number."""
    listing = tmp_path / "r.txt"
    good = X25519Identity.generate().recipient().to_string()
    listing.write_text(f"# ok\n{good}\nage1notakey\n")
    with pytest.raises(KeyFormatError, match=r"r\.txt line 3: not a valid age recipient"):
        read_recipients([str(listing)])


def test_read_recipients_identity_is_not_a_recipient(tmp_path: Path) -> None:
    """A secret key pasted as a recipient is refused without echoing the secret."""
    secret = X25519Identity.generate().to_string()
    listing = tmp_path / "r.txt"
    listing.write_text(secret + "\n")
    with pytest.raises(KeyFormatError) as caught:
        read_recipients([str(listing)])
    assert secret not in str(caught.value)


def test_read_recipients_missing_and_empty(tmp_path: Path) -> None:
    """Neither a recipient nor a file, an empty file, or nothing at all: PackageError."""
    with pytest.raises(PackageError, match="neither an age recipient"):
        read_recipients([str(tmp_path / "missing.txt")])
    empty = tmp_path / "empty.txt"
    empty.write_text("# nothing here\n\n")
    with pytest.raises(PackageError, match="lists no recipients"):
        read_recipients([str(empty)])
    with pytest.raises(PackageError, match="no recipients"):
        read_recipients([])
