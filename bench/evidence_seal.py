"""Sealing and opening evidence packages, against the age tool and sha256sum, in one run.

Makes a file of BENCH_SIZE_MIB random bytes (default 1024) in a temporary folder, then runs,
each as its own process: `mla evidence seal`, `mla evidence open`, `age -r … -o` (encrypt),
`age -d -i …` (decrypt) and `sha256sum`. Each is timed (wall clock) and its peak RSS taken
from `/usr/bin/time -v` when available, else from the child's own rusage (os.wait4). Every
command runs BENCH_REPEAT times (default 2); the fastest run is reported, with the highest
peak RSS seen. The page cache is warm for all of them alike.

Goals: seal <= 1.5x age encrypt, open <= 1.5x age decrypt, both < 100 MiB peak RSS.

Run: BENCH_SIZE_MIB=1024 .venv/bin/python bench/evidence_seal.py
     (BENCH_DIR=/dev/shm to measure in memory, without disk writeback noise)
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from mla_tracker.crypto.age import X25519Identity  # noqa: E402

SIZE_MIB = int(os.environ.get("BENCH_SIZE_MIB", "1024"))
SIZE = SIZE_MIB * 1024 * 1024
REPEAT = max(1, int(os.environ.get("BENCH_REPEAT", "2")))
BENCH_DIR = os.environ.get("BENCH_DIR") or None
GOAL_RATIO = 1.5
GOAL_RSS_MIB = 100
TIME = "/usr/bin/time"
MLA = [sys.executable, "-m", "mla_tracker.cli.main"]


@dataclass
class Result:
    """The best of REPEAT runs of one command."""

    name: str
    seconds: float
    rss_mib: float
    how: str
    cpu_seconds: float = 0.0

    @property
    def mb_per_s(self) -> float:
        """Throughput in MB/s (10^6 bytes) over the input size."""
        return SIZE / self.seconds / 1e6


def _run_once(argv: list[str], tmp: Path) -> tuple[float, float, str, float]:
    """Run argv; return (wall s, peak RSS MiB, how RSS was measured, user + system CPU s).

    CPU seconds are reported beside wall time because on a VM whose page-cache writeback
    varies from run to run they are the steadier measure of the work each tool does.
    """
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
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


def _bench(name: str, argv: list[str], tmp: Path, cleanup: list[Path]) -> Result:
    best = float("inf")
    best_cpu = float("inf")
    peak = 0.0
    how = ""
    for _ in range(REPEAT):
        for path in cleanup:
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()
        seconds, rss, how, cpu = _run_once(argv, tmp)
        best = min(best, seconds)
        best_cpu = min(best_cpu, cpu)
        peak = max(peak, rss)
    print(f"  {name:<24} {best:7.2f} s", file=sys.stderr)
    return Result(name, best, peak, how, best_cpu)


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
        pkg = tmp / "pkg.age"
        opened = tmp / "opened"
        age_pkg = tmp / "plain.age"
        age_out = tmp / "plain.out"

        results: dict[str, Result] = {}
        results["sha256sum"] = _bench("sha256sum", [sha256sum, str(data)], tmp, [])
        results["age encrypt"] = _bench(
            "age encrypt", [age, "-r", recipient, "-o", str(age_pkg), str(data)], tmp, [age_pkg]
        )
        results["age decrypt"] = _bench(
            "age decrypt",
            [age, "-d", "-i", str(key), "-o", str(age_out), str(age_pkg)],
            tmp,
            [age_out],
        )
        seal_argv = [*MLA, "evidence", "seal", "--no-progress", "-r", recipient]
        seal_argv += ["--package-id", "bench", "-o", str(pkg), str(data_dir)]
        results["mla evidence seal"] = _bench(
            "mla evidence seal", seal_argv, tmp, [pkg, pkg.with_name(pkg.name + ".delivery.json")]
        )
        open_argv = [*MLA, "evidence", "open", "--no-progress", "-i", str(key)]
        open_argv += ["-o", str(opened), str(pkg)]
        results["mla evidence open"] = _bench("mla evidence open", open_argv, tmp, [opened])

    print()
    print(
        f"{SIZE_MIB} MiB random file, best of {REPEAT}, peak RSS via {results['age encrypt'].how}"
    )
    print()
    print(
        f"| {'command':<20} | {'wall s':>7} | {'CPU s':>7} | {'MB/s':>7} | {'peak RSS MiB':>12} |"
    )
    print(f"|{'-' * 22}|{'-' * 9}|{'-' * 9}|{'-' * 9}|{'-' * 14}|")
    for r in results.values():
        print(
            f"| {r.name:<20} | {r.seconds:7.2f} | {r.cpu_seconds:7.2f} | {r.mb_per_s:7.0f} "
            f"| {r.rss_mib:12.1f} |"
        )
    print()
    failed = False
    for mine, theirs in (
        ("mla evidence seal", "age encrypt"),
        ("mla evidence open", "age decrypt"),
    ):
        ratio = results[mine].seconds / results[theirs].seconds
        cpu_ratio = results[mine].cpu_seconds / max(results[theirs].cpu_seconds, 1e-9)
        rss = results[mine].rss_mib
        ok = ratio <= GOAL_RATIO and rss < GOAL_RSS_MIB
        failed |= not ok
        print(
            f"{mine} / {theirs}: {ratio:.2f}x wall (goal <= {GOAL_RATIO}x), "
            f"{cpu_ratio:.2f}x CPU, "
            f"peak RSS {rss:.1f} MiB (goal < {GOAL_RSS_MIB}) -> {'OK' if ok else 'MISSED'}"
        )
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
