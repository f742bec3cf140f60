"""`mla demo`: a whole case on a throwaway hub, each step shown with the command behind it.

Every step runs the real `mla` command in this process (same parsing, signing, upload and
audit code a user gets), from a temporary working folder, so the command printed beside a
step is exactly what ran there, with `$PRES` and `$MLA` standing for the request ids.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import secrets
import shlex
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click

from ..examples import mla_content, preservation_content
from .client import Api
from .extras import require_server

#: How long the embedded hub may take to migrate and answer /health.
START_TIMEOUT = 30.0


class DemoError(Exception):
    """A step did not do what the case needs; the message names the command and its output."""


@dataclass(frozen=True)
class Party:
    """One agency of the case."""

    id: str
    name: str
    country: str
    role: str

    @property
    def key(self) -> str:
        """Its signing key, relative to the working folder."""
        return f"keys/{self.id}/signing.key"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def embedded_hub(folder: Path) -> Iterator[tuple[str, str]]:
    """`mla serve` as a child process on a free local port, its data in FOLDER/data.

    Yields (url, operator token); the server is stopped on the way out, whatever happened.
    """
    import httpx

    token = "mla_demo-" + secrets.token_urlsafe(24)
    port = _free_port()
    # None of the caller's MLA_* settings: a MLA_DATABASE_URL would point the demo at a
    # real database.
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLA_")}
    env.update(
        MLA_DATA_DIR=str(folder / "data"),
        MLA_HOST="127.0.0.1",
        MLA_PORT=str(port),
        MLA_OPERATOR_TOKEN=token,
    )
    log = folder / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "mla_tracker.cli.main", "serve"],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if proc.poll() is not None:
                raise DemoError(f"the embedded hub exited:\n{_tail(log)}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(url + "/health", timeout=1).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise DemoError(f"the embedded hub did not answer /health:\n{_tail(log)}")
            time.sleep(0.1)
        yield url, token
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _tail(log: Path, lines: int = 20) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


@contextlib.contextmanager
def _environment(settings: dict[str, str]) -> Iterator[None]:
    """Exactly these MLA_* variables while a command runs (the user's own are set aside)."""
    saved = {k: v for k, v in os.environ.items() if k.startswith("MLA_")}
    for name in saved:
        del os.environ[name]
    os.environ.update(settings)
    try:
        yield
    finally:
        for name in settings:
            os.environ.pop(name, None)
        os.environ.update(saved)


def _shown(arg: str) -> str:
    """An argument as a user would type it: `$VAR` left for the shell, the rest quoted."""
    return arg if arg.startswith("$") else shlex.quote(arg)


class Case:
    """The case, played step by step against a hub from a working folder."""

    def __init__(self, url: str, operator_token: str, suffix: str = "") -> None:
        self.url = url
        self.operator_token = operator_token
        self.la, self.th, self.ccib, self.auditor = (
            Party(f"la-mps{suffix}", "Lao PDR MPS cybercrime", "LA", "central_authority"),
            Party(f"th-oag{suffix}", "Thailand OAG", "TH", "central_authority"),
            Party(f"th-ccib{suffix}", "Thai CCIB", "TH", "executing_authority"),
            Party(f"asean-audit{suffix}", "ASEAN audit", "SG", "auditor"),
        )
        #: What `$PRES` and `$MLA` stand for in the commands shown.
        self.vars: dict[str, str] = {}
        self.pending: list[str] = []
        self.count = 0

    def mla(self, *args: str, actor: Party | None = None, hub: bool = True) -> tuple[int, str]:
        """Run `mla ARGS` here as ACTOR (None: the operator); return exit status and output."""
        from .main import cli

        # The hub's URL is set as MLA_URL for every command, as the header line says.
        env, prefix = {"MLA_URL": self.url}, ""
        if hub and actor is None:
            env["MLA_TOKEN"], prefix = self.operator_token, "MLA_TOKEN=$OPERATOR_TOKEN "
        elif hub and actor is not None:
            # With MLA_KEY and no MLA_TOKEN, every command logs in by itself.
            env["MLA_KEY"], prefix = actor.key, f"MLA_KEY={actor.key} "
        self.pending.append(prefix + "mla " + " ".join(_shown(a) for a in args))
        out, err = io.StringIO(), io.StringIO()
        code = 0
        real = [self.vars.get(a, a) for a in args]
        with _environment(env), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                cli.main(real, prog_name="mla", standalone_mode=False)
            except click.ClickException as exc:
                err.write(f"Error: {exc.format_message()}\n")
                code = exc.exit_code
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
        return code, out.getvalue() + err.getvalue()

    def run(self, *args: str, actor: Party | None = None, hub: bool = True) -> str:
        """`mla` as above, which must succeed; return its output."""
        code, output = self.mla(*args, actor=actor, hub=hub)
        if code != 0:
            raise DemoError(f"$ {self.pending[-1]}\n{output.rstrip()}")
        return output

    def act(self, actor: Party, request: str, action: str, *extra: str) -> str:
        """Sign and send the next statement; return the state it led to."""
        out = self.run("request", "act", request, action, *extra, actor=actor)
        return out.split()[2]  # the request line: id, kind, state, …

    def step(self, text: str) -> None:
        """Print a step and the commands that made it."""
        self.count += 1
        click.echo(f"{self.count:>2}. {text}")
        for command in self.pending:
            click.echo(f"      $ {command}")
        self.pending.clear()

    def play(self) -> bool:
        """The whole case, then the auditor's verification; True if everything holds."""
        la, th, ccib, auditor = self.la, self.th, self.ccib, self.auditor
        recipients: dict[str, str] = {}
        for party in (la, th, ccib, auditor):
            made = self.run("keygen", "-o", f"keys/{party.id}", hub=False)
            recipients[party.id] = made.split("age recipient: ", 1)[1].split()[0]
            self.run(
                "agency", "add", "--id", party.id, "--name", party.name,
                "--country", party.country, "--role", party.role,
                "--public-key", f"keys/{party.id}/signing.pub",
            )  # fmt: skip
            role = party.role.replace("_", " ")
            self.step(f"{party.id}: {party.name}, {role} ({party.country}), keys made, registered")

        Path("preservation-request.json").write_text(
            json.dumps(preservation_content(la.id, th.id), indent=2) + "\n"
        )
        pres = self.create(la, "preservation-request.json", "$PRES")
        self.step(f"{la.id} asks {th.id} to preserve the subscriber data: PRES={pres}")
        self.step(f"{th.id} acknowledges → {self.act(th, '$PRES', 'acknowledge')}")
        until = (datetime.now(UTC).date() + timedelta(days=90)).isoformat()
        state = self.act(th, "$PRES", "preserve", "--until", until)
        self.step(f"{th.id} preserves it until {until}, 90 days (Budapest 29(7): ≥ 60) → {state}")

        Path("mla-request.json").write_text(
            json.dumps(mla_content(la.id, th.id, linked_request_id=pres), indent=2) + "\n"
        )
        rid = self.create(la, "mla-request.json", "$MLA")
        self.step(f"{la.id} sends the MLA request that follows: MLA={rid}")
        self.step(f"{th.id} acknowledges → {self.act(th, '$MLA', 'acknowledge')}")
        state = self.act(
            th, "$MLA", "request_info", "--reason", "Which time zone are the times in?"
        )
        self.step(f"{th.id} asks a question → {state}")
        state = self.act(la, "$MLA", "provide_info", "--reason", "ICT (UTC+7)")
        self.step(f"{la.id} answers → {state}")
        self.step(f"{th.id} accepts → {self.act(th, '$MLA', 'accept')}")
        state = self.act(th, "$MLA", "assign", "--executing-agency", ccib.id)
        self.step(f"{th.id} assigns it to {ccib.id} → {state}")

        delivery = self.evidence(la, ccib, recipients[la.id])
        package, sha = delivery["package_id"], delivery["ciphertext_sha256"]
        Path("receipt.json").write_text(
            json.dumps({"package_id": package, "ciphertext_sha256": sha, "verified": True}) + "\n"
        )
        state = self.act(la, "$MLA", "receive_evidence", "--body", "receipt.json")
        self.step(f"{la.id} signs its receipt (receipt.json: {package}, its sha256) → {state}")
        self.step(f"{ccib.id} completes execution → {self.act(ccib, '$MLA', 'complete_execution')}")
        Path("supersede.json").write_text(json.dumps({"mla_request_id": rid}) + "\n")
        state = self.act(la, "$PRES", "supersede", "--body", "supersede.json")
        self.step(f"{la.id} supersedes the preservation with the MLA request → {state}")
        self.step(f"{la.id} closes the MLA request → {self.act(la, '$MLA', 'close')}")

        self.settle()
        code, report = self.mla("audit", "verify", "--state", "audit-state.json", actor=auditor)
        self.step(f"{auditor.id} verifies the log, every key event and every chain:")
        for line in report.splitlines():
            # The progress labels of `audit verify` are for a terminal; the report is the point.
            if not line.startswith("fetching:"):
                click.echo(f"      {line}")
        return code == 0 and "result: everything holds" in report

    def create(self, actor: Party, file: str, var: str) -> str:
        """Transmit a request from FILE; `var` stands for its id from now on."""
        out = self.run("request", "create", file, actor=actor)
        request_id = str(uuid.UUID(out.split()[0]))
        self.vars[var] = request_id
        return request_id

    def evidence(self, reader: Party, executor: Party, recipient: str) -> dict[str, Any]:
        """Seal, deliver and upload, download, open; return the delivery body."""
        export = Path("export")
        export.mkdir()
        (export / "subscriber.csv").write_text(
            "msisdn,name,registered\n+66812345678,Somchai Example,2025-03-14\n"
        )
        (export / "certificate.txt").write_text(
            "Example Mobile Co. certifies that subscriber.csv is a true copy of its records.\n"
        )
        self.run(
            "evidence", "seal", "-r", recipient, "-o", "subscriber.age", "--request", "$MLA",
            "--producer", executor.name, "export", hub=False,
        )  # fmt: skip
        delivery: dict[str, Any] = json.loads(Path("subscriber.age.delivery.json").read_text())
        package, sha = delivery["package_id"], delivery["ciphertext_sha256"]
        size = delivery["ciphertext_size"]
        self.step(f"{executor.id} seals 2 files for {reader.id}'s age key: {package}, {size} bytes")
        self.run("evidence", "upload", "$MLA", "subscriber.age", actor=executor)
        self.step(f"{executor.id} signs deliver_evidence and uploads the package")
        self.run("evidence", "download", "$MLA", package, "-o", "received.age", actor=reader)
        self.step(f"{reader.id} downloads it, its sha256 checked against the signed delivery")
        self.run(
            "evidence", "open", "-i", f"keys/{reader.id}/age.key", "-o", "opened",
            "--expect-sha256", sha, "received.age", hub=False,
        )  # fmt: skip
        self.step(f"{reader.id} decrypts and opens it: BagIt bag valid, every checksum holds")
        return delivery

    def settle(self) -> None:
        """Wait until the log's checkpoint covers everything just done (it stops growing)."""
        api, seen, stable = Api(self.url, None), -1, 0
        deadline = time.monotonic() + 15
        while stable < 3 and time.monotonic() < deadline:
            lines = api.text("/v1/log/checkpoint").splitlines()
            size = int(lines[1]) if len(lines) > 1 else 0
            stable = stable + 1 if size == seen and size > 0 else 0
            seen = size
            time.sleep(0.1)


@click.command("demo")
@click.option("--url", envvar="MLA_URL", help="play on this hub, not an embedded one [env MLA_URL]")
@click.option("--token", envvar="MLA_TOKEN", help="that hub's operator token [env MLA_TOKEN]")
def demo(url: str | None, token: str | None) -> None:
    """Play a whole case on a throwaway hub, showing each step and the command behind it.

    Starts `mla serve` in a temporary folder (or uses --url, with the operator's --token),
    registers a Lao and a Thai central authority, a Thai executing authority and an auditor,
    and plays a preservation, the MLA request that follows, a sealed evidence package and
    its receipt; then verifies everything as the auditor (`mla audit verify`). Exits 0 only
    if everything holds; the folder and the embedded hub are gone afterwards.

    Examples: mla demo;
    MLA_URL=http://127.0.0.1:8000 MLA_TOKEN=$(cat data/operator.token) mla demo
    """
    if url and not token:
        raise click.UsageError(
            "with --url / MLA_URL, give the operator's token (MLA_TOKEN), or unset MLA_URL "
            "for an embedded hub"
        )
    if not url:
        require_server("mla demo without --url (an embedded hub)")
    started = time.monotonic()
    ok, stopped = False, "" if url else "hub stopped, "
    with tempfile.TemporaryDirectory(prefix="mla-demo-") as tmp:
        folder = Path(tmp)
        try:
            with contextlib.ExitStack() as stack:
                if url and token:
                    hub, operator, where = url.rstrip("/"), token, "given by MLA_URL"
                    # Fresh agency ids, so the demo can run again on the same hub.
                    suffix = "-demo-" + secrets.token_hex(2)
                else:
                    hub, operator = stack.enter_context(embedded_hub(folder))
                    where, suffix = f"embedded, data in {folder / 'data'}", ""
                click.echo(f"mla demo: hub {hub} ({where})")
                click.echo(f"working folder {folder}; commands as typed there, MLA_URL={hub}")
                with contextlib.chdir(folder):
                    ok = Case(hub, operator, suffix).play()
        except DemoError as exc:
            click.echo(f"FAILED: {exc}")
    click.echo(
        ("everything holds" if ok else "the demo FAILED")
        + f"; {stopped}{folder} removed ({time.monotonic() - started:.1f} s)"
    )
    sys.exit(0 if ok else 1)
