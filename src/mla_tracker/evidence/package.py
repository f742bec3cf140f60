"""Evidence packages: an age v1 file whose plaintext is a tar of one BagIt bag.

`seal` streams the evidence files into a bag tar, through age encryption and into `out` in a
single pass, hashing the ciphertext as it is written; `open_package` does the reverse, hashing
the ciphertext as it is read and extracting (safely, validated, atomically) only once the
whole age payload has authenticated. Memory use is constant in the size of the evidence.

Errors: `AgeError` subclasses (wrong identity, corrupt or truncated package), `BagError`
subclasses (unsafe or invalid bag, destination problems) and `PackageError` (everything else:
no recipients, bad package id, ciphertext digest mismatch, unreadable recipients file).
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, cast

from ..crypto.age import Decryptor, Encryptor, Identity, KeyFormatError, Recipient, parse_recipient
from ..crypto.errors import PackageError
from ._hashing_streams import HashingReader, HashingWriter
from .bagit import BagInfo, BagInfoError, BagManifest, ManifestEntry, ValidatedBag
from .bagit import extract_bag_tar as _extract_bag_tar
from .bagit import write_bag_tar as _write_bag_tar

if TYPE_CHECKING:
    pass

__all__ = [
    "PACKAGE_ID_RE",
    "OpenedPackage",
    "PackageError",
    "SealedPackage",
    "new_package_id",
    "open_package",
    "read_recipients",
    "seal",
]

#: What the `deliver_evidence` statement accepts as a package id (EvidenceDelivery).
PACKAGE_ID_RE = re.compile(r"[A-Za-z0-9._-]{1,128}")

ProgressCallback = Callable[[int], None]


def new_package_id() -> str:
    """A fresh random package id, `pkg-<32 hex digits>`."""
    return f"pkg-{uuid.uuid4().hex}"


def _check_package_id(package_id: str) -> None:
    if not PACKAGE_ID_RE.fullmatch(package_id) or package_id in (".", ".."):
        raise PackageError(
            f"package id {package_id!r} is not valid: use 1 to 128 letters, digits, '.', '_' "
            "or '-' (and not '.' or '..')"
        )


# --------------------------------------------------------------------------- hashing streams


@dataclass(frozen=True, slots=True)
class SealedPackage:
    """What `seal` wrote: the ciphertext's digest and size, the payload and the recipients."""

    package_id: str
    ciphertext_sha256: str
    ciphertext_size: int
    files: tuple[ManifestEntry, ...]
    recipients: tuple[str, ...]
    manifest: BagManifest

    def delivery_body(self) -> dict[str, Any]:
        """The body of the `deliver_evidence` statement announcing this package."""
        return {
            "package_id": self.package_id,
            "ciphertext_sha256": self.ciphertext_sha256,
            "ciphertext_size": self.ciphertext_size,
            "files": [{"path": f.path, "sha256": f.sha256, "size": f.size} for f in self.files],
            "recipients": list(self.recipients),
        }


def seal(
    sources: Sequence[Path],
    out: BinaryIO,
    recipients: Sequence[Recipient],
    *,
    package_id: str,
    producer: str,
    request_id: str | None,
    sealed_at: datetime | None = None,
    on_progress: ProgressCallback | None = None,
) -> SealedPackage:
    """Seal files and directories into an age-encrypted BagIt tar written to `out`, in one pass.

    `on_progress(done)` receives the number of payload (plaintext) bytes read so far. On any
    error what was written to `out` is unusable (age's final chunk is never written) and must be
    discarded by the caller; `out` is flushed but never closed.
    """
    if not recipients:
        raise PackageError("no recipients: at least one age recipient is needed")
    _check_package_id(package_id)
    names = tuple(dict.fromkeys(r.to_string() for r in recipients))
    try:
        info = BagInfo(
            request_id=request_id,
            package_id=package_id,
            producer=producer,
            sealed_at=sealed_at if sealed_at is not None else datetime.now(UTC),
        )
    except BagInfoError as exc:
        raise PackageError(str(exc)) from exc
    sink = HashingWriter(out)
    try:
        enc = Encryptor(cast(BinaryIO, sink), recipients)  # only write() and flush() are used
        try:
            manifest = _write_bag_tar(
                cast(BinaryIO, enc), sources, bag_info=info, on_progress=on_progress
            )
        except BaseException:
            enc.abort()
            raise
        enc.close()
        sink.finish()
    except BaseException:
        sink.abandon()
        raise
    return SealedPackage(
        package_id=package_id,
        ciphertext_sha256=sink.hexdigest(),
        ciphertext_size=sink.size,
        files=manifest.payload,
        recipients=names,
        manifest=manifest,
    )


