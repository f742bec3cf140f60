"""Streaming safe extraction: `extract_bag_tar` unpacks a tar holding one bag.

The tar is streamed into a private temporary directory next to the destination, refusing
anything unsafe (links, devices, escaping or colliding names, oversized headers, trailing
data), the bag is validated and only then renamed into place. Memory use is constant in file
sizes (it grows only with the number of files, bounded by `max_files`).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import shutil
import tarfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, BinaryIO, Self

from ._files import (
    _CHUNK,
    _O_BINARY,
    _O_CLOEXEC,
    _O_NOFOLLOW,
    ProgressCallback,
    _progress_counter,
)
from ._manifest import ManifestEntry
from ._paths import _check_component, _PathRegistry
from ._tar_stream import PayloadWriter, TarCursor
from ._validate import ValidatedBag, _validate
from .errors import (
    ArchiveFormatError,
    ArchiveLimitError,
    BagError,
    DestinationError,
    UnsafeArchiveError,
    _show,
)

_MAX_EXT_HEADER_BYTES = 64 * 1024  # one PAX / GNU long-name header; real ones are < 5 KiB
_MAX_PATH_BYTES = 4096
_MAX_TRAILING_BYTES = 1024 * 1024

# An all-zero header block: the end-of-archive marker (not in typeshed's tarfile).
_END_OF_ARCHIVE: type[Exception] = tarfile.EOFHeaderError  # type: ignore[attr-defined]
_REGULAR_TYPES = (tarfile.REGTYPE, tarfile.AREGTYPE, tarfile.CONTTYPE)
_EXT_HEADER_TYPES = (
    tarfile.XHDTYPE,
    tarfile.XGLTYPE,
    tarfile.SOLARIS_XHDTYPE,
    tarfile.GNUTYPE_LONGNAME,
    tarfile.GNUTYPE_LONGLINK,
    tarfile.GNUTYPE_SPARSE,
)
_TYPE_NAMES = {
    tarfile.SYMTYPE: "a symbolic link",
    tarfile.LNKTYPE: "a hard link",
    tarfile.CHRTYPE: "a character device",
    tarfile.BLKTYPE: "a block device",
    tarfile.FIFOTYPE: "a FIFO",
    tarfile.GNUTYPE_SPARSE: "a sparse file",
}


class _HeaderSource:
    """What tarfile's header parsing reads from: the cursor and the archive-wide state.

    `TarInfo.fromtarfile` and its `_proc_*` helpers (PAX and GNU long-name headers) use just
    these attributes of a TarFile, so tarfile's own header code parses ours.
    """

    encoding = "utf-8"
    errors = "surrogateescape"

    def __init__(self, cursor: TarCursor, max_ext_headers: int) -> None:
        self.fileobj = cursor
        self.offset = 0  # where the next header starts (set by the _proc_* helpers)
        self.pax_headers: dict[str, str] = {}
        self.ext_headers = 0
        self.max_ext_headers = max_ext_headers


class _SafeTarInfo(tarfile.TarInfo):
    """TarInfo that refuses oversized extended headers and archives without an end marker."""

    @classmethod
    def fromtarfile(cls, tf: tarfile.TarFile | _HeaderSource) -> Self:
        """Read the next header like tarfile does, with limits and truncation detection."""
        buf = tf.fileobj.read(tarfile.BLOCKSIZE)
        if not buf and tf.offset == 0:
            raise ArchiveFormatError("archive is empty")
        if len(buf) < tarfile.BLOCKSIZE:
            raise ArchiveFormatError(
                "archive is truncated (it ends without the tar end-of-archive marker)"
            )
        obj = cls.frombuf(buf, tf.encoding, tf.errors)
        obj.offset = tf.fileobj.tell() - tarfile.BLOCKSIZE
        if obj.type in _EXT_HEADER_TYPES:
            if obj.size > _MAX_EXT_HEADER_BYTES:
                raise ArchiveLimitError(
                    f"archive has an extended header of {obj.size} bytes "
                    f"(limit {_MAX_EXT_HEADER_BYTES})"
                )
            if isinstance(tf, _HeaderSource):
                tf.ext_headers += 1
                if tf.ext_headers > tf.max_ext_headers:
                    raise ArchiveLimitError("archive has too many extended headers")
        result: Self = obj._proc_member(tf)  # type: ignore[attr-defined]
        return result


def _member_path(member: tarfile.TarInfo) -> list[str]:
    """Split a member name into safe components, or raise UnsafeArchiveError."""
    name = member.name
    if "\0" in name:
        raise UnsafeArchiveError(name, "name contains a NUL character")
    try:
        encoded = name.encode("utf-8")
    except UnicodeEncodeError:
        raise UnsafeArchiveError(name, "name is not valid UTF-8") from None
    if len(encoded) > _MAX_PATH_BYTES:
        raise UnsafeArchiveError(name, f"name is longer than {_MAX_PATH_BYTES} bytes")
    if name.startswith("/") or (os.sep != "/" and name.startswith(os.sep)):
        raise UnsafeArchiveError(name, "absolute path")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    for part in parts:
        if part == "..":
            raise UnsafeArchiveError(name, "path contains '..'")
        try:
            _check_component(part, BagError, "component")
        except BagError as exc:
            raise UnsafeArchiveError(name, str(exc)) from None
    return parts


def _open_partial(dest: Path) -> Path:
    """Check `dest` is absent or an empty directory and create a private sibling work dir."""
    parent = dest.parent
    if not parent.is_dir():
        raise DestinationError(f"cannot extract to {dest}: {parent} is not a directory")
    if os.path.lexists(dest):
        if dest.is_symlink() or not dest.is_dir():
            raise DestinationError(f"cannot extract to {dest}: it exists and is not a directory")
        if any(dest.iterdir()):
            raise DestinationError(f"cannot extract to {dest}: directory is not empty")
    for _ in range(10):
        work = parent / f".{dest.name}.partial-{secrets.token_hex(8)}"
        try:
            os.mkdir(work, 0o700)
        except FileExistsError:
            continue
        except OSError as exc:
            raise DestinationError(f"cannot create a work directory in {parent}: {exc}") from exc
        return work
    raise DestinationError(f"cannot create a work directory in {parent}")  # pragma: no cover


def _next_member(source: _HeaderSource) -> tarfile.TarInfo | None:
    """The next member's header (PAX and long names applied), or None at the end marker."""
    try:
        return _SafeTarInfo.fromtarfile(source)
    except _END_OF_ARCHIVE:
        return None
    except tarfile.TarError as exc:  # header errors, bad PAX records
        raise ArchiveFormatError(f"archive is corrupt or truncated: {exc}") from exc


