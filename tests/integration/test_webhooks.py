"""Webhooks against a real HTTP receiver on loopback: retries, signing, rotation, dead-letters."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from standardwebhooks import Webhook, WebhookVerificationError

from mla_tracker.api.app import create_app
from mla_tracker.config import Settings
from mla_tracker.domain.deadlines import DEFAULTS
from mla_tracker.domain.legal_profile import DEFAULT_PROFILE
from mla_tracker.storage.db import create_engine
from mla_tracker.workflows import webhooks
from mla_tracker.workflows.context import Context
from mla_tracker.workflows.runtime import context_for
from mla_tracker.workflows.webhook_config import WebhookConfig
from tests.integration.conftest import Cast, in_execution
from tests.support import Agency, Hub, mla_content
from tests.webhook_support import FAST, Receiver, drain, local_context, receiving

PAYLOAD_KEYS = {"request_id", "seq", "action", "actor", "digest", "state", "received_at", "meta"}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The hub accepts http:// to loopback, where the test's receiver listens."""
    return dataclasses.replace(settings, webhook_allow_loopback_http=True)


@pytest.fixture
async def ctx(database_url: str) -> AsyncIterator[Context]:
    """A workflow context on the test's loop, to run the dispatcher."""
    async with local_context(database_url) as found:
        yield found


async def subscribe(hub: Hub, agency: Agency, url: str, **more: Any) -> dict[str, Any]:
    """Subscribe; assert it worked; the answer (with the secret)."""
    resp = await hub.client.post("/v1/webhooks", json={"url": url, **more}, headers=agency.auth)
    assert resp.status_code == 201, resp.text
    found: dict[str, Any] = resp.json()
    assert found["secret"].startswith("whsec_")
    return found


async def delivery_log(hub: Hub, agency: Agency, hook_id: str) -> list[dict[str, Any]]:
    """Every delivery of a subscription, newest first, following the cursor."""
    items: list[dict[str, Any]] = []
    params: dict[str, Any] = {"limit": 2}
    while True:
        resp = await hub.client.get(
            f"/v1/webhooks/{hook_id}/deliveries", params=params, headers=agency.auth
        )
        assert resp.status_code == 200, resp.text
        items += resp.json()["items"]
        if resp.json()["next_cursor"] is None:
            return items
        params["cursor"] = resp.json()["next_cursor"]


async def test_failures_and_timeouts_are_retried_until_every_delivery_arrives(
    hub: Hub, cast: Cast, ctx: Context
) -> None:
    # Three 500s, then two answers too late for the 0.5 s timeout, then all well.
    receiver = Receiver(lambda n: 500 if n < 3 else "sleep" if n < 5 else 200)
    with receiving(receiver) as rx:
        hook = await subscribe(hub, cast.lao, rx.url)
        rid = await in_execution(hub, cast)  # four statements: four events for Laos
        attempts = await drain(ctx)
    log = await delivery_log(hub, cast.lao, hook["id"])
    assert len(log) == 4 and {d["status"] for d in log} == {"delivered"}
    assert [d["event_id"] for d in log] == sorted((d["event_id"] for d in log), reverse=True)
    # None lost, none delivered twice, every attempt counted.
    assert sorted(rx.delivered_ids()) == sorted(d["message_id"] for d in log)
    assert attempts == len(rx.received) == sum(d["attempts"] for d in log) == 4 + 5
    assert all(d["last_status"] == 200 and d["last_error"] is None for d in log)
    retried = [d for d in log if d["attempts"] > 1]
    assert retried, "the failures and timeouts hit some deliveries"
    # Every request, failed or not, carries a signature the reference verifier accepts;
    # the body is metadata only.
    hook_key = Webhook(hook["secret"])
    actions = set()
    for got in rx.received:
        event = hook_key.verify(got.body, got.headers)
        assert event["type"] == "statement.accepted"
        assert set(event["data"]) == PAYLOAD_KEYS and event["data"]["request_id"] == rid
        actions.add(event["data"]["action"])
    assert actions == {"transmit", "acknowledge", "accept", "assign"}
    # A retry is the same message: same webhook-id, same body.
    by_id: dict[str, set[bytes]] = {}
    for got in rx.received:
        by_id.setdefault(got.headers["webhook-id"], set()).add(got.body)
    assert len(by_id) == 4 and all(len(bodies) == 1 for bodies in by_id.values())


