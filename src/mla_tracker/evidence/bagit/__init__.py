"""BagIt (RFC 8493) evidence bags, streamed to and from a tar: seal, safely extract, validate.

The plaintext layer of an evidence package: `write_bag_tar` streams a PAX tar holding one bag
directory, hashing payload files as tarfile copies them; `extract_bag_tar` streams a tar back
out into a private temporary directory, refusing anything unsafe, validates the bag and only
then renames it into place. Memory use is constant in file sizes (it grows only with the
number of files, bounded by `max_files`).

Paths are compared after Unicode NFC normalisation and case folding, both when sealing and
when extracting, so a bag never depends on a case-sensitive file system to be opened.

Modules: `errors` (the BagError hierarchy), `_manifest` (tag-file formats and manifest paths),
`_info` (BagInfo, bag-info.txt), `_paths` (portable, non-colliding names), `_files` (shared
file handling), `_write` (sealing, with tarfile), `_tar_header` (our own bounded tar header
parser, for extraction), `_tar_stream` (low-copy member data), `_extract` (safe extraction),
`_cleanup` (non-recursive removal of a refused tree), `_validate` (validation).
"""

from __future__ import annotations

from ._extract import extract_bag_tar
from ._info import BagInfo
from ._manifest import BagManifest, ManifestEntry, decode_manifest_path, encode_manifest_path
from ._validate import ValidatedBag, validate_bag_dir
from ._write import write_bag_tar
from .errors import (
    ArchiveFormatError,
    ArchiveLimitError,
    BagError,
    BagInfoError,
    BagValidationError,
    DestinationError,
    SourceError,
    UnsafeArchiveError,
)

__all__ = [
    "ArchiveFormatError",
    "ArchiveLimitError",
    "BagError",
    "BagInfo",
    "BagInfoError",
    "BagManifest",
    "BagValidationError",
    "DestinationError",
    "ManifestEntry",
    "SourceError",
    "UnsafeArchiveError",
    "ValidatedBag",
    "decode_manifest_path",
    "encode_manifest_path",
    "extract_bag_tar",
    "validate_bag_dir",
    "write_bag_tar",
]
