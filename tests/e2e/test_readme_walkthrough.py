"""The README walk-through, run as written against a real server so it cannot drift again.

The shell block is read from README.md (not copied here) and each line is run with the `mla`
CLI in-process. Only what must differ on a test machine is substituted: the server URL, the
data folder the operator's token is in, the example files' folder, and `<id>`.
"""

from __future__ import annotations

import json
import re
import shlex
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from mla_tracker.cli.main import cli
from tests.e2e.conftest import Server, start_server
from tests.support import mla_content, preservation_content

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
EXAMPLES = ROOT / "docs" / "examples"
SECTION = "## Walk-through with the CLI"
README_URL = "http://127.0.0.1:8000"
#: The variables the walk-through sets; the rest of the environment is left alone.
VARIABLES = ("MLA_URL", "MLA_TOKEN", "MLA_KEY")


def walkthrough() -> list[str]:
    """The walk-through's shell block as logical lines (continuations joined, comments out)."""
    section = README.read_text().split(SECTION, 1)[1]
    match = re.search(r"```sh\n(.*?)```", section, re.S)
    assert match, "the walk-through has no ```sh block"
    lines: list[str] = []
    pending = ""
    for raw in match.group(1).splitlines():
        if raw.rstrip().endswith("\\"):
            pending += raw.rstrip()[:-1] + " "
            continue
        line = (pending + raw).strip()
        pending = ""
        if line and not line.startswith("#"):
            lines.append(line)
    return lines


class Shell:
    """Runs the walk-through's commands: export, unset, eval "$(mla …)", VAR=… mla …"""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.env: dict[str, str] = {}
        self.request_id: str | None = None
        self.outputs: list[tuple[str, str]] = []

    def substitute(self, line: str) -> str:
        """Point the README's fixed places at this test's server, data and examples."""
        line = line.replace(README_URL, self.server.url)
        line = re.sub(r"(?<![\w/])data/", f"{self.server.data_dir}/", line)
        line = re.sub(r"(?<![\w/])docs/examples/", f"{EXAMPLES}/", line)
        # $(cat FILE): the shell would read the file; so do we.
        return re.sub(r"\$\(cat ([^)]+)\)", lambda m: Path(m.group(1)).read_text().strip(), line)

    def mla(self, args: list[str], overrides: dict[str, str]) -> str:
        """`mla ARGS` in-process with the shell's variables; asserts it succeeds."""
        env: dict[str, str | None] = {name: self.env.get(name) for name in VARIABLES}
        env.update(overrides)
        result = CliRunner().invoke(cli, args, env=env, catch_exceptions=False)
        command = shlex.join(["mla", *args])
        assert result.exit_code == 0, f"{command} failed:\n{result.output}"
        self.outputs.append((command, result.output))
        if args[:2] == ["request", "create"]:
            self.request_id = result.output.split()[0]
            uuid.UUID(self.request_id)  # the first word printed is the new request's id
        return result.output

    def run(self, line: str) -> None:
        """Run one logical line (`;` separates commands, `#` starts a comment)."""
        lexer = shlex.shlex(self.substitute(line), posix=True, punctuation_chars=";")
        lexer.whitespace_split = True
        words: list[str] = []
        for word in [*lexer, ";"]:
            if word == ";":
                self.one(words)
                words = []
            else:
                words.append(word)

    def one(self, words: list[str]) -> None:
        """Run one simple command."""
        if not words:
            return
        if "<id>" in words:  # after comments are gone: "# prints the new request's <id>"
            assert self.request_id, f"{words} needs a request id, and none was created yet"
            words = [self.request_id if w == "<id>" else w for w in words]
        if words[0] == "export":
            for assignment in words[1:]:
                name, _, value = assignment.partition("=")
                if name != "PATH":  # `mla` runs in-process here; PATH only finds it in a shell
                    self.env[name] = value
            return
        if words[0] == "unset":
            for name in words[1:]:
                self.env.pop(name, None)
            return
        if words[0] == "eval":
            inner = re.fullmatch(r"\$\((.*)\)", " ".join(words[1:]))
            assert inner, f"unsupported eval: {words}"
            output = self.mla(shlex.split(inner.group(1))[1:], {})
            for name, value in re.findall(r"^export (\w+)=(\S+)$", output, re.M):
                self.env[name] = value
            return
        overrides: dict[str, str] = {}
        while "=" in words[0] and re.match(r"^\w+=", words[0]):
            name, _, value = words.pop(0).partition("=")
            overrides[name] = value
        assert words[0] == "mla", f"the walk-through runs only mla, not {words}"
        self.mla(words[1:], overrides)


@pytest.fixture
def fresh_server(tmp_path: Path) -> Iterator[Server]:
    """`mla serve` as `make run` starts it: no MLA_OPERATOR_TOKEN, so it writes the token file."""
    yield from start_server(None, tmp_path / "data", {"MLA_OPERATOR_TOKEN": ""})


def test_the_walkthrough_runs_as_written(
    fresh_server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)  # keys/… are made where the reader stands
    lines = walkthrough()
    assert lines[0].startswith("export PATH=") and ".venv/bin" in lines[0]
    shell = Shell(fresh_server)
    for line in lines:
        shell.run(line)
    assert shell.request_id
    listed = [out for cmd, out in shell.outputs if cmd == "mla request list --state in_execution"]
    assert listed and shell.request_id in listed[-1], shell.outputs
    # The executing authority was registered with a key, so it can sign deliver_evidence.
    directory = dict(shell.outputs)["mla agency list"]
    assert "th-ccib" in directory


def test_every_example_is_accepted(
    fresh_server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The walk-through's registrations and login, then every example file transmitted.
    monkeypatch.chdir(tmp_path)
    shell = Shell(fresh_server)
    for line in walkthrough():
        if line.startswith("mla request create"):
            break
        shell.run(line)
    # Request examples only: docs/examples also holds the webhook receiver (a .py).
    examples = sorted(p for p in EXAMPLES.iterdir() if p.suffix in (".json", ".yaml"))
    assert len(examples) == 4
    for example in examples:
        shell.mla(["request", "create", str(example)], {})


@pytest.mark.parametrize(
    ("stem", "content"),
    [
        ("mla-request", mla_content("la-mps", "th-oag")),
        ("preservation-request", preservation_content("la-mps", "th-oag")),
    ],
)
def test_examples_match_the_tested_content(stem: str, content: dict[str, object]) -> None:
    assert json.loads((EXAMPLES / f"{stem}.json").read_text()) == content
    assert yaml.safe_load((EXAMPLES / f"{stem}.yaml").read_text()) == content
