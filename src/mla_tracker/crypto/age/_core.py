"""age v1 encryption and decryption: streaming writer/reader file objects and helpers."""

from __future__ import annotations

import io
import os
from collections.abc import Iterable
from types import TracebackType
from typing import TYPE_CHECKING, BinaryIO, Protocol

from ._format import SourceReader, Stanza, encode_header, parse_header
from ._mixing import check_not_mixed
from ._sink import LendingSink, WriteThrough
from ._stream import (
    CHUNK_SIZE,
    ENC_CHUNK_SIZE,
    NONCE_SIZE,
    TAG_SIZE,
    StreamOpener,
    StreamSealer,
    payload_key,
)
from ._x25519 import FILE_KEY_SIZE
from .errors import (
    HeaderError,
    NoIdentityMatchError,
    PayloadError,
    UnsupportedRecipientError,
)

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer, WriteableBuffer

DEFAULT_READ_SIZE = 16 * CHUNK_SIZE


class Recipient(Protocol):
    """Something a file key can be wrapped to."""

    def wrap(self, file_key: bytes) -> list[Stanza]:
        """Return the stanza(s) wrapping the 16-byte file key."""
        ...

    def to_string(self) -> str:
        """Encode as a recipient string."""
        ...


class Identity(Protocol):
    """Something that can unwrap a file key from a stanza."""

    def unwrap(self, stanza: Stanza) -> bytes | None:
        """Return the file key, None if the stanza is not addressed to us, or raise HeaderError."""
        ...

    def recipient(self) -> Recipient:
        """The corresponding recipient."""
        ...

    def to_string(self) -> str:
        """Encode as an identity string (secret!)."""
        ...


# --------------------------------------------------------------------------- encryption


class Encryptor(io.RawIOBase):
    """Writable file object that age-encrypts everything written to it into `dst`.

    The header is written on construction and the final STREAM chunk on `close()`; `dst` itself
    is not closed. Leaving a `with` block by an exception, or calling `abort()`, does not write
    the final chunk, so the truncated output will never decrypt. Everything but the last (up
    to) 64 KiB given to `write()` has reached `dst` when it returns; sealed chunks are gathered
    and written up to 32 at a time. Memory use is about 2 MiB. A `dst` that is a `LendingSink`
    is sealed into directly, with no copy of the ciphertext.
    """

    def __init__(self, dst: BinaryIO, recipients: Iterable[Recipient]) -> None:
        super().__init__()
        recips = list(recipients)
        if not recips:
            raise ValueError("at least one recipient is required")
        file_key = os.urandom(FILE_KEY_SIZE)
        stanzas = [s for r in recips for s in r.wrap(file_key)]
        check_not_mixed(stanzas, "cannot encrypt to")
        nonce = os.urandom(NONCE_SIZE)
        self._dst = dst
        self._sink: LendingSink = dst if isinstance(dst, LendingSink) else WriteThrough(dst)
        self._sealer = StreamSealer(payload_key(file_key, nonce))
        self._buf = bytearray(CHUNK_SIZE)
        self._view = memoryview(self._buf)
        self._n = 0
        self._out: memoryview | None = None  # borrowed from the sink while being filled
        self._out_n = 0
        self._finished = False
        self._sink.write(encode_header(stanzas, file_key) + nonce)

    def writable(self) -> bool:
        """Always True."""
        return True

    def write(self, b: ReadableBuffer) -> int:
        """Encrypt and write data, emitting each full 64 KiB chunk once more data follows."""
        if self.closed:
            raise ValueError("write to closed Encryptor")
        with memoryview(b) as whole:
            mv = whole.cast("B") if whole.format != "B" or whole.ndim != 1 else whole
            total = len(mv)
            if self._n:
                take = min(CHUNK_SIZE - self._n, total)
                self._view[self._n : self._n + take] = mv[:take]
                self._n += take
                mv = mv[take:]
                if not mv:
                    return total
                self._emit(self._view)
                self._n = 0
            # Hold back the last (up to) 64 KiB: it may turn out to be the final chunk.
            emit = self._emit
            while len(mv) > CHUNK_SIZE:
                emit(mv[:CHUNK_SIZE])
                mv = mv[CHUNK_SIZE:]
            self._view[: len(mv)] = mv
            self._n = len(mv)
            self._flush_out()
            return total

    def _emit(self, chunk: memoryview) -> None:
        """Seal one full, non-final chunk into the output batch."""
        out = self._out
        if out is None:
            out = self._out = self._sink.borrow()
        at = self._out_n
        self._sealer.seal(chunk, False, out[at : at + ENC_CHUNK_SIZE])
        self._out_n = at = at + ENC_CHUNK_SIZE
        if at + ENC_CHUNK_SIZE > len(out):
            self._flush_out()

    def _flush_out(self) -> None:
        if self._out is not None:
            self._sink.commit(self._out, self._out_n)
            self._out = None
            self._out_n = 0

    def close(self) -> None:
        """Write the final chunk (once) and flush `dst`; `dst` is left open."""
        if not self.closed and not self._finished:
            self._finished = True
            out = self._out if self._out is not None else self._sink.borrow()
            at = self._out_n
            self._out = out
            self._out_n = at + self._n + TAG_SIZE
            self._sealer.seal(self._view[: self._n], True, out[at : at + ENC_CHUNK_SIZE])
            self._flush_out()
            self._n = 0
            flush = getattr(self._dst, "flush", None)
            if flush is not None:
                flush()
        super().close()

    def abort(self) -> None:
        """Close without writing the final chunk: the output is deliberately left invalid."""
        self._finished = True
        super().close()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is not None:
            self.abort()
        else:
            self.close()

    def __del__(self) -> None:
        # Never finalise implicitly on garbage collection: an unclosed stream stays invalid.
        if not getattr(self, "_finished", True):
            self._finished = True


