"""Sealing: `write_bag_tar` streams a PAX tar holding one bag directory.

Payload files are hashed as tarfile copies them, so memory use is constant in file sizes (it
grows only with the number of files); a file that changes while it is sealed is refused.
"""

from __future__ import annotations

import hashlib
import io
import os
import stat
import tarfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, cast

from ._files import _O_BINARY, _O_CLOEXEC, _O_NOFOLLOW, ProgressCallback, _progress_counter
from ._info import BagInfo, _bag_size
from ._manifest import BAGIT_TXT, BagManifest, ManifestEntry, encode_manifest_path
from ._paths import _check_component, _PathRegistry
from ._payload_reader import COPY_CHUNK, PayloadReader
from .errors import SourceError


@dataclass(frozen=True, slots=True)
class _PlanItem:
    source: Path
    target: str  # bag-relative, e.g. "data/dir/file.txt"
    is_dir: bool


def _plan_payload(sources: Sequence[Path]) -> list[_PlanItem]:
    """Walk the sources (no symlinks, no special files) into a list of payload targets."""
    plan: list[_PlanItem] = []
    registry = _PathRegistry()
    registry.add("data", is_dir=True)

    def add(item: _PlanItem) -> None:
        problem = registry.add(item.target, is_dir=item.is_dir)
        if problem:
            raise SourceError(f"duplicate name in the evidence: {problem} (from {item.source})")
        plan.append(item)

    for raw in sources:
        source = Path(raw)
        name = Path(os.path.abspath(source)).name
        _check_component(name, SourceError, f"source {source}: name")
        kind = _source_kind(source)
        if kind == "file":
            add(_PlanItem(source, f"data/{name}", is_dir=False))
            continue
        stack: list[tuple[Path, str]] = [(source, f"data/{name}")]
        while stack:
            directory, target = stack.pop()
            add(_PlanItem(directory, target, is_dir=True))
            try:
                with os.scandir(directory) as it:
                    children = sorted(it, key=lambda e: e.name)
            except OSError as exc:
                raise SourceError(f"cannot read directory {directory}: {exc.strerror}") from exc
            subdirs: list[tuple[Path, str]] = []
            for entry in children:
                child = Path(entry.path)
                _check_component(entry.name, SourceError, f"{child}: name")
                child_target = f"{target}/{entry.name}"
                if _source_kind(child) == "file":
                    add(_PlanItem(child, child_target, is_dir=False))
                else:
                    subdirs.append((child, child_target))
            stack.extend(reversed(subdirs))
    return plan


def _source_kind(path: Path) -> str:
    try:
        st = os.lstat(path)
    except FileNotFoundError as exc:
        raise SourceError(f"{path}: no such file or directory") from exc
    except OSError as exc:
        raise SourceError(f"{path}: cannot read ({exc.strerror})") from exc
    if stat.S_ISLNK(st.st_mode):
        raise SourceError(f"{path} is a symbolic link; symbolic links cannot be sealed")
    if stat.S_ISDIR(st.st_mode):
        return "dir"
    if stat.S_ISREG(st.st_mode):
        return "file"
    raise SourceError(f"{path} is not a regular file or directory (device, socket or FIFO)")


class _TarSink:
    """Unbuffered write target for tarfile: tarfile writes straight through to `out`.

    tarfile's own stream mode ("w|") re-buffers everything in 10 KiB records through bytes
    concatenation; writing directly (tarfile only needs `tell()` at start) is much faster and
    produces the same bytes, as TarFile.close() pads the archive to a full record itself.
    """

    def __init__(self, out: BinaryIO) -> None:
        self._out = out
        self._pos = 0

    def write(self, data: bytes) -> int:
        """Write all of `data` to `out`."""
        self._out.write(data)
        self._pos += len(data)
        return len(data)

    def tell(self) -> int:
        """Bytes written so far."""
        return self._pos


