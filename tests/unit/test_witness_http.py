"""The witness's HTTP surface (the bare ASGI app), its state lock and MLA_WITNESSES parsing."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from mla_tracker.config import ConfigError, Settings
from mla_tracker.crypto.cosignature import Cosigner
from mla_tracker.crypto.keys import SigningKey
from mla_tracker.crypto.note import NoteSigner
from mla_tracker.witness.core import Witness
from mla_tracker.witness.protocol import MAX_BODY_BYTES, format_add_checkpoint
from mla_tracker.witness.server import StateInUse, create_witness_app, state_lock
from tests.unit.test_witness import ORIGIN, Tree


@pytest.fixture
def parts(tmp_path: Path) -> tuple[Witness, Tree]:
    log_key = NoteSigner(ORIGIN, SigningKey.generate())
    witness = Witness(Cosigner.generate("w.example/w1"), [log_key.verifier()], tmp_path / "s.json")
    return witness, Tree(log_key).grow(3)


async def test_http_statuses_and_exact_content_types(parts: tuple[Witness, Tree]) -> None:
    witness, tree = parts
    transport = httpx.ASGITransport(app=create_witness_app(witness))
    async with httpx.AsyncClient(transport=transport, base_url="http://w") as client:
        ok = await client.post("/add-checkpoint", content=tree.request(0))
        assert ok.status_code == 200 and ok.text.startswith("\u2014 w.example/w1 ")
        stale = await client.post("/add-checkpoint", content=tree.request(0))
        assert (stale.status_code, stale.text) == (409, "3\n")
        # "The response MUST have a Content-Type of text/x.tlog.size": no charset appended.
        assert stale.headers["content-type"] == "text/x.tlog.size"
        big = format_add_checkpoint(0, [], tree.note()) + b"x" * MAX_BODY_BYTES
        assert (await client.post("/add-checkpoint", content=big)).status_code == 413
        assert (await client.get("/add-checkpoint")).status_code == 405
        assert (await client.post("/elsewhere", content=b"")).status_code == 404
        assert (await client.get("/")).text == witness.cosigner.verifier_key() + "\n"


def test_one_witness_process_per_state_file(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    with state_lock(state), pytest.raises(StateInUse), state_lock(state):
        pass
    with state_lock(state):  # released when the first witness stops
        pass


def test_mla_witnesses_setting() -> None:
    one = Cosigner.generate("w.example/w1").verifier_key()
    two = Cosigner.generate("w.example/w2").verifier_key()
    env = {"MLA_WITNESSES": f"{one} https://w1.example, \n{two} http://127.0.0.1:8001/\n"}
    assert Settings.from_env(env).witnesses == (
        (one, "https://w1.example"),
        (two, "http://127.0.0.1:8001/"),
    )
    assert Settings.from_env({}).witnesses == ()
    log_vkey = NoteSigner(ORIGIN, SigningKey.generate()).verifier_key()
    for bad, why in (
        (f"{one}", "each witness is"),
        (f"{one} ftp://w1.example", "http"),
        (f"{log_vkey} https://w1.example", "not a witness key"),
        (f"{one} https://a, {one} https://b", "twice"),
    ):
        with pytest.raises(ConfigError, match=why):
            Settings.from_env({"MLA_WITNESSES": bad})


def test_witness_commands_load_without_the_server_stack() -> None:
    """`mla witness init` is a client-side command: listing and its help import no server."""
    from tests.unit.test_cli_lazy import SERVER_PACKAGES, _probe

    modules, top_level = _probe("witness", "init", "--help")
    assert "mla_tracker.cli.witness" in modules
    assert not top_level & SERVER_PACKAGES
