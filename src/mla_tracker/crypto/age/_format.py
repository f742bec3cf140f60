"""Strict parsing and serialisation of the age v1 header (c2sp.org/age)."""

from __future__ import annotations

import base64
import binascii
import hmac
from dataclasses import dataclass
from hashlib import sha256
from typing import BinaryIO

from .errors import HeaderError, HeaderMACError, UnsupportedVersionError

VERSION_LINE = b"age-encryption.org/v1\n"
_VERSION_PREFIX = b"age-encryption.org/"
_STANZA_PREFIX = b"-> "
_MAC_PREFIX = b"---"
_COLUMNS = 64
_B64_CHARS = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
# Bounds that keep a hostile header from exhausting memory; real headers are a few KiB.
MAX_LINE = 64 * 1024
MAX_HEADER = 16 * 1024 * 1024
_READ_BLOCK = 64 * 1024


def b64encode(data: bytes) -> str:
    """Encode as unpadded standard base64."""
    return base64.b64encode(data).decode("ascii").rstrip("=")


def b64decode(text: str | bytes) -> bytes:
    """Decode canonical unpadded standard base64, raising HeaderError otherwise."""
    raw = text.encode("ascii", "replace") if isinstance(text, str) else bytes(text)
    if any(c not in _B64_CHARS for c in raw) or len(raw) % 4 == 1:
        raise HeaderError("invalid base64 encoding")
    try:
        data = base64.b64decode(raw + b"=" * (-len(raw) % 4), validate=True)
    except binascii.Error:
        raise HeaderError("invalid base64 encoding") from None
    if base64.b64encode(data).rstrip(b"=") != raw:
        raise HeaderError("non-canonical base64 encoding")
    return data


def _is_arg(arg: bytes) -> bool:
    return len(arg) > 0 and all(0x21 <= c <= 0x7E for c in arg)


@dataclass(frozen=True, slots=True)
class Stanza:
    """A recipient stanza: its arguments (the first is the type) and its decoded body."""

    args: tuple[str, ...]
    body: bytes

    def __post_init__(self) -> None:
        if not self.args or not all(_is_arg(a.encode("ascii", "replace")) for a in self.args):
            raise ValueError("stanza arguments must be non-empty VCHAR strings")

    @property
    def type(self) -> str:
        """The stanza type (its first argument)."""
        return self.args[0]

    def encode(self) -> bytes:
        """Serialise the stanza, body wrapped at 64 columns with a final short line."""
        out = bytearray(_STANZA_PREFIX + " ".join(self.args).encode("ascii") + b"\n")
        body = b64encode(self.body).encode("ascii")
        for i in range(0, len(body) + 1, _COLUMNS):
            out += body[i : i + _COLUMNS] + b"\n"
        return bytes(out)


def header_mac_key(file_key: bytes) -> bytes:
    """HKDF-SHA-256(ikm = file key, salt = empty, info = "header")."""
    return hkdf_sha256(file_key, b"", b"header")


def hkdf_sha256(ikm: bytes, salt: bytes, info: bytes, length: int = 32) -> bytes:
    """HKDF-SHA-256 (RFC 5869) extract-then-expand."""
    prk = hmac.digest(salt or bytes(32), ikm, sha256)
    return hkdf_expand(prk, info, length)


def hkdf_expand(prk: bytes, info: bytes, length: int) -> bytes:
    """HKDF-Expand with SHA-256 (RFC 5869)."""
    out = b""
    block = b""
    counter = 1
    while len(out) < length:
        block = hmac.digest(prk, block + info + bytes([counter]), sha256)
        out += block
        counter += 1
    return out[:length]


def encode_header(stanzas: list[Stanza], file_key: bytes) -> bytes:
    """Serialise a complete header, including its MAC line."""
    if not stanzas:
        raise ValueError("at least one recipient stanza is required")
    pre = VERSION_LINE + b"".join(s.encode() for s in stanzas) + _MAC_PREFIX
    mac = hmac.digest(header_mac_key(file_key), pre, sha256)
    return pre + b" " + b64encode(mac).encode("ascii") + b"\n"


@dataclass(frozen=True, slots=True)
class Header:
    """A parsed header: stanzas, MAC, and the exact bytes the MAC covers."""

    stanzas: tuple[Stanza, ...]
    mac: bytes
    mac_input: bytes

    def verify_mac(self, file_key: bytes) -> None:
        """Raise HeaderMACError unless the MAC matches the given file key."""
        expected = hmac.digest(header_mac_key(file_key), self.mac_input, sha256)
        if not hmac.compare_digest(expected, self.mac):
            raise HeaderMACError("header MAC mismatch")


