"""Evidence transfer against a real server process over TCP: streaming, interruption, resume."""

from __future__ import annotations

import hashlib
import os
import socket
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest

from mla_tracker import protocol
from mla_tracker.crypto.keys import SigningKey
from mla_tracker.crypto.statement import GENESIS, digest
from tests.e2e.conftest import Server
from tests.e2e.test_cli import mla
from tests.support import mla_content, register_sync

DATA = os.urandom(5 * 1024 * 1024 + 3)
SHA = hashlib.sha256(DATA).hexdigest()


class Scene:
    """Three agencies and a request in execution with one announced package."""

    def __init__(self, server: Server) -> None:
        self.http = httpx.Client(base_url=server.url, timeout=60)
        self.keys: dict[str, SigningKey] = {}
        self.tokens: dict[str, str] = {}
        for agency_id, country, role in (
            ("la-mps", "LA", "central_authority"),
            ("th-oag", "TH", "central_authority"),
            ("th-ccib", "TH", "executing_authority"),
        ):
            self.keys[agency_id], self.tokens[agency_id] = register_sync(
                self.http, agency_id, country, role
            )
        self.rid = uuid.uuid4()
        self.prev, self.seq = GENESIS, 0
        self.send("la-mps", "transmit", mla_content("la-mps", "th-oag"), path="/v1/requests")
        for action, body in (
            ("acknowledge", {}),
            ("accept", {}),
            ("assign", {"executing_agency": "th-ccib"}),
        ):
            self.send("th-oag", action, body)

    @staticmethod
    def auth(token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    def send(self, actor: str, action: str, body: dict[str, Any], path: str | None = None) -> None:
        signed = protocol.sign(
            self.keys[actor],
            request_id=self.rid,
            seq=self.seq + 1,
            prev=self.prev,
            action=action,
            actor=actor,
            body=body,
        )
        resp = self.http.post(
            path or f"/v1/requests/{self.rid}/statements",
            json=protocol.to_json(signed),
            headers=self.auth(self.tokens[actor]),
        )
        assert resp.status_code == 201, resp.text
        self.seq, self.prev = self.seq + 1, digest(signed.envelope.payload_bytes())

    def deliver(self, package_id: str, data: bytes) -> str:
        self.send(
            "th-ccib",
            "deliver_evidence",
            {
                "package_id": package_id,
                "ciphertext_sha256": hashlib.sha256(data).hexdigest(),
                "ciphertext_size": len(data),
                "recipients": ["age1example"],
            },
        )
        return f"/v1/requests/{self.rid}/packages/{package_id}/content"


@pytest.fixture
def scene(server: Server) -> Any:
    s = Scene(server)
    yield s
    s.http.close()


def _blobs(server: Server) -> list[Path]:
    return sorted(p for p in (server.data_dir / "blobs").rglob("*") if p.is_file())


def test_interrupted_upload_leaves_nothing_then_streamed_upload_succeeds(
    server: Server, scene: Scene
) -> None:
    path = scene.deliver("pkg-1", DATA)
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as sock:
        head = (
            f"PUT {path} HTTP/1.1\r\nHost: {host}\r\n"
            f"Authorization: Bearer {scene.tokens['th-ccib']}\r\n"
            f"Content-Type: application/octet-stream\r\nContent-Length: {len(DATA)}\r\n\r\n"
        )
        sock.sendall(head.encode() + DATA[: len(DATA) // 2])
        time.sleep(0.5)
    deadline = time.time() + 10
    while _blobs(server) and time.time() < deadline:
        time.sleep(0.1)
    assert _blobs(server) == [], "an interrupted upload left bytes behind"
    listed = scene.http.get(
        f"/v1/requests/{scene.rid}/packages", headers=scene.auth(scene.tokens["la-mps"])
    ).json()
    assert listed[0]["uploaded_at"] is None

    def chunks() -> Any:
        for i in range(0, len(DATA), 1 << 20):
            yield DATA[i : i + (1 << 20)]

    resp = scene.http.put(path, content=chunks(), headers=scene.auth(scene.tokens["th-ccib"]))
    assert resp.status_code == 201, resp.text
    assert [p.name for p in _blobs(server)] == [SHA]


def test_cli_upload_and_resumed_download(server: Server, scene: Scene, tmp_path: Path) -> None:
    package = tmp_path / "pkg.age"
    package.write_bytes(DATA)
    env = {"MLA_URL": server.url, "MLA_TOKEN": scene.tokens["th-ccib"]}
    scene.deliver("pkg-2", DATA)
    out = mla(
        "evidence", "upload", str(scene.rid), str(package), "--package-id", "pkg-2", env=env
    ).output
    assert "uploaded pkg-2" in out
    assert (
        "already uploaded"
        in mla(
            "evidence", "upload", str(scene.rid), str(package), "--package-id", "pkg-2", env=env
        ).output
    )
    # A broken earlier download left the first 2 MiB: the CLI resumes from there.
    target = tmp_path / "got.age"
    (tmp_path / "got.age.part").write_bytes(DATA[: 2 * 1024 * 1024])
    as_la = {"MLA_URL": server.url, "MLA_TOKEN": scene.tokens["la-mps"]}
    out = mla("evidence", "download", str(scene.rid), "pkg-2", "-o", str(target), env=as_la).output
    assert "resuming at byte 2097152" in out and "verified" in out
    assert target.read_bytes() == DATA
    assert not (tmp_path / "got.age.part").exists()
    # A corrupt partial file is caught by the final digest check and removed.
    bad = tmp_path / "bad.age"
    (tmp_path / "bad.age.part").write_bytes(b"\0" * 1024)
    out = mla(
        "evidence", "download", str(scene.rid), "pkg-2", "-o", str(bad), env=as_la, ok=False
    ).output
    assert "do not match" in out and not bad.exists()
    assert not (tmp_path / "bad.age.part").exists()
    trail = scene.http.get(
        f"/v1/requests/{scene.rid}/packages/pkg-2/custody",
        headers=scene.auth(scene.tokens["la-mps"]),
    ).json()
    assert [t["event"] for t in trail] == ["uploaded", "downloaded", "downloaded"]
    # The wrong file is refused before anything is sent.
    other = tmp_path / "other.age"
    other.write_bytes(DATA[:-1])
    scene.deliver("pkg-3", DATA)
    out = mla(
        "evidence", "upload", str(scene.rid), str(other), "--package-id", "pkg-3", env=env, ok=False
    ).output
    assert "delivery statement says" in out


def test_seal_upload_download_open_round_trip(server: Server, scene: Scene, tmp_path: Path) -> None:
    """The whole evidence path through the real API: seal, deliver, upload, download, open."""
    mla("keygen", "-o", str(tmp_path / "la-keys"))
    recipient_file = tmp_path / "la-keys" / "age.key"
    recipient = next(
        line.split(": ", 1)[1]
        for line in recipient_file.read_text().splitlines()
        if line.startswith("# public key: ")
    )
    evidence = tmp_path / "export"
    (evidence / "logs").mkdir(parents=True)
    (evidence / "subscriber.csv").write_text("msisdn,name\n+66812345678,Somchai\n")
    (evidence / "logs" / "ip-log.txt").write_bytes(os.urandom(300_000))
    package = tmp_path / "subscriber.age"
    mla(
        "evidence",
        "seal",
        "-r",
        recipient,
        "-o",
        str(package),
        "--request",
        str(scene.rid),
        "--producer",
        "Thai CCIB",
        str(evidence),
    )
    # The executing authority signs the delivery from the sealed package and uploads it.
    key_file = tmp_path / "th-ccib.key"
    key_file.write_bytes(scene.keys["th-ccib"].to_pem())
    mla(
        "evidence",
        "upload",
        str(scene.rid),
        str(package),
        env={"MLA_URL": server.url, "MLA_TOKEN": scene.tokens["th-ccib"], "MLA_KEY": str(key_file)},
    )
    delivery = msgspec.json.decode((tmp_path / "subscriber.age.delivery.json").read_bytes())
    statements = scene.http.get(
        f"/v1/requests/{scene.rid}/statements", headers=scene.auth(scene.tokens["la-mps"])
    ).json()
    assert statements[-1]["action"] == "deliver_evidence"
    # The requester downloads and opens it with its own identity.
    got = tmp_path / "got.age"
    mla(
        "evidence",
        "download",
        str(scene.rid),
        delivery["package_id"],
        "-o",
        str(got),
        env={"MLA_URL": server.url, "MLA_TOKEN": scene.tokens["la-mps"]},
    )
    assert got.read_bytes() == package.read_bytes()
    opened = tmp_path / "opened"
    out = mla(
        "evidence",
        "open",
        "-i",
        str(recipient_file),
        "-o",
        str(opened),
        str(got),
        "--expect-sha256",
        delivery["ciphertext_sha256"],
    ).output
    assert delivery["ciphertext_sha256"] in out
    bag_data = opened / "data" / "export"
    assert (bag_data / "subscriber.csv").read_text() == (evidence / "subscriber.csv").read_text()
    assert (bag_data / "logs" / "ip-log.txt").read_bytes() == (
        evidence / "logs" / "ip-log.txt"
    ).read_bytes()
    # Someone else's identity cannot open it.
    mla("keygen", "-o", str(tmp_path / "other"))
    refused = mla(
        "evidence",
        "open",
        "-i",
        str(tmp_path / "other" / "age.key"),
        "-o",
        str(tmp_path / "nope"),
        str(got),
        ok=False,
    ).output
    assert "identity" in refused and not (tmp_path / "nope").exists()
