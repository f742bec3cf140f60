"""The Context a server or worker process runs with, built from its Settings in one place."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from ..config import Settings
from ..domain.deadlines import DeadlineRules
from ..domain.legal_profile import LegalProfile
from ..storage.blobs import FileBlobStore
from ..storage.db import session_factory
from ..storage.server_key import load_or_create
from .context import Context, Policy, utc_now
from .principals import hash_token
from .webhook_config import WebhookConfig

#: The hub's Ed25519 server key (log checkpoints, custody, its own statements), in the data dir.
SERVER_KEY_FILE = "server.key"


def context_for(
    settings: Settings,
    engine: AsyncEngine,
    *,
    legal: LegalProfile,
    deadline_rules: DeadlineRules,
    clock: Callable[[], datetime] = utc_now,
) -> Context:
    """The Context of a process serving or working on `settings`' database."""
    return Context(
        sessions=session_factory(engine),
        policy=Policy(
            max_package_bytes=settings.max_package_bytes,
            log_wait_seconds=settings.log_wait_seconds,
            session_ttl=timedelta(seconds=settings.session_ttl_seconds),
            recovery_delay=timedelta(hours=settings.recovery_delay_hours),
        ),
        clock=clock,
        server_key=load_or_create(settings.data_dir / SERVER_KEY_FILE),
        blobs=FileBlobStore(settings.resolved_blob_dir),
        legal=legal,
        deadline_rules=deadline_rules,
        operator_token_hash=hash_token(settings.operator_token)
        if settings.operator_token
        else None,
        witnesses=settings.witnesses,
        webhooks=WebhookConfig.from_settings(settings),
    )
