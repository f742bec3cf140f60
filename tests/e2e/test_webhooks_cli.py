"""`mla webhooks …` against a real server: subscribe, dead-letter, re-drive, rotate, remove."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from mla_tracker.cli.main import cli
from mla_tracker.cli.webhooks import EVENT_TYPES
from mla_tracker.storage.event_tables import DeliveryRow
from mla_tracker.workflows import webhooks
from mla_tracker.workflows.events import EventType
from tests.e2e.conftest import Server, start_server
from tests.e2e.test_event_stream import register, submit
from tests.support import OPERATOR_TOKEN
from tests.webhook_support import FAST, Receiver, count, local_context, receiving

ONCE = dataclasses.replace(FAST, max_attempts=1)


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[Server]:
    """`mla serve` that accepts loopback receivers and gives up after one attempt."""
    env = {
        "MLA_OPERATOR_TOKEN": OPERATOR_TOKEN,
        "MLA_WEBHOOK_ALLOW_LOOPBACK_HTTP": "true",
        "MLA_WEBHOOK_MAX_ATTEMPTS": "1",
        "MLA_WEBHOOK_TIMEOUT_SECONDS": "2",
    }
    yield from start_server(database_url, tmp_path / "data", env)


def mla(token: str, server: Server, *args: str) -> Any:
    """Run `mla webhooks ARGS`; the result."""
    env = {"MLA_URL": server.url, "MLA_TOKEN": token, "MLA_KEY": ""}
    return CliRunner().invoke(cli, ["webhooks", *args], env=env, catch_exceptions=False)


def until(database_url: str, status: str) -> None:
    """Dispatch (beside the server's own worker, if it runs one) until every delivery, and
    at least one, is in `status`."""

    async def run() -> None:
        async with local_context(database_url) as ctx:
            deadline = time.monotonic() + 30
            while True:
                await webhooks.dispatch_once(ctx, owner="cli-test", config=ONCE)
                total = await count(ctx, DeliveryRow)
                if total and not await count(ctx, DeliveryRow, DeliveryRow.status != status):
                    return
                assert time.monotonic() < deadline, f"deliveries not {status}"
                await asyncio.sleep(0.05)

    asyncio.run(run())


def test_the_cli_knows_every_event_type() -> None:
    assert set(EVENT_TYPES) == {t.value for t in EventType}


def test_mla_webhooks_against_a_server(server: Server, database_url: str) -> None:
    healthy = {"now": False}
    with receiving(Receiver(lambda _n: 204 if healthy["now"] else 500)) as rx:
        with httpx.Client(base_url=server.url) as http:
            lao = register(http, "la-mps", "LA", "central_authority")
            thai = register(http, "th-oag", "TH", "central_authority")
            added = mla(lao.token, server, "add", rx.url, "--event", "statement.accepted", "--json")
            assert added.exit_code == 0, added.output
            hook = json.loads(added.stdout)
            assert hook["secret"].startswith("whsec_")
            listed = mla(lao.token, server, "list")
            assert hook["id"] in listed.output and rx.url in listed.output
            assert "whsec_" not in listed.output
            submit(http, lao, thai)
        until(database_url, "dead")
        log = mla(lao.token, server, "deliveries", hook["id"])
        assert log.exit_code == 0, log.output
        header, row = log.output.splitlines()
        assert header.split()[:3] == ["ID", "EVENT", "STATUS"] and row.split()[2:5] == [
            "dead",
            "1",
            "500",
        ]
        delivery = row.split()[0]
        refused = mla(lao.token, server, "redrive", delivery)
        assert refused.exit_code == 1 and "HTTP 403" in refused.output
        redriven = mla(OPERATOR_TOKEN, server, "redrive", delivery)
        assert redriven.exit_code == 0, redriven.output
        assert f"delivery {delivery} is pending again" in redriven.output
        healthy["now"] = True
        until(database_url, "delivered")
        row = mla(lao.token, server, "deliveries", hook["id"]).output.splitlines()[1]
        assert row.split()[2:5] == ["delivered", "1", "204"]
    rotated = mla(lao.token, server, "rotate", hook["id"], "--overlap", "60")
    assert rotated.exit_code == 0, rotated.output
    secret = next(line for line in rotated.stdout.splitlines() if line.startswith("secret: "))
    assert secret.startswith("secret: whsec_") and hook["secret"] not in secret
    assert "previous one signs too until" in rotated.stdout
    assert mla(lao.token, server, "remove", hook["id"]).output.startswith("removed")
    assert mla(lao.token, server, "list").output.strip() == "no webhooks"
