"""Sealing and opening evidence packages, against the age tool and sha256sum, in one run.

Makes a file of BENCH_SIZE_MIB random bytes (default 1024) in a temporary folder (under
BENCH_DIR if set), and, untimed, one age file and one evidence package of it for the decrypt
and open runs to read. Then it runs BENCH_REPEAT rounds (default 5), each of which runs,
once each, in this order and each as its own process: `age -r … -o` (encrypt), `mla evidence
seal`, `age -d -i …` (decrypt), `mla evidence open` and `sha256sum`. Runs are interleaved round by
round so that drift on the machine (page-cache writeback, other load) falls on every tool
alike rather than on whichever ran its repeats at the bad moment. A run's outputs are deleted
before it starts (and again after it, untimed, so its dirty pages are dropped rather than
written back while the next tool is being timed).

Each run is timed (wall clock), with its user + system CPU seconds and peak RSS from
`/usr/bin/time -v` when available, else from the child's own rusage (os.wait4). Per command
the table gives the best and median wall time, the best CPU time, MB/s from the best wall
time and the highest peak RSS over all runs. The page cache is warm for all of them alike.

Goals: seal <= 1.5x age encrypt, open <= 1.5x age decrypt (best wall time), both < 100 MiB
peak RSS. Median wall and CPU ratios are printed beside them, to tell a real difference from
a lucky or unlucky run. Exits 1 if a goal is missed.

Run: BENCH_SIZE_MIB=1024 BENCH_REPEAT=5 .venv/bin/python bench/evidence_seal.py
     (BENCH_DIR=/dev/shm to measure in memory, without disk writeback noise)
"""

from __future__ import annotations

import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from mla_tracker.crypto.age import X25519Identity  # noqa: E402

SIZE_MIB = int(os.environ.get("BENCH_SIZE_MIB", "1024"))
SIZE = SIZE_MIB * 1024 * 1024
REPEAT = max(1, int(os.environ.get("BENCH_REPEAT", "5")))
BENCH_DIR = os.environ.get("BENCH_DIR") or None
GOAL_RATIO = 1.5
GOAL_RSS_MIB = 100
TIME = "/usr/bin/time"
MLA = [sys.executable, "-m", "mla_tracker.cli.main"]


@dataclass
class Command:
    """One command under test, the outputs it writes, and its timings so far."""

    name: str
    argv: list[str]
    outputs: list[Path]
    inputs: list[Path]
    walls: list[float] = field(default_factory=list)
    cpus: list[float] = field(default_factory=list)
    peak_rss_mib: float = 0.0
    how: str = ""

    @property
    def best(self) -> float:
        """The fastest wall time, s."""
        return min(self.walls)

    @property
    def median(self) -> float:
        """The median wall time, s."""
        return statistics.median(self.walls)

    @property
    def best_cpu(self) -> float:
        """The least user + system CPU time, s."""
        return min(self.cpus)

    @property
    def mb_per_s(self) -> float:
        """Throughput in MB/s (10^6 bytes) over the input size, from the best wall time."""
        return SIZE / self.best / 1e6


def _run_once(argv: list[str], tmp: Path) -> tuple[float, float, str, float]:
    """Run argv; return (wall s, peak RSS MiB, how RSS was measured, user + system CPU s).

    CPU seconds are reported beside wall time because on a VM whose page-cache writeback
    varies from run to run they are the steadier measure of the work each tool does.
    """
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    # Measure `mla` as installed for a user, with its bytecode cached (the untimed runs that
    # make the inputs write the cache); some shells export PYTHONDONTWRITEBYTECODE, which
    # would add recompiling every module (~60 ms) to each run.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    if os.access(TIME, os.X_OK):
        report = tmp / "time.txt"
        start = time.perf_counter()
        proc = subprocess.run(
            [TIME, "-v", "-o", str(report), *argv], env=env, capture_output=True, check=False
        )
        wall = time.perf_counter() - start
        if proc.returncode != 0:
            raise SystemExit(f"{argv} failed: {proc.stderr.decode(errors='replace')}")
        text = report.read_text()
        match = re.search(r"Maximum resident set size \(kbytes\): (\d+)", text)
        assert match, text
        cpu = sum(
            float(m.group(1))
            for m in re.finditer(r"(?:User|System) time \(seconds\): ([\d.]+)", text)
        )
        return wall, int(match.group(1)) / 1024, "time -v", cpu
    start = time.perf_counter()
    child = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)
    err = child.stderr.read() if child.stderr else b""
    if child.stderr:
        child.stderr.close()
    if child.returncode != 0:
        raise SystemExit(f"{argv} failed: {err.decode(errors='replace')}")
    rss_kib = usage.ru_maxrss / (1024 if sys.platform == "darwin" else 1)
    return wall, rss_kib / 1024, "wait4 rusage", usage.ru_utime + usage.ru_stime


def _settle(inputs: list[Path]) -> None:
    """Before a timed run, untimed: write back what is dirty, and read the inputs into cache.

    Otherwise the kernel's writeback of earlier files competes with the command being timed
    for the two cores and the page cache (on the development VM that made the same command's
    system time vary from 0.5 to 3 s), and whichever command first reads an input that the
    VM's memory reclaimer (DAMON pageout) evicted while it lay unused pays for the disk.
    """
    if hasattr(os, "sync"):
        os.sync()
    for path in inputs:
        with open(path, "rb", buffering=0) as f:
            while f.read(8 * 1024 * 1024):
                pass


def _remove(paths: list[Path]) -> None:
    for path in paths:
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


