"""BagIt (RFC 8493) evidence bags, streamed to and from a tar: seal, safely extract, validate.

The plaintext layer of an evidence package: `write_bag_tar` streams a PAX tar holding one bag
directory, hashing payload files as tarfile copies them; `extract_bag_tar` streams a tar back
out into a private temporary directory, refusing anything unsafe, validates the bag and only
then renames it into place. Memory use is constant in file sizes (it grows only with the
number of files, bounded by `max_files`).

Paths are compared after Unicode NFC normalisation and case folding, both when sealing and
when extracting, so a bag never depends on a case-sensitive file system to be opened.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import re
import secrets
import shutil
import stat
import tarfile
import unicodedata
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO, Self

from .errors import CryptoError

__all__ = [
    "ArchiveFormatError",
    "ArchiveLimitError",
    "BagError",
    "BagInfo",
    "BagInfoError",
    "BagManifest",
    "BagValidationError",
    "DestinationError",
    "ManifestEntry",
    "SourceError",
    "UnsafeArchiveError",
    "ValidatedBag",
    "decode_manifest_path",
    "encode_manifest_path",
    "extract_bag_tar",
    "validate_bag_dir",
    "write_bag_tar",
]

BAGIT_VERSION = "1.0"
READABLE_VERSIONS = ("1.0", "0.97")
BAGIT_TXT = b"BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n"

_CHUNK = 256 * 1024
_COPY_CHUNK = 1024 * 1024  # payload copy buffer when sealing
_READ_BUFSIZE = 64 * 1024  # tarfile stream read size when extracting (one age chunk)
_MAX_EXT_HEADER_BYTES = 64 * 1024  # one PAX / GNU long-name header; real ones are < 5 KiB
_MAX_PATH_BYTES = 4096
_MAX_COMPONENT_BYTES = 255
_MAX_BAGIT_TXT_BYTES = 64 * 1024
_MAX_BAG_INFO_BYTES = 1024 * 1024
_MAX_LINE_CHARS = 64 * 1024
_MAX_TRAILING_BYTES = 1024 * 1024
_MAX_PROBLEMS = 50

_ALGORITHMS = ("sha256", "sha512", "sha384", "sha224", "sha1", "md5")
_MANIFEST_RE = re.compile(r"manifest-([a-z0-9]+)\.txt")
_TAGMANIFEST_RE = re.compile(r"tagmanifest-([a-z0-9]+)\.txt")
_LINE_RE = re.compile(r"([0-9A-Fa-f]+)[ \t]+(.+)")
_NEWLINE_RE = re.compile(r"\r\n|\r|\n")
_OXUM_RE = re.compile(r"(\d+)\.(\d+)")
_LABEL_RE = re.compile(r"[^\s:][^:\r\n]*")
_PCT_DECODE_RE = re.compile(r"%(25|0[AaDd])")
_PCT_DECODE = {"25": "%", "0a": "\n", "0d": "\r"}

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

_O_BINARY: int = getattr(os, "O_BINARY", 0)
_O_NOFOLLOW: int = getattr(os, "O_NOFOLLOW", 0)
_O_CLOEXEC: int = getattr(os, "O_CLOEXEC", 0)

ProgressCallback = Callable[[int], None]


# --------------------------------------------------------------------------- errors


class BagError(CryptoError):
    """Base of every error raised by the BagIt layer."""


class SourceError(BagError):
    """A file or directory to be sealed cannot be packaged (symlink, duplicate, changed...)."""


class BagInfoError(BagError):
    """The metadata given for bag-info.txt is unusable (bad package id, label or value)."""


class DestinationError(BagError):
    """The extraction destination is unusable (not empty, parent missing...)."""


class ArchiveFormatError(BagError):
    """The tar stream is corrupt or truncated."""


class ArchiveLimitError(BagError):
    """The archive exceeds a size or file-count limit."""


class UnsafeArchiveError(BagError):
    """An archive member could escape the bag or is not a plain file or directory."""

    def __init__(self, member: str, reason: str) -> None:
        super().__init__(f"unsafe archive member {_show(member)}: {reason}")
        self.member = member
        self.reason = reason


class BagValidationError(BagError):
    """The bag does not validate; `problems` names each failing file and check."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        if len(self.problems) == 1:
            message = f"bag is invalid: {self.problems[0]}"
        else:
            lines = "".join(f"\n  - {p}" for p in self.problems)
            message = f"bag is invalid ({len(self.problems)} problems):{lines}"
        super().__init__(message)


