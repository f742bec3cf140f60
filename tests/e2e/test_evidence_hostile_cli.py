"""Issue 12 through `mla evidence open`: hostile packages refused cleanly, bounded, escaped.

The bounded cases run `mla` in a child process and measure that process alone (time, peak
RSS from wait4): the unfixed code spent 22 s and 366 MB on the deep-folder package and left a
traceback and half a bag after a wrong --expect-sha256.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

from click.testing import CliRunner

from mla_tracker.cli.main import cli
from mla_tracker.crypto.age import HybridIdentity, X25519Identity, encrypt
from mla_tracker.evidence.bagit._cleanup import remove_tree
from tests.tar_craft import (
    MIB,
    bag,
    end,
    leftovers,
    member,
    pax,
    pax_record,
    run_mla,
)

#: Peak RSS allowed for a refused open: the interpreter, click, cryptography and the fixed
#: pipeline buffers take ~60 MiB; the unfixed deep-folder case took 366 MB.
RSS_BOUND = 160 * MIB


def package(tmp_path: Path, plaintext: bytes) -> tuple[Path, Path]:
    """Encrypt `plaintext` (a tar) for a fresh identity: (package path, identity file)."""
    ident = X25519Identity.generate()
    key = tmp_path / "age.key"
    key.write_text(ident.to_string() + "\n")
    pkg = tmp_path / "pkg.age"
    with pkg.open("wb") as out:
        encrypt([ident.recipient()], io.BytesIO(plaintext), out)
    return pkg, key


def test_deep_folders_refused_by_max_files_in_bounds(tmp_path: Path) -> None:
    """574 KB of deep paths made 100,000 folders under --max-files 200; now refused."""
    deep = "/".join(["d"] * 1000)
    plaintext = member("BAG/") + member("BAG/data/")
    plaintext += b"".join(
        pax(pax_record("path", f"BAG/data/{i}/{deep}/f")) + member(f"BAG/data/f{i}", b"x")
        for i in range(100)
    )
    pkg, key = package(tmp_path, plaintext + end())
    dest = tmp_path / "received"
    run = run_mla(
        ["evidence", "open", "-i", str(key), "-o", str(dest), "--max-files", "200", str(pkg)],
        tmp_path,
    )
    assert run.code == 1, run.stderr
    assert "more than 200 folders (the limit) (raise --max-files if you trust it)" in run.stderr
    assert "Traceback" not in run.stderr
    assert run.seconds < 10, run.seconds
    assert run.max_rss_bytes < RSS_BOUND, run.max_rss_bytes / MIB
    assert leftovers(dest) == []


def test_wrong_expect_sha256_on_a_deep_bag_leaves_nothing(tmp_path: Path) -> None:
    """A valid bag 1,500 folders deep and a wrong digest: the mismatch, nothing left."""
    deep = "/".join(["d"] * 1500)
    pkg, key = package(tmp_path, bag(files={f"{deep}/f.txt": b"deep\n"}))
    dest = tmp_path / "received"
    dest.mkdir()  # an empty folder given as -o stays, empty
    wrong = "ab" * 32
    run = run_mla(
        ["evidence", "open", "-i", str(key), "-o", str(dest), "--expect-sha256", wrong, str(pkg)],
        tmp_path,
    )
    actual = hashlib.sha256(pkg.read_bytes()).hexdigest()
    assert run.code == 1, run.stderr
    assert f"ciphertext sha256 mismatch: expected {'ab' * 32}, package has {actual}" in run.stderr
    assert "Traceback" not in run.stderr
    assert run.seconds < 20, run.seconds
    assert run.max_rss_bytes < RSS_BOUND, run.max_rss_bytes / MIB
    assert dest.is_dir() and leftovers(dest) == []
    # The same package with the right digest opens: the refusal was about the digest.
    ok = run_mla(
        ["evidence", "open", "-i", str(key), "-o", str(dest), "--expect-sha256", actual, str(pkg)],
        tmp_path,
    )
    try:
        assert ok.code == 0, ok.stderr
        assert (dest / "data" / deep / "f.txt").read_bytes() == b"deep\n"
    finally:
        remove_tree(dest)  # pytest's own clean-up of old tmp dirs recurses (RecursionError)


def test_sparse_map_package_refused_in_bounds(tmp_path: Path) -> None:
    """A 40 MB PAX sparse map took 1.07 GB before "is a sparse file"."""
    records = pax_record("GNU.sparse.major", "1") + pax_record("GNU.sparse.minor", "0")
    sparse_map = b"2000000\n" + b"1\n1\n" * 10_000_000
    plaintext = member("BAG/") + pax(records) + member("BAG/data/s", sparse_map) + end()
    pkg, key = package(tmp_path, plaintext)
    dest = tmp_path / "received"
    run = run_mla(["evidence", "open", "-i", str(key), "-o", str(dest), str(pkg)], tmp_path)
    assert run.code == 1, run.stderr
    assert "package refused: unsafe archive member BAG/data/s: is a sparse file" in run.stderr
    assert run.seconds < 10 and run.max_rss_bytes < RSS_BOUND, (run.seconds, run.max_rss_bytes)
    assert leftovers(dest) == []


def test_bag_info_values_are_escaped(tmp_path: Path) -> None:
    """Clear screen, a window title, colours and U+202E in bag-info never reach the terminal."""
    info = (
        "Source-Organization: \x1b[2J\x1b[H cleared\n"
        "Contact-Name: \x1b]0;owned\x07 title\n"
        "External-Description: \x1b[31mred\x1b[0m and \u202etxt.exe\n"
        "X-\x1b[1mLabel: bold label\n"
    ).encode()
    pkg, key = package(tmp_path, bag(info=info))
    result = CliRunner().invoke(
        cli, ["evidence", "open", "-i", str(key), "-o", str(tmp_path / "out"), str(pkg)]
    )
    assert result.exit_code == 0, result.output
    assert "\x1b" not in result.output and "\x07" not in result.output
    assert "\u202e" not in result.output
    assert "Source-Organization: '\\x1b[2J\\x1b[H cleared'" in result.output
    assert "'\\u202etxt.exe" not in result.output  # the whole value is escaped, not a part
    assert "\\u202etxt.exe'" in result.output
    assert "'X-\\x1b[1mLabel': bold label" in result.output


def test_oversized_header_message_suggests_no_option(tmp_path: Path) -> None:
    """The 64 KiB extended-header bound is fixed: no "raise --max-bytes" advice."""
    huge = pax(pax_record("comment", "c" * 70_000))
    pkg, key = package(tmp_path, member("BAG/") + huge + member("BAG/x", b"x") + end())
    dest = tmp_path / "received"
    args = ["evidence", "open", "-i", str(key), "-o", str(dest), str(pkg)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1
    assert "package refused: archive has an extended header of 70" in result.output
    assert "--max-bytes" not in result.output and "--max-files" not in result.output
    assert leftovers(dest) == []


def test_seal_refuses_mixing_x25519_and_hybrid(tmp_path: Path) -> None:
    """Issue 12, age: one X25519 recipient would void the hybrid's post-quantum protection."""
    (tmp_path / "e.txt").write_text("evidence\n")
    x = X25519Identity.generate().recipient().to_string()
    pq = HybridIdentity.generate().recipient().to_string()
    out = tmp_path / "p.age"
    args = ["evidence", "seal", "-r", x, "-r", pq, "-o", str(out), str(tmp_path / "e.txt")]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1, result.output
    assert "cannot encrypt to post-quantum (age1pq1…) and classical X25519" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["e.txt"]  # no package, no temp file
