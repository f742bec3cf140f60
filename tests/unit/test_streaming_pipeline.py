"""The low-copy package pipelines: aligned buffer pools, lending sinks, in-place decryption,
view-returning readers and the threaded extraction writer."""

from __future__ import annotations

import ctypes
import hashlib
import io
import os
import tarfile
import threading
from pathlib import Path

import pytest

from mla_tracker.crypto.age import (
    OUTPUT_BATCH,
    Decryptor,
    Encryptor,
    LendingSink,
    PayloadError,
    X25519Identity,
)
from mla_tracker.evidence._buffers import BufferPool, aligned_buffer
from mla_tracker.evidence._hashing_streams import HashingReader, HashingWriter
from mla_tracker.evidence.bagit import ArchiveFormatError, extract_bag_tar
from mla_tracker.evidence.bagit._tar_stream import PayloadWriter
from mla_tracker.evidence.package import open_package, seal

IDENTITY = X25519Identity.generate()
CHUNK = 64 * 1024


def _address(view: memoryview) -> int:
    return ctypes.addressof(ctypes.c_char.from_buffer(view))


def _encrypt_plain(plaintext: bytes) -> bytes:
    out = io.BytesIO()
    with Encryptor(out, [IDENTITY.recipient()]) as enc:
        enc.write(plaintext)
    return out.getvalue()


# --------------------------------------------------------------------------- buffers


@pytest.mark.parametrize("size", [1, 4096, 1024 * 1024, 1024 * 1024 + 256])
def test_aligned_buffers_are_page_aligned_writable_and_sized(size: int) -> None:
    buf = aligned_buffer(size)
    assert len(buf) == size and not buf.readonly
    assert _address(buf) % 4096 == 0
    buf[-1] = 7
    assert buf[-1] == 7


def test_buffer_pool_hands_out_only_its_buffers() -> None:
    pool = BufferPool(2, 4096)
    a, b = pool.get(), pool.get()
    assert _address(a) != _address(b)
    pool.put(a)
    assert _address(pool.get()) == _address(a)  # reused, not a fresh allocation


# --------------------------------------------------------------------------- sealing side


class RecordingSink:
    """A LendingSink that records what it was lent and given, to check the hand-over."""

    def __init__(self) -> None:
        self.out = bytearray()
        self.lent = 0
        self.outstanding = 0

    def write(self, data: bytes) -> int:
        self.out += data
        return len(data)

    def borrow(self) -> memoryview:
        self.lent += 1
        self.outstanding += 1
        return memoryview(bytearray(OUTPUT_BATCH))

    def commit(self, buffer: memoryview, n: int) -> None:
        self.outstanding -= 1
        self.out += buffer[:n]


@pytest.mark.parametrize("size", [0, 1, CHUNK, CHUNK + 1, 16 * CHUNK, 40 * CHUNK + 5])
def test_encryptor_seals_into_a_lending_sink(size: int) -> None:
    assert isinstance(RecordingSink(), LendingSink)
    plaintext = os.urandom(size)
    sink = RecordingSink()
    with Encryptor(sink, [IDENTITY.recipient()]) as enc:  # type: ignore[arg-type]
        # Odd write sizes: chunks straddle writes and batches.
        for at in range(0, size, 100_003):
            enc.write(plaintext[at : at + 100_003])
    assert sink.outstanding == 0  # every borrowed buffer came back
    assert sink.lent >= 1
    assert Decryptor(io.BytesIO(bytes(sink.out)), [IDENTITY]).readall() == plaintext


def test_hashing_writer_digest_size_and_output(tmp_path: Path) -> None:
    plaintext = os.urandom(3 * 1024 * 1024 + 11)
    with open(tmp_path / "ct.age", "wb") as raw:
        writer = HashingWriter(raw)
        enc = Encryptor(writer, [IDENTITY.recipient()])  # type: ignore[arg-type]
        enc.write(plaintext)
        enc.close()
        writer.finish()
    written = (tmp_path / "ct.age").read_bytes()
    assert writer.size == len(written)
    assert writer.hexdigest() == hashlib.sha256(written).hexdigest()
    assert Decryptor(io.BytesIO(written), [IDENTITY]).readall() == plaintext


