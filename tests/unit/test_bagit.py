"""BagIt evidence bags: sealing, safe streaming extraction and RFC 8493 validation."""

from __future__ import annotations

import hashlib
import io
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
import tracemalloc
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mla_tracker.crypto.errors import CryptoError
from mla_tracker.evidence.bagit import (
    ArchiveFormatError,
    ArchiveLimitError,
    BagError,
    BagInfo,
    BagInfoError,
    BagValidationError,
    DestinationError,
    SourceError,
    UnsafeArchiveError,
    ValidatedBag,
    decode_manifest_path,
    encode_manifest_path,
    extract_bag_tar,
    validate_bag_dir,
    write_bag_tar,
)

SEALED_AT = datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC)
BIG = 1 << 40
UNICODE_NAME = "tài liệu – доказательство.txt"
HAS_TAR = shutil.which("tar") is not None
HAS_SHA256SUM = shutil.which("sha256sum") is not None


def info(package_id: str = "PKG-0001", **kwargs: Any) -> BagInfo:
    """BagInfo with test defaults."""
    fields: dict[str, Any] = {
        "request_id": "REQ-42",
        "package_id": package_id,
        "producer": "Example Agency",
        "sealed_at": SEALED_AT,
    }
    fields.update(kwargs)
    return BagInfo(**fields)


def make_sources(root: Path) -> list[Path]:
    """A file plus a nested directory with awkward names, an empty file and an empty dir."""
    root.mkdir()
    (root / "report.pdf").write_bytes(b"%PDF-1.7 evidence\n" * 1000)
    tree = root / "phone dump"
    (tree / "sub" / "deeper").mkdir(parents=True)
    (tree / "empty-dir").mkdir()
    (tree / "empty.txt").write_bytes(b"")
    (tree / UNICODE_NAME).write_text("xin chào\n", encoding="utf-8")
    (tree / "with space.txt").write_bytes(b"space\n")
    (tree / "100% sure.txt").write_bytes(b"percent\n")
    (tree / "sub" / "deeper" / "blob.bin").write_bytes(os.urandom(70_000))
    return [root / "report.pdf", tree]


def seal(tmp_path: Path, sources: list[Path], bag_info: BagInfo | None = None) -> Path:
    """Seal `sources` into tmp_path/pkg.tar and return its path."""
    out = tmp_path / "pkg.tar"
    with out.open("wb") as f:
        write_bag_tar(f, sources, bag_info=bag_info or info())
    return out


def extract(
    data: bytes | Path, dest: Path, *, max_total_bytes: int = BIG, max_files: int = 10_000
) -> ValidatedBag:
    """extract_bag_tar from bytes or a file with generous default limits."""
    if isinstance(data, Path):
        with data.open("rb") as f:
            return extract_bag_tar(f, dest, max_total_bytes=max_total_bytes, max_files=max_files)
    return extract_bag_tar(
        io.BytesIO(data), dest, max_total_bytes=max_total_bytes, max_files=max_files
    )


def assert_clean(dest: Path, was_empty_dir: bool = False) -> None:
    """After a refusal: dest is as it was and no partial work dirs are left beside it."""
    if was_empty_dir:
        assert dest.is_dir() and not any(dest.iterdir())
    else:
        assert not os.path.lexists(dest)
    leftovers = [p.name for p in dest.parent.iterdir() if ".partial-" in p.name]
    assert leftovers == []


def expect_refusal(
    data: bytes, tmp_path: Path, error: type[BagError], *needles: str, **limits: int
) -> BagError:
    """Extraction fails with `error` whose message contains every needle; nothing is left."""
    dest = tmp_path / "out"
    with pytest.raises(error) as caught:
        extract(data, dest, **limits)
    message = str(caught.value)
    for needle in needles:
        assert needle in message, message
    assert_clean(dest)
    return caught.value


# --------------------------------------------------------------------------- hand-made bags


