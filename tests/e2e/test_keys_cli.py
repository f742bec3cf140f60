"""`mla login`, auto-login, `mla agency rotate-key|revoke-key|recover-key` against a real server."""

from __future__ import annotations

import re
from pathlib import Path

import httpx

from mla_tracker.crypto.keys import SigningKey
from tests.e2e.conftest import Server
from tests.e2e.test_cli import mla
from tests.support import OPERATOR_TOKEN


def _whoami(server: Server, token: str) -> int:
    resp = httpx.get(server.url + "/v1/whoami", headers={"Authorization": f"Bearer {token}"})
    return resp.status_code


def test_login_rotation_recovery_and_revocation(server: Server, tmp_path: Path) -> None:
    op = {"MLA_URL": server.url, "MLA_TOKEN": OPERATOR_TOKEN}
    for name in ("la", "la2", "spare"):
        mla("keygen", "-o", str(tmp_path / name))
    la_key = str(tmp_path / "la" / "signing.key")
    out = mla(
        "agency",
        "add",
        "--id",
        "la-mps",
        "--name",
        "Lao MPS",
        "--country",
        "LA",
        "--role",
        "central_authority",
        "--public-key",
        str(tmp_path / "la" / "signing.pub"),
        env=op,
    ).output
    assert "token" not in out.lower().replace("mla login", "")
    # The operator may not add a second key, and the CLI says why.
    refused = mla(
        "agency",
        "recover-key",
        "nobody",
        "--public-key",
        str(tmp_path / "spare" / "signing.pub"),
        env=op,
        ok=False,
    ).output
    assert "404" in refused

    # mla login prints an export line; the token works.
    out = mla("login", env={"MLA_URL": server.url, "MLA_KEY": la_key}).output
    match = re.search(r"^export MLA_TOKEN=(mla_\S+)$", out, re.M)
    assert match, out
    token = match.group(1)
    assert _whoami(server, token) == 200

    # Any client command with MLA_KEY and no MLA_TOKEN logs in by itself.
    listed = mla("request", "list", env={"MLA_URL": server.url, "MLA_KEY": la_key}).output
    assert "Authentication" not in listed

    # Rotation, signed locally; the old key is revoked and its session ends at once.
    out = mla(
        "agency",
        "rotate-key",
        "--new-key",
        str(tmp_path / "la2" / "signing.pub"),
        "--revoke-old",
        env={"MLA_URL": server.url, "MLA_KEY": la_key},
    ).output
    assert "added key" in out and "revoked key" in out
    assert _whoami(server, token) == 401
    assert "401" in mla("login", env={"MLA_URL": server.url, "MLA_KEY": la_key}, ok=False).output
    la2_key = str(tmp_path / "la2" / "signing.key")
    out = mla("login", env={"MLA_URL": server.url, "MLA_KEY": la2_key}).output
    assert "export MLA_TOKEN=" in out

    # A recovery key is announced at login and the agency revokes it.
    spare = SigningKey.from_pem((tmp_path / "spare" / "signing.key").read_bytes())
    out = mla(
        "agency",
        "recover-key",
        "la-mps",
        "--public-key",
        str(tmp_path / "spare" / "signing.pub"),
        env=op,
    ).output
    assert "usable from" in out
    warned = mla("login", env={"MLA_URL": server.url, "MLA_KEY": la2_key})
    assert spare.key_id in warned.output
    out = mla(
        "agency",
        "revoke-key",
        "la-mps",
        spare.key_id,
        env={"MLA_URL": server.url, "MLA_KEY": la2_key},
    ).output
    assert "signed by the agency" in out
    events = mla("agency", "key-events", "la-mps", env={"MLA_URL": server.url}).output
    assert [line.split()[2] for line in events.splitlines()] == [
        "register",
        "add",
        "revoke",
        "recover",
        "revoke",
    ]
    directory = mla("agency", "list", env={"MLA_URL": server.url}).output
    assert "rotation" in directory and "recovery" in directory