# --------------------------------------------------------------------------- data types


@dataclass(frozen=True, slots=True, kw_only=True)
class BagInfo:
    """Metadata written to bag-info.txt; `package_id` also names the bag directory."""

    request_id: str | None = None
    package_id: str
    producer: str
    sealed_at: datetime
    extra: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        """Refuse metadata that cannot be written faithfully."""
        _check_component(self.package_id, BagInfoError, "package id")
        if not self.package_id.isprintable() or self.package_id != self.package_id.strip():
            raise BagInfoError(
                f"package id {self.package_id!r} must be printable without edge whitespace"
            )
        if self.sealed_at.tzinfo is None or self.sealed_at.utcoffset() is None:
            raise BagInfoError("sealed_at must be a timezone-aware datetime")
        for label, value in self.standard_fields():
            _check_info_value(label, value)
        reserved = {label.casefold() for label, _ in self.standard_fields()}
        for label, value in self.extra.items():
            if not _LABEL_RE.fullmatch(label) or label != label.strip():
                raise BagInfoError(f"bag-info label {label!r} is not a valid label")
            if label.casefold() in reserved or label.casefold() in _COMPUTED_LABELS:
                raise BagInfoError(f"bag-info label {label!r} is set by the sealer itself")
            _check_info_value(label, value)

    def standard_fields(self) -> list[tuple[str, str]]:
        """The bag-info fields derived from this metadata, in the order they are written."""
        sealed = self.sealed_at.astimezone(UTC)
        fields = [("Source-Organization", self.producer)]
        if self.request_id is not None:
            fields.append(("External-Identifier", self.request_id))
            fields.append(("MLA-Request-Id", self.request_id))
        fields.append(("MLA-Package-Id", self.package_id))
        fields.append(("MLA-Sealed-At", sealed.isoformat().replace("+00:00", "Z")))
        fields.append(("Bagging-Date", sealed.date().isoformat()))
        return fields


_COMPUTED_LABELS = frozenset(
    {"payload-oxum", "bag-size", "bagging-date", "bagit-profile-identifier"}
)


@dataclass(frozen=True, slots=True)
class ManifestEntry:
    """One file of a bag: path relative to the bag root (forward slashes, not encoded)."""

    path: str
    sha256: str
    size: int


@dataclass(frozen=True, slots=True)
class BagManifest:
    """What `write_bag_tar` sealed: payload entries, Payload-Oxum and the tag manifest."""

    bag_name: str
    payload: tuple[ManifestEntry, ...]
    payload_oxum: str
    tag_manifest: tuple[ManifestEntry, ...]


@dataclass(frozen=True, slots=True)
class ValidatedBag:
    """A bag on disk that passed RFC 8493 validation."""

    path: Path
    name: str
    version: str
    bag_info: Mapping[str, tuple[str, ...]]
    payload: tuple[ManifestEntry, ...]
    payload_oxum: str

    def info(self, label: str) -> str | None:
        """First bag-info value for `label` (case-insensitive), or None."""
        wanted = label.casefold()
        for key, values in self.bag_info.items():
            if key.casefold() == wanted and values:
                return values[0]
        return None


# --------------------------------------------------------------------------- helpers


def encode_manifest_path(path: str) -> str:
    """Percent-encode a bag-relative path for a manifest line (RFC 8493: %, CR, LF)."""
    return path.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def decode_manifest_path(text: str) -> str:
    """Invert `encode_manifest_path`; other % sequences are left as they are."""
    return _PCT_DECODE_RE.sub(lambda m: _PCT_DECODE[m.group(1).lower()], text)


def _show(path: str) -> str:
    """A path as shown in error messages: plain if printable, else Python-escaped."""
    return path if path.isprintable() and path.strip() == path and path else repr(path)


def _norm_key(path: str) -> str:
    return unicodedata.normalize("NFC", path).casefold()


