"""What every workflow runs with: the database sessions, settings and the clock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ..crypto.keys import SigningKey
from ..domain.deadlines import DEFAULTS, DeadlineRules
from ..domain.legal_profile import DEFAULT_PROFILE, LegalProfile
from ..storage.blobs import FileBlobStore
from .webhook_config import WebhookConfig


def utc_now() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


@dataclass(frozen=True)
class Policy:
    """Tunable limits on statements."""

    max_future_skew: timedelta = timedelta(minutes=5)
    max_statement_age: timedelta = timedelta(hours=24)
    #: Largest evidence package the hub stores.
    max_package_bytes: int = 64 * 1024**3
    #: Lifetime of an agency session token minted by a signed login.
    session_ttl: timedelta = timedelta(hours=1)
    #: Lifetime of a login challenge (single use).
    challenge_ttl: timedelta = timedelta(minutes=5)
    #: A recovery key added by the operator signs nothing before this has passed.
    recovery_delay: timedelta = timedelta(hours=72)
    #: How long an append waits for its log index before answering `pending`.
    log_wait_seconds: float = 1.0


@dataclass(frozen=True)
class Context:
    """Handed to every handler: where the data lives, the rules in force, and the clock."""

    sessions: async_sessionmaker[AsyncSession]
    policy: Policy = field(default_factory=Policy)
    clock: Callable[[], datetime] = utc_now
    operator_token_hash: str | None = None
    #: The hub's own log key (signs custody assertions) and the ciphertext store.
    server_key: SigningKey | None = None
    blobs: FileBlobStore | None = None
    #: Which states each instrument binds (built-in defaults, or MLA_LEGAL_FILE over them).
    legal: LegalProfile = DEFAULT_PROFILE
    #: The deadline rules in force (built-in, or MLA_DEADLINES_FILE over them): the worker's.
    deadline_rules: DeadlineRules = DEFAULTS
    #: This process's log integrator (workflows.log.Integrator), when one runs.
    integrator: Any = None
    #: Witnesses to push checkpoints to: (witness verifier key, submission URL) pairs.
    witnesses: tuple[tuple[str, str], ...] = ()
    #: How webhook deliveries are sent and retried (MLA_WEBHOOK_*, read once with the rest).
    webhooks: WebhookConfig = field(default_factory=WebhookConfig)