def _time(command: Command, tmp: Path) -> None:
    """Run the command once from a clean slate and record the run."""
    _remove(command.outputs)
    _settle(command.inputs)
    seconds, rss, command.how, cpu = _run_once(command.argv, tmp)
    # Deleted now, untimed: left in place, its dirty pages would be written back while the
    # next command is timed.
    _remove(command.outputs)
    command.walls.append(seconds)
    command.cpus.append(cpu)
    command.peak_rss_mib = max(command.peak_rss_mib, rss)
    print(f"    {command.name:<20} {seconds:7.2f} s  {cpu:7.2f} CPU s", file=sys.stderr)


def _make_input(path: Path) -> None:
    chunk = 4 * 1024 * 1024
    with open(path, "wb") as f:
        left = SIZE
        while left:
            n = min(chunk, left)
            f.write(os.urandom(n))
            left -= n


def main() -> None:
    """Run the benchmark and print the table."""
    age = shutil.which("age")
    sha256sum = shutil.which("sha256sum")
    if age is None or sha256sum is None:
        raise SystemExit("this benchmark needs `age` and `sha256sum` on PATH")
    # BENCH_DIR=/dev/shm keeps every tool off the disk, so page-cache writeback (which
    # varies by seconds from run to run on the development VM) does not decide the ratio.
    with tempfile.TemporaryDirectory(prefix="bench-evidence-", dir=BENCH_DIR) as name:
        tmp = Path(name)
        data_dir = tmp / "evidence"
        data_dir.mkdir()
        data = data_dir / "random.bin"
        print(f"making {SIZE_MIB} MiB of random data in {tmp} …", file=sys.stderr)
        _make_input(data)
        identity = X25519Identity.generate()
        key = tmp / "age.key"
        key.write_text(identity.to_string() + "\n")
        recipient = identity.recipient().to_string()

        def encrypt(out: Path) -> list[str]:
            return [age, "-r", recipient, "-o", str(out), str(data)]

        def seal(out: Path) -> list[str]:
            argv = [*MLA, "evidence", "seal", "--no-progress", "-r", recipient]
            return [*argv, "--package-id", "bench", "-o", str(out), str(data_dir)]

        # What the decrypt and open runs read, made once and kept: each round's encrypt and
        # seal write elsewhere and are deleted, so the readers never depend on them.
        age_in = tmp / "input.age"
        pkg_in = tmp / "input-pkg.age"
        print("making the age file and the package to decrypt and open …", file=sys.stderr)
        _run_once(encrypt(age_in), tmp)
        _run_once(seal(pkg_in), tmp)

        age_pkg = tmp / "encrypted.age"
        pkg = tmp / "sealed.age"
        age_out = tmp / "decrypted.out"
        opened = tmp / "opened"
        decrypt_argv = [age, "-d", "-i", str(key), "-o", str(age_out), str(age_in)]
        open_argv = [*MLA, "evidence", "open", "--no-progress", "-i", str(key)]
        open_argv += ["-o", str(opened), str(pkg_in)]
        delivery = pkg.with_name(pkg.name + ".delivery.json")
        # In the order each round runs them.
        commands = [
            Command("age encrypt", encrypt(age_pkg), [age_pkg], [data]),
            Command("mla evidence seal", seal(pkg), [pkg, delivery], [data]),
            Command("age decrypt", decrypt_argv, [age_out], [age_in]),
            Command("mla evidence open", open_argv, [opened], [pkg_in]),
            Command("sha256sum", [sha256sum, str(data)], [], [data]),
        ]
        for round_ in range(1, REPEAT + 1):
            print(f"  round {round_}/{REPEAT}", file=sys.stderr)
            for command in commands:
                _time(command, tmp)

    results = {command.name: command for command in commands}
    print()
    print(
        f"{SIZE_MIB} MiB random file, {REPEAT} interleaved rounds, "
        f"peak RSS via {results['age encrypt'].how}"
    )
    print()
    print(
        f"| {'command':<20} | {'best s':>7} | {'median s':>8} | {'CPU s':>7} | {'MB/s':>7} "
        f"| {'peak RSS MiB':>12} |"
    )
    print(f"|{'-' * 22}|{'-' * 9}|{'-' * 10}|{'-' * 9}|{'-' * 9}|{'-' * 14}|")
    for r in commands:
        print(
            f"| {r.name:<20} | {r.best:7.2f} | {r.median:8.2f} | {r.best_cpu:7.2f} "
            f"| {r.mb_per_s:7.0f} | {r.peak_rss_mib:12.1f} |"
        )
    print()
    print("best s and CPU s: the least of the rounds; MB/s: from best s; peak RSS: the highest.")
    print()
    failed = False
    for mine, theirs in (
        ("mla evidence seal", "age encrypt"),
        ("mla evidence open", "age decrypt"),
    ):
        a, b = results[mine], results[theirs]
        ratio = a.best / b.best
        median_ratio = a.median / b.median
        cpu_ratio = a.best_cpu / max(b.best_cpu, 1e-9)
        rss = a.peak_rss_mib
        ok = ratio <= GOAL_RATIO and rss < GOAL_RSS_MIB
        failed |= not ok
        print(
            f"{mine} / {theirs}: {ratio:.2f}x best wall (goal <= {GOAL_RATIO}x), "
            f"{median_ratio:.2f}x median wall, {cpu_ratio:.2f}x CPU, "
            f"peak RSS {rss:.1f} MiB (goal < {GOAL_RSS_MIB}) -> {'OK' if ok else 'MISSED'}"
        )
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