def _check_component(name: str, error: type[BagError], what: str) -> None:
    """Refuse a path component that is empty, special, or not portable."""
    bad = ""
    if name in ("", ".", ".."):
        bad = "is empty or a special name"
    elif "/" in name or "\0" in name or (os.sep != "/" and os.sep in name):
        bad = "contains a path separator or NUL"
    elif os.altsep is not None and os.altsep in name:
        bad = "contains a path separator"
    elif os.path.splitdrive(name)[0]:
        bad = "starts with a drive name"
    else:
        try:
            encoded = name.encode("utf-8")
        except UnicodeEncodeError:
            bad = "is not valid UTF-8"
        else:
            if len(encoded) > _MAX_COMPONENT_BYTES:
                bad = f"is longer than {_MAX_COMPONENT_BYTES} bytes"
    if bad:
        raise error(f"{what} {_show(name)} {bad}")


def _check_info_value(label: str, value: str) -> None:
    if "\r" in value or "\n" in value:
        raise BagInfoError(f"bag-info value of {label} must not contain line breaks")
    if value != value.strip(" \t"):
        raise BagInfoError(f"bag-info value of {label} must not start or end with whitespace")


def _bag_size(octets: int) -> str:
    if octets < 1000:
        return f"{octets} bytes"
    size = float(octets)
    units = ["KB", "MB", "GB", "TB", "PB"]
    size /= 1000
    while size >= 1000 and len(units) > 1:
        size /= 1000
        units.pop(0)
    return f"{size:.1f} {units[0]}"


class _PathRegistry:
    """Tracks bag-relative paths; reports duplicates and names that collide once normalised."""

    def __init__(self) -> None:
        self._seen: dict[str, tuple[str, bool, bool]] = {}  # key -> (path, is_dir, explicit)

    def add(self, path: str, *, is_dir: bool) -> str | None:
        """Register `path` and its parents; return a description of any conflict."""
        parts = path.split("/")
        for i in range(1, len(parts)):
            problem = self._add_one("/".join(parts[:i]), is_dir=True, explicit=False)
            if problem:
                return problem
        return self._add_one(path, is_dir=is_dir, explicit=True)

    def _add_one(self, path: str, *, is_dir: bool, explicit: bool) -> str | None:
        key = _norm_key(path)
        previous = self._seen.get(key)
        if previous is None:
            self._seen[key] = (path, is_dir, explicit)
            return None
        prev_path, prev_is_dir, prev_explicit = previous
        if prev_path != path:
            if unicodedata.normalize("NFC", path) == unicodedata.normalize("NFC", prev_path):
                how = "differ only in Unicode normalisation"
                shown = f"{path!a} and {prev_path!a}"
            else:
                how = "differ only in letter case"
                shown = f"{_show(path)} and {_show(prev_path)}"
            return f"{shown} {how}, so they are the same name on some file systems (macOS, Windows)"
        if is_dir != prev_is_dir:
            return f"{_show(path)} is both a file and a directory"
        if not is_dir or (explicit and prev_explicit):
            return f"{_show(path)} appears more than once"
        if explicit:
            self._seen[key] = (path, True, True)
        return None


# --------------------------------------------------------------------------- sealing


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