# --------------------------------------------------------------------------- opening


@dataclass(frozen=True, slots=True)
class OpenedPackage:
    """A package that decrypted, extracted and validated; the bag is at `bag.path`."""

    bag: ValidatedBag
    ciphertext_sha256: str
    ciphertext_size: int

    @property
    def package_id(self) -> str:
        """MLA-Package-Id from bag-info.txt, else the bag directory's name."""
        return self.bag.info("MLA-Package-Id") or self.bag.name


def open_package(
    src: BinaryIO,
    identities: Iterable[Identity],
    dest: Path,
    *,
    max_total_bytes: int,
    max_files: int,
    expect_sha256: str | None = None,
    on_progress: ProgressCallback | None = None,
) -> OpenedPackage:
    """Decrypt, safely extract and validate a package so that `dest` becomes the bag root.

    `dest` must be absent or an empty directory. Nothing is left at `dest` unless everything
    succeeded: the age payload authenticated to its end, the bag validated and (when given)
    the ciphertext's SHA-256 equals `expect_sha256`. `on_progress(done)` receives the number
    of ciphertext bytes read so far. `src` is not closed.
    """
    if expect_sha256 is not None:
        expect_sha256 = expect_sha256.strip().lower()
        if not re.fullmatch(r"[0-9a-f]{64}", expect_sha256):
            raise PackageError("expected sha256 must be 64 hexadecimal digits")
    dest = Path(dest)
    source = HashingReader(src, on_progress)

    def check_digest() -> None:
        # The Decryptor has verified the final chunk and that nothing follows it, so `source`
        # has read every byte of the ciphertext: once its thread is joined the digest is final.
        # Checked before the bag is moved into place, so a mismatch leaves nothing behind.
        source.close()
        digest = source.hexdigest()
        if expect_sha256 is not None and digest != expect_sha256:
            raise PackageError(
                f"ciphertext sha256 mismatch: expected {expect_sha256}, package has {digest} "
                "(this is not the package the delivery statement announced)"
            )

    try:
        # Evidence is held to the age spec's SHOULD NOT: a header mixing hybrid and X25519
        # recipients is refused (MixedRecipientsError), though plain age would open it.
        dec = Decryptor(cast(BinaryIO, source), identities, refuse_mixed=True)
        try:
            bag = _extract_bag_tar(
                cast(BinaryIO, dec),
                dest,
                max_total_bytes=max_total_bytes,
                max_files=max_files,
                check_source=check_digest,
            )
        finally:
            dec.close()
    finally:
        source.close()
    digest = source.hexdigest()
    return OpenedPackage(bag=bag, ciphertext_sha256=digest, ciphertext_size=source.size)


# --------------------------------------------------------------------------- recipients


def read_recipients(values: Sequence[str]) -> list[Recipient]:
    """Parse recipients: each value is an `age1…`/`age1pq1…` string or a recipients file.

    A recipients file holds one recipient per line; blank lines and '#' comments are ignored
    (as in age's -R files). Duplicates are dropped; the order of first appearance is kept.
    Raises KeyFormatError (an AgeError) for a bad recipient, PackageError for an unreadable or
    empty file, or when there are no recipients at all.
    """
    found: dict[str, Recipient] = {}

    def add(text: str, where: str) -> None:
        try:
            recipient = parse_recipient(text)
        except KeyFormatError as exc:
            raise KeyFormatError(f"{where}: not a valid age recipient ({exc})") from None
        found.setdefault(recipient.to_string(), recipient)

    for value in values:
        text = value.strip()
        if text.startswith("age1") and not os.path.isfile(value):
            add(text, f"recipient {_short(text)}")
            continue
        path = Path(value)
        try:
            content = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise PackageError(
                f"{value}: neither an age recipient (age1…) nor an existing recipients file"
            ) from None
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
            raise PackageError(f"cannot read recipients file {value}: {reason}") from exc
        before = len(found)
        listed = 0
        for lineno, raw in enumerate(content.splitlines(), start=1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            listed += 1
            add(line, f"{value} line {lineno}")
        if not listed and len(found) == before:
            raise PackageError(f"recipients file {value} lists no recipients")
    if not found:
        raise PackageError("no recipients: at least one age recipient is needed")
    return list(found.values())


def _short(text: str) -> str:
    return text if len(text) <= 24 else f"{text[:20]}…"
