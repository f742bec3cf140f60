"""Streaming safe extraction: `extract_bag_tar` unpacks a tar holding one bag.

The tar is streamed into a private temporary directory next to the destination, refusing
anything unsafe (links, devices, sparse files, escaping or colliding names, oversized or too
many extended headers, too many files or folders, trailing data), the bag is validated and
only then renamed into place; on a refusal the directory is removed without recursion.
Headers are parsed by `_tar_header`, never by tarfile. Memory use is constant in file sizes
(it grows only with the number of files and folders, bounded by `max_files`).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, BinaryIO

from ._cleanup import remove_tree
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
from ._tar_header import TYPE_NAMES, HeaderReader, Member
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

_MAX_PATH_BYTES = 4096
_MAX_TRAILING_BYTES = 1024 * 1024
#: Extended headers allowed per archive: one per file or folder member, and a few more.
_EXT_HEADERS_PER_FILE = 2
#: Extended-header bytes allowed per archive: a long path and its fields, per member.
_EXT_BYTES_PER_FILE = 8 * 1024
_EXT_SLACK = 64


def _member_path(member: Member) -> list[str]:
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


class _Layout:
    """Where the bag is in the archive: one top-level folder, or the archive root itself."""

    def __init__(self) -> None:
        self.top_dirs: list[tuple[str, str]] = []  # (name, member that made it), in order
        self.top_files = False

    def note(self, member: str, parts: list[str], registry: _PathRegistry, *, is_dir: bool) -> None:
        """Record the member's top-level name, if it introduced one."""
        if len(parts) == 1 and not is_dir:
            self.top_files = True
        elif registry.new_dirs == 0:
            self.top_dirs.append((parts[0], member))

    def bag_prefix(self) -> str | None:
        """The top-level folder holding the bag, or None for a bag at the archive root."""
        if self.top_files:
            return None  # bagit.txt and friends at the root: the archive is the bag
        if not self.top_dirs:
            raise ArchiveFormatError("archive contains no bag")
        if len(self.top_dirs) > 1:
            raise UnsafeArchiveError(
                self.top_dirs[1][1],
                f"outside the bag directory {_show(self.top_dirs[0][0])} "
                "(an evidence archive holds exactly one bag)",
            )
        return self.top_dirs[0][0]