class _HashingReader:
    """File reader for tarfile's copy: hashes, counts, and refuses to come up short."""

    def __init__(
        self, fd: int, expected: int, label: Path, progress: Callable[[int], None]
    ) -> None:
        self._fd = fd
        self._expected = expected
        self._label = label
        self._progress = progress
        self.count = 0
        self.hasher = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        """Read up to `size` bytes, never beyond the size measured before sealing."""
        remaining = self._expected - self.count
        size = remaining if size < 0 else min(size, remaining)
        parts: list[bytes] = []
        got = 0
        while got < size:
            chunk = os.read(self._fd, size - got)
            if not chunk:
                raise SourceError(
                    f"{self._label}: file changed while sealing "
                    f"(it shrank below the {self._expected} bytes measured)"
                )
            parts.append(chunk)
            got += len(chunk)
        data = b"".join(parts)
        self.count += len(data)
        self.hasher.update(data)
        self._progress(len(data))
        return data


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
    try:
        before = os.fstat(fd)
        if not stat.S_ISREG(before.st_mode) or (before.st_dev, before.st_ino) != (
            planned.st_dev,
            planned.st_ino,
        ):
            raise SourceError(f"{item.source}: file changed while sealing (it was replaced)")
        reader = _HashingReader(fd, before.st_size, item.source, progress)
        tar.addfile(_tarinfo(member, size=before.st_size, mtime=int(before.st_mtime)), reader)
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
        os.close(fd)
    return ManifestEntry(item.target, reader.hasher.hexdigest(), reader.count)


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
    done = 0

    def progress(n: int) -> None:
        nonlocal done
        done += n
        if on_progress is not None:
            on_progress(done)

    payload: list[ManifestEntry] = []
    sink: BinaryIO = _TarSink(out)  # type: ignore[assignment]
    with tarfile.TarFile(
        fileobj=sink, mode="w", format=tarfile.PAX_FORMAT, copybufsize=_COPY_CHUNK
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


# --------------------------------------------------------------------------- safe tar reading


class _SafeTarFile(tarfile.TarFile):
    """TarFile that counts extended headers (see `_SafeTarInfo`)."""

    ext_headers = 0
    max_ext_headers = 0


class _SafeTarInfo(tarfile.TarInfo):
    """TarInfo that refuses oversized extended headers and archives without an end marker."""

    @classmethod
    def fromtarfile(cls, tf: tarfile.TarFile) -> Self:
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
            if isinstance(tf, _SafeTarFile):
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


def _extract_members(
    src: BinaryIO,
    work: Path,
    *,
    max_total_bytes: int,
    max_files: int,
    progress: Callable[[int], None],
) -> tuple[str, dict[str, ManifestEntry]]:
    """Stream members into `work` (the bag root); return the bag name and every file's sha256."""
    files: dict[str, ManifestEntry] = {}
    registry = _PathRegistry()
    created_dirs: set[str] = {""}
    bag_name: str | None = None
    total = 0
    n_files = 0
    n_dirs = 0
    try:
        with _SafeTarFile.open(
            fileobj=src, mode="r|", tarinfo=_SafeTarInfo, bufsize=_READ_BUFSIZE
        ) as tar:
            tar.max_ext_headers = 2 * max_files + 64
            for member in tar:
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
                files[rel] = _extract_file(tar, member, work / rel, rel, progress)
            # tarfile reads ahead: what it buffered past the end marker is checked too.
            ahead = getattr(tar.fileobj, "buf", b"")
            _drain(src, ahead if isinstance(ahead, bytes) else b"")
    except tarfile.TarError as exc:
        raise ArchiveFormatError(f"archive is corrupt or truncated: {exc}") from exc
    if bag_name is None:
        raise ArchiveFormatError("archive contains no bag")
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
    tar: tarfile.TarFile,
    member: tarfile.TarInfo,
    target: Path,
    rel: str,
    progress: Callable[[int], None],
) -> ManifestEntry:
    source = tar.extractfile(member)
    if source is None:  # pragma: no cover - regular members always have a file object
        raise UnsafeArchiveError(member.name, "cannot be read")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_BINARY | _O_NOFOLLOW | _O_CLOEXEC
    try:
        fd = os.open(target, flags, 0o644)
    except OSError as exc:
        raise UnsafeArchiveError(member.name, f"cannot create file: {exc.strerror}") from exc
    hasher = hashlib.sha256()
    count = 0
    with os.fdopen(fd, "wb") as out:
        while True:
            try:
                chunk = source.read(_CHUNK)
            except tarfile.ReadError as exc:
                raise ArchiveFormatError(
                    f"archive is truncated inside member {_show(member.name)} ({exc})"
                ) from exc
            if not chunk:
                break
            hasher.update(chunk)
            out.write(chunk)
            count += len(chunk)
            progress(len(chunk))
    if count != member.size:
        raise ArchiveFormatError(f"archive is truncated inside member {_show(member.name)}")
    # A timestamp the platform cannot represent is not worth refusing the bag for.
    with contextlib.suppress(OSError, OverflowError, ValueError):
        os.utime(target, (member.mtime, member.mtime))
    return ManifestEntry(rel, hasher.hexdigest(), count)


def _drain(src: BinaryIO, ahead: bytes = b"") -> None:
    """Read what follows the end-of-archive marker (so the outer layer sees EOF); must be NULs.

    `ahead` is what tarfile already read past the marker into its own buffer.
    """
    seen = 0
    chunk = ahead
    while chunk or (chunk := src.read(_CHUNK)):
        seen += len(chunk)
        if seen > _MAX_TRAILING_BYTES or chunk.count(0) != len(chunk):
            raise ArchiveFormatError("archive has unexpected data after its end-of-archive marker")
        chunk = b""


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
    done = 0

    def progress(n: int) -> None:
        nonlocal done
        done += n
        if on_progress is not None:
            on_progress(done)

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