def write_hand_bag(
    bag: Path,
    files: dict[str, bytes],
    *,
    mutate_manifest: Callable[[list[str]], list[str]] | None = None,
    oxum: str | None = None,
    mutate_tagmanifest: Callable[[list[str]], list[str]] | None = None,
    version: str = "1.0",
    newline: str = "\n",
) -> None:
    """Build a bag directory by hand (plain Python, no bagit code under test)."""
    (bag / "data").mkdir(parents=True)
    for rel, content in files.items():
        path = bag / "data" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    (bag / "bagit.txt").write_bytes(
        f"BagIt-Version: {version}{newline}Tag-File-Character-Encoding: UTF-8{newline}".encode()
    )
    lines = [
        f"{hashlib.sha256(c).hexdigest()}  data/{rel.replace('%', '%25')}"
        for rel, c in files.items()
    ]
    if mutate_manifest:
        lines = mutate_manifest(lines)
    (bag / "manifest-sha256.txt").write_bytes("".join(x + newline for x in lines).encode())
    octets = sum(len(c) for c in files.values())
    info_text = (
        f"Source-Organization: Hand{newline}Payload-Oxum: {oxum or f'{octets}.{len(files)}'}"
    )
    (bag / "bag-info.txt").write_bytes((info_text + newline).encode())
    tag_lines = [
        f"{hashlib.sha256((bag / n).read_bytes()).hexdigest()}  {n}"
        for n in ("bagit.txt", "bag-info.txt", "manifest-sha256.txt")
    ]
    if mutate_tagmanifest:
        tag_lines = mutate_tagmanifest(tag_lines)
    (bag / "tagmanifest-sha256.txt").write_bytes("".join(x + "\n" for x in tag_lines).encode())


def tar_dir(bag: Path, *, prefix: str = "") -> bytes:
    """Tar a bag directory with the system tar (or tarfile if tar is unavailable)."""
    if HAS_TAR:
        result = subprocess.run(
            ["tar", "-cf", "-", "-C", str(bag.parent), prefix + bag.name],
            check=True,
            capture_output=True,
        )
        return result.stdout
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        tar.add(bag, arcname=prefix + bag.name)
    return buf.getvalue()


def hand_bag_tar(tmp_path: Path, **kwargs: object) -> bytes:
    """A hand-made bag with a small payload, tarred."""
    bag = tmp_path / "hand" / "HAND-1"
    bag.parent.mkdir()
    files = {"a.txt": b"alpha\n", "dir/b.bin": b"\x00\x01" * 500, "50% off.txt": b"%"}
    write_hand_bag(bag, files, **kwargs)  # type: ignore[arg-type]
    return tar_dir(bag)


