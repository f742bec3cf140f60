"""Issue 12: tars crafted by a hostile sender are refused typed, bounded, leaving nothing.

Each archive is built block by block (tests/tar_craft.py). Every refusal is checked for its
error type and message, a time and peak-memory bound (generous for a slow CI machine, yet far
below what the unfixed code spent), and that no partial folder is left beside the destination.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from mla_tracker.evidence.bagit import (
    ArchiveFormatError,
    ArchiveLimitError,
    BagError,
    BagValidationError,
    UnsafeArchiveError,
    ValidatedBag,
    extract_bag_tar,
)
from tests.tar_craft import (
    BAGIT_TXT,
    MIB,
    bag,
    end,
    header,
    leftovers,
    measured,
    member,
    pad,
    pax,
    pax_record,
    tag_files,
)

PREFIX = member("BAG/") + member("BAG/bagit.txt", BAGIT_TXT) + member("BAG/data/")


def refuse(
    data: bytes,
    tmp_path: Path,
    error: type[BagError],
    *needles: str,
    max_files: int = 1000,
    seconds: float = 10.0,
    mib: float = 16,
) -> BagError:
    """Extraction fails with `error` naming every needle, within bounds, leaving nothing.

    The time bound catches a hang or a blow-up (quadratic work, unbounded recursion), not a
    speed goal: on a loaded 2-core CI machine a 5 s bound failed at 5.01 s, so the bounds
    are generous (speed lives in bench/).
    """
    dest = tmp_path / "out"
    with measured() as cost, pytest.raises(error) as caught:
        extract_bag_tar(io.BytesIO(data), dest, max_total_bytes=1 << 40, max_files=max_files)
    message = str(caught.value)
    for needle in needles:
        assert needle in message, message
    assert cost.seconds < seconds, f"took {cost.seconds:.2f} s"
    assert cost.peak_bytes < mib * MIB, f"peak {cost.peak_bytes / MIB:.1f} MiB"
    assert leftovers(dest) == []
    return caught.value


def opens(data: bytes, tmp_path: Path, name: str = "out") -> ValidatedBag:
    """Extraction succeeds."""
    return extract_bag_tar(io.BytesIO(data), tmp_path / name, max_total_bytes=1 << 40, max_files=99)


# --------------------------------------------------------------------------- folders, cleanup


def test_implicit_folders_count_against_max_files(tmp_path: Path) -> None:
    """Deep paths create folders without naming them: each one counts (was 100,000 made)."""
    deep = "/".join(["d"] * 600)
    data = PREFIX + b"".join(
        pax(pax_record("path", f"BAG/data/{i}/{deep}/f")) + member(f"BAG/data/f{i}", b"x")
        for i in range(50)
    )
    refuse(data + end(), tmp_path, ArchiveLimitError, "more than 200 folders", max_files=200)


def test_cleanup_of_a_deep_tree_is_not_recursive(tmp_path: Path) -> None:
    """1,500 nested folders, then a refusal: the tree is removed (was RecursionError)."""
    deep = "/".join(["d"] * 1500)
    data = PREFIX + pax(pax_record("path", f"BAG/data/{deep}/f")) + member("BAG/data/f", b"x")
    error = refuse(
        data + end(),
        tmp_path,
        BagValidationError,
        "no payload manifest",
        max_files=2000,
        seconds=30,
    )
    assert "RecursionError" not in repr(error.__context__)


# --------------------------------------------------------------------------- extended headers


def test_sparse_map_is_not_read(tmp_path: Path) -> None:
    """A PAX 1.0 sparse member with a 40 MB map in its data: refused before reading it."""
    records = b"".join(
        pax_record(k, v)
        for k, v in [
            ("GNU.sparse.major", "1"),
            ("GNU.sparse.minor", "0"),
            ("GNU.sparse.name", "BAG/data/s"),
            ("GNU.sparse.realsize", str(1 << 40)),
        ]
    )
    sparse_map = b"2000000\n" + b"1\n1\n" * 10_000_000
    data = PREFIX + pax(records) + member("BAG/data/GNUSparseFile.0/s", sparse_map) + end()
    refuse(data, tmp_path, UnsafeArchiveError, "BAG/data/s", "sparse file", mib=4)


@pytest.mark.parametrize(
    "records",
    [
        [("GNU.sparse.size", "not a number"), ("GNU.sparse.map", "0,1")],
        [("GNU.sparse.size", "1"), ("GNU.sparse.map", "x,y,z")],
        [("GNU.sparse.numblocks", "99999999999999999999999")],
    ],
)
def test_pax_sparse_with_bad_numbers_is_refused_typed(
    tmp_path: Path, records: list[tuple[str, str]]
) -> None:
    """tarfile raised ValueError on these; the sparse keys alone refuse them now."""
    data = PREFIX + pax(b"".join(pax_record(k, v) for k, v in records))
    data += member("BAG/data/s", b"x") + end()
    refuse(data, tmp_path, UnsafeArchiveError, "BAG/data/s", "sparse file")


def test_old_gnu_sparse_header_at_end_of_stream(tmp_path: Path) -> None:
    """Type S with its 'extended' flag set and no extension block (was IndexError)."""
    data = PREFIX + header("BAG/data/s", b"S", 10, extra={482: b"\x01"}, magic=b"ustar  \0")
    refuse(data, tmp_path, UnsafeArchiveError, "BAG/data/s", "sparse file")


def test_all_digit_pax_record_is_linear(tmp_path: Path) -> None:
    """A 64 KiB record of digits took ~7 s in tarfile's regular expression (CVE-2024-6232)."""
    data = PREFIX + pax(b"9" * 65_000) + member("BAG/data/f", b"x") + end()
    refuse(data, tmp_path, ArchiveFormatError, "PAX record", seconds=5)