# --------------------------------------------------------------------------- validation


def validate_bag_dir(path: Path) -> ValidatedBag:
    """Validate a bag already on disk (RFC 8493); symlinks and special files are refused."""
    root = Path(path)
    if not root.is_dir():
        raise BagValidationError([f"{root}: not a directory"])
    files: dict[str, ManifestEntry] = {}
    problems: list[str] = []
    stack = [("", root)]
    while stack:
        rel_dir, directory = stack.pop()
        with os.scandir(directory) as it:
            entries = sorted(it, key=lambda e: e.name)
        for entry in entries:
            rel = f"{rel_dir}{entry.name}"
            if entry.is_symlink():
                problems.append(f"{_show(rel)}: is a symbolic link (not allowed in a bag)")
            elif entry.is_dir(follow_symlinks=False):
                stack.append((f"{rel}/", Path(entry.path)))
            elif entry.is_file(follow_symlinks=False):
                digest, size = _hash_path(Path(entry.path), "sha256")
                files[rel] = ManifestEntry(rel, digest, size)
            else:
                problems.append(f"{_show(rel)}: is not a regular file or directory")
    if problems:
        raise BagValidationError(problems)
    return _validate(root, Path(os.path.abspath(root)).name, files)


def _hash_path(path: Path, algorithm: str) -> tuple[str, int]:
    hasher = hashlib.new(algorithm)
    size = 0
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            hasher.update(chunk)
            size += len(chunk)
    return hasher.hexdigest(), size


def _read_small(root: Path, rel: str, limit: int) -> str:
    path = root / rel
    if path.stat().st_size > limit:
        raise BagValidationError([f"{rel}: larger than {limit} bytes"])
    try:
        return path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BagValidationError([f"{rel}: not valid UTF-8 ({exc.reason})"]) from exc


def _parse_tag_lines(text: str, rel: str) -> list[tuple[str, str]]:
    """Parse 'Label: value' lines (values may be folded onto indented lines)."""
    fields: list[tuple[str, str]] = []
    for number, line in enumerate(_NEWLINE_RE.split(text), start=1):
        if not line.strip():
            continue
        if line[0] in " \t":
            if not fields:
                raise BagValidationError([f"{rel} line {number}: continuation without a label"])
            label, value = fields[-1]
            fields[-1] = (label, f"{value} {line.strip()}".strip())
            continue
        label, colon, value = line.partition(":")
        if not colon or not label.strip():
            raise BagValidationError([f"{rel} line {number}: expected 'Label: value'"])
        fields.append((label.strip(), value.strip()))
    return fields


def _iter_manifest(root: Path, rel: str) -> Iterator[tuple[int, str, str]]:
    """Yield (line number, checksum, decoded path) from a manifest, streaming it."""
    try:
        with open(root / rel, encoding="utf-8-sig", newline=None) as f:
            number = 0
            while line := f.readline(_MAX_LINE_CHARS):
                number += 1
                if not line.endswith("\n") and len(line) >= _MAX_LINE_CHARS:
                    raise BagValidationError([f"{rel} line {number}: line too long"])
                line = line.rstrip("\n")
                if not line.strip():
                    continue
                match = _LINE_RE.fullmatch(line)
                if not match:
                    raise BagValidationError([f"{rel} line {number}: expected '<checksum> <path>'"])
                yield number, match.group(1).lower(), decode_manifest_path(match.group(2))
    except UnicodeDecodeError as exc:
        raise BagValidationError([f"{rel}: not valid UTF-8 ({exc.reason})"]) from exc