def _extract_members(
    src: BinaryIO,
    work: Path,
    *,
    max_total_bytes: int,
    max_files: int,
    progress: Callable[[int], None],
) -> tuple[str, dict[str, ManifestEntry]]:
    """Stream members into `work` (the bag root); return the bag name and every file's sha256."""
    written: dict[str, tuple[Any, int]] = {}  # rel -> (sha256 fed by the writer, size)
    registry = _PathRegistry()
    created_dirs: set[str] = {""}
    bag_name: str | None = None
    total = 0
    n_files = 0
    n_dirs = 0
    writer = PayloadWriter()
    cursor = TarCursor(src, writer)
    source = _HeaderSource(cursor, max_ext_headers=2 * max_files + 64)
    try:
        while (member := _next_member(source)) is not None:
            parts = _member_path(member)
            if not parts:
                if member.isdir():
                    continue
                raise UnsafeArchiveError(member.name, "not inside the bag directory")
            if bag_name is None:
                bag_name = parts[0]
            elif parts[0] != bag_name:
                raise UnsafeArchiveError(
                    member.name,
                    f"outside the bag directory {_show(bag_name)} "
                    "(an evidence archive holds exactly one bag)",
                )
            rel = "/".join(parts[1:])
            if member.type == tarfile.DIRTYPE and member.sparse is None:
                n_dirs += 1
                if n_dirs > max_files:
                    raise ArchiveLimitError(
                        f"archive has more than {max_files} directories (the limit)"
                    )
                if rel:
                    _register(registry, member.name, rel, is_dir=True)
                    _make_dirs(work, created_dirs, rel, member.name)
                continue
            if member.type not in _REGULAR_TYPES or member.sparse is not None:
                what = _TYPE_NAMES.get(member.type, f"of tar type {member.type!r}")
                if member.sparse is not None:
                    what = "a sparse file"
                if member.issym() or member.islnk():
                    what += f" (-> {_show(member.linkname)})"
                raise UnsafeArchiveError(
                    member.name,
                    f"is {what}; only regular files and directories are allowed",
                )
            if not rel:
                raise UnsafeArchiveError(member.name, "bag directory is a file")
            n_files += 1
            if n_files > max_files:
                raise ArchiveLimitError(f"archive has more than {max_files} files (the limit)")
            total += member.size
            if total > max_total_bytes:
                raise ArchiveLimitError(
                    f"archive content exceeds {max_total_bytes} bytes "
                    f"(limit reached at member {_show(member.name)})"
                )
            _register(registry, member.name, rel, is_dir=False)
            parent = rel.rpartition("/")[0]
            if parent:
                _make_dirs(work, created_dirs, parent, member.name)
            hasher = _extract_file(cursor, writer, member, work / rel, progress)
            written[rel] = (hasher, member.size)
            # The data is padded to whole 512-byte blocks before the next header.
            padding = source.offset - cursor.tell()
            if cursor.skip(padding) != padding:
                raise ArchiveFormatError(
                    f"archive is truncated after member {_show(member.name)} "
                    "(it ends without the tar end-of-archive marker)"
                )
        if bag_name is None:
            raise ArchiveFormatError("archive contains no bag")
        _drain(cursor)
    finally:
        cursor.close()  # first: the current batch's release must be queued before the stop
        writer.stop()
    writer.finish()  # raises the first write error, if any
    files = {
        rel: ManifestEntry(rel, hasher.hexdigest(), size) for rel, (hasher, size) in written.items()
    }
    return bag_name, files


