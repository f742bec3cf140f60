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

    def seal(self, chunk: memoryview | bytes, last: bool) -> memoryview:
        """Encrypt one chunk; the returned view is only valid until the next call."""
        if self._done:
            raise ValueError("STREAM already finalised")
        n = len(chunk)
        if n > CHUNK_SIZE or (not last and n != CHUNK_SIZE):
            raise ValueError("non-final STREAM chunks must be exactly 64 KiB")
        if last and n == 0 and self._counter != 0:
            raise ValueError("final STREAM chunk may be empty only for an empty payload")
        out = self._out[: n + TAG_SIZE]
        self._aead.encrypt_into(_nonce(self._counter, last), chunk, None, out)
        self._counter += 1
        self._done = last
        return out


class StreamOpener:
    """Decrypts and authenticates chunks pulled from `read`, enforcing every STREAM rule."""

    __slots__ = ("_aead", "_counter", "_done", "_next", "_out", "_read", "_started")

    def __init__(self, key: bytes, read: Callable[[int], bytes]) -> None:
        self._aead = ChaCha20Poly1305(key)
        self._read = read
        self._counter = 0
        self._done = False
        self._started = False
        self._next = b""
        self._out = memoryview(bytearray(CHUNK_SIZE))

    @property
    def done(self) -> bool:
        """True once the final chunk has been verified and EOF confirmed."""
        return self._done

    def next_chunk(self) -> memoryview | None:
        """Return the next authenticated plaintext chunk (view valid until the next call)."""
        if self._done:
            return None
        if not self._started:
            self._next = self._read(ENC_CHUNK_SIZE)
            self._started = True
        cur = self._next
        if len(cur) == ENC_CHUNK_SIZE:
            nxt = self._read(ENC_CHUNK_SIZE)
            last = not nxt
        else:
            nxt = b""
            last = True
        if len(cur) < TAG_SIZE:
            raise PayloadError("truncated payload: missing STREAM chunk")
        out = self._out[: len(cur) - TAG_SIZE]
        try:
            self._aead.decrypt_into(_nonce(self._counter, last), cur, None, out)
        except InvalidTag:
            if not last:
                # Distinguish a full final chunk followed by trailing data for the message only.
                try:
                    self._aead.decrypt_into(_nonce(self._counter, True), cur, None, out)
                except InvalidTag:
                    pass
                else:
                    raise PayloadError("trailing data after the final STREAM chunk") from None
            raise PayloadError(f"payload authentication failed at chunk {self._counter}") from None
        if last and len(out) == 0 and self._counter != 0:
            raise PayloadError("final STREAM chunk is empty but the payload is not")
        self._counter += 1
        self._next = nxt
        self._done = last
        return out
