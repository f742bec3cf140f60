"""Bag validation (RFC 8493 §3): `validate_bag_dir` and the checks extraction shares."""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from ._files import _CHUNK
from ._manifest import (
    _ALGORITHMS,
    _MANIFEST_RE,
    _TAGMANIFEST_RE,
    READABLE_VERSIONS,
    ManifestEntry,
    _iter_manifest,
    _parse_tag_lines,
)
from .errors import BagValidationError, _show

_MAX_BAGIT_TXT_BYTES = 64 * 1024
_MAX_BAG_INFO_BYTES = 1024 * 1024
_MAX_PROBLEMS = 50

_OXUM_RE = re.compile(r"(\d+)\.(\d+)")
#: Algorithms a bag must have a payload and a tag manifest in: md5 and sha1 collide, so a
#: bag checked only with them is not checked against a hostile sender.
_STRONG = ("sha256", "sha384", "sha512")
_NEED = "sha256, sha384 or sha512; md5 and sha1 alone are refused"


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
    tag_manifests = sorted(r for r in tag_files if _TAGMANIFEST_RE.fullmatch(r))
    if not manifests:
        problem("manifest-<algorithm>.txt: no payload manifest in the bag")
    elif not any(_algorithm(r) in _STRONG for r in manifests):
        problem(f"{', '.join(manifests)}: no payload manifest with a strong checksum ({_NEED})")
    for rel in manifests:
        _check_manifest(root, rel, files, set(payload), payload=True, problem=problem)
    # The tag manifest is what protects bag-info.txt and the payload manifests themselves.
    must_list = {"bagit.txt", "bag-info.txt", *manifests} & tag_files
    strong_tags = [r for r in tag_manifests if _algorithm(r) in _STRONG]
    if not strong_tags:
        problem(f"tagmanifest-<algorithm>.txt: no tag manifest with a strong checksum ({_NEED})")
    for rel in tag_manifests:
        listed = _check_manifest(root, rel, files, tag_files, payload=False, problem=problem)
        if rel in strong_tags:
            for missing in sorted(must_list - listed):
                problem(f"{_show(missing)}: tag file not listed in {rel}")

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
) -> set[str]:
    """Check one (tag) manifest: entries exist and match; payload manifests list all payload.

    Returns the paths it lists.
    """
    algorithm = _algorithm(rel)
    listed: set[str] = set()
    if algorithm not in _ALGORITHMS:
        problem(f"{rel}: unsupported checksum algorithm {algorithm!r}")
        return listed
    width = hashlib.new(algorithm).digest_size * 2
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
    return listed


def _algorithm(rel: str) -> str:
    """The checksum algorithm a (tag) manifest's file name declares."""
    match = _MANIFEST_RE.fullmatch(rel) or _TAGMANIFEST_RE.fullmatch(rel)
    assert match is not None
    return match.group(1)