def _register(registry: _PathRegistry, member: str, rel: str, *, is_dir: bool) -> None:
    problem = registry.add(rel, is_dir=is_dir)
    if problem:
        raise UnsafeArchiveError(member, problem)


def _make_dirs(work: Path, created: set[str], rel: str, member: str) -> None:
    parts = rel.split("/")
    for i in range(1, len(parts) + 1):
        prefix = "/".join(parts[:i])
        if prefix in created:
            continue
        try:
            os.mkdir(work / prefix, 0o755)
        except OSError as exc:
            raise UnsafeArchiveError(member, f"cannot create directory: {exc.strerror}") from exc
        created.add(prefix)


def _extract_file(
    cursor: TarCursor,
    writer: PayloadWriter,
    member: tarfile.TarInfo,
    target: Path,
    progress: Callable[[int], None],
) -> Any:
    """Queue the member's data to be hashed and written to a new file; return its sha256."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_BINARY | _O_NOFOLLOW | _O_CLOEXEC
    try:
        fd = os.open(target, flags, 0o644)
    except OSError as exc:
        raise UnsafeArchiveError(member.name, f"cannot create file: {exc.strerror}") from exc
    hasher = hashlib.sha256()
    try:
        left = member.size
        while left:
            data = cursor.view(left)
            if not data:
                raise ArchiveFormatError(f"archive is truncated inside member {_show(member.name)}")
            writer.write(fd, hasher, data)
            left -= len(data)
            progress(len(data))
    finally:
        writer.close_file(fd, member.mtime)
    return hasher


def _drain(cursor: TarCursor) -> None:
    """Read what follows the end-of-archive marker (so the outer layer sees EOF); must be NULs."""
    seen = 0
    while chunk := cursor.view(_CHUNK):
        seen += len(chunk)
        if seen > _MAX_TRAILING_BYTES or chunk.tobytes().count(0) != len(chunk):
            raise ArchiveFormatError("archive has unexpected data after its end-of-archive marker")


def extract_bag_tar(
    src: BinaryIO,
    dest: Path,
    *,
    max_total_bytes: int,
    max_files: int,
    on_progress: ProgressCallback | None = None,
) -> ValidatedBag:
    """Safely extract a tar holding one bag so `dest` becomes the bag root; validate it first."""
    dest = Path(dest)
    work = _open_partial(dest)
    progress = _progress_counter(on_progress)

    try:
        name, files = _extract_members(
            src, work, max_total_bytes=max_total_bytes, max_files=max_files, progress=progress
        )
        bag = _validate(work, name, files)
        existed = os.path.lexists(dest)
        if existed:
            os.rmdir(dest)  # checked empty above; rename over it is not portable
        try:
            os.rename(work, dest)
        except OSError as exc:
            if existed:
                with contextlib.suppress(OSError):
                    os.mkdir(dest)
            raise DestinationError(f"cannot move the extracted bag to {dest}: {exc}") from exc
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return replace(bag, path=dest)