class FailingRaw(io.RawIOBase):
    """An output that fails like a full disk after `limit` bytes."""

    def __init__(self, limit: int) -> None:
        self.limit = limit

    def writable(self) -> bool:
        return True

    def write(self, data: object) -> int:
        n = len(memoryview(data))  # type: ignore[arg-type]
        if n > self.limit:
            raise OSError(28, "No space left on device")
        self.limit -= n
        return n


def test_hashing_writer_reraises_the_writer_threads_error() -> None:
    writer = HashingWriter(FailingRaw(limit=100_000))  # type: ignore[arg-type]
    enc = Encryptor(writer, [IDENTITY.recipient()])  # type: ignore[arg-type]
    with pytest.raises(OSError, match="No space left"):
        for _ in range(64):  # the error surfaces on a later call, never silently
            enc.write(os.urandom(1024 * 1024))
        enc.close()
        writer.finish()
    writer.abandon()


# --------------------------------------------------------------------------- opening side


@pytest.mark.parametrize("read_size", [1, 1000, CHUNK - 1, CHUNK, CHUNK + 7, 1024 * 1024])
def test_decryptor_readinto_in_place_and_buffered_agree(read_size: int) -> None:
    plaintext = os.urandom(5 * CHUNK + 123)
    dec = Decryptor(io.BytesIO(_encrypt_plain(plaintext)), [IDENTITY])
    buf = bytearray(read_size)
    got = bytearray()
    while n := dec.readinto(buf):
        got += buf[:n]
    assert bytes(got) == plaintext


