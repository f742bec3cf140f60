"""`mla evidence seal|open` end to end, and interoperability with the `age` and `tar` tools.

The interop tests need /usr/bin/age: they are skipped if it is missing, except under CI=true.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from mla_tracker.cli.main import cli
from mla_tracker.evidence.bagit import validate_bag_dir

AGE = "/usr/bin/age"
HAS_AGE = os.path.exists(AGE)


def need_age() -> None:
    """Skip without the age tool, but fail under CI=true."""
    if HAS_AGE and shutil.which("tar") and shutil.which("sha256sum"):
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"{AGE}, tar and sha256sum are required under CI=true", pytrace=False)
    pytest.skip(f"{AGE}, tar or sha256sum not installed")


def mla(*args: str, ok: bool = True) -> Result:
    """Run `mla ARGS` in-process; check the exit status."""
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    if ok:
        assert result.exit_code == 0, result.output
    else:
        assert result.exit_code != 0, result.output
        assert "Traceback" not in result.output
    return result


def run(
    args: list[str], *, input: bytes | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[bytes]:
    """Run a system tool; fail the test with its stderr if it fails."""
    proc = subprocess.run(args, input=input, cwd=cwd, capture_output=True, check=False, timeout=120)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    return proc


def keygen(folder: Path) -> tuple[Path, str]:
    """`mla keygen` into folder; return (age.key path, age1 recipient)."""
    result = mla("keygen", "-o", str(folder))
    recipient = next(
        line.split(":", 1)[1].strip()
        for line in result.output.splitlines()
        if line.startswith("age recipient:")
    )
    return folder / "age.key", recipient


@pytest.fixture
def evidence(tmp_path: Path) -> Path:
    """A folder with a nested folder and a 300 KB binary file (several age chunks)."""
    root = tmp_path / "export"
    (root / "mail" / "inbox").mkdir(parents=True)
    (root / "subscriber.csv").write_text("msisdn,name\n+66800000000,Somchai\n")
    (root / "mail" / "inbox" / "0001.eml").write_bytes(os.urandom(300_000))
    return root


def test_seal_then_open(tmp_path: Path, evidence: Path) -> None:
    """Keys from `mla keygen`; seal prints the digest and writes a delivery body; open verifies."""
    key, recipient = keygen(tmp_path / "keys")
    pkg = tmp_path / "subscriber.age"
    rid = "7c0e8d5a-0000-4000-8000-000000000001"
    out = mla(
        "evidence", "seal", "-r", recipient, "-o", str(pkg), "--request", rid,
        "--producer", "Royal Thai Police", "--package-id", "TH-2025-001", str(evidence),
    ).output  # fmt: skip
    digest = hashlib.sha256(pkg.read_bytes()).hexdigest()
    assert "package id:        TH-2025-001" in out
    assert f"ciphertext sha256: {digest}" in out
    assert f"ciphertext size:   {pkg.stat().st_size} bytes" in out
    body = json.loads((tmp_path / "subscriber.age.delivery.json").read_text())
    assert body["package_id"] == "TH-2025-001"
    assert body["ciphertext_sha256"] == digest
    assert body["ciphertext_size"] == pkg.stat().st_size
    assert body["recipients"] == [recipient]
    assert {f["path"] for f in body["files"]} == {
        "data/export/subscriber.csv",
        "data/export/mail/inbox/0001.eml",
    }
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []

    dest = tmp_path / "received"
    out = mla(
        "evidence", "open", "-i", str(key), "-o", str(dest), "--expect-sha256", digest, str(pkg)
    ).output
    assert f"ciphertext sha256: {digest}" in out
    assert "MLA-Request-Id: " + rid in out
    assert "Source-Organization: Royal Thai Police" in out
    for f in body["files"]:
        assert f"{f['sha256']}" in out and f["path"] in out
        assert hashlib.sha256((dest / f["path"]).read_bytes()).hexdigest() == f["sha256"]
    assert (dest / "data/export/mail/inbox/0001.eml").read_bytes() == (
        evidence / "mail/inbox/0001.eml"
    ).read_bytes()


def test_seal_default_package_id_and_recipients_file(tmp_path: Path, evidence: Path) -> None:
    """Without --package-id a pkg-<hex> id is made; -r accepts a recipients file."""
    key, recipient = keygen(tmp_path / "keys")
    listing = tmp_path / "recipients.txt"
    listing.write_text(f"# Thai OAG\n\n{recipient}\n")
    pkg = tmp_path / "p.age"
    mla("evidence", "seal", "-r", str(listing), "-o", str(pkg), str(evidence))
    body = json.loads(pkg.with_name("p.age.delivery.json").read_text())
    assert body["package_id"].startswith("pkg-") and len(body["package_id"]) == 36
    out = mla("evidence", "open", "-i", str(key), "-o", str(tmp_path / "o"), str(pkg)).output
    assert body["package_id"] in out


# --------------------------------------------------------------------------- interop


def test_package_opens_with_age_and_tar(tmp_path: Path, evidence: Path) -> None:
    """`age -d | tar -x`, then `sha256sum -c` on both manifests: standard tools suffice."""
    need_age()
    key, recipient = keygen(tmp_path / "keys")
    pkg = tmp_path / "pkg.age"
    mla("evidence", "seal", "-r", recipient, "-o", str(pkg), "--package-id", "P1", str(evidence))
    unpack = tmp_path / "unpack"
    unpack.mkdir()
    plain = run([AGE, "-d", "-i", str(key), str(pkg)]).stdout
    run(["tar", "-x", "-f", "-", "-C", str(unpack)], input=plain)
    bag = unpack / "P1"
    assert sorted(p.name for p in unpack.iterdir()) == ["P1"]
    tags = run(["sha256sum", "-c", "tagmanifest-sha256.txt"], cwd=bag).stdout.decode()
    payload = run(["sha256sum", "-c", "manifest-sha256.txt"], cwd=bag).stdout.decode()
    assert "manifest-sha256.txt: OK" in tags and "bag-info.txt: OK" in tags
    assert "data/export/mail/inbox/0001.eml: OK" in payload
    assert "data/export/subscriber.csv: OK" in payload
    validated = validate_bag_dir(bag)
    assert validated.info("MLA-Package-Id") == "P1"
    assert len(validated.payload) == 2


def test_hand_made_age_tar_opens_with_mla(tmp_path: Path) -> None:
    """A bag made with shell tools, `tar -c` and `age -r`, opens with `mla evidence open`."""
    need_age()
    key, recipient = keygen(tmp_path / "keys")
    bag = tmp_path / "handmade"
    (bag / "data").mkdir(parents=True)
    (bag / "data" / "report.txt").write_text("hand-made evidence\n")
    (bag / "bagit.txt").write_text("BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n")
    (bag / "bag-info.txt").write_text("Source-Organization: Hand Made Agency\n")
    manifest = run(["sha256sum", "data/report.txt"], cwd=bag).stdout
    (bag / "manifest-sha256.txt").write_bytes(manifest)
    tags = ["bagit.txt", "bag-info.txt", "manifest-sha256.txt"]
    (bag / "tagmanifest-sha256.txt").write_bytes(run(["sha256sum", *tags], cwd=bag).stdout)
    tarball = run(["tar", "-c", "-f", "-", "-C", str(tmp_path), "handmade"]).stdout
    pkg = tmp_path / "hand.age"
    run([AGE, "-r", recipient, "-o", str(pkg)], input=tarball)
    dest = tmp_path / "opened"
    out = mla("evidence", "open", "-i", str(key), "-o", str(dest), str(pkg)).output
    assert "Source-Organization: Hand Made Agency" in out
    assert "data/report.txt" in out
    assert hashlib.sha256(pkg.read_bytes()).hexdigest() in out
    assert (dest / "data" / "report.txt").read_text() == "hand-made evidence\n"


# --------------------------------------------------------------------------- refusals


@pytest.fixture
def sealed(tmp_path: Path, evidence: Path) -> tuple[Path, Path]:
    """A package sealed for a fresh key: (package, age.key)."""
    key, recipient = keygen(tmp_path / "keys")
    pkg = tmp_path / "pkg.age"
    mla("evidence", "seal", "-r", recipient, "-o", str(pkg), str(evidence))
    return pkg, key


def test_open_with_wrong_identity(tmp_path: Path, sealed: tuple[Path, Path]) -> None:
    """Someone else's key: refused, named as a wrong identity, nothing extracted."""
    pkg, _ = sealed
    other, _ = keygen(tmp_path / "other")
    dest = tmp_path / "dest"
    result = mla("evidence", "open", "-i", str(other), "-o", str(dest), str(pkg), ok=False)
    assert "wrong identity: no identity matches any recipient" in result.output
    assert not dest.exists()
    assert [p for p in tmp_path.iterdir() if p.name.startswith(".dest")] == []


