"""Issue 11 findings 2, 4, 5 and 6 against a real `mla serve` process: a crash mid-upload,
a database that goes away, slow or huge headers, wrong-token floods, and file modes."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from mla_tracker.storage.db import create_engine
from tests.conftest import run_sync
from tests.e2e.conftest import Server, _free_port, stop, wait_until_answering
from tests.e2e.test_transfer_e2e import DATA, SHA, Scene
from tests.support import OPERATOR_TOKEN


@contextlib.contextmanager
def serving(
    data_dir: Path,
    *,
    database_url: str | None = None,
    env: dict[str, str] | None = None,
    args: tuple[str, ...] = (),
    umask: int = -1,
    wait_ready: bool = True,
) -> Iterator[tuple[Server, subprocess.Popen[bytes]]]:
    """`mla serve` as a subprocess we can SIGKILL; waits for /health."""
    port = _free_port()
    log = data_dir.parent / f"server-{port}.log"
    full = {**os.environ, "MLA_DATA_DIR": str(data_dir), "MLA_PORT": str(port), **(env or {})}
    if database_url:
        full["MLA_DATABASE_URL"] = database_url
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "mla_tracker.cli.main", "serve", *args],
            env=full,
            stdout=out,
            stderr=subprocess.STDOUT,
            umask=umask,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        if wait_ready:
            wait_until_answering(proc, url + "/health", log)
        yield Server(url, data_dir, log), proc
    finally:
        stop(proc)


def _parts(data_dir: Path) -> list[Path]:
    return sorted((data_dir / "blobs" / "tmp").glob("*.part"))


def _address(server: Server) -> tuple[str, int]:
    host, port = server.url.removeprefix("http://").split(":")
    return host, int(port)


# -- finding 2: kill -9 during an upload ---------------------------------------------------


def test_sigkill_mid_upload_leaves_no_part_after_restart(database_url: str, tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = {"MLA_OPERATOR_TOKEN": OPERATOR_TOKEN}
    with serving(data, database_url=database_url, env=env) as (server, proc):
        scene = Scene(server)
        path = scene.deliver("pkg-1", DATA)
        tokens = scene.tokens
        scene.http.close()
        sock = socket.create_connection(_address(server))
        head = (
            f"PUT {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {tokens['th-ccib']}\r\n"
            f"Content-Type: application/octet-stream\r\nContent-Length: {len(DATA)}\r\n\r\n"
        )
        sock.sendall(head.encode() + DATA[: len(DATA) // 2])
        deadline = time.time() + 10
        while not any(p.stat().st_size for p in _parts(data)) and time.time() < deadline:
            time.sleep(0.05)
        assert _parts(data), "the upload never reached the blob store"
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        sock.close()
    assert _parts(data), "SIGKILL should leave the partial file for the restart to find"
    with serving(data, database_url=database_url, env=env) as (server, _proc):
        assert _parts(data) == []
        # Logged at start-up; the log writer may take a moment to put it in the file.
        deadline = time.monotonic() + 10
        while "partial upload(s) left by an earlier crash" not in server.log.read_text():
            assert time.monotonic() < deadline, server.log.read_text()
            time.sleep(0.05)
        with httpx.Client(base_url=server.url, timeout=60) as http:
            resp = http.put(
                path, content=DATA, headers={"Authorization": f"Bearer {tokens['th-ccib']}"}
            )
            assert resp.status_code == 201, resp.text
    assert [p.name for p in (data / "blobs" / "sha256").rglob("*") if p.is_file()] == [SHA]
    assert _parts(data) == []


# -- finding 4: the database goes away -----------------------------------------------------


def _terminate_backends(url: str) -> int:
    async def run() -> int:
        engine = create_engine(url, pool=False)
        try:
            async with engine.connect() as conn:
                rows = await conn.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                    )
                )
                return len(rows.all())
        finally:
            await engine.dispose()

    return run_sync(run)


def test_killed_database_connections_answer_503_never_500(
    database_url: str, tmp_path: Path
) -> None:
    if database_url.startswith("sqlite"):
        pytest.skip("PostgreSQL only: SQLite has no connections to kill")
    env = {"MLA_OPERATOR_TOKEN": OPERATOR_TOKEN}
    with serving(tmp_path / "data", database_url=database_url, env=env) as (server, _proc):
        scene = Scene(server)
        la = scene.auth(scene.tokens["la-mps"])
        statuses: list[int] = []
        stop = threading.Event()

        def traffic() -> None:
            with httpx.Client(base_url=server.url, timeout=30) as http:
                while not stop.is_set():
                    for path in ("/v1/whoami", f"/v1/requests/{scene.rid}/statements", "/ready"):
                        statuses.append(http.get(path, headers=la).status_code)

        workers = [threading.Thread(target=traffic) for _ in range(4)]
        for w in workers:
            w.start()
        killed = 0
        try:
            for _ in range(5):
                time.sleep(0.4)
                killed += _terminate_backends(database_url)
            time.sleep(0.4)
        finally:
            stop.set()
            for w in workers:
                w.join(30)
        assert killed > 0, "no server connection was terminated"
        assert statuses and set(statuses) <= {200, 503}, sorted(set(statuses))
        # Recovered without a restart: the next requests just work.
        assert scene.http.get("/v1/whoami", headers=la).status_code == 200
        assert scene.http.get("/ready").status_code == 200
        scene.http.close()
    assert "unhandled error" not in server.log.read_text()


def test_unreachable_database_answers_503(tmp_path: Path) -> None:
    url = f"postgresql+asyncpg://postgres@127.0.0.1:{_free_port()}/nowhere"
    env = {"MLA_OPERATOR_TOKEN": OPERATOR_TOKEN}
    with serving(tmp_path / "data", database_url=url, env=env, args=("--no-migrate",)) as (
        server,
        _proc,
    ):
        with httpx.Client(base_url=server.url, timeout=10) as http:
            for _ in range(20):
                ready = http.get("/ready")
                who = http.get("/v1/whoami", headers={"Authorization": "Bearer mla_anything"})
                for resp in (ready, who):
                    assert resp.status_code == 503, resp.text
                    assert resp.headers["content-type"].startswith("application/problem+json")
                    assert int(resp.headers["retry-after"]) > 0
        time.sleep(0.2)
    log = server.log.read_text()
    assert "unhandled error" not in log
    # One short line for the outage, not one (let alone a traceback) per request.
    assert 1 <= log.count("503 on ") <= 2, log


# -- finding 5: header limits and failed authentication ------------------------------------

LIMITS = {
    "MLA_OPERATOR_TOKEN": OPERATOR_TOKEN,
    "MLA_HEADER_TIMEOUT_SECONDS": "1",
    "MLA_AUTH_FAILURE_LIMIT": "5",
}


def _closed_within(sock: socket.socket, seconds: float, trickle: bytes = b"") -> bool:
    """Whether the server closes the socket within `seconds`, while we trickle bytes."""
    sock.settimeout(0.2)
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            if trickle:
                sock.send(trickle)
            got = sock.recv(4096)
        except TimeoutError:
            continue
        except (ConnectionResetError, BrokenPipeError):
            return True
        if got == b"" or got.startswith(b"HTTP/1.1 4"):
            return True
    return False


def test_slow_and_huge_headers_are_cut_off(tmp_path: Path) -> None:
    with serving(tmp_path / "data", env=LIMITS) as (server, _proc):
        address = _address(server)
        slow = []
        for _ in range(20):
            sock = socket.create_connection(address)
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            slow.append(sock)
        silent = socket.create_connection(address)  # connects, says nothing
        started = time.time()
        try:
            assert all(_closed_within(s, 4, trickle=b"a") for s in slow)
            assert _closed_within(silent, 4)
            assert time.time() - started < 6
        finally:
            for sock in [*slow, silent]:
                sock.close()

        with socket.create_connection(address) as sock:
            sock.settimeout(5)
            answer = b""
            with contextlib.suppress(ConnectionResetError, BrokenPipeError):
                sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 1_000_000)
                sock.sendall(b"\r\n\r\n")
                answer = sock.recv(4096)
            assert not answer.startswith(b"HTTP/1.1 2"), answer[:100]
        # Ordinary headers still pass, and so does a request after a slow client was cut.
        ok = httpx.get(server.url + "/health", headers={"X-Pad": "a" * 8000}, timeout=5)
        assert ok.status_code == 200


def test_wrong_tokens_get_429_and_one_log_line(tmp_path: Path) -> None:
    with serving(tmp_path / "data", env=LIMITS) as (server, _proc):
        scene = Scene(server)
        bad = "mla_not-a-real-token-" + "x" * 20
        with httpx.Client(base_url=server.url, timeout=10) as http:
            statuses = [
                http.get("/v1/whoami", headers=scene.auth(bad)).status_code for _ in range(30)
            ]
            assert statuses[:5] == [401] * 5 and set(statuses[5:]) == {429}
            last = http.get("/v1/whoami", headers=scene.auth(bad))
            assert last.status_code == 429
            assert last.headers["content-type"].startswith("application/problem+json")
            assert 0 < int(last.headers["retry-after"]) <= 60
            good = http.get("/v1/whoami", headers=scene.auth(scene.tokens["la-mps"]))
            assert good.status_code == 200
        scene.http.close()
    log = server.log.read_text()
    assert log.count("wrong tokens from 127.0.0.1") == 1, log
    assert bad not in log


# -- finding 6: owner-only files whatever the umask ----------------------------------------


def test_files_are_owner_only_under_umask_022(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with serving(data, umask=0o022) as (server, _proc):
        assert (data / "operator.token").exists()
        assert httpx.get(server.url + "/ready", timeout=5).status_code == 200
    env = {"MLA_OPERATOR_TOKEN": OPERATOR_TOKEN}
    with serving(data, env=env, umask=0o022) as (server, _proc):
        scene = Scene(server)
        path = scene.deliver("pkg-1", DATA)
        resp = scene.http.put(path, content=DATA, headers=scene.auth(scene.tokens["th-ccib"]))
        assert resp.status_code == 201, resp.text
        scene.http.close()
        made = [data, *data.rglob("*")]
        names = {p.name for p in made}
        assert {"mla.db", "mla.db-wal", "mla.db-shm", "server.key", SHA} <= names
        loose = [
            f"{p.relative_to(tmp_path)} {stat.filemode(p.stat().st_mode)}"
            for p in made
            if p.stat().st_mode & 0o077
        ]
        assert loose == []
