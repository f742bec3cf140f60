"""Hand-made tar archives for hostile-package tests, written block by block without tarfile.

tarfile refuses to write most of what a hostile sender would (sparse maps, chained long-name
headers, broken numbers), so these helpers build the 512-byte blocks themselves. Also the
measuring helpers the hostile tests share: elapsed time and peak memory of a call in-process
(tracemalloc), and of a command in a child process (wait4's rusage).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

BLOCK = 512
MIB = 1024 * 1024
BAGIT_TXT = b"BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n"


def _octal(value: int, width: int) -> bytes:
    return f"{value:0{width - 1}o}".encode() + b"\0"


def header(
    name: str | bytes,
    kind: bytes = b"0",
    size: int = 0,
    *,
    size_field: bytes | None = None,
    extra: dict[int, bytes] | None = None,
    magic: bytes = b"ustar\x0000",
    checksum: int | None = None,
) -> bytes:
    """One ustar header block; `extra` overwrites bytes at given offsets (before checksum)."""
    raw = name.encode() if isinstance(name, str) else name
    block = bytearray(BLOCK)
    block[0 : len(raw[:100])] = raw[:100]
    block[100:108] = _octal(0o755 if kind == b"5" else 0o644, 8)
    block[108:116] = _octal(0, 8)
    block[116:124] = _octal(0, 8)
    block[124:136] = size_field if size_field is not None else _octal(size, 12)
    block[136:148] = _octal(1_700_000_000, 12)
    block[156:157] = kind
    block[257 : 257 + len(magic)] = magic
    for at, data in (extra or {}).items():
        block[at : at + len(data)] = data
    block[148:156] = b" " * 8
    total = sum(block) if checksum is None else checksum
    block[148:156] = f"{total:06o}".encode() + b"\0 "
    return bytes(block)


def pad(data: bytes) -> bytes:
    """Data followed by NULs up to the next whole block."""
    return data + bytes(-len(data) % BLOCK)


def member(name: str, data: bytes | None = None) -> bytes:
    """A directory (data None) or regular file member, header and padded data.

    A name over ustar's 100 bytes goes in a PAX `path` record in front.
    """
    long = pax(pax_record("path", name)) if len(name.encode()) > 100 else b""
    if data is None:
        return long + header(name, b"5")
    return long + header(name, b"0", len(data)) + pad(data)


def pax_record(key: str, value: str | bytes) -> bytes:
    """One PAX record, `"<length> <key>=<value>\\n"`, its length counting itself."""
    body = f" {key}=".encode() + (value.encode() if isinstance(value, str) else value) + b"\n"
    length = len(body) + 1
    while len(str(length)) + len(body) != length:
        length += 1
    return str(length).encode() + body


def pax(records: bytes, kind: bytes = b"x", name: str = "PaxHeader") -> bytes:
    """An extended header (PAX `x`/`g`, GNU `L`/`K`) carrying `records` as its data."""
    return header(name, kind, len(records)) + pad(records)


def end() -> bytes:
    """The end-of-archive marker: two zero blocks."""
    return bytes(2 * BLOCK)


def tag_files(
    root: str,
    files: dict[str, bytes],
    *,
    info: bytes | None = None,
    algorithm: str = "sha256",
    tag_algorithm: str | None = "sha256",
    unlisted: tuple[str, ...] = (),
) -> bytes:
    """bagit.txt, manifest, bag-info and tag manifest members for `files` (paths under data/).

    `tag_algorithm` None leaves the tag manifest out; `unlisted` tag files are left out of it.
    """

    def digest(alg: str, content: bytes) -> str:
        return hashlib.new(alg, content).hexdigest()

    manifest = "".join(f"{digest(algorithm, c)}  data/{p}\n" for p, c in files.items())
    tags = {"bagit.txt": BAGIT_TXT, f"manifest-{algorithm}.txt": manifest.encode()}
    if info is not None:
        tags["bag-info.txt"] = info
    if tag_algorithm is not None:
        lines = "".join(
            f"{digest(tag_algorithm, c)}  {n}\n" for n, c in tags.items() if n not in unlisted
        )
        tags[f"tagmanifest-{tag_algorithm}.txt"] = lines.encode()
    return b"".join(member(f"{root}{n}", c) for n, c in tags.items())


def bag(root: str = "BAG/", files: dict[str, bytes] | None = None, **kw: object) -> bytes:
    """A complete bag archive (`root` "" puts the bag at the archive root); `kw` as tag_files."""
    files = {"x.txt": b"evidence\n"} if files is None else files
    body = b"".join(member(f"{root}data/{p}", c) for p, c in files.items())
    top = member(root) if root else b""
    tags = tag_files(root, files, **kw)  # type: ignore[arg-type]
    return top + member(f"{root}data") + body + tags + end()


@dataclass
class Cost:
    """What a measured call or command cost."""

    seconds: float
    peak_bytes: int


@contextlib.contextmanager
def measured() -> Iterator[Cost]:
    """Measure the block's wall time and peak Python allocation (tracemalloc)."""
    cost = Cost(0.0, 0)
    tracemalloc.start()
    start = time.perf_counter()
    try:
        yield cost
    finally:
        cost.seconds = time.perf_counter() - start
        cost.peak_bytes = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()


@dataclass
class Run:
    """A finished child `mla` process: exit code, output, time and peak resident memory."""

    code: int
    stdout: str
    stderr: str
    seconds: float
    max_rss_bytes: int


#: Runs `mla` as its own child and reports that child's peak RSS. Why the middle process:
#: Linux counts the RSS a process had before execve in its ru_maxrss, so a child forked
#: straight from pytest (which may hold a crafted 100 MB package) would report pytest's size.
_LAUNCHER = """
import os, sys
code = "import sys; from mla_tracker.cli.main import main; sys.argv[0] = 'mla'; main()"
pid = os.posix_spawn(sys.executable, [sys.executable, "-c", code, *sys.argv[2:]], os.environ)
_, status, usage = os.wait4(pid, 0)
with open(sys.argv[1], "w") as f:
    f.write(str(usage.ru_maxrss * 1024))
sys.exit(os.waitstatus_to_exitcode(status))
"""


def run_mla(args: list[str], tmp: Path, timeout: float = 120) -> Run:
    """Run `mla ARGS` in a child process and measure that process alone."""
    out, err, rss = tmp / "mla.stdout", tmp / "mla.stderr", tmp / "mla.maxrss"
    start = time.perf_counter()
    with out.open("wb") as fo, err.open("wb") as fe:
        proc = subprocess.run(
            [sys.executable, "-c", _LAUNCHER, str(rss), *args],
            stdout=fo,
            stderr=fe,
            timeout=timeout,
            check=False,
        )
    elapsed = time.perf_counter() - start
    return Run(
        code=proc.returncode,
        stdout=out.read_text(errors="replace"),
        stderr=err.read_text(errors="replace"),
        seconds=elapsed,
        max_rss_bytes=int(rss.read_text()),
    )


def leftovers(dest: Path) -> list[str]:
    """Anything a refused open left: at `dest` itself, or partial work folders beside it."""
    found = [p.name for p in dest.parent.iterdir() if ".partial-" in p.name]
    if dest.is_dir():
        found += [f"{dest.name}/{p.name}" for p in dest.iterdir()]
    elif os.path.lexists(dest):
        found.append(dest.name)
    return found
