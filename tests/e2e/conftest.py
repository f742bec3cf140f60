"""A real server process (uvicorn over TCP) on a real database, for CLI and client tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.support import OPERATOR_TOKEN


@dataclass
class Server:
    """A running `mla serve`."""

    url: str
    data_dir: Path
    log: Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(
    database_url: str | None, data_dir: Path, env: dict[str, str], args: tuple[str, ...] = ()
) -> Iterator[Server]:
    """Start `mla serve` (with `args`) as a subprocess and wait for /health."""
    port = _free_port()
    log = data_dir.parent / f"server-{port}.log"
    full_env = {**os.environ, "MLA_DATA_DIR": str(data_dir), "MLA_PORT": str(port), **env}
    if database_url:
        full_env["MLA_DATABASE_URL"] = database_url
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "mla_tracker.cli.main", "serve", *args],
            env=full_env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_answering(proc, url + "/health", log)
        yield Server(url, data_dir, log)
    finally:
        stop(proc)


def wait_until_answering(
    proc: subprocess.Popen[bytes], url: str, log: Path, timeout: float = 60
) -> None:
    """Wait until `url` answers 200; RuntimeError (with the process's log) if the process
    exits first or the time runs out."""
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited: {log.read_text()}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} did not answer: {log.read_text()}")
        time.sleep(0.1)


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL after 10 s; nothing if it has ended already."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[Server]:
    """`mla serve` on the test's database, with a known operator token."""
    yield from start_server(database_url, tmp_path / "data", {"MLA_OPERATOR_TOKEN": OPERATOR_TOKEN})
