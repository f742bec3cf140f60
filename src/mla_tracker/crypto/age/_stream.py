"""The age STREAM payload: 64 KiB ChaCha20-Poly1305 chunks with a counter/last-flag nonce."""

from __future__ import annotations

from collections.abc import Callable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from ._format import hkdf_sha256
from .errors import PayloadError

CHUNK_SIZE = 64 * 1024
TAG_SIZE = 16
ENC_CHUNK_SIZE = CHUNK_SIZE + TAG_SIZE
NONCE_SIZE = 16
_MAX_COUNTER = (1 << 88) - 1


def payload_key(file_key: bytes, nonce: bytes) -> bytes:
    """HKDF-SHA-256(ikm = file key, salt = nonce, info = "payload")."""
    return hkdf_sha256(file_key, nonce, b"payload")


def _nonce(counter: int, last: bool) -> bytes:
    if counter > _MAX_COUNTER:
        raise PayloadError("STREAM chunk counter overflow")
    return counter.to_bytes(11, "big") + (b"\x01" if last else b"\x00")


class StreamSealer:
    """Encrypts successive chunks; the caller guarantees only the final chunk may be short."""

    __slots__ = ("_aead", "_counter", "_done", "_out")

    def __init__(self, key: bytes) -> None:
        self._aead = ChaCha20Poly1305(key)
        self._counter = 0
        self._done = False
        self._out = memoryview(bytearray(ENC_CHUNK_SIZE))

    def seal(
        self, chunk: memoryview | bytes, last: bool, out: memoryview | None = None
    ) -> memoryview:
        """Encrypt one chunk into `out` (or an internal buffer valid until the next call)."""
        if self._done:
            raise ValueError("STREAM already finalised")
        n = len(chunk)
        if n > CHUNK_SIZE or (not last and n != CHUNK_SIZE):
            raise ValueError("non-final STREAM chunks must be exactly 64 KiB")
        if last and n == 0 and self._counter != 0:
            raise ValueError("final STREAM chunk may be empty only for an empty payload")
        dest = (self._out if out is None else out)[: n + TAG_SIZE]
        self._aead.encrypt_into(_nonce(self._counter, last), chunk, None, dest)
        self._counter += 1
        self._done = last
        return dest


class StreamOpener:
    """Decrypts and authenticates chunks pulled from `read`, enforcing every STREAM rule.

    As in the reference implementation, a full-size chunk is first tried as a non-final chunk
    and, failing that, as the final one; a short chunk is always final. Each chunk is released
    as soon as it authenticates; after the final chunk, the next call requires EOF and raises
    PayloadError on trailing data.
    """

    __slots__ = ("_aead", "_counter", "_done", "_final_seen", "_out", "_read")

    def __init__(self, key: bytes, read: Callable[[int], bytes | memoryview]) -> None:
        self._aead = ChaCha20Poly1305(key)
        self._read = read
        self._counter = 0
        self._done = False
        self._final_seen = False
        self._out = memoryview(bytearray(CHUNK_SIZE))

    @property
    def done(self) -> bool:
        """True once the final chunk has been released and EOF confirmed."""
        return self._done

    def _open(self, ct: bytes | memoryview, out: memoryview, last: bool) -> bool:
        try:
            self._aead.decrypt_into(_nonce(self._counter, last), ct, None, out)
        except InvalidTag:
            return False
        return True

    def next_chunk(self, into: memoryview | None = None) -> memoryview | None:
        """Return the next authenticated plaintext chunk (view valid until the next call).

        With `into` (at least `CHUNK_SIZE` bytes) the chunk is decrypted straight into it and
        the returned view is a prefix of it; on an error its content is undefined.
        """
        if self._done:
            return None
        if self._final_seen:
            if self._read(1):
                raise PayloadError("trailing data after the final STREAM chunk")
            self._done = True
            return None
        ct = self._read(ENC_CHUNK_SIZE)
        if len(ct) < TAG_SIZE:
            if self._counter == 0:
                raise PayloadError("truncated payload: no STREAM chunks")
            raise PayloadError("truncated payload: final STREAM chunk missing")
        out = (self._out if into is None else into)[: len(ct) - TAG_SIZE]
        if len(ct) == TAG_SIZE and self._counter != 0:
            raise PayloadError("final STREAM chunk is empty but the payload is not")
        if len(ct) == ENC_CHUNK_SIZE and self._open(ct, out, last=False):
            last = False
        elif self._open(ct, out, last=True):
            last = True
        else:
            raise PayloadError(f"payload authentication failed at chunk {self._counter}")
        self._counter += 1
        self._final_seen = last
        return out
