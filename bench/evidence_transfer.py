"""Evidence upload + download throughput through the real API on loopback.

Starts `mla serve` (uvicorn, one worker) on a fresh SQLite data folder, announces a package
of BENCH_SIZE_MIB random bytes (default 1024) with a signed delivery, then times a streamed
upload (checked against the signed digest, fsynced, renamed) and a streamed download.
Beside them, in the same run: `sha256sum` of the same file and a plain `cp`, as the floor.
Goal: >= 200 MB/s each way.

Run: .venv/bin/python bench/evidence_transfer.py
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

from tests.support import login_sync, mla_content  # noqa: E402

from mla_tracker import protocol  # noqa: E402
from mla_tracker.crypto.keys import SigningKey  # noqa: E402
from mla_tracker.crypto.statement import GENESIS, digest  # noqa: E402

SIZE = int(os.environ.get("BENCH_SIZE_MIB", "1024")) * 1024 * 1024
CHUNK = 1024 * 1024
OPERATOR = "mla_bench-operator"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _timed(label: str, seconds: float) -> float:
    rate = SIZE / seconds / 1e6
    print(f"{label:<34} {seconds:7.2f} s  {rate:8.1f} MB/s")
    return rate


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="mla-bench-"))
    try:
        source = work / "package.age"
        sha = hashlib.sha256()
        with source.open("wb") as out:
            for _ in range(SIZE // CHUNK):
                block = os.urandom(CHUNK)
                sha.update(block)
                out.write(block)
        sha_hex = sha.hexdigest()
        print(f"{SIZE / 2**20:.0f} MiB package, {os.cpu_count()} CPUs, loopback, SQLite")

        t0 = time.perf_counter()
        subprocess.run(["sha256sum", str(source)], check=True, stdout=subprocess.DEVNULL)
        _timed("sha256sum (reference)", time.perf_counter() - t0)
        t0 = time.perf_counter()
        shutil.copyfile(source, work / "copy")
        os.sync()
        _timed("cp + sync (reference)", time.perf_counter() - t0)
        (work / "copy").unlink()

        port = _free_port()
        env = {
            **os.environ,
            "MLA_DATA_DIR": str(work / "data"),
            "MLA_PORT": str(port),
            "MLA_OPERATOR_TOKEN": OPERATOR,
        }
        env.pop("MLA_DATABASE_URL", None)
        server = subprocess.Popen(
            [sys.executable, "-m", "mla_tracker.cli.main", "serve"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            for _ in range(300):
                try:
                    httpx.get(base + "/health", timeout=1)
                    break
                except httpx.HTTPError:
                    time.sleep(0.1)
            http = httpx.Client(base_url=base, timeout=600)
            keys: dict[str, SigningKey] = {}
            tokens: dict[str, dict[str, str]] = {}
            for agency_id, country, role in (
                ("la-mps", "LA", "central_authority"),
                ("th-oag", "TH", "central_authority"),
                ("th-ccib", "TH", "executing_authority"),
            ):
                keys[agency_id] = SigningKey.generate()
                resp = http.post(
                    "/v1/agencies",
                    headers={"Authorization": f"Bearer {OPERATOR}"},
                    json={
                        "id": agency_id,
                        "name": agency_id,
                        "country": country,
                        "role": role,
                        "public_key": keys[agency_id].public.to_base64(),
                    },
                )
                assert resp.status_code == 201, resp.text
                token = login_sync(http, agency_id, keys[agency_id])
                tokens[agency_id] = {"Authorization": f"Bearer {token}"}
            rid, prev, seq = uuid.uuid4(), GENESIS, 0

            def send(actor: str, action: str, body: dict[str, Any]) -> None:
                nonlocal prev, seq
                signed = protocol.sign(
                    keys[actor],
                    request_id=rid,
                    seq=seq + 1,
                    prev=prev,
                    action=action,
                    actor=actor,
                    body=body,
                )
                path = "/v1/requests" if seq == 0 else f"/v1/requests/{rid}/statements"
                resp = http.post(path, headers=tokens[actor], json=protocol.to_json(signed))
                assert resp.status_code == 201, resp.text
                prev, seq = digest(signed.envelope.payload_bytes()), seq + 1

            send("la-mps", "transmit", mla_content("la-mps", "th-oag"))
            for action, body in (
                ("acknowledge", {}),
                ("accept", {}),
                ("assign", {"executing_agency": "th-ccib"}),
            ):
                send("th-oag", action, body)
            send(
                "th-ccib",
                "deliver_evidence",
                {
                    "package_id": "pkg-bench",
                    "ciphertext_sha256": sha_hex,
                    "ciphertext_size": SIZE,
                    "recipients": ["age1bench"],
                },
            )
            path = f"/v1/requests/{rid}/packages/pkg-bench/content"

            def chunks() -> Any:
                with source.open("rb") as fh:
                    while block := fh.read(CHUNK):
                        yield block

            t0 = time.perf_counter()
            resp = http.put(path, content=chunks(), headers=tokens["th-ccib"])
            up = time.perf_counter() - t0
            assert resp.status_code == 201, resp.text
            up_rate = _timed("upload (hash + fsync + rename)", up)
            got = hashlib.sha256()
            t0 = time.perf_counter()
            with http.stream("GET", path, headers=tokens["la-mps"]) as stream:
                for block in stream.iter_bytes(CHUNK):
                    got.update(block)
            down = time.perf_counter() - t0
            assert got.hexdigest() == sha_hex
            down_rate = _timed("download (+ client sha256)", down)
            http.close()
            print(
                f"goal >= 200 MB/s: upload {'met' if up_rate >= 200 else 'MISSED'}, "
                f"download {'met' if down_rate >= 200 else 'MISSED'}"
            )
        finally:
            server.terminate()
            server.wait()
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