def test_many_small_pax_records_are_capped(tmp_path: Path) -> None:
    """10,000 tiny records in one 64 KiB header: refused, not interpreted one by one."""
    data = PREFIX + pax(pax_record("a", "b") * 10_000) + member("BAG/data/f", b"x") + end()
    refuse(data, tmp_path, ArchiveLimitError, "more than 256 records", seconds=5)


@pytest.mark.parametrize("kind", [b"x", b"L"])
def test_chained_extended_headers_are_capped(tmp_path: Path, kind: bytes) -> None:
    """400 chained PAX or GNU long-name headers (tarfile: RecursionError; six: 37 s)."""
    one = pax(pax_record("path", "BAG/data/f") if kind == b"x" else b"BAG/data/f\0", kind)
    data = PREFIX + one * 400 + member("BAG/data/f", b"x") + end()
    refuse(data, tmp_path, ArchiveLimitError, "more than 4 extended headers in front of one")


def test_extended_headers_are_capped_per_archive_in_number(tmp_path: Path) -> None:
    """Extended headers on members that create nothing ("./") still count."""
    data = PREFIX + (pax(pax_record("comment", "c")) + member("./")) * 200 + end()
    refuse(data, tmp_path, ArchiveLimitError, "more than 84 extended headers", max_files=10)


def test_extended_headers_are_capped_per_archive_in_bytes(tmp_path: Path) -> None:
    """... and in bytes: 8 KiB per allowed file (plus slack)."""
    big = pax(pax_record("comment", "c" * 60_000))
    data = PREFIX + (big + member("./")) * 20 + end()
    refuse(data, tmp_path, ArchiveLimitError, "bytes of extended headers", max_files=2)


def test_oversized_extended_header_message(tmp_path: Path) -> None:
    """The fixed 64 KiB bound says so; it no longer suggests an option (see the CLI)."""
    data = PREFIX + pax(pax_record("comment", "c" * 70_000)) + member("BAG/data/f", b"x")
    error = refuse(data + end(), tmp_path, ArchiveLimitError, "extended header of 70", "65536")
    assert isinstance(error, ArchiveLimitError) and error.option is None


