"""The server key: made once, whole, whichever of several processes starts first."""

from __future__ import annotations

import multiprocessing
import stat
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any

from mla_tracker.storage.server_key import load_or_create


def _load(path: str, start: Barrier, out: Any) -> None:
    start.wait()
    try:
        out.put(load_or_create(Path(path)).public.to_base64())
    except Exception as exc:  # a half-written key read by a racing process
        out.put(f"error: {exc!r}")


def test_processes_starting_at_once_share_one_whole_key(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("fork")
    for round_ in range(5):
        path = tmp_path / f"data-{round_}" / "server.key"
        start, out = ctx.Barrier(8), ctx.Queue()
        procs = [ctx.Process(target=_load, args=(str(path), start, out)) for _ in range(8)]
        for proc in procs:
            proc.start()
        keys = {out.get(timeout=30) for _ in procs}
        for proc in procs:
            proc.join(10)
        assert len(keys) == 1, keys
        assert load_or_create(path).public.to_base64() in keys
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert [p.name for p in path.parent.iterdir()] == ["server.key"]  # no temporary left
