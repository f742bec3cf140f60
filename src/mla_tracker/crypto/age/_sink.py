"""Where the age encryptor puts ciphertext: buffers lent by the destination, no copy."""

from __future__ import annotations

from typing import TYPE_CHECKING, BinaryIO, Protocol, runtime_checkable

from ._stream import ENC_CHUNK_SIZE

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer

#: Sealed chunks are gathered and written to the destination this many at a time.
_OUT_CHUNKS = 32
#: Bytes of ciphertext in one output batch: what a `LendingSink` must lend at least.
OUTPUT_BATCH = _OUT_CHUNKS * ENC_CHUNK_SIZE


@runtime_checkable
class LendingSink(Protocol):
    """A destination that lends the encryptor the memory it seals into (no copy on output).

    `borrow()` returns a writable buffer of at least `OUTPUT_BATCH` bytes; `commit(buf, n)`
    hands back a borrowed buffer whose first `n` bytes are output, in order. `write()` takes
    the (copied) header.
    """

    def write(self, data: ReadableBuffer, /) -> int | None:
        """Output a copy of `data`."""
        ...

    def borrow(self) -> memoryview:
        """Lend a buffer of at least `OUTPUT_BATCH` bytes."""
        ...

    def commit(self, buffer: memoryview, n: int, /) -> None:
        """Take back a borrowed buffer whose first `n` bytes are the next output."""
        ...


class WriteThrough:
    """A `LendingSink` over a plain writable stream: one buffer, written out on commit."""

    def __init__(self, dst: BinaryIO) -> None:
        self._dst = dst
        self._buffer = memoryview(bytearray(OUTPUT_BATCH))

    def write(self, data: ReadableBuffer) -> int | None:
        return self._dst.write(data)

    def borrow(self) -> memoryview:
        return self._buffer

    def commit(self, buffer: memoryview, n: int) -> None:
        self._dst.write(buffer[:n])