# --------------------------------------------------------------------------- broken headers


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        (header("BAG/data/f", size_field=b"12x4\0\0\0\0\0\0\0\0"), "size is not a number"),
        (header("BAG/data/f", size_field=b"\xff" * 12), "negative member size"),
        (header("BAG/data/f", checksum=1), "bad header checksum"),
        (pax(pax_record("size", "-1")) + member("BAG/data/f", b"x"), "size is not a number"),
        (pax(pax_record("mtime", "1e999")) + member("BAG/data/f", b"x"), "mtime is not"),
        (pax(b"4 a=\n"), "malformed PAX record"),
        (pax(b"30 path=BAG/data/f\n"), "malformed PAX record"),
        (pax(b"12 \xff\xfe=value\n"), "key is not UTF-8"),
        (pax(pax_record("path", "BAG/data/f")) + end(), "extended header of no member"),
        (header("BAG/data/L", b"L", 5000), "truncated inside an extended header"),
        (header("BAG/data/f", b"5", 10), "has data"),
        (header("BAG/data/f", b"0", 10)[:300], "truncated"),
    ],
)
def test_broken_headers_are_format_errors(tmp_path: Path, data: bytes, needle: str) -> None:
    """What tarfile let escape as ValueError or IndexError is an ArchiveFormatError."""
    refuse(PREFIX + data + end(), tmp_path, ArchiveFormatError, needle)


def test_gnu_base256_size_and_long_names_parse(tmp_path: Path) -> None:
    """Valid but unusual: base-256 size, a GNU long name and a ustar prefix all open."""
    payload = b"long\n"
    long_name = "BAG/data/" + "n" * 150
    size256 = b"\x80" + len(payload).to_bytes(11, "big")
    prefixed = header("p.txt", b"0", 2, extra={345: b"BAG/data"})
    data = (
        member("BAG/")
        + member("BAG/data/")
        + pax(long_name.encode() + b"\0", b"L", "././@LongLink")
        + header("ignored", b"0", size_field=size256)
        + pad(payload)
        + prefixed
        + pad(b"p\n")
        + tag_files("BAG/", {"n" * 150: payload, "p.txt": b"p\n"})
        + end()
    )
    bag_ = opens(data, tmp_path)
    assert (bag_.path / "data" / ("n" * 150)).read_bytes() == payload
    assert (bag_.path / "data" / "p.txt").read_bytes() == b"p\n"


# --------------------------------------------------------------------------- bag checks


def test_bag_without_tag_manifest_is_refused(tmp_path: Path) -> None:
    """bagit.txt and bag-info.txt would be unprotected."""
    data = bag(tag_algorithm=None)
    refuse(data, tmp_path, BagValidationError, "no tag manifest with a strong checksum")


def test_bag_with_only_md5_manifests_is_refused(tmp_path: Path) -> None:
    """md5 collides: it does not protect a payload against the one who made the bag."""
    data = bag(algorithm="md5")
    refuse(data, tmp_path, BagValidationError, "no payload manifest with a strong checksum")


def test_tag_manifest_must_cover_the_manifests(tmp_path: Path) -> None:
    """A tag manifest that leaves the payload manifest out protects nothing that matters."""
    data = bag(info=b"Source-Organization: X\n", unlisted=("manifest-sha256.txt",))
    refuse(data, tmp_path, BagValidationError, "manifest-sha256.txt: tag file not listed")


@pytest.mark.parametrize("root", ["", "./"])
def test_bag_at_the_archive_root_opens(tmp_path: Path, root: str) -> None:
    """No top-level folder: the archive itself is the bag (was "bag directory is a file")."""
    opened = opens(bag(root, info=b"Source-Organization: Root\n"), tmp_path, "received")
    assert opened.name == "received" and opened.info("Source-Organization") == "Root"
    assert (tmp_path / "received" / "data" / "x.txt").read_bytes() == b"evidence\n"
    assert [p.name for p in tmp_path.iterdir()] == ["received"]


def test_bag_at_the_root_in_any_member_order(tmp_path: Path) -> None:
    """tar -C bag . lists in directory order: data/ may come before bagit.txt."""
    files = {"x.txt": b"evidence\n"}
    data = member("./data/") + member("./data/x.txt", b"evidence\n") + tag_files("./", files)
    assert [e.path for e in opens(data + end(), tmp_path).payload] == ["data/x.txt"]


def test_two_top_level_folders_are_refused(tmp_path: Path) -> None:
    """Still exactly one bag: a second top-level folder (and no root bag) is refused."""
    data = bag()[: -2 * 512] + member("OTHER/x", b"x") + end()
    refuse(data, tmp_path, UnsafeArchiveError, "OTHER/x", "outside the bag directory BAG")
