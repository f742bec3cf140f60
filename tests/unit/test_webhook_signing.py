"""Webhook settings, backoff bounds and signatures, checked with the reference verifier."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from mla_tracker.config import ConfigError, Settings
from mla_tracker.workflows.subscriptions import InvalidWebhook, check_url, new_secret
from mla_tracker.workflows.webhooks import WebhookConfig, sign


def test_settings_from_the_environment() -> None:
    settings = Settings.from_env(
        {
            "MLA_WEBHOOK_MAX_ATTEMPTS": "5",
            "MLA_WEBHOOK_BACKOFF_BASE_SECONDS": "0.5",
            "MLA_WEBHOOK_BACKOFF_CAP_SECONDS": "30",
            "MLA_WEBHOOK_TIMEOUT_SECONDS": "2.5",
            "MLA_WEBHOOK_ALLOW_LOOPBACK_HTTP": "true",
        }
    )
    assert WebhookConfig.from_settings(settings) == WebhookConfig(5, 0.5, 30.0, 2.5, True)
    defaults = WebhookConfig.from_settings(Settings.from_env({}))
    assert defaults == WebhookConfig(12, 60.0, 21_600.0, 10.0, False)
    for name, value in (
        ("MLA_WEBHOOK_MAX_ATTEMPTS", "0"),
        ("MLA_WEBHOOK_TIMEOUT_SECONDS", "-1"),
        ("MLA_WEBHOOK_ALLOW_LOOPBACK_HTTP", "maybe"),
    ):
        with pytest.raises(ConfigError, match=name):
            Settings.from_env({name: value})


def test_backoff_is_full_jitter_under_a_capped_exponential() -> None:
    config = WebhookConfig(backoff_base_seconds=60, backoff_cap_seconds=21_600)
    for attempts, ceiling in ((1, 60), (2, 120), (5, 960), (10, 21_600), (30, 21_600)):
        waits = [config.backoff(attempts) for _ in range(200)]
        assert all(timedelta(0) <= w <= timedelta(seconds=ceiling) for w in waits)
        assert max(waits) > timedelta(seconds=ceiling / 2)  # spread over the whole range
    # Long enough for a whole batch of attempts to time out, 16 at a time.
    assert WebhookConfig(timeout_seconds=10).lease(100) == timedelta(seconds=135)


def test_signatures_verify_with_the_reference_verifier() -> None:
    old, new, other = new_secret(), new_secret(), new_secret()
    body = b'{"type":"statement.accepted","event_id":7,"data":{"seq":1}}'
    headers = sign("msg_1", [new, old], body, int(time.time()))
    assert headers["webhook-id"] == "msg_1" and len(headers["webhook-signature"].split()) == 2
    for secret in (old, new):
        assert Webhook(secret).verify(body, headers)["event_id"] == 7
    with pytest.raises(WebhookVerificationError):
        Webhook(other).verify(body, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(new).verify(body.replace(b"7", b"8"), headers)
    stale = sign("msg_1", [new], body, int(time.time()) - 600)
    with pytest.raises(WebhookVerificationError, match="too old"):
        Webhook(new).verify(body, stale)


@pytest.mark.parametrize(
    ("url", "loopback", "ok"),
    [
        ("https://hooks.example.org/mla", False, True),
        ("https://203.0.113.7:8443/x?k=v", False, True),
        ("http://127.0.0.1:8081/x", True, True),
        ("http://[::1]:8081/x", True, True),
        ("http://localhost/x", True, True),
        ("http://127.0.0.1:8081/x", False, False),
        ("http://hooks.example.org/mla", True, False),
        ("http://10.1.2.3/x", True, False),
        ("https://u:p@hooks.example.org/", False, False),
        ("https://hooks.example.org/#frag", False, False),
        ("https:///nohost", False, False),
        ("javascript:alert(1)", True, False),
    ],
)
def test_urls(url: str, loopback: bool, ok: bool) -> None:
    if ok:
        assert check_url(url, allow_loopback_http=loopback) == url
    else:
        with pytest.raises(InvalidWebhook) as caught:
            check_url(url, allow_loopback_http=loopback)
        assert caught.value.extra() == {"field": "url"}