def encrypt(
    recipients: Iterable[Recipient],
    src: BinaryIO,
    dst: BinaryIO,
    chunk_size: int = DEFAULT_READ_SIZE,
) -> int:
    """Encrypt all of `src` to `dst` for the recipients; return the plaintext size."""
    if chunk_size <= 0:
        raise ValueError("chunk_size must be positive")
    total = 0
    enc = Encryptor(dst, recipients)
    readinto = getattr(src, "readinto", None)
    buf = memoryview(bytearray(chunk_size)) if readinto is not None else None
    try:
        while True:
            if readinto is not None and buf is not None:
                n = readinto(buf)
                if n is None:
                    raise ValueError("non-blocking sources are not supported")
                if n == 0:
                    break
                total += enc.write(buf[:n])
            else:
                data = src.read(chunk_size)
                if not data:
                    break
                total += enc.write(data)
    except BaseException:
        enc.abort()
        raise
    enc.close()
    return total


# --------------------------------------------------------------------------- decryption


def _unwrap_file_key(stanzas: tuple[Stanza, ...], identities: list[Identity]) -> bytes:
    if any(s.type == "scrypt" for s in stanzas):
        if len(stanzas) != 1:
            raise HeaderError("an scrypt stanza must be the only stanza in the header")
        raise UnsupportedRecipientError("scrypt recipients not supported")
    for identity in identities:
        for stanza in stanzas:
            file_key = identity.unwrap(stanza)
            if file_key is not None:
                if len(file_key) != FILE_KEY_SIZE:
                    raise HeaderError("unwrapped file key is not 16 bytes")
                return file_key
    raise NoIdentityMatchError("no identity matched any of the recipients")


def _open(
    src: BinaryIO, identities: Iterable[Identity], *, refuse_mixed: bool = False
) -> StreamOpener:
    ids = list(identities)
    if not ids:
        raise ValueError("at least one identity is required")
    reader = SourceReader(src)
    header = parse_header(reader)
    if refuse_mixed:
        check_not_mixed(header.stanzas, "file is encrypted to")
    file_key = _unwrap_file_key(header.stanzas, ids)
    header.verify_mac(file_key)
    nonce = reader.read(NONCE_SIZE)
    if len(nonce) != NONCE_SIZE:
        raise HeaderError("file too short: missing payload nonce")
    return StreamOpener(payload_key(file_key, nonce), reader.read)