def _extract_members(
    src: BinaryIO,
    work: Path,
    *,
    max_total_bytes: int,
    max_files: int,
    progress: Callable[[int], None],
) -> tuple[str | None, dict[str, ManifestEntry]]:
    """Stream members into `work`; return the bag's top-level folder (None: the root) and
    every file's sha256, keyed by its path relative to the bag root."""
    written: dict[str, tuple[Any, int]] = {}  # archive path -> (sha256 fed by the writer, size)
    registry = _PathRegistry()
    layout = _Layout()
    total = 0
    n_files = 0
    writer = PayloadWriter()
    cursor = TarCursor(src, writer)
    headers = HeaderReader(
        cursor,
        max_ext_headers=_EXT_HEADERS_PER_FILE * max_files + _EXT_SLACK,
        max_ext_bytes=_EXT_BYTES_PER_FILE * (max_files + _EXT_SLACK),
    )
    try:
        while (member := headers.next()) is not None:
            parts = _member_path(member)
            if not member.is_dir and not member.is_regular:
                what = TYPE_NAMES.get(member.type, f"of tar type {member.type!r}")
                if member.type in (b"1", b"2"):
                    what += f" (-> {_show(member.linkname)})"
                raise UnsafeArchiveError(
                    member.name, f"is {what}; only regular files and directories are allowed"
                )
            if not parts:
                if member.is_dir:
                    continue  # "./": the archive root itself
                raise UnsafeArchiveError(member.name, "a file without a name")
            rel = "/".join(parts)
            if member.is_regular:
                n_files += 1
                if n_files > max_files:
                    raise ArchiveLimitError(
                        f"archive has more than {max_files} files (the limit)",
                        option="--max-files",
                    )
                total += member.size
                if total > max_total_bytes:
                    raise ArchiveLimitError(
                        f"archive content exceeds {max_total_bytes} bytes "
                        f"(limit reached at member {_show(member.name)})",
                        option="--max-bytes",
                    )
            _register(registry, member.name, rel, is_dir=member.is_dir)
            # Every folder counts, also those only implied by a deeper path: otherwise a
            # small archive of deep paths creates folders without bound.
            if registry.dirs > max_files:
                raise ArchiveLimitError(
                    f"archive has more than {max_files} folders (the limit)", option="--max-files"
                )
            layout.note(member.name, parts, registry, is_dir=member.is_dir)
            _make_dirs(work, parts, registry.new_dirs, len(parts) - (0 if member.is_dir else 1))
            if member.is_dir:
                continue
            hasher = _extract_file(cursor, writer, member, work / rel, progress)
            written[rel] = (hasher, member.size)
            if cursor.skip(member.padding) != member.padding:
                raise ArchiveFormatError(
                    f"archive is truncated after member {_show(member.name)} "
                    "(it ends without the tar end-of-archive marker)"
                )
        prefix = layout.bag_prefix()
        _drain(cursor)
    finally:
        cursor.close()  # first: the current batch's release must be queued before the stop
        writer.stop()
    writer.finish()  # raises the first write error, if any
    cut = 0 if prefix is None else len(prefix) + 1
    files = {
        rel[cut:]: ManifestEntry(rel[cut:], hasher.hexdigest(), size)
        for rel, (hasher, size) in written.items()
    }
    return prefix, files


def _register(registry: _PathRegistry, member: str, rel: str, *, is_dir: bool) -> None:
    problem = registry.add(rel, is_dir=is_dir)
    if problem:
        raise UnsafeArchiveError(member, problem)


def _make_dirs(work: Path, parts: list[str], first_new: int | None, depth: int) -> None:
    """Create the folders the registry just added: components `first_new` to `depth` - 1."""
    if first_new is None or first_new >= depth:
        return
    path = os.path.join(work, *parts[:first_new])
    for part in parts[first_new:depth]:
        path = os.path.join(path, part)
        try:
            os.mkdir(path, 0o755)
        except OSError as exc:
            shown = "/".join(parts)
            raise UnsafeArchiveError(shown, f"cannot create directory: {exc.strerror}") from exc


def _extract_file(
    cursor: TarCursor,
    writer: PayloadWriter,
    member: Member,
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
    check_source: Callable[[], None] | None = None,
) -> ValidatedBag:
    """Safely extract a tar holding one bag so `dest` becomes the bag root; validate it first.

    The bag is either the archive's only top-level folder or the archive root itself.
    `check_source()`, when given, runs once the whole stream has been read and before the bag
    is validated and moved into place; whatever it raises leaves nothing behind.
    """
    dest = Path(dest)
    work = _open_partial(dest)
    progress = _progress_counter(on_progress)

    try:
        prefix, files = _extract_members(
            src, work, max_total_bytes=max_total_bytes, max_files=max_files, progress=progress
        )
        if check_source is not None:
            check_source()
        root = work if prefix is None else work / prefix
        bag = _validate(root, dest.name if prefix is None else prefix, files)
        existed = os.path.lexists(dest)
        if existed:
            os.rmdir(dest)  # checked empty above; rename over it is not portable
        try:
            os.rename(root, dest)
        except OSError as exc:
            if existed:
                with contextlib.suppress(OSError):
                    os.mkdir(dest)
            raise DestinationError(f"cannot move the extracted bag to {dest}: {exc}") from exc
        if prefix is not None:
            with contextlib.suppress(OSError):
                os.rmdir(work)  # empty now: its only entry was the bag folder
    except BaseException:
        remove_tree(work)
        raise
    return replace(bag, path=dest)
