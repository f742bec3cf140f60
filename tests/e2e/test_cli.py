"""The `mla` command against a real server process: the README walk-through, and bad input."""

from __future__ import annotations

import json
import re
import shutil
import stat
import subprocess
import time
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from mla_tracker.cli.main import cli
from tests.e2e.conftest import Server, start_server
from tests.keys_support import cli_login
from tests.support import OPERATOR_TOKEN, mla_content


def mla(*args: str, env: dict[str, str] | None = None, ok: bool = True) -> Result:
    """Run `mla ARGS` in-process and check its exit status."""
    result = CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)
    if ok:
        assert result.exit_code == 0, result.output
    else:
        assert result.exit_code != 0, result.output
    return result


def test_walkthrough(server: Server, tmp_path: Path) -> None:
    op = {"MLA_URL": server.url, "MLA_TOKEN": OPERATOR_TOKEN}
    keys = {}
    for agency in ("la", "th"):
        out = mla("keygen", "-o", str(tmp_path / agency)).output
        keys[agency] = tmp_path / agency
        for name in ("signing.key", "age.key"):
            mode = stat.S_IMODE((tmp_path / agency / name).stat().st_mode)
            assert mode == 0o600, (name, oct(mode))
        recipient = re.search(r"age recipient: (age1\S+)", out)
        assert recipient
        if shutil.which("age-keygen"):
            derived = subprocess.run(
                ["age-keygen", "-y", str(tmp_path / agency / "age.key")],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip()
            assert derived == recipient.group(1)
    # keygen refuses to overwrite keys.
    assert "refusing to overwrite" in mla("keygen", "-o", str(keys["la"]), ok=False).output

    added = mla(
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
        str(keys["la"] / "signing.pub"),
        env=op,
    ).output
    assert "mla_" not in added  # the operator never sees an agency's session token
    mla(
        "agency",
        "add",
        "--id",
        "th-oag",
        "--name",
        "Thai OAG",
        "--country",
        "TH",
        "--role",
        "central_authority",
        "--public-key",
        str(keys["th"] / "signing.key"),
        env=op,
    )
    # Laos logs in explicitly; Thailand's commands log in by themselves from MLA_KEY.
    la = cli_login(server.url, str(keys["la"] / "signing.key"))
    mla(
        "agency",
        "add",
        "--id",
        "th-ccib",
        "--name",
        "Thai CCIB",
        "--country",
        "TH",
        "--role",
        "executing_authority",
        env=op,
    )
    listing = mla("agency", "list", env={"MLA_URL": server.url}).output
    assert "la-mps" in listing and "Asia/Bangkok" in listing

    import yaml

    content = mla_content("la-mps", "th-oag")
    del content["requesting_agency"]  # the CLI fills in the caller's agency
    request_file = tmp_path / "request.yaml"
    request_file.write_text(yaml.safe_dump(content))
    as_la = {"MLA_URL": server.url, "MLA_TOKEN": la, "MLA_KEY": str(keys["la"] / "signing.key")}
    as_th = {"MLA_URL": server.url, "MLA_TOKEN": "", "MLA_KEY": str(keys["th"] / "signing.key")}
    created = mla("request", "create", str(request_file), env=as_la).output
    rid = created.split()[0]
    assert "transmitted" in created
    mla("request", "act", rid, "acknowledge", env=as_th)
    mla("request", "act", rid, "request_info", "--reason", "Which time zone?", env=as_th)
    mla("request", "act", rid, "provide_info", "--reason", "ICT (UTC+7)", env=as_la)
    mla("request", "act", rid, "accept", env=as_th)
    out = mla("request", "act", rid, "assign", "--executing-agency", "th-ccib", env=as_th).output
    assert "in_execution" in out and "th-ccib" in out
    shown = mla("request", "show", rid, env=as_la).output
    for action in ("transmit", "acknowledge", "request_info", "provide_info", "accept", "assign"):
        assert action in shown
    assert rid in mla("request", "list", "--all", env=as_la).output
    # Not the requester's move: a clear message, non-zero exit, nothing changed.
    refused = mla("request", "act", rid, "withdraw", env=as_th, ok=False).output
    assert "may only be taken by the requester" in refused
    shown_json = json.loads(mla("request", "show", rid, "--json", env=as_la).output)
    assert [s["seq"] for s in shown_json["statements"]] == [1, 2, 3, 4, 5, 6]
    assert shown_json["request"]["state"] == "in_execution"


def test_cli_bad_input(server: Server, tmp_path: Path) -> None:
    env = {"MLA_URL": server.url, "MLA_TOKEN": OPERATOR_TOKEN}
    assert (
        "cannot read"
        in mla(
            "request",
            "create",
            str(tmp_path / "missing.yaml"),
            env={**env, "MLA_KEY": "x"},
            ok=False,
        ).output
    )
    bad = tmp_path / "bad.yaml"
    bad.write_text("kind: [unclosed")
    assert (
        "not valid JSON or YAML"
        in mla("request", "create", str(bad), env={**env, "MLA_KEY": "x"}, ok=False).output
    )
    out = mla(
        "agency",
        "add",
        "--id",
        "x",
        "--name",
        "n",
        "--country",
        "LA",
        "--role",
        "central_authority",
        "--public-key",
        "not-a-key",
        env=env,
        ok=False,
    ).output
    assert "Ed25519" in out
    out = mla(
        "agency",
        "add",
        "--id",
        "la-ok",
        "--name",
        "n",
        "--country",
        "LA",
        "--role",
        "central_authority",
        env={**env, "MLA_TOKEN": "mla_wrong"},
        ok=False,
    ).output
    assert "401" in out
    out = mla("agency", "list", env={"MLA_URL": "http://127.0.0.1:9"}, ok=False).output
    assert "cannot reach" in out
    good = tmp_path / "req.json"
    good.write_text("{}")
    out = mla("request", "create", str(good), env={**env, "MLA_KEY": str(good)}, ok=False).output
    assert "not a PEM private key" in out


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_first_start_writes_operator_token(database_url: str, tmp_path: Path) -> None:
    data = tmp_path / "fresh"
    for srv in start_server(None, data, {"MLA_OPERATOR_TOKEN": ""}):
        token_file = data / "operator.token"
        assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
        token = token_file.read_text().strip()
        assert token.startswith("mla_")
        # Never logged, only its path: wait for that line, then look for the token.
        deadline = time.monotonic() + 10
        while "operator token written to" not in srv.log.read_text():
            assert time.monotonic() < deadline, srv.log.read_text()
            time.sleep(0.05)
        assert str(token_file) in srv.log.read_text() and token not in srv.log.read_text()
        out = mla(
            "agency",
            "add",
            "--id",
            "sg-agc",
            "--name",
            "SG AGC",
            "--country",
            "SG",
            "--role",
            "central_authority",
            env={"MLA_URL": srv.url, "MLA_TOKEN": token},
        ).output
        assert "sg-agc" in out
        assert (data / "mla.db").exists()