class Decryptor(io.RawIOBase):
    """Readable file object yielding the plaintext of an age file read from `src`.

    The header is parsed, a file key unwrapped and the header MAC verified on construction.
    Plaintext is only released chunk by chunk after authentication; a `PayloadError` can still
    occur later (truncation, tampering, trailing data), in which case everything read so far
    must be discarded by the caller. `src` is not closed.

    `refuse_mixed=True` raises `MixedRecipientsError` for a header with both hybrid and
    X25519 stanzas. The default accepts it, as the age testkit requires (hybrid_and_x25519).
    """

    def __init__(
        self, src: BinaryIO, identities: Iterable[Identity], *, refuse_mixed: bool = False
    ) -> None:
        super().__init__()
        self._opener = _open(src, identities, refuse_mixed=refuse_mixed)
        self._chunk = memoryview(b"")
        self._pos = 0
        self._error: PayloadError | None = None

    def readable(self) -> bool:
        """Always True."""
        return True

    def _next(self, into: memoryview | None = None) -> memoryview | None:
        """Authenticate the next chunk (into `into` when given); None at verified EOF."""
        if self._error is not None:
            raise self._error
        try:
            return self._opener.next_chunk(into)
        except PayloadError as exc:
            self._error = exc
            raise

    def _next_buffered(self) -> bool:
        chunk = self._next()
        if chunk is None:
            return False
        self._chunk = chunk
        self._pos = 0
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        """Fill `buffer` with authenticated plaintext; 0 means verified end of file."""
        if self.closed:
            raise ValueError("read from closed Decryptor")
        with memoryview(buffer) as whole:
            mv = whole.cast("B") if whole.format != "B" or whole.ndim != 1 else whole
            n = 0
            while n < len(mv):
                avail = len(self._chunk) - self._pos
                if avail == 0:
                    try:
                        if len(mv) - n >= CHUNK_SIZE:
                            # Room for a whole chunk: decrypt in place, no copy.
                            chunk = self._next(mv[n : n + CHUNK_SIZE])
                            if chunk is None:
                                break
                            n += len(chunk)
                            continue
                        if not self._next_buffered():
                            break
                    except PayloadError:
                        if n:
                            return n  # release what we have; the error is raised next call
                        raise
                    continue
                take = min(avail, len(mv) - n)
                mv[n : n + take] = self._chunk[self._pos : self._pos + take]
                self._pos += take
                n += take
            return n

    def read(self, size: int | None = -1) -> bytes:
        """Return up to `size` bytes of authenticated plaintext, at most to the chunk's end.

        Short reads are allowed for raw streams; b"" means verified end of file.
        """
        if size is None or size < 0:
            return self.readall()
        if self.closed:
            raise ValueError("read from closed Decryptor")
        if size == 0:
            return b""
        if self._pos == len(self._chunk) and not self._next_buffered():
            return b""
        take = min(size, len(self._chunk) - self._pos)
        data = bytes(self._chunk[self._pos : self._pos + take])
        self._pos += take
        return data

    def readall(self) -> bytes:
        """Read and return the rest of the plaintext (loads it all in memory)."""
        parts = [bytes(self._chunk[self._pos :])]
        self._pos = len(self._chunk)
        while self._next_buffered():
            parts.append(bytes(self._chunk))
            self._pos = len(self._chunk)
        return b"".join(parts)


def decrypt(identities: Iterable[Identity], src: BinaryIO, dst: BinaryIO) -> int:
    """Decrypt `src` into `dst` and return the plaintext size; raise AgeError on any failure."""
    # Output already written to `dst` when a PayloadError is raised is not authenticated as a
    # whole and MUST be discarded: write to a temporary file, rename it only after we return.
    opener = _open(src, identities)
    total = 0
    while (chunk := opener.next_chunk()) is not None:
        dst.write(chunk)
        total += len(chunk)
    return total