def _validate(root: Path, name: str, files: Mapping[str, ManifestEntry]) -> ValidatedBag:
    """Validate the bag rooted at `root` given every file's sha256 and size (RFC 8493 §3)."""
    if "bagit.txt" not in files:
        raise BagValidationError(["bagit.txt: missing (this is not a BagIt bag)"])
    declaration = dict(
        _parse_tag_lines(_read_small(root, "bagit.txt", _MAX_BAGIT_TXT_BYTES), "bagit.txt")
    )
    version = declaration.get("BagIt-Version", "")
    if version not in READABLE_VERSIONS:
        raise BagValidationError(
            [
                f"bagit.txt: unsupported BagIt-Version {version!r} "
                f"(supported: {', '.join(READABLE_VERSIONS)})"
            ]
        )
    encoding = declaration.get("Tag-File-Character-Encoding", "")
    if encoding.upper().replace("_", "-") not in ("UTF-8", "UTF8"):
        raise BagValidationError(
            [f"bagit.txt: unsupported Tag-File-Character-Encoding {encoding!r} (need UTF-8)"]
        )
    if not (root / "data").is_dir() or (root / "data").is_symlink():
        raise BagValidationError(["data/: payload directory missing"])

    problems: list[str] = []

    def problem(text: str) -> None:
        if len(problems) < _MAX_PROBLEMS:
            problems.append(text)

    if "fetch.txt" in files:
        problem("fetch.txt: bags that fetch files from elsewhere are not supported")
    payload = {rel: e for rel, e in files.items() if rel.startswith("data/")}
    tag_files = {rel for rel in files if not rel.startswith("data/")}
    manifests = sorted(r for r in tag_files if _MANIFEST_RE.fullmatch(r))
    if not manifests:
        problem("manifest-<algorithm>.txt: no payload manifest in the bag")
    for rel in manifests:
        _check_manifest(root, rel, files, set(payload), payload=True, problem=problem)
    for rel in sorted(r for r in tag_files if _TAGMANIFEST_RE.fullmatch(r)):
        _check_manifest(root, rel, files, tag_files, payload=False, problem=problem)

    info: dict[str, list[str]] = {}
    if "bag-info.txt" in files:
        try:
            text = _read_small(root, "bag-info.txt", _MAX_BAG_INFO_BYTES)
            for label, value in _parse_tag_lines(text, "bag-info.txt"):
                info.setdefault(label, []).append(value)
        except BagValidationError as exc:
            problems.extend(exc.problems)
    octets = sum(e.size for e in payload.values())
    oxum = f"{octets}.{len(payload)}"
    for label, values in info.items():
        if label.casefold() != "payload-oxum":
            continue
        for value in values:
            if not _OXUM_RE.fullmatch(value):
                problem(f"bag-info.txt: Payload-Oxum {value!r} is not '<octets>.<files>'")
            elif value != oxum:
                problem(
                    f"bag-info.txt: Payload-Oxum mismatch, bag-info says {value}, "
                    f"payload has {oxum} (octets.files)"
                )
    if problems:
        raise BagValidationError(problems)
    return ValidatedBag(
        path=root,
        name=name,
        version=version,
        bag_info={label: tuple(values) for label, values in info.items()},
        payload=tuple(payload[rel] for rel in sorted(payload)),
        payload_oxum=oxum,
    )


def _check_manifest(
    root: Path,
    rel: str,
    files: Mapping[str, ManifestEntry],
    expected: set[str],
    *,
    payload: bool,
    problem: Callable[[str], None],
) -> None:
    """Check one (tag) manifest: entries exist and match; payload manifests list all payload."""
    pattern = _MANIFEST_RE if payload else _TAGMANIFEST_RE
    match = pattern.fullmatch(rel)
    assert match is not None
    algorithm = match.group(1)
    if algorithm not in _ALGORITHMS:
        problem(f"{rel}: unsupported checksum algorithm {algorithm!r}")
        return
    width = hashlib.new(algorithm).digest_size * 2
    listed: set[str] = set()
    for number, checksum, path in _iter_manifest(root, rel):
        where = f"{rel} line {number}"
        if len(checksum) != width:
            problem(f"{where}: {algorithm} checksum of {_show(path)} has the wrong length")
            continue
        if path in listed:
            problem(f"{where}: {_show(path)} is listed twice")
            continue
        listed.add(path)
        if payload and not path.startswith("data/"):
            problem(f"{where}: {_show(path)} is not under data/")
            continue
        if not payload and path.startswith("data/"):
            problem(f"{where}: tag manifest lists payload file {_show(path)}")
            continue
        if path not in expected:
            problem(f"{_show(path)}: listed in {rel} but missing from the bag")
            continue
        if algorithm == "sha256":
            actual = files[path].sha256
        else:
            actual = _hash_path(root / path, algorithm)[0]
        if actual != checksum:
            problem(
                f"{_show(path)}: {algorithm} mismatch, {rel} says {checksum}, file has {actual}"
            )
    if payload:
        for path in sorted(expected - listed):
            problem(f"{_show(path)}: payload file not listed in {rel}")
