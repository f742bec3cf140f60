"""How webhook deliveries are sent and retried: the MLA_WEBHOOK_* settings, read once.

Apart from the dispatcher (workflows/webhooks.py) so that the workflow Context can carry a
configuration without importing it.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import timedelta

from ..config import Settings

#: Deliveries sent at once by one dispatcher.
CONCURRENCY = 16


@dataclass(frozen=True)
class WebhookConfig:
    """How deliveries are sent and retried (MLA_WEBHOOK_* settings)."""

    max_attempts: int = 12
    backoff_base_seconds: float = 60.0
    backoff_cap_seconds: float = 21_600.0
    timeout_seconds: float = 10.0
    allow_loopback_http: bool = False
    #: How long a claim holds; None: long enough for a whole batch of timed-out attempts.
    lease_seconds: float | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> WebhookConfig:
        """The configuration the service settings give."""
        return cls(
            max_attempts=settings.webhook_max_attempts,
            backoff_base_seconds=settings.webhook_backoff_base_seconds,
            backoff_cap_seconds=settings.webhook_backoff_cap_seconds,
            timeout_seconds=settings.webhook_timeout_seconds,
            allow_loopback_http=settings.webhook_allow_loopback_http,
        )

    def lease(self, limit: int) -> timedelta:
        """How long a claim of `limit` deliveries holds before another dispatcher may retry."""
        if self.lease_seconds is not None:
            return timedelta(seconds=self.lease_seconds)
        # Every attempt of the batch timing out, CONCURRENCY at a time, plus a margin.
        rounds = math.ceil(max(1, limit) / CONCURRENCY)
        return timedelta(seconds=rounds * self.timeout_seconds * 1.5 + 30)

    def backoff(self, attempts: int) -> timedelta:
        """The wait after the `attempts`-th failed attempt: exponential, capped, full jitter."""
        ceiling = min(self.backoff_cap_seconds, self.backoff_base_seconds * 2 ** (attempts - 1))
        return timedelta(seconds=random.uniform(0, ceiling))