def test_open_truncated_package(tmp_path: Path, sealed: tuple[Path, Path]) -> None:
    """A truncated download: refused as corrupt or truncated, nothing extracted."""
    pkg, key = sealed
    cut = tmp_path / "cut.age"
    cut.write_bytes(pkg.read_bytes()[:-100])
    dest = tmp_path / "dest"
    result = mla("evidence", "open", "-i", str(key), "-o", str(dest), str(cut), ok=False)
    assert "package is corrupt or truncated" in result.output
    assert not dest.exists()
    assert [p for p in tmp_path.iterdir() if p.name.startswith(".dest")] == []


def test_open_expect_sha256_mismatch(tmp_path: Path, sealed: tuple[Path, Path]) -> None:
    """--expect-sha256 that differs: refused, nothing left."""
    pkg, key = sealed
    dest = tmp_path / "dest"
    result = mla(
        "evidence", "open", "-i", str(key), "-o", str(dest), "--expect-sha256", "0" * 64,
        str(pkg), ok=False,
    )  # fmt: skip
    assert "ciphertext sha256 mismatch" in result.output
    assert not dest.exists()


def test_open_bad_identity_file_and_missing_package(
    tmp_path: Path, sealed: tuple[Path, Path]
) -> None:
    """Unreadable or malformed identity files and a missing package are clear errors."""
    pkg, key = sealed
    bogus = tmp_path / "bogus.key"
    bogus.write_text("# nothing\nAGE-SECRET-KEY-1NOTAKEY\n")
    r = mla("evidence", "open", "-i", str(bogus), "-o", str(tmp_path / "d"), str(pkg), ok=False)
    assert f"identity file {bogus}: identity file line 2" in r.output
    assert "NOTAKEY" not in r.output
    dest = str(tmp_path / "d")
    r = mla("evidence", "open", "-i", str(tmp_path / "nokey"), "-o", dest, str(pkg), ok=False)
    assert "cannot read identity file" in r.output
    r = mla("evidence", "open", "-i", str(key), "-o", dest, str(tmp_path / "x.age"), ok=False)
    assert "cannot read" in r.output and "x.age" in r.output
    assert not (tmp_path / "d").exists()