def _tarinfo(name: str, *, size: int = 0, mtime: int, is_dir: bool = False) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE if is_dir else tarfile.REGTYPE
    info.mode = 0o755 if is_dir else 0o644
    info.size = size
    info.mtime = mtime
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def _seal_file(
    tar: tarfile.TarFile, item: _PlanItem, member: str, progress: Callable[[int], None]
) -> ManifestEntry:
    try:
        planned = os.lstat(item.source)
        fd = os.open(item.source, os.O_RDONLY | _O_BINARY | _O_NOFOLLOW | _O_CLOEXEC)
    except OSError as exc:
        raise SourceError(f"{item.source}: cannot open ({exc.strerror})") from exc
    reader: PayloadReader | None = None
    try:
        before = os.fstat(fd)
        if not stat.S_ISREG(before.st_mode) or (before.st_dev, before.st_ino) != (
            planned.st_dev,
            planned.st_ino,
        ):
            raise SourceError(f"{item.source}: file changed while sealing (it was replaced)")
        reader = PayloadReader(fd, before.st_size, item.source, progress)
        # tarfile only len()s and writes what read() returns: a memoryview serves.
        tar.addfile(
            _tarinfo(member, size=before.st_size, mtime=int(before.st_mtime)), cast(Any, reader)
        )
        digest = reader.hexdigest()  # also stops the prefetching thread, which shares `fd`
        after = os.fstat(fd)
        if (
            reader.count != before.st_size
            or os.read(fd, 1)
            or after.st_size != before.st_size
            or after.st_mtime_ns != before.st_mtime_ns
        ):
            raise SourceError(
                f"{item.source}: file changed while sealing "
                f"(size or modification time differs from when it was measured)"
            )
    finally:
        if reader is not None:
            reader.close()
        os.close(fd)
    return ManifestEntry(item.target, digest, reader.count)


def write_bag_tar(
    out: BinaryIO,
    sources: Sequence[Path],
    *,
    bag_info: BagInfo,
    on_progress: ProgressCallback | None = None,
) -> BagManifest:
    """Stream a PAX tar of a BagIt bag of `sources` to `out`; on error `out` is unusable."""
    plan = _plan_payload(sources)
    bag = bag_info.package_id
    mtime = int(bag_info.sealed_at.timestamp())
    progress = _progress_counter(on_progress)

    payload: list[ManifestEntry] = []
    sink: BinaryIO = _TarSink(out)  # type: ignore[assignment]
    with tarfile.TarFile(
        fileobj=sink, mode="w", format=tarfile.PAX_FORMAT, copybufsize=COPY_CHUNK
    ) as tar:
        tar.addfile(_tarinfo(bag, mtime=mtime, is_dir=True))
        tar.addfile(
            _tarinfo(f"{bag}/bagit.txt", size=len(BAGIT_TXT), mtime=mtime), io.BytesIO(BAGIT_TXT)
        )
        tar.addfile(_tarinfo(f"{bag}/data", mtime=mtime, is_dir=True))
        for item in plan:
            member = f"{bag}/{item.target}"
            if item.is_dir:
                tar.addfile(_tarinfo(member, mtime=mtime, is_dir=True))
            else:
                payload.append(_seal_file(tar, item, member, progress))

        octets = sum(e.size for e in payload)
        oxum = f"{octets}.{len(payload)}"
        manifest = "".join(f"{e.sha256}  {encode_manifest_path(e.path)}\n" for e in payload)
        fields = [
            *bag_info.standard_fields(),
            ("Payload-Oxum", oxum),
            ("Bag-Size", _bag_size(octets)),
            *bag_info.extra.items(),
        ]
        info_text = "".join(f"{label}: {value}\n" for label, value in fields)
        tags: list[ManifestEntry] = []
        for name, data in (
            ("bagit.txt", BAGIT_TXT),
            ("manifest-sha256.txt", manifest.encode("utf-8")),
            ("bag-info.txt", info_text.encode("utf-8")),
        ):
            if name != "bagit.txt":
                tar.addfile(
                    _tarinfo(f"{bag}/{name}", size=len(data), mtime=mtime), io.BytesIO(data)
                )
            tags.append(ManifestEntry(name, hashlib.sha256(data).hexdigest(), len(data)))
        tagmanifest = "".join(f"{e.sha256}  {e.path}\n" for e in tags).encode("utf-8")
        tar.addfile(
            _tarinfo(f"{bag}/tagmanifest-sha256.txt", size=len(tagmanifest), mtime=mtime),
            io.BytesIO(tagmanifest),
        )
    return BagManifest(bag, tuple(payload), oxum, tuple(tags))