def raw_tar(*members: tuple[tarfile.TarInfo, bytes | None]) -> bytes:
    """A tar built member by member with tarfile (for malicious archives)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for member, content in members:
            if content is not None:
                member.size = len(content)
                tar.addfile(member, io.BytesIO(content))
            else:
                tar.addfile(member)
    return buf.getvalue()


def member(name: str, kind: bytes = tarfile.REGTYPE, linkname: str = "") -> tarfile.TarInfo:
    """A TarInfo of the given type."""
    ti = tarfile.TarInfo(name)
    ti.type = kind
    ti.linkname = linkname
    ti.mode = 0o755 if kind == tarfile.DIRTYPE else 0o644
    return ti


def valid_prefix() -> list[tuple[tarfile.TarInfo, bytes | None]]:
    """Members that start a plausible bag."""
    return [
        (member("BAG", tarfile.DIRTYPE), None),
        (member("BAG/bagit.txt"), b"BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n"),
        (member("BAG/data", tarfile.DIRTYPE), None),
    ]


# --------------------------------------------------------------------------- round trips


def test_round_trip_files_and_nested_dirs(tmp_path: Path) -> None:
    sources = make_sources(tmp_path / "src")
    progress: list[int] = []
    out = tmp_path / "pkg.tar"
    with out.open("wb") as f:
        manifest = write_bag_tar(f, sources, bag_info=info(), on_progress=progress.append)
    expected = {
        "data/report.pdf",
        "data/phone dump/empty.txt",
        f"data/phone dump/{UNICODE_NAME}",
        "data/phone dump/with space.txt",
        "data/phone dump/100% sure.txt",
        "data/phone dump/sub/deeper/blob.bin",
    }
    assert {e.path for e in manifest.payload} == expected
    total = sum(e.size for e in manifest.payload)
    assert manifest.payload_oxum == f"{total}.6"
    assert progress == sorted(progress) and progress[-1] == total
    assert [e.path for e in manifest.tag_manifest] == [
        "bagit.txt",
        "manifest-sha256.txt",
        "bag-info.txt",
    ]

    dest = tmp_path / "opened"
    seen: list[int] = []
    with out.open("rb") as f:
        bag = extract_bag_tar(f, dest, max_total_bytes=BIG, max_files=100, on_progress=seen.append)
    assert bag.path == dest and bag.name == "PKG-0001" and bag.version == "1.0"
    assert bag.payload == tuple(sorted(manifest.payload, key=lambda e: e.path))
    assert bag.payload_oxum == manifest.payload_oxum
    assert seen[-1] >= total
    for entry in manifest.payload:
        content = (dest / entry.path).read_bytes()
        assert hashlib.sha256(content).hexdigest() == entry.sha256
    src_tree = sources[1]
    assert (dest / "data/phone dump/sub/deeper/blob.bin").read_bytes() == (
        src_tree / "sub/deeper/blob.bin"
    ).read_bytes()
    assert (dest / "data/phone dump/empty-dir").is_dir()
    assert bag.info("mla-package-id") == "PKG-0001"
    assert bag.info("MLA-Request-Id") == "REQ-42"
    assert bag.info("External-Identifier") == "REQ-42"
    assert bag.info("Source-Organization") == "Example Agency"
    assert bag.info("MLA-Sealed-At") == "2025-03-04T05:06:07Z"
    assert bag.info("Bagging-Date") == "2025-03-04"
    assert bag.info("Bag-Size") is not None
    assert "%25" in (dest / "manifest-sha256.txt").read_text(encoding="utf-8")
    assert validate_bag_dir(dest).payload == bag.payload


def test_tar_layout_and_order(tmp_path: Path) -> None:
    out = seal(tmp_path, make_sources(tmp_path / "src"))
    with tarfile.open(out) as tar:
        names = tar.getnames()
        assert all(m.uid == 0 and m.uname == "" for m in tar.getmembers())
    assert names[:3] == ["PKG-0001", "PKG-0001/bagit.txt", "PKG-0001/data"]
    assert names[-3:] == [
        "PKG-0001/manifest-sha256.txt",
        "PKG-0001/bag-info.txt",
        "PKG-0001/tagmanifest-sha256.txt",
    ]
    assert all(n == "PKG-0001" or n.startswith("PKG-0001/") for n in names)


@pytest.mark.skipif(not HAS_TAR, reason="system tar not available")
def test_system_tar_extracts_and_sha256sum_checks(tmp_path: Path) -> None:
    out = seal(tmp_path, make_sources(tmp_path / "src"))
    unpacked = tmp_path / "unpacked"
    unpacked.mkdir()
    subprocess.run(["tar", "-xf", str(out), "-C", str(unpacked)], check=True)
    bag_dir = unpacked / "PKG-0001"
    bag = validate_bag_dir(bag_dir)
    assert len(bag.payload) == 6 and bag.name == "PKG-0001"
    if not HAS_SHA256SUM:
        pytest.skip("sha256sum not available")
    # Tag manifest paths need no encoding: sha256sum reads it as is.
    subprocess.run(
        ["sha256sum", "--quiet", "-c", "tagmanifest-sha256.txt"], cwd=bag_dir, check=True
    )
    # Payload manifest: the same format once RFC 8493 percent-encoding is undone.
    lines = (bag_dir / "manifest-sha256.txt").read_text(encoding="utf-8").splitlines()
    decoded = "".join(
        f"{digest}  {decode_manifest_path(path)}\n"
        for digest, path in (line.split("  ", 1) for line in lines)
    )
    (tmp_path / "check.sha256").write_text(decoded, encoding="utf-8")
    result = subprocess.run(
        ["sha256sum", "-c", str(tmp_path / "check.sha256")],
        cwd=bag_dir,
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.count(": OK") == 6


def test_bagit_library_validates_our_bag(tmp_path: Path) -> None:
    """The Library of Congress validator (bagit-python) accepts our bags.

    Except one file name: RFC 8493 §2.1.3 requires '%' in manifest paths to be written
    '%25', and bagit-python 1.9 decodes only %0D/%0A, so it misreads such a name. We follow
    the RFC; docs/evidence.md tells users of that validator.
    """
    bagit = pytest.importorskip("bagit")
    sources = make_sources(tmp_path / "src")
    (tmp_path / "src" / "phone dump" / "100% sure.txt").unlink()
    out = seal(tmp_path, sources)
    dest = tmp_path / "bag"
    extract(out, dest)
    bag = bagit.Bag(str(dest))
    bag.validate()
    assert bag.info["Source-Organization"] == info().producer
    assert len(bag.payload_entries()) == 5


def test_bagit_library_misreads_percent_names(tmp_path: Path) -> None:
    """Documents the bagit-python deviation above, so a fixed release is noticed."""
    bagit = pytest.importorskip("bagit")
    out = seal(tmp_path, make_sources(tmp_path / "src"))
    extract(out, tmp_path / "bag")
    with pytest.raises(bagit.BagValidationError, match=re.escape("100%25 sure.txt")):
        bagit.Bag(str(tmp_path / "bag")).validate()


def test_hand_made_bag_extracts_and_validates(tmp_path: Path) -> None:
    bag = extract(hand_bag_tar(tmp_path), tmp_path / "out")
    assert {e.path for e in bag.payload} == {"data/a.txt", "data/dir/b.bin", "data/50% off.txt"}
    assert bag.name == "HAND-1"
    assert bag.info("Source-Organization") == "Hand"
    assert validate_bag_dir(tmp_path / "out").payload == bag.payload


def test_hand_made_bag_with_dot_prefix_crlf_and_097(tmp_path: Path) -> None:
    bag_dir = tmp_path / "hand" / "HAND-2"
    bag_dir.parent.mkdir()
    write_hand_bag(bag_dir, {"x.txt": b"x"}, version="0.97", newline="\r\n")
    # A second manifest algorithm: every manifest present must be checked.
    digest = hashlib.sha512(b"x").hexdigest()
    (bag_dir / "manifest-sha512.txt").write_text(f"{digest} data/x.txt\n", encoding="utf-8")
    with (bag_dir / "tagmanifest-sha256.txt").open("a", encoding="utf-8") as tags:
        sha = hashlib.sha256((bag_dir / "manifest-sha512.txt").read_bytes()).hexdigest()
        tags.write(f"{sha}  manifest-sha512.txt\n")
    bag = extract_bag_tar(
        io.BytesIO(tar_dir(bag_dir, prefix="./")),
        tmp_path / "out",
        max_total_bytes=BIG,
        max_files=20,
    )
    assert bag.version == "0.97" and [e.path for e in bag.payload] == ["data/x.txt"]
    (bag_dir / "manifest-sha512.txt").write_text(f"{'0' * 128} data/x.txt\n", encoding="utf-8")
    with pytest.raises(BagValidationError, match=re.escape("data/x.txt: sha512 mismatch")):
        validate_bag_dir(bag_dir)


def test_extract_into_existing_empty_dir(tmp_path: Path) -> None:
    dest = tmp_path / "out"
    dest.mkdir()
    extract(hand_bag_tar(tmp_path), dest)
    assert (dest / "bagit.txt").is_file()


@settings(max_examples=25, deadline=None)
@given(
    st.lists(
        st.text(
            st.characters(exclude_characters="/\0", exclude_categories=("Cs",)),
            min_size=1,
            max_size=40,
        ).filter(lambda s: s not in (".", "..") and len(s.encode()) <= 255),
        min_size=1,
        max_size=4,
        unique_by=lambda s: s.casefold(),
    )
)
def test_arbitrary_file_names_round_trip(names: list[str]) -> None:
    import unicodedata

    keys = {unicodedata.normalize("NFC", n).casefold() for n in names}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        src = root / "src"
        src.mkdir()
        for i, name in enumerate(names):
            (src / name).write_bytes(f"{i}".encode())
        buf = io.BytesIO()
        if len(keys) < len(names):
            with pytest.raises(SourceError, match="same name"):
                write_bag_tar(buf, [src], bag_info=info())
            return
        write_bag_tar(buf, [src], bag_info=info())
        buf.seek(0)
        bag = extract_bag_tar(buf, root / "out", max_total_bytes=BIG, max_files=100)
        assert sorted(e.path for e in bag.payload) == sorted(f"data/src/{n}" for n in names)
        for i, name in enumerate(names):
            assert (root / "out" / "data" / "src" / name).read_bytes() == f"{i}".encode()


@given(st.text())
def test_manifest_path_percent_encoding_round_trips(path: str) -> None:
    encoded = encode_manifest_path(path)
    assert "\n" not in encoded and "\r" not in encoded
    assert decode_manifest_path(encoded) == path
    if not any(c in path for c in "%\r\n"):
        assert encoded == path


def test_percent_encoding_examples() -> None:
    assert encode_manifest_path("data/a%b\r\nc") == "data/a%25b%0D%0Ac"
    assert decode_manifest_path("data/a%25b%0d%0Ac%41") == "data/a%b\r\nc%41"
    assert decode_manifest_path("data/50%.txt") == "data/50%.txt"


def test_newline_in_file_name_round_trips(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "line\nbreak\r.txt").write_bytes(b"nl")
    out = seal(tmp_path, [src])
    bag = extract(out, tmp_path / "out")
    assert [e.path for e in bag.payload] == ["data/src/line\nbreak\r.txt"]
    assert "%0A" in (tmp_path / "out" / "manifest-sha256.txt").read_text(encoding="utf-8")


def test_streaming_64_mib_sparse_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    big = tmp_path / "big.img"
    with big.open("wb") as f:
        f.truncate(64 * 1024 * 1024)
    out = tmp_path / "pkg.tar"
    tracemalloc.start()
    try:
        with out.open("wb") as f:
            manifest = write_bag_tar(f, [big], bag_info=info())
        _, seal_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        with out.open("rb") as f:
            bag = extract_bag_tar(f, tmp_path / "out", max_total_bytes=BIG, max_files=10)
        _, open_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    zero_sha = hashlib.sha256(bytes(64 * 1024 * 1024)).hexdigest()
    assert manifest.payload[0].sha256 == zero_sha == bag.payload[0].sha256
    assert (tmp_path / "out/data/big.img").stat().st_size == 64 * 1024 * 1024
    with capsys.disabled():
        print(
            f"\n[bagit] 64 MiB: peak traced Python memory seal={seal_peak / 2**20:.2f} MiB, "
            f"extract={open_peak / 2**20:.2f} MiB"
        )


# --------------------------------------------------------------------------- refusals: archive


def test_refuses_absolute_path(tmp_path: Path) -> None:
    data = raw_tar(*valid_prefix(), (member("/etc/evil"), b"x"))
    err = expect_refusal(data, tmp_path, UnsafeArchiveError, "/etc/evil", "absolute path")
    assert isinstance(err, UnsafeArchiveError) and err.member == "/etc/evil"


def test_refuses_dotdot(tmp_path: Path) -> None:
    data = raw_tar(*valid_prefix(), (member("BAG/data/../../evil"), b"x"))
    expect_refusal(data, tmp_path, UnsafeArchiveError, "BAG/data/../../evil", "'..'")


def test_refuses_symlink_pointing_outside(tmp_path: Path) -> None:
    data = raw_tar(*valid_prefix(), (member("BAG/data/link", tarfile.SYMTYPE, "/etc/passwd"), None))
    expect_refusal(
        data, tmp_path, UnsafeArchiveError, "BAG/data/link", "symbolic link", "/etc/passwd"
    )


def test_refuses_hardlink(tmp_path: Path) -> None:
    data = raw_tar(
        *valid_prefix(),
        (member("BAG/data/a"), b"a"),
        (member("BAG/data/b", tarfile.LNKTYPE, "BAG/data/a"), None),
    )
    expect_refusal(data, tmp_path, UnsafeArchiveError, "BAG/data/b", "hard link")


@pytest.mark.parametrize(
    ("kind", "word"),
    [
        (tarfile.CHRTYPE, "character device"),
        (tarfile.BLKTYPE, "block device"),
        (tarfile.FIFOTYPE, "FIFO"),
    ],
)
def test_refuses_devices_and_fifos(tmp_path: Path, kind: bytes, word: str) -> None:
    data = raw_tar(*valid_prefix(), (member("BAG/data/dev", kind), None))
    expect_refusal(data, tmp_path, UnsafeArchiveError, "BAG/data/dev", word)


def test_refuses_member_outside_bag_dir(tmp_path: Path) -> None:
    data = raw_tar(*valid_prefix(), (member("OTHER/x.txt"), b"x"))
    expect_refusal(data, tmp_path, UnsafeArchiveError, "OTHER/x.txt", "outside the bag")


def test_refuses_duplicate_member(tmp_path: Path) -> None:
    data = raw_tar(*valid_prefix(), (member("BAG/data/a"), b"1"), (member("BAG/data/a"), b"2"))
    expect_refusal(data, tmp_path, UnsafeArchiveError, "BAG/data/a", "more than once")


@pytest.mark.parametrize(
    ("first", "second", "needle"),
    [
        ("BAG/data/Report.txt", "BAG/data/report.txt", "differ only in letter case"),
        ("BAG/data/caf\u00e9", "BAG/data/cafe\u0301", "differ only in Unicode normalisation"),
        ("BAG/data/x", "BAG/data/./x", "data/x appears more than once"),
        ("BAG/data/d/x", "BAG/data/D/y", "differ only in letter case"),
    ],
)
def test_refuses_names_that_normalise_to_same_path(
    tmp_path: Path, first: str, second: str, needle: str
) -> None:
    data = raw_tar(*valid_prefix(), (member(first), b"1"), (member(second), b"2"))
    expect_refusal(data, tmp_path, UnsafeArchiveError, second, needle)


def test_refuses_file_then_dir_conflict(tmp_path: Path) -> None:
    data = raw_tar(*valid_prefix(), (member("BAG/data/a"), b"1"), (member("BAG/data/a/b"), b"2"))
    expect_refusal(data, tmp_path, UnsafeArchiveError, "BAG/data/a/b", "both a file and a dir")


def test_refuses_sparse_member(tmp_path: Path) -> None:
    sparse = member("BAG/data/s")
    sparse.pax_headers = {"GNU.sparse.map": "0,1", "GNU.sparse.size": "1"}
    data = raw_tar(*valid_prefix(), (sparse, b"x"))
    expect_refusal(data, tmp_path, UnsafeArchiveError, "BAG/data/s", "sparse")


def test_refuses_oversized_pax_header(tmp_path: Path) -> None:
    huge = member("BAG/data/h")
    huge.pax_headers = {"comment": "x" * 200_000}
    data = raw_tar(*valid_prefix(), (huge, b"x"))
    expect_refusal(data, tmp_path, ArchiveLimitError, "extended header")


def test_refuses_manifest_that_lies(tmp_path: Path) -> None:
    def lie(lines: list[str]) -> list[str]:
        return [("0" * 64 + line[64:]) if line.endswith("a.txt") else line for line in lines]

    real = hashlib.sha256(b"alpha\n").hexdigest()
    expect_refusal(
        hand_bag_tar(tmp_path, mutate_manifest=lie),
        tmp_path,
        BagValidationError,
        f"data/a.txt: sha256 mismatch, manifest-sha256.txt says {'0' * 64}, file has {real}",
    )


def test_refuses_payload_missing_from_manifest(tmp_path: Path) -> None:
    expect_refusal(
        hand_bag_tar(tmp_path, mutate_manifest=lambda ls: [x for x in ls if "b.bin" not in x]),
        tmp_path,
        BagValidationError,
        "data/dir/b.bin: payload file not listed in manifest-sha256.txt",
    )


def test_refuses_extra_manifest_entry(tmp_path: Path) -> None:
    extra = f"{hashlib.sha256(b'').hexdigest()}  data/ghost.txt"
    expect_refusal(
        hand_bag_tar(tmp_path, mutate_manifest=lambda ls: [*ls, extra]),
        tmp_path,
        BagValidationError,
        "data/ghost.txt: listed in manifest-sha256.txt but missing from the bag",
    )


def test_refuses_wrong_payload_oxum(tmp_path: Path) -> None:
    expect_refusal(
        hand_bag_tar(tmp_path, oxum="999.3"),
        tmp_path,
        BagValidationError,
        "bag-info.txt: Payload-Oxum mismatch, bag-info says 999.3, payload has 1007.3",
    )


def test_refuses_tagmanifest_mismatch(tmp_path: Path) -> None:
    def lie(lines: list[str]) -> list[str]:
        return [("f" * 64 + x[64:]) if x.endswith("bag-info.txt") else x for x in lines]

    expect_refusal(
        hand_bag_tar(tmp_path, mutate_tagmanifest=lie),
        tmp_path,
        BagValidationError,
        "bag-info.txt: sha256 mismatch, tagmanifest-sha256.txt says ffff",
    )


def test_refuses_missing_bagit_txt(tmp_path: Path) -> None:
    data = raw_tar((member("BAG/data/a"), b"a"))
    expect_refusal(data, tmp_path, BagValidationError, "bagit.txt: missing")


def test_refuses_tampered_sealed_bag(tmp_path: Path) -> None:
    data = bytearray(seal(tmp_path, make_sources(tmp_path / "src")).read_bytes())
    at = data.index(b"%PDF-1.7 evidence")
    data[at] ^= 0x01
    expect_refusal(bytes(data), tmp_path, BagValidationError, "data/report.pdf: sha256 mismatch")


def test_refuses_exceeding_max_total_bytes(tmp_path: Path) -> None:
    expect_refusal(
        hand_bag_tar(tmp_path),
        tmp_path,
        ArchiveLimitError,
        "exceeds 500 bytes",
        max_total_bytes=500,
    )


def test_refuses_exceeding_max_files(tmp_path: Path) -> None:
    expect_refusal(
        hand_bag_tar(tmp_path), tmp_path, ArchiveLimitError, "more than 3 files", max_files=3
    )


def test_refuses_truncated_tar_mid_member(tmp_path: Path) -> None:
    data = seal(tmp_path, make_sources(tmp_path / "src")).read_bytes()
    at = data.index(b"%PDF-1.7 evidence") + 100
    expect_refusal(data[:at], tmp_path, ArchiveFormatError, "truncated inside member", "report")


def test_refuses_tar_truncated_at_member_boundary(tmp_path: Path) -> None:
    out = seal(tmp_path, make_sources(tmp_path / "src"))
    with tarfile.open(out) as tar:
        last = tar.getmembers()[-1]
    assert last.name.endswith("tagmanifest-sha256.txt")
    data = out.read_bytes()
    # Cut exactly before the last member's header: every member present is complete.
    expect_refusal(data[: last.offset], tmp_path, ArchiveFormatError, "truncated")
    end_of_last = last.offset_data + -(-last.size // 512) * 512
    expect_refusal(data[:end_of_last], tmp_path, ArchiveFormatError, "end-of-archive marker")


def test_refuses_empty_and_garbage_streams(tmp_path: Path) -> None:
    expect_refusal(b"", tmp_path, ArchiveFormatError, "archive is empty")
    expect_refusal(b"not a tar at all" * 100, tmp_path, ArchiveFormatError)


def test_refuses_data_after_end_of_archive(tmp_path: Path) -> None:
    data = seal(tmp_path, make_sources(tmp_path / "src")).read_bytes()
    expect_refusal(data + b"smuggled", tmp_path, ArchiveFormatError, "after its end")


def test_failure_leaves_existing_empty_dest_empty(tmp_path: Path) -> None:
    dest = tmp_path / "out"
    dest.mkdir()
    with pytest.raises(ArchiveLimitError):
        extract(hand_bag_tar(tmp_path), dest, max_files=1)
    assert_clean(dest, was_empty_dir=True)


def test_refuses_non_empty_dest(tmp_path: Path) -> None:
    dest = tmp_path / "out"
    dest.mkdir()
    (dest / "keep").write_text("mine")
    with pytest.raises(DestinationError, match="not empty"):
        extract(hand_bag_tar(tmp_path), dest)
    assert (dest / "keep").read_text() == "mine"


def test_errors_are_typed() -> None:
    for error in (
        SourceError,
        BagInfoError,
        UnsafeArchiveError,
        BagValidationError,
        ArchiveLimitError,
        ArchiveFormatError,
        DestinationError,
    ):
        assert issubclass(error, BagError) and issubclass(error, CryptoError)


# --------------------------------------------------------------------------- refusals: sealing


def test_refuses_symlink_source(tmp_path: Path) -> None:
    (tmp_path / "real.txt").write_text("x")
    (tmp_path / "link.txt").symlink_to(tmp_path / "real.txt")
    with pytest.raises(SourceError, match=re.escape("link.txt is a symbolic link")):
        write_bag_tar(io.BytesIO(), [tmp_path / "link.txt"], bag_info=info())


def test_refuses_symlink_inside_source_dir(tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "sub" / "escape").symlink_to("/etc/passwd")
    out = io.BytesIO()
    with pytest.raises(SourceError, match="escape is a symbolic link"):
        write_bag_tar(out, [src], bag_info=info())
    assert out.getvalue() == b""  # refused before anything was written


def test_refuses_fifo_source(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    os.mkfifo(src / "pipe")
    with pytest.raises(SourceError, match="not a regular file"):
        write_bag_tar(io.BytesIO(), [src], bag_info=info())


def test_refuses_duplicate_target_names(tmp_path: Path) -> None:
    for d in ("one", "two"):
        (tmp_path / d).mkdir()
        (tmp_path / d / "same.txt").write_text(d)
    with pytest.raises(SourceError, match="duplicate name"):
        write_bag_tar(
            io.BytesIO(),
            [tmp_path / "one" / "same.txt", tmp_path / "two" / "same.txt"],
            bag_info=info(),
        )


def test_refuses_case_colliding_names(tmp_path: Path) -> None:
    (tmp_path / "A.txt").write_text("a")
    (tmp_path / "a.txt").write_text("b")
    with pytest.raises(SourceError, match="differ only in letter case"):
        write_bag_tar(io.BytesIO(), [tmp_path / "A.txt", tmp_path / "a.txt"], bag_info=info())


def test_refuses_missing_source(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="no such file"):
        write_bag_tar(io.BytesIO(), [tmp_path / "nope"], bag_info=info())


@pytest.mark.parametrize("change", ["shrink", "grow"])
@pytest.mark.parametrize("size", [200_000, 24 * 1024 * 1024], ids=["inline", "prefetched"])
def test_refuses_file_changed_while_sealing(tmp_path: Path, change: str, size: int) -> None:
    victim = tmp_path / "victim.bin"
    victim.write_bytes(b"v" * size)

    def tamper(done: int) -> None:
        with victim.open("r+b") as f:
            if change == "shrink":
                f.truncate(10)
            else:
                f.seek(0, os.SEEK_END)
                f.write(b"more")

    with pytest.raises(SourceError, match=re.escape("victim.bin: file changed while sealing")):
        write_bag_tar(io.BytesIO(), [victim], bag_info=info(), on_progress=tamper)


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"package_id": "../x"}, "package id"),
        ({"package_id": ""}, "package id"),
        ({"sealed_at": datetime(2025, 1, 1)}, "timezone-aware"),
        ({"producer": "a\nb"}, "line breaks"),
        ({"extra": {"Payload-Oxum": "1.1"}}, "set by the sealer"),
        ({"extra": {"MLA-Package-Id": "x"}}, "set by the sealer"),
        ({"extra": {"Bad:Label": "x"}}, "not a valid label"),
        ({"extra": {"Note": " padded"}}, "whitespace"),
    ],
)
def test_refuses_bad_bag_info(kwargs: dict[str, Any], needle: str) -> None:
    with pytest.raises(BagInfoError, match=needle):
        info(**kwargs)


def test_sealed_at_is_converted_to_utc(tmp_path: Path) -> None:
    src = tmp_path / "f.txt"
    src.write_text("f")
    local = SEALED_AT.astimezone(timezone(timedelta(hours=7)))
    seal(tmp_path, [src], info(sealed_at=local, request_id=None, extra={"Contact-Name": "Ana"}))
    bag = extract(tmp_path / "pkg.tar", tmp_path / "out")
    assert bag.info("MLA-Sealed-At") == "2025-03-04T05:06:07Z"
    assert bag.info("MLA-Request-Id") is None
    assert bag.bag_info["Contact-Name"] == ("Ana",)


# --------------------------------------------------------------------------- validate_bag_dir


def test_validate_bag_dir_refuses_symlink_in_bag(tmp_path: Path) -> None:
    bag = tmp_path / "B"
    write_hand_bag(bag, {"a.txt": b"a"})
    (bag / "data" / "l").symlink_to("/etc/passwd")
    with pytest.raises(BagValidationError, match="data/l: is a symbolic link"):
        validate_bag_dir(bag)


def test_validate_bag_dir_reports_every_problem(tmp_path: Path) -> None:
    bag = tmp_path / "B"
    write_hand_bag(bag, {"a.txt": b"a", "b.txt": b"b"}, oxum="1.1")
    (bag / "data" / "a.txt").write_bytes(b"A")
    (bag / "data" / "new.txt").write_bytes(b"n")
    with pytest.raises(BagValidationError) as caught:
        validate_bag_dir(bag)
    problems = caught.value.problems
    assert any(p.startswith("data/a.txt: sha256 mismatch") for p in problems)
    assert any(p.startswith("data/new.txt: payload file not listed") for p in problems)
    assert any("Payload-Oxum mismatch" for p in problems)
    assert "3 problems" in str(caught.value)


def test_validate_bag_dir_refuses_unsupported_version(tmp_path: Path) -> None:
    bag = tmp_path / "B"
    write_hand_bag(bag, {"a.txt": b"a"}, version="2.0")
    with pytest.raises(BagValidationError, match=re.escape("unsupported BagIt-Version '2.0'")):
        validate_bag_dir(bag)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_corrupted_archives_fail_only_with_typed_errors(data: st.DataObject) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "f.txt").write_bytes(b"payload\n" * 10)
        buf = io.BytesIO()
        write_bag_tar(buf, [root / "f.txt"], bag_info=info())
        blob = bytearray(buf.getvalue())
        for _ in range(data.draw(st.integers(1, 4))):
            at = data.draw(st.integers(0, len(blob) - 1))
            blob[at] = data.draw(st.integers(0, 255))
        cut = data.draw(st.one_of(st.none(), st.integers(0, len(blob))))
        dest = root / "out"
        try:
            extract_bag_tar(
                io.BytesIO(bytes(blob[:cut])), dest, max_total_bytes=10**6, max_files=50
            )
        except BagError:
            assert_clean(dest)