async def test_rotation_signs_with_both_secrets_during_the_overlap(
    hub: Hub, cast: Cast, ctx: Context
) -> None:
    with receiving(Receiver()) as rx:
        hook = await subscribe(hub, cast.thai, rx.url, event_types=["statement.accepted"])
        rid = (await hub.submit(cast.lao, mla_content(cast.lao.id, cast.thai.id)))["id"]
        await drain(ctx)
        url = f"/v1/webhooks/{hook['id']}/rotate-secret"
        rotated = await hub.client.post(url, json={"overlap_seconds": 3600}, headers=cast.thai.auth)
        assert rotated.status_code == 200, rotated.text
        second = rotated.json()
        assert second["previous_secret_expires_at"] is not None
        assert (await hub.act(cast.thai, rid, "acknowledge")).status_code == 201
        await drain(ctx)
        resp = await hub.client.post(url, json={"overlap_seconds": 0}, headers=cast.thai.auth)
        third = resp.json()
        assert third["previous_secret_expires_at"] is None
        assert (await hub.act(cast.thai, rid, "accept")).status_code == 201
        await drain(ctx)
    first_msg, overlap_msg, last_msg = rx.received
    old, new, newest = (Webhook(h["secret"]) for h in (hook, second, third))
    old.verify(first_msg.body, first_msg.headers)
    # During the overlap both secrets verify: receivers switch when they are ready.
    assert len(overlap_msg.headers["webhook-signature"].split(" ")) == 2
    old.verify(overlap_msg.body, overlap_msg.headers)
    new.verify(overlap_msg.body, overlap_msg.headers)
    # With no overlap the old secret is dropped at once.
    newest.verify(last_msg.body, last_msg.headers)
    for stale in (old, new):
        with pytest.raises(WebhookVerificationError):
            stale.verify(last_msg.body, last_msg.headers)
    # The secret is shown when issued and never again.
    for path in (
        "/v1/webhooks",
        f"/v1/webhooks/{hook['id']}",
        f"/v1/webhooks/{hook['id']}/deliveries",
    ):
        text = (await hub.client.get(path, headers=cast.thai.auth)).text
        assert "whsec_" not in text and 'secret"' not in text


async def test_dead_after_max_attempts_then_the_operator_redrives(
    hub: Hub, cast: Cast, ctx: Context
) -> None:
    healthy = {"now": False}
    config = dataclasses.replace(FAST, max_attempts=3)
    with receiving(Receiver(lambda _n: 200 if healthy["now"] else 503)) as rx:
        hook = await subscribe(hub, cast.lao, rx.url)
        await hub.submit(cast.lao, mla_content(cast.lao.id, cast.thai.id))
        assert await drain(ctx, config=config) == 3
        [dead] = await delivery_log(hub, cast.lao, hook["id"])
        assert dead["status"] == "dead" and dead["attempts"] == 3
        assert dead["last_status"] == 503 and dead["next_attempt_at"] is None
        assert await drain(ctx, config=config) == 0  # the dead are left alone
        redrive = f"/v1/webhooks/deliveries/{dead['id']}/redrive"
        for agency in (cast.lao, cast.thai, cast.auditor):
            resp = await hub.client.post(redrive, headers=agency.auth)
            assert resp.status_code == 403, resp.text
        missing = await hub.client.post(
            "/v1/webhooks/deliveries/999999/redrive", headers=hub.operator
        )
        assert missing.status_code == 404
        resp = await hub.client.post(redrive, headers=hub.operator)
        assert resp.status_code == 200, resp.text
        assert resp.json()["status"] == "pending" and resp.json()["attempts"] == 0
        again = await hub.client.post(redrive, headers=hub.operator)
        assert again.status_code == 409  # pending: it is not dead
        healthy["now"] = True
        assert await drain(ctx, config=config) == 1
    [done] = await delivery_log(hub, cast.lao, hook["id"])
    assert done["status"] == "delivered" and done["attempts"] == 1
    assert done["message_id"] == dead["message_id"]  # the same message, sent again
    assert [r.answered for r in rx.received] == [503, 503, 503, 200]


