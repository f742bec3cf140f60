"""Real processes: `mla witness serve`, `mla serve` pushing to it, `mla audit verify --witness`."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import Server, _free_port, start_server, stop, wait_until_answering
from tests.e2e.test_audit import Scene, run
from tests.support import OPERATOR_TOKEN


def _init(tmp: Path, name: str) -> tuple[Path, str]:
    """`mla witness init`: the key file (0600) and the verifier key it prints."""
    key = tmp / f"{name.replace('/', '_')}.key"
    result = run("witness", "init", "--name", name, "-o", str(key), env={})
    assert result.exit_code == 0, result.output
    assert key.stat().st_mode & 0o777 == 0o600
    vkey = result.output.split("verifier key:")[1].strip()
    return key, vkey


@contextlib.contextmanager
def _witness(key: Path, log_key: str, state: Path, port: int) -> Iterator[str]:
    log = state.with_suffix(".log")
    with log.open("wb") as out:
        args = ["--key", str(key), "--log-key", log_key, "--state", str(state), "--port", str(port)]
        proc = subprocess.Popen(
            [sys.executable, "-m", "mla_tracker.cli.main", "witness", "serve", *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=os.environ.copy(),
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_answering(proc, url + "/", log)
        yield url
    finally:
        stop(proc)


@pytest.fixture
def witnessed(database_url: str, tmp_path: Path) -> Iterator[tuple[Server, str, Path]]:
    """A hub pushing to one running witness: (the hub, the witness's verifier key, tmp)."""
    key, vkey = _init(tmp_path, "witness.test/w1")
    port = _free_port()
    env = {
        "MLA_OPERATOR_TOKEN": OPERATOR_TOKEN,
        "MLA_WITNESSES": f"{vkey} http://127.0.0.1:{port}",
        "MLA_WORKER_INTERVAL_MS": "200",
    }
    for server in start_server(database_url, tmp_path / "data", env):
        log_key = httpx.get(server.url + "/.well-known/mla-tracker-log-key").text.strip()
        with _witness(key, log_key, tmp_path / "witness-state.json", port):
            yield server, vkey, tmp_path


def _cosigned_size(scene: Scene) -> int:
    """Wait until the settled log's latest checkpoint carries the witness's cosignature."""
    size = scene.settle()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        resp = scene.http.get("/v1/log/checkpoint", params={"witnessed": "true"})
        if resp.status_code == 200 and int(resp.text.splitlines()[1]) == size:
            return size
        time.sleep(0.2)
    raise AssertionError("the witness did not cosign the latest checkpoint")


def test_audit_requires_each_witness_cosignature(
    witnessed: tuple[Server, str, Path],
) -> None:
    server, vkey, tmp = witnessed
    scene = Scene(server, tmp)
    try:
        size = _cosigned_size(scene)
        ok = scene.audit("--witness", vkey, settle=False)
        assert ok.exit_code == 0, ok.output
        assert f"witness: witness.test/w1 cosigned tree size {size} at " in ok.output
        assert "result: everything holds" in ok.output

        # A witness whose key the auditor requires, but which never cosigned anything.
        _, stranger = _init(tmp, "witness.test/w2")
        refused = scene.audit("--witness", vkey, "--witness", stranger, settle=False)
        assert refused.exit_code == 1, refused.output
        assert "FAIL witness: witness.test/w2: no cosignature by witness witness.test/w2" in (
            refused.output
        )

        # The offline bundle keeps the cosignatures of its checkpoint.
        lao = tmp / "lao.key"
        lao.write_bytes(scene.keys["la-mps"].to_pem())
        bundle = tmp / "case.bundle"
        env = {"MLA_URL": server.url, "MLA_KEY": str(lao), "MLA_TOKEN": ""}
        exported = run(
            "audit",
            "export",
            "--request",
            str(scene.mla),
            "--witnessed",
            "-o",
            str(bundle),
            env=env,
        )
        assert exported.exit_code == 0, exported.output
        offline = run("audit", "verify", str(bundle), "--witness", vkey, env={})
        assert offline.exit_code == 0, offline.output
        assert "witness: witness.test/w1 cosigned" in offline.output
        missing = run("audit", "verify", str(bundle), "--witness", stranger, env={})
        assert missing.exit_code == 1 and "witness.test/w2" in missing.output, missing.output
    finally:
        scene.http.close()
