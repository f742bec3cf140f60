"""The receiver of docs/deadlines.md runs against real deliveries, so the doc cannot drift."""

from __future__ import annotations

import dataclasses
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from standardwebhooks import Webhook

from mla_tracker.config import Settings
from mla_tracker.workflows.context import Context
from mla_tracker.workflows.subscriptions import new_secret
from tests.integration.conftest import Cast
from tests.integration.test_webhooks import subscribe
from tests.support import Hub, mla_content
from tests.webhook_support import drain, local_context

ROOT = Path(__file__).resolve().parents[2]
RECEIVER = ROOT / "docs" / "examples" / "webhook_receiver.py"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The hub accepts http:// to loopback, where the receiver listens."""
    return dataclasses.replace(settings, webhook_allow_loopback_http=True)


@pytest.fixture
async def ctx(database_url: str) -> AsyncIterator[Context]:
    """A workflow context on the test's loop, to run the dispatcher."""
    async with local_context(database_url) as found:
        yield found


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def port() -> int:
    """Where the receiver will listen."""
    return _free_port()


@contextmanager
def running(secret: str, port: int) -> Iterator[list[str]]:
    """docs/examples/webhook_receiver.py as its readers run it; the list gets what it
    printed once the block ends."""
    env = {**os.environ, "MLA_WEBHOOK_SECRET": secret}
    proc = subprocess.Popen(
        [sys.executable, str(RECEIVER), str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, "receiver not up"
                time.sleep(0.05)
        printed: list[str] = []
        yield printed
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=10)
    printed += out.splitlines()


def signed(secret: str, message_id: str, body: bytes) -> dict[str, str]:
    """Standard Webhooks headers for a body, as the hub would send them."""
    now = datetime.now(UTC).replace(microsecond=0)
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(secret).sign(message_id, now, body.decode()),
        "content-type": "application/json",
    }


def test_the_doc_shows_the_receiver_as_it_is() -> None:
    doc = (ROOT / "docs" / "deadlines.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", doc, flags=re.S)
    assert RECEIVER.read_text() in blocks
    assert len(RECEIVER.read_text().splitlines()) <= 32


async def test_the_doc_receiver_verifies_real_deliveries(
    hub: Hub, cast: Cast, ctx: Context, port: int
) -> None:
    hook = await subscribe(hub, cast.lao, f"http://127.0.0.1:{port}/mla")
    with running(hook["secret"], port) as printed:
        rid = (await hub.submit(cast.lao, mla_content(cast.lao.id, cast.thai.id)))["id"]
        assert (await hub.act(cast.thai, rid, "acknowledge")).status_code == 201
        assert await drain(ctx) == 2  # each answered 204 at the first attempt
        # A repeated delivery is acknowledged but printed once; a forged one is refused.
        body = b'{"type":"deadline.missed","event_id":99,"data":{"action":"x","request_id":"r"}}'
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            for _ in range(2):
                again = await http.post(
                    "/mla", content=body, headers=signed(hook["secret"], "m", body)
                )
                assert again.status_code == 204
            forged = await http.post("/mla", content=body, headers=signed(new_secret(), "f", body))
            assert forged.status_code == 401
    assert [line.split()[1:] for line in printed] == [
        ["statement.accepted", "transmit", rid],
        ["statement.accepted", "acknowledge", rid],
        ["deadline.missed", "x", "r"],
    ]
