"""The BagError hierarchy: every error the BagIt layer raises, and how paths appear in messages."""

from __future__ import annotations

from collections.abc import Sequence

from ...crypto.errors import CryptoError


def _show(path: str) -> str:
    """A path as shown in error messages: plain if printable, else Python-escaped."""
    return path if path.isprintable() and path.strip() == path and path else repr(path)


class BagError(CryptoError):
    """Base of every error raised by the BagIt layer."""


class SourceError(BagError):
    """A file or directory to be sealed cannot be packaged (symlink, duplicate, changed...)."""


class BagInfoError(BagError):
    """The metadata given for bag-info.txt is unusable (bad package id, label or value)."""


class DestinationError(BagError):
    """The extraction destination is unusable (not empty, parent missing...)."""


class ArchiveFormatError(BagError):
    """The tar stream is corrupt or truncated."""


class ArchiveLimitError(BagError):
    """The archive exceeds a limit; `option` names the setting that raises it, if one does."""

    def __init__(self, message: str, *, option: str | None = None) -> None:
        super().__init__(message)
        self.option = option


class UnsafeArchiveError(BagError):
    """An archive member could escape the bag or is not a plain file or directory."""

    def __init__(self, member: str, reason: str) -> None:
        super().__init__(f"unsafe archive member {_show(member)}: {reason}")
        self.member = member
        self.reason = reason


class BagValidationError(BagError):
    """The bag does not validate; `problems` names each failing file and check."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        if len(self.problems) == 1:
            message = f"bag is invalid: {self.problems[0]}"
        else:
            lines = "".join(f"\n  - {p}" for p in self.problems)
            message = f"bag is invalid ({len(self.problems)} problems):{lines}"
        super().__init__(message)
