"""`mla demo` as a user runs it: a whole case on an embedded hub, and nothing left behind."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from mla_tracker.cli.main import cli

#: Every step of the case, in order, as the demo prints it (ids are the embedded hub's).
STEPS = [
    "la-mps: Lao PDR MPS cybercrime, central authority (LA), keys made, registered",
    "th-oag: Thailand OAG, central authority (TH), keys made, registered",
    "th-ccib: Thai CCIB, executing authority (TH), keys made, registered",
    "asean-audit: ASEAN audit, auditor (SG), keys made, registered",
    "la-mps asks th-oag to preserve the subscriber data: PRES=",
    "th-oag acknowledges → acknowledged",
    "th-oag preserves it until ",
    "la-mps sends the MLA request that follows: MLA=",
    "th-oag acknowledges → acknowledged",
    "th-oag asks a question → info_requested",
    "la-mps answers → acknowledged",
    "th-oag accepts → accepted",
    "th-oag assigns it to th-ccib → in_execution",
    "th-ccib seals 2 files for la-mps's age key: pkg-",
    "th-ccib signs deliver_evidence and uploads the package",
    "la-mps downloads it, its sha256 checked against the signed delivery",
    "la-mps decrypts and opens it: BagIt bag valid, every checksum holds",
    "la-mps signs its receipt (receipt.json: pkg-",
    "th-ccib completes execution → executed",
    "la-mps supersedes the preservation with the MLA request → superseded",
    "la-mps closes the MLA request → closed",
    "asean-audit verifies the log, every key event and every chain:",
]

#: A few of the commands shown, exactly as a user would type them in the working folder.
COMMANDS = [
    "$ mla keygen -o keys/la-mps",
    "$ MLA_TOKEN=$OPERATOR_TOKEN mla agency add --id th-ccib --name 'Thai CCIB' --country TH"
    " --role executing_authority --public-key keys/th-ccib/signing.pub",
    "$ MLA_KEY=keys/la-mps/signing.key mla request create preservation-request.json",
    "$ MLA_KEY=keys/th-oag/signing.key mla request act $MLA assign --executing-agency th-ccib",
    "$ MLA_KEY=keys/th-ccib/signing.key mla evidence upload $MLA subscriber.age",
    "$ MLA_KEY=keys/la-mps/signing.key mla request act $PRES supersede --body supersede.json",
    "$ MLA_KEY=keys/asean-audit/signing.key mla audit verify --state audit-state.json",
]


def test_demo_plays_a_whole_case_verifies_it_and_leaves_nothing() -> None:
    # The user's MLA_* settings would point the demo at another hub.
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLA_")}
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "mla_tracker.cli.main", "demo"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    elapsed = time.monotonic() - started
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    assert elapsed < 30, f"the demo took {elapsed:.1f} s"

    steps = re.findall(r"^ ?(\d+)\. (.*)$", out, re.MULTILINE)
    assert [int(n) for n, _ in steps] == list(range(1, len(STEPS) + 1)), out
    for (_, line), expected in zip(steps, STEPS, strict=True):
        assert line.startswith(expected), (line, expected)
    for command in COMMANDS:
        assert command in out, command
    assert "requests verified: 2 (14 statements)" in out
    assert "      result: everything holds" in out
    assert "FAIL" not in out

    folder = re.search(r"^working folder (\S+);", out, re.MULTILINE)
    assert folder, out
    assert not Path(folder.group(1)).exists(), "the working folder was left behind"
    hub = re.search(r"^mla demo: hub http://127\.0\.0\.1:(\d+) \(embedded", out, re.MULTILINE)
    assert hub, out
    port = int(hub.group(1))
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    with socket.socket() as probe:
        # SO_REUSEADDR ignores the closed connections' TIME_WAIT, not a listener.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(("127.0.0.1", port))
    assert re.search(r"^everything holds; hub stopped, \S+ removed", out, re.MULTILINE), out


def test_a_given_hub_needs_the_operator_token() -> None:
    result = CliRunner().invoke(
        cli, ["demo"], env={"MLA_URL": "http://127.0.0.1:9", "MLA_TOKEN": ""}
    )
    assert result.exit_code == 2
    assert "operator's token" in result.output