def test_decryptor_in_place_never_releases_an_unauthenticated_chunk() -> None:
    plaintext = os.urandom(4 * CHUNK)
    data = bytearray(_encrypt_plain(plaintext))
    data[-CHUNK // 2] ^= 0x01  # inside the last chunk
    dec = Decryptor(io.BytesIO(bytes(data)), [IDENTITY])
    buf = bytearray(8 * CHUNK)  # room for every chunk: all decrypted in place
    n = dec.readinto(buf)
    assert n == 3 * CHUNK and buf[:n] == plaintext[:n]  # only authenticated chunks count
    with pytest.raises(PayloadError, match="authentication failed at chunk 3"):
        dec.readinto(buf)


def test_hashing_reader_views_survive_a_read_across_blocks() -> None:
    data = os.urandom(3 * HashingReader.BLOCK + 77)
    reader = HashingReader(io.BytesIO(data), None)
    pieces: list[memoryview | bytes] = []
    try:
        # 65,552-byte reads (age's chunk) straddle every 1 MiB block boundary; keep the last
        # two views alive across the next read, as the age header reader does.
        while piece := reader.read(CHUNK + 16):
            pieces.append(piece)
            if len(pieces) >= 2:
                assert bytes(pieces[-2]) == data[: sum(map(len, pieces[:-1]))][-len(pieces[-2]) :]
    finally:
        reader.close()
    assert b"".join(bytes(p) for p in pieces) == data
    assert reader.hexdigest() == hashlib.sha256(data).hexdigest()
    assert reader.size == len(data)


def test_payload_writer_keeps_the_first_error_and_closes_files(tmp_path: Path) -> None:
    writer = PayloadWriter()
    good = os.open(tmp_path / "good", os.O_WRONLY | os.O_CREAT, 0o644)
    closed = os.open(tmp_path / "closed", os.O_WRONLY | os.O_CREAT, 0o644)
    os.close(closed)  # writing to it fails with EBADF on the worker thread
    writer.write(closed, hashlib.sha256(), memoryview(b"lost"))
    writer.write(good, hashlib.sha256(), memoryview(b"skipped after the error"))
    writer.close_file(good, 0)
    with pytest.raises(OSError):
        writer.finish()
    with pytest.raises(OSError):
        os.fstat(good)  # closed by the worker despite the error: no descriptor leak
    assert (tmp_path / "good").read_bytes() == b""


# --------------------------------------------------------------------------- whole packages


@pytest.mark.parametrize("fmt", [tarfile.GNU_FORMAT, tarfile.USTAR_FORMAT, tarfile.PAX_FORMAT])
def test_extracts_long_names_in_every_tar_format(tmp_path: Path, fmt: int) -> None:
    """GNU long-name records, ustar prefixes and PAX paths all reach the same bag."""
    name = "d" * 60 + "/" + "e" * 80 + ".txt"  # over ustar's 100-byte name field
    payload = os.urandom(3000)
    bagit_txt = b"BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n"
    manifest = f"{hashlib.sha256(payload).hexdigest()}  data/{name}\n".encode()
    tagmanifest = "".join(
        f"{hashlib.sha256(content).hexdigest()}  {tag}\n"
        for tag, content in (("bagit.txt", bagit_txt), ("manifest-sha256.txt", manifest))
    ).encode()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tar:
        for path, content in (
            ("BAG/bagit.txt", bagit_txt),
            ("BAG/manifest-sha256.txt", manifest),
            ("BAG/tagmanifest-sha256.txt", tagmanifest),
            (f"BAG/data/{name}", payload),
        ):
            info = tarfile.TarInfo(path)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    buf.seek(0)
    bag = extract_bag_tar(buf, tmp_path / "out", max_total_bytes=1 << 30, max_files=100)
    assert (bag.path / "data" / name).read_bytes() == payload


def test_package_spanning_many_reader_blocks_round_trips(tmp_path: Path) -> None:
    """Files of many sizes, so member data, headers and padding fall on every kind of
    boundary: age chunks, 1 MiB reader blocks and 1 MiB extraction batches."""
    src = tmp_path / "src"
    src.mkdir()
    sizes = [0, 1, 511, 512, 513, CHUNK - 1, CHUNK + 1, 1024 * 1024 - 300, 2 * 1024 * 1024 + 9]
    contents = {f"f{i:02d}.bin": os.urandom(size) for i, size in enumerate(sizes)}
    for name, content in contents.items():
        (src / name).write_bytes(content)
    with open(tmp_path / "p.age", "wb") as out:
        sealed = seal(
            [src], out, [IDENTITY.recipient()], package_id="P", producer="x", request_id=None
        )
    with open(tmp_path / "p.age", "rb") as f:
        opened = open_package(f, [IDENTITY], tmp_path / "o", max_total_bytes=1 << 30, max_files=99)
    assert opened.ciphertext_sha256 == sealed.ciphertext_sha256
    for name, content in contents.items():
        assert (tmp_path / "o" / "data" / "src" / name).read_bytes() == content


def test_truncated_padding_after_last_member_is_refused(tmp_path: Path) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("BAG/bagit.txt")
        info.size = 10
        tar.addfile(info, io.BytesIO(b"0123456789"))
    data = buf.getvalue()
    cut = data.index(b"0123456789") + 10 + 5  # inside the padding, before the end marker
    with pytest.raises(ArchiveFormatError, match="truncated after member"):
        extract_bag_tar(
            io.BytesIO(data[:cut]), tmp_path / "out", max_total_bytes=1 << 20, max_files=9
        )
    assert not (tmp_path / "out").exists()


def test_payload_reader_stitches_short_reads_into_exact_ones() -> None:
    """A source that returns short reads (a pipe) still gives tarfile exactly what it asks for."""
    from mla_tracker.evidence.bagit._payload_reader import (
        COPY_CHUNK,
        PREFETCH_THRESHOLD,
        PayloadReader,
    )

    data = os.urandom(PREFETCH_THRESHOLD + COPY_CHUNK + 12345)
    read_fd, write_fd = os.pipe()

    def feed() -> None:
        try:
            with os.fdopen(write_fd, "wb", buffering=0) as pipe:
                for at in range(0, len(data), 70_001):  # odd pieces: blocks come back short
                    pipe.write(data[at : at + 70_001])
        except BrokenPipeError:
            pass  # the reading side gave up because the test failed: let it report that

    feeder = threading.Thread(target=feed)
    feeder.start()
    progress: list[int] = []
    reader = PayloadReader(read_fd, len(data), Path("pipe"), progress.append)
    try:
        got = bytearray()
        while reader.count < len(data):
            want = min(COPY_CHUNK, len(data) - reader.count)
            piece = reader.read(want)
            assert len(piece) == want  # exact, as tarfile's copy requires
            got += piece
        assert bytes(got) == data
        assert reader.hexdigest() == hashlib.sha256(data).hexdigest()
        assert sum(progress) == len(data)
    finally:
        reader.close()
        os.close(read_fd)  # before joining, so a feeder blocked on a full pipe gets EPIPE
        feeder.join()