def test_seal_refuses_existing_output(tmp_path: Path, sealed: tuple[Path, Path]) -> None:
    """An existing package (or delivery body) is never overwritten."""
    pkg, key = sealed
    before = pkg.read_bytes()
    recipient = key.read_text().split("public key: ")[1].split()[0]
    result = mla("evidence", "seal", "-r", recipient, "-o", str(pkg), str(key), ok=False)
    assert f"{pkg} exists; refusing to overwrite it" in result.output
    assert pkg.read_bytes() == before
    other = tmp_path / "other.age"
    other.with_name("other.age.delivery.json").write_text("{}")
    result = mla("evidence", "seal", "-r", recipient, "-o", str(other), str(key), ok=False)
    assert "other.age.delivery.json exists" in result.output
    assert not other.exists()
    assert [p for p in tmp_path.iterdir() if p.name.endswith(".part")] == []


def test_seal_refuses_missing_input(tmp_path: Path) -> None:
    """A missing input file: refused, no package, no delivery body, no temp file."""
    _, recipient = keygen(tmp_path / "keys")
    pkg = tmp_path / "p.age"
    result = mla(
        "evidence", "seal", "-r", recipient, "-o", str(pkg), str(tmp_path / "missing.csv"),
        ok=False,
    )  # fmt: skip
    assert "missing.csv: no such file or directory" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keys"]


def test_seal_refuses_bad_recipient_and_symlink(tmp_path: Path, evidence: Path) -> None:
    """A bad recipient and an unsealable input are refused, leaving nothing behind."""
    _, recipient = keygen(tmp_path / "keys")
    pkg = tmp_path / "p.age"
    r = mla("evidence", "seal", "-r", "age1nope", "-o", str(pkg), str(evidence), ok=False)
    assert "not a valid age recipient" in r.output
    (evidence / "link").symlink_to(evidence / "subscriber.csv")
    r = mla("evidence", "seal", "-r", recipient, "-o", str(pkg), str(evidence), ok=False)
    assert "cannot seal:" in r.output and "symbolic link" in r.output
    assert not pkg.exists()
    assert [p for p in tmp_path.iterdir() if p.name.startswith(".p.age")] == []


def test_seal_refuses_output_inside_input(tmp_path: Path, evidence: Path) -> None:
    """Writing the package into the folder being sealed is refused up front."""
    _, recipient = keygen(tmp_path / "keys")
    pkg = evidence / "p.age"
    r = mla("evidence", "seal", "-r", recipient, "-o", str(pkg), str(evidence), ok=False)
    assert "inside" in r.output
    assert not pkg.exists()


def test_evidence_group_is_extensible() -> None:
    """Other modules can add commands (upload/download) to the group."""
    from mla_tracker.cli.evidence import evidence

    assert {"seal", "open"} <= set(evidence.commands)
    assert cli.get_command(None, "evidence") is evidence  # type: ignore[arg-type]