class SourceReader:
    """Buffered reader over a binary stream that hands leftover bytes to the payload reader."""

    __slots__ = ("_buf", "_eof", "_pos", "_src")

    def __init__(self, src: BinaryIO) -> None:
        self._src = src
        self._buf = b""
        self._pos = 0
        self._eof = False

    def _more(self, n: int) -> bool:
        if self._eof:
            return False
        chunk = self._src.read(max(n, _READ_BLOCK))
        if not chunk:
            self._eof = True
            return False
        self._buf = self._buf[self._pos :] + chunk
        self._pos = 0
        return True

    def readline(self, limit: int) -> bytes:
        """Read up to and including LF; at EOF return the (possibly empty) unterminated rest."""
        while True:
            idx = self._buf.find(b"\n", self._pos)
            if idx >= 0:
                if idx + 1 - self._pos > limit:
                    raise HeaderError("header line too long")
                line = self._buf[self._pos : idx + 1]
                self._pos = idx + 1
                return line
            if len(self._buf) - self._pos > limit:
                raise HeaderError("header line too long")
            if not self._more(limit):
                line = self._buf[self._pos :]
                self._pos = len(self._buf)
                return line

    def read(self, n: int) -> bytes:
        """Read up to n bytes, short only at EOF."""
        avail = len(self._buf) - self._pos
        if avail == 0 and n >= _READ_BLOCK:
            return self._read_src(n)
        parts = [self._buf[self._pos : self._pos + n]]
        self._pos += len(parts[0])
        got = len(parts[0])
        if self._pos >= len(self._buf):
            self._buf = b""
            self._pos = 0
        if got < n:
            parts.append(self._read_src(n - got))
        return b"".join(parts)

    def _read_src(self, n: int) -> bytes:
        parts: list[bytes] = []
        got = 0
        while got < n and not self._eof:
            chunk = self._src.read(n - got)
            if not chunk:
                self._eof = True
                break
            parts.append(chunk)
            got += len(chunk)
        return parts[0] if len(parts) == 1 else b"".join(parts)


def parse_header(reader: SourceReader) -> Header:
    """Parse a v1 header strictly, leaving the reader positioned at the payload nonce."""
    total = 0

    def line() -> bytes:
        nonlocal total
        ln = reader.readline(MAX_LINE)
        total += len(ln)
        if total > MAX_HEADER:
            raise HeaderError("header too large")
        if not ln.endswith(b"\n"):
            raise HeaderError("unexpected end of header")
        return ln

    first = line()
    if first != VERSION_LINE:
        if first.startswith(_VERSION_PREFIX):
            raise UnsupportedVersionError(
                f"unsupported age version {first[len(_VERSION_PREFIX) : -1]!r}"
            )
        raise HeaderError("not an age file: invalid version line")
    mac_input = bytearray(first)
    stanzas: list[Stanza] = []
    current = line()
    while True:
        if current.startswith(_STANZA_PREFIX):
            raw = current
            arg_bytes = current[len(_STANZA_PREFIX) : -1].split(b" ")
            if not all(_is_arg(a) for a in arg_bytes):
                raise HeaderError("invalid stanza arguments")
            body_text = bytearray()
            while True:
                body_line = line()
                raw += body_line
                content = body_line[:-1]
                if len(content) > _COLUMNS:
                    raise HeaderError("stanza body line longer than 64 columns")
                if any(c not in _B64_CHARS for c in content):
                    raise HeaderError("invalid character in stanza body")
                body_text += content
                if len(content) < _COLUMNS:
                    break
            stanzas.append(
                Stanza(tuple(a.decode("ascii") for a in arg_bytes), b64decode(bytes(body_text)))
            )
            mac_input += raw
            current = line()
        elif current.startswith(_MAC_PREFIX):
            if not stanzas:
                raise HeaderError("header has no recipient stanzas")
            if not current.startswith(b"--- ") or len(current) != 4 + 43 + 1:
                raise HeaderError("malformed header MAC line")
            mac = b64decode(current[4:-1])
            mac_input += _MAC_PREFIX
            return Header(tuple(stanzas), mac, bytes(mac_input))
        else:
            raise HeaderError("malformed header line")
