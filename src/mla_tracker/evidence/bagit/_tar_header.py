"""Our own tar header parser for extraction: ustar, PAX and GNU long names, nothing more.

Why not tarfile: its header code is internal API (`fromtarfile`, `_proc_*`) a patch release
may change; on 3.11.7 it parses a crafted PAX record in quadratic time (CVE-2024-6232), reads a
sparse map into memory before anyone can refuse it, recurses once per chained extended header
and lets ValueError or IndexError escape. Here every extended header is bounded in size, in
number per member and in number and bytes per archive, parsed in one linear pass without
regular expressions, and a sparse member is refused as soon as it is recognised (its map is
never interpreted). Every failure is an `ArchiveFormatError`, `ArchiveLimitError` or
`UnsafeArchiveError`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Protocol

from .errors import ArchiveFormatError, ArchiveLimitError, UnsafeArchiveError, _show

BLOCK = 512
#: One PAX or GNU long-name header; real ones are under 5 KiB (a 4 KiB path and a few fields).
MAX_EXT_HEADER_BYTES = 64 * 1024
#: Extended headers in front of one member: real archives use at most three (g, x, or L + K).
MAX_EXT_CHAIN = 4
#: Records in one PAX header (real ones have a dozen): bounds the Python work per header, as
#: the 64 KiB bound alone would allow 10,000 tiny records.
MAX_PAX_RECORDS = 256

REGULAR = frozenset({b"0", b"\0", b"7"})
DIRECTORY = b"5"
_PAX = frozenset({b"x", b"X"})  # X: Solaris' name for the same thing
_PAX_GLOBAL = b"g"
_LONG_NAME = b"L"
_LONG_LINK = b"K"
_OLD_SPARSE = b"S"
_EXTENDED = _PAX | {_PAX_GLOBAL, _LONG_NAME, _LONG_LINK}
TYPE_NAMES = {
    b"1": "a hard link",
    b"2": "a symbolic link",
    b"3": "a character device",
    b"4": "a block device",
    b"6": "a FIFO",
    _OLD_SPARSE: "a sparse file",
}
_ZERO_BLOCK = bytes(BLOCK)
_OCTAL = frozenset(b"01234567")
_MAX_DECIMAL_DIGITS = 20  # PAX numbers: enough for any 64-bit value
_SPARSE_KEY = "GNU.sparse."
_REFUSAL = "only regular files and directories are allowed"


class _Reader(Protocol):
    def read(self, size: int) -> bytes: ...
    def skip(self, size: int) -> int: ...
    def tell(self) -> int: ...


@dataclass(frozen=True, slots=True)
class Member:
    """One archive member as its headers describe it (extended headers applied)."""

    name: str
    type: bytes
    size: int
    mtime: float
    linkname: str

    @property
    def is_dir(self) -> bool:
        """A directory member."""
        return self.type == DIRECTORY

    @property
    def is_regular(self) -> bool:
        """A regular file member (its `size` bytes of data follow the header)."""
        return self.type in REGULAR

    @property
    def padding(self) -> int:
        """NUL bytes after the data, up to the next 512-byte block."""
        return -self.size % BLOCK


def _cstring(field: bytes) -> str:
    """A NUL-terminated header string; bytes that are not UTF-8 survive as surrogates."""
    return field.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")


def _number(field: bytes, what: str) -> int:
    """A numeric header field: octal text, or GNU base-256 when the first byte says so."""
    if field[:1] == b"\x80":
        return int.from_bytes(field[1:], "big")
    if field[:1] == b"\xff":
        return int.from_bytes(field, "big", signed=True)
    digits = field.split(b"\0", 1)[0].strip(b" ")
    if not digits:
        return 0
    if not _OCTAL.issuperset(digits):
        raise ArchiveFormatError(f"archive is corrupt: header field {what} is not a number")
    return int(digits, 8)


def _checksum_ok(block: bytes) -> bool:
    """The header checksum, which writers compute over unsigned or (old ones) signed bytes."""
    stored = _number(block[148:156], "chksum")
    unsigned = sum(block[:148]) + sum(block[156:]) + 8 * 0x20  # the field counts as spaces
    if stored == unsigned:
        return True
    signed: int = sum(struct.unpack("148b", block[:148])) + sum(struct.unpack("356b", block[156:]))
    return stored == signed + 8 * 0x20


def _decimal(value: bytes, key: str) -> int:
    if not value.isdigit() or len(value) > _MAX_DECIMAL_DIGITS:
        raise ArchiveFormatError(f"archive is corrupt: PAX record {key} is not a number")
    return int(value)


def _timestamp(value: bytes) -> float:
    whole, _, fraction = value.removeprefix(b"-").partition(b".")
    if not (whole.isdigit() and len(whole) <= _MAX_DECIMAL_DIGITS) or (
        fraction and not (fraction.isdigit() and len(fraction) <= _MAX_DECIMAL_DIGITS)
    ):
        raise ArchiveFormatError("archive is corrupt: PAX record mtime is not a number")
    return float(value)


def parse_pax(data: bytes) -> list[tuple[str, bytes]]:
    """Split PAX records `"<length> <key>=<value>\\n"` in one pass; values stay bytes."""
    records: list[tuple[str, bytes]] = []
    pos, end = 0, len(data)
    while pos < end:
        if data[pos] == 0 and data.count(0, pos) == end - pos:
            break  # NUL padding some writers leave after the last record
        if len(records) == MAX_PAX_RECORDS:
            raise ArchiveLimitError(
                f"archive has a PAX header of more than {MAX_PAX_RECORDS} records; "
                "real ones have a dozen"
            )
        space = data.find(b" ", pos, pos + _MAX_DECIMAL_DIGITS + 1)
        length = _decimal(data[pos:space], "length") if space > pos else 0
        stop = pos + length
        if space < 0 or stop > end or stop < space + 4 or data[stop - 1] != 0x0A:
            raise ArchiveFormatError("archive is corrupt: malformed PAX record")
        key, eq, value = data[space + 1 : stop - 1].partition(b"=")
        if not eq or not key:
            raise ArchiveFormatError("archive is corrupt: malformed PAX record")
        try:
            records.append((key.decode("utf-8"), value))
        except UnicodeDecodeError:
            raise ArchiveFormatError("archive is corrupt: PAX record key is not UTF-8") from None
        pos = stop
    return records


class HeaderReader:
    """Reads member headers from a tar stream, resolving PAX and GNU long-name headers.

    `max_ext_headers` and `max_ext_bytes` bound the extended headers of the whole archive
    (the caller derives them from its file limit); one header is at most 64 KiB and at most
    `MAX_EXT_CHAIN` precede one member. The caller reads or skips each member's data and
    padding before asking for the next header.
    """

    def __init__(self, src: _Reader, *, max_ext_headers: int, max_ext_bytes: int) -> None:
        self._src = src
        self._max_headers = max_ext_headers
        self._max_bytes = max_ext_bytes
        self._headers = 0
        self._bytes = 0
        self._global: dict[str, bytes] = {}

    def _block(self) -> bytes:
        at = self._src.tell()
        block = self._src.read(BLOCK)
        if not block and at == 0:
            raise ArchiveFormatError("archive is empty")
        if len(block) < BLOCK:
            raise ArchiveFormatError(
                "archive is truncated (it ends without the tar end-of-archive marker)"
            )
        if block != _ZERO_BLOCK and not _checksum_ok(block):
            raise ArchiveFormatError(f"archive is corrupt: bad header checksum at byte {at}")
        return block

    def _extended_data(self, size: int, kind: bytes) -> bytes:
        self._headers += 1
        if self._headers > self._max_headers:
            raise ArchiveLimitError(
                f"archive has more than {self._max_headers} extended headers", option="--max-files"
            )
        if size > MAX_EXT_HEADER_BYTES:
            # A fixed bound, not one of the user's limits: no option raises it.
            raise ArchiveLimitError(
                f"archive has an extended header of {size} bytes (tar type {kind!r}); "
                f"no real archive needs more than {MAX_EXT_HEADER_BYTES}"
            )
        self._bytes += size
        if self._bytes > self._max_bytes:
            raise ArchiveLimitError(
                f"archive has more than {self._max_bytes} bytes of extended headers",
                option="--max-files",
            )
        data = self._src.read(size)
        padding = -size % BLOCK
        if len(data) < size or self._src.skip(padding) != padding:
            raise ArchiveFormatError("archive is truncated inside an extended header")
        return data

    def next(self) -> Member | None:
        """The next member, or None at the end-of-archive marker (an all-zero block)."""
        pax: dict[str, bytes] = {}
        long_name: str | None = None
        long_link: str | None = None
        sparse = False
        for _ in range(MAX_EXT_CHAIN + 1):
            block = self._block()
            if block == _ZERO_BLOCK:
                if pax or long_name is not None or long_link is not None:
                    raise ArchiveFormatError("archive ends with an extended header of no member")
                return None
            kind = block[156:157]
            size = _number(block[124:136], "size")
            if size < 0:
                raise ArchiveFormatError("archive is corrupt: negative member size")
            if kind not in _EXTENDED:
                break
            data = self._extended_data(size, kind)
            if kind == _LONG_NAME:
                long_name = _cstring(data)
            elif kind == _LONG_LINK:
                long_link = _cstring(data)
            else:
                target = self._global if kind == _PAX_GLOBAL else pax
                for key, value in parse_pax(data):
                    sparse = sparse or key.startswith(_SPARSE_KEY)
                    if value or kind == _PAX_GLOBAL:
                        target[key] = value
                    else:  # an empty value in a member's header undoes a global one
                        target.pop(key, None)
                        pax[key] = b""
        else:
            raise ArchiveLimitError(
                f"archive has more than {MAX_EXT_CHAIN} extended headers in front of one member"
            )
        return self._member(block, kind, size, pax, long_name, long_link, sparse)

    def _member(
        self,
        block: bytes,
        kind: bytes,
        size: int,
        pax: dict[str, bytes],
        long_name: str | None,
        long_link: str | None,
        sparse: bool,
    ) -> Member:
        fields = {**self._global, **pax}
        name = _cstring(block[0:100])
        prefix = _cstring(block[345:500]) if block[257:263] == b"ustar\0" else ""
        if prefix:
            name = f"{prefix}/{name}"
        if long_name is not None:
            name = long_name
        if fields.get("path"):
            name = fields["path"].decode("utf-8", "surrogateescape")
        linkname = long_link if long_link is not None else _cstring(block[157:257])
        if fields.get("linkpath"):
            linkname = fields["linkpath"].decode("utf-8", "surrogateescape")
        if sparse or kind == _OLD_SPARSE or any(k.startswith(_SPARSE_KEY) for k in fields):
            # Refused before its map (in the data, or an old GNU header's extension blocks)
            # is read at all.
            real_name = fields.get("GNU.sparse.name")
            if real_name:
                name = real_name.decode("utf-8", "surrogateescape")
            raise UnsafeArchiveError(name, f"is a sparse file; {_REFUSAL}")
        if kind == b"\0" and name.endswith("/"):
            kind = DIRECTORY  # pre-POSIX archives mark directories by a trailing slash
        if fields.get("size"):
            size = _decimal(fields["size"], "size")
        mtime = float(_number(block[136:148], "mtime"))
        if fields.get("mtime"):
            mtime = _timestamp(fields["mtime"])
        if kind == DIRECTORY and size:
            raise ArchiveFormatError(f"archive is corrupt: directory {_show(name)} has data")
        return Member(name=name, type=kind, size=size, mtime=mtime, linkname=linkname)
