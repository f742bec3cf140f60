"""The one error tree: every error raised on purpose carries its HTTP status and problem type.

Layers subclass `MlaError` (domain, crypto, storage, workflows); the API turns any of them
into an RFC 9457 problem from these attributes alone, so there is no mapping table to keep
in step. This module imports nothing, so every layer may use it.

    MlaError
    ├── DomainError (domain/errors.py)       422 rules of MLA practice and the lifecycle
    ├── CryptoError (crypto/errors.py)       422 signatures, encodings, chains, keys
    ├── BlobError (storage/blobs.py)         413/422/409 the ciphertext store
    └── WorkflowError (workflows/errors.py)  401/403/404/409/… who may do what, and when
"""

from __future__ import annotations

from typing import Any, ClassVar


class MlaError(Exception):
    """Base of every error raised on purpose; the API answers it as a problem."""

    status: ClassVar[int] = 400
    problem: ClassVar[str] = "bad-request"
    title: ClassVar[str] = "Bad request"

    def extra(self) -> dict[str, Any]:
        """Members added to the problem body beyond type, title, status and detail."""
        return {}

    def headers(self) -> dict[str, str]:
        """Response headers the problem needs (e.g. WWW-Authenticate, Retry-After)."""
        return {}