async def test_another_agency_can_neither_see_nor_touch_a_subscription(
    hub: Hub, cast: Cast
) -> None:
    hook = await subscribe(hub, cast.lao, "https://hooks.example.org/mla")
    base = f"/v1/webhooks/{hook['id']}"
    thai = cast.thai.auth
    assert (await hub.client.get("/v1/webhooks", headers=thai)).json() == []
    for method, path, body in (
        ("GET", base, None),
        ("DELETE", base, None),
        ("GET", base + "/deliveries", None),
        ("POST", base + "/rotate-secret", {}),
    ):
        resp = await hub.client.request(method, path, json=body, headers=thai)
        assert resp.status_code == 404, (method, path, resp.text)
    for headers in (hub.operator, cast.auditor.auth):
        assert (await hub.client.get("/v1/webhooks", headers=headers)).status_code == 403
    listed = (await hub.client.get("/v1/webhooks", headers=cast.lao.auth)).json()
    assert [h["id"] for h in listed] == [hook["id"]]
    assert (await hub.client.delete(base, headers=cast.lao.auth)).status_code == 200
    assert (await hub.client.get(base, headers=cast.lao.auth)).status_code == 404


async def test_bad_subscriptions_are_problems_and_change_nothing(
    hub: Hub, cast: Cast, settings: Settings
) -> None:
    hook = await subscribe(hub, cast.lao, "https://hooks.example.org/mla")
    cases: list[tuple[dict[str, Any], int, str | None]] = [
        ({"url": "https://hooks.example.org/x", "event_types": ["nope"]}, 400, None),
        ({"url": "http://hooks.example.org/x"}, 422, "url"),
        ({"url": "http://10.0.0.1/x"}, 422, "url"),
        ({"url": "ftp://127.0.0.1/x"}, 422, "url"),
        ({"url": "https://"}, 422, "url"),
        ({"url": "https://user:pw@hooks.example.org/x"}, 422, "url"),
        ({"url": "https://hooks.example.org:99999/x"}, 422, "url"),
        ({"url": ""}, 400, None),
        ({"url": "https://hooks.example.org/x", "secret": "mine"}, 400, None),
    ]
    for body, status, field in cases:
        resp = await hub.client.post("/v1/webhooks", json=body, headers=cast.lao.auth)
        assert resp.status_code == status, (body, resp.text)
        assert resp.headers["content-type"].startswith("application/problem+json")
        if field:
            assert resp.json()["field"] == field
        elif "event_types" in body:
            assert "event_types" in resp.text  # the problem names the member
    rotate = f"/v1/webhooks/{hook['id']}/rotate-secret"
    for overlap in (-1, 7 * 86_400 + 1, 10**12, "1h"):
        resp = await hub.client.post(
            rotate, json={"overlap_seconds": overlap}, headers=cast.lao.auth
        )
        assert resp.status_code == 400, (overlap, resp.text)
    listed = (await hub.client.get("/v1/webhooks", headers=cast.lao.auth)).json()
    assert len(listed) == 1 and listed[0]["secret_rotated_at"] is None
    # Without the operator's setting, http:// to loopback is refused too.
    strict = dataclasses.replace(settings, webhook_allow_loopback_http=False)
    async with AsyncTestClient(app=create_app(strict)) as client:
        resp = await client.post(
            "/v1/webhooks", json={"url": "http://127.0.0.1:9/x"}, headers=cast.lao.auth
        )
        assert resp.status_code == 422 and resp.json()["field"] == "url"


async def test_a_tick_sends_as_its_contexts_webhook_config_says(
    hub: Hub, cast: Cast, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The MLA_WEBHOOK_* settings are read once, into the Context: a tick reads no environment."""
    monkeypatch.setenv("MLA_WEBHOOK_TIMEOUT_SECONDS", "30")
    quick = dataclasses.replace(settings, webhook_timeout_seconds=0.3, webhook_max_attempts=1)
    engine = create_engine(settings.resolved_database_url, pool=False)
    try:
        ctx = context_for(quick, engine, legal=DEFAULT_PROFILE, deadline_rules=DEFAULTS)
        assert ctx.webhooks == WebhookConfig.from_settings(quick)
        with receiving(Receiver(lambda _n: "sleep", sleep_seconds=5.0)) as rx:
            hook = await subscribe(hub, cast.lao, rx.url)
            await hub.submit(cast.lao, mla_content(cast.lao.id, cast.thai.id))
            started = time.monotonic()
            assert await webhooks.dispatch_once(ctx, owner="test") == 1
            assert time.monotonic() - started < 4.0  # the Context's 0.3 s, not 30 s
    finally:
        await engine.dispose()
    [dead] = await delivery_log(hub, cast.lao, hook["id"])
    assert dead["status"] == "dead" and dead["attempts"] == 1
    assert dead["last_error"] == "timeout"
