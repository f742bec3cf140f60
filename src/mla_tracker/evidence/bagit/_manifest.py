"""BagIt tag-file formats: bagit.txt, manifest lines, percent-encoded paths and their parsing."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .errors import BagValidationError

BAGIT_VERSION = "1.0"
READABLE_VERSIONS = ("1.0", "0.97")
BAGIT_TXT = b"BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n"

_MAX_LINE_CHARS = 64 * 1024

_ALGORITHMS = ("sha256", "sha512", "sha384", "sha224", "sha1", "md5")
_MANIFEST_RE = re.compile(r"manifest-([a-z0-9]+)\.txt")
_TAGMANIFEST_RE = re.compile(r"tagmanifest-([a-z0-9]+)\.txt")
_LINE_RE = re.compile(r"([0-9A-Fa-f]+)[ \t]+(.+)")
_NEWLINE_RE = re.compile(r"\r\n|\r|\n")
_PCT_DECODE_RE = re.compile(r"%(25|0[AaDd])")
_PCT_DECODE = {"25": "%", "0a": "\n", "0d": "\r"}


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


def encode_manifest_path(path: str) -> str:
    """Percent-encode a bag-relative path for a manifest line (RFC 8493: %, CR, LF)."""
    return path.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def decode_manifest_path(text: str) -> str:
    """Invert `encode_manifest_path`; other % sequences are left as they are."""
    return _PCT_DECODE_RE.sub(lambda m: _PCT_DECODE[m.group(1).lower()], text)


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
