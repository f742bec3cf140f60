"""The log writer thread: nothing lost, order kept, errors not held back; request ids."""

from __future__ import annotations

import io
import json
import logging
import os
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from mla_tracker.api import observability
from mla_tracker.api.logs import configured_logging, request_id


def _wait_for(stream: io.StringIO, needle: str, seconds: float = 5.0) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if needle in stream.getvalue():
            return True
        time.sleep(0.005)
    return False


def test_every_line_is_written_once_in_order_when_logging_stops() -> None:
    stream = io.StringIO()
    root_before = logging.getLogger().handlers[:]
    with configured_logging("json", stream):
        log = logging.getLogger("mla_tracker.test")
        token = request_id.set("req-7")
        try:
            for n in range(5000):
                log.info("line %d", n)
        finally:
            request_id.reset(token)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    ours = [line for line in lines if line["logger"] == "mla_tracker.test"]
    assert [line["message"] for line in ours] == [f"line {n}" for n in range(5000)]
    assert all(line["request_id"] == "req-7" for line in ours)
    assert logging.getLogger().handlers == root_before


def test_lines_from_many_threads_are_all_written_whole() -> None:
    stream = io.StringIO()
    with configured_logging("text", stream):

        def chatter(name: str) -> None:
            for n in range(500):
                logging.getLogger("mla_tracker.test").info("%s-%d", name, n)

        threads = [threading.Thread(target=chatter, args=(f"t{i}",)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    lines = stream.getvalue().splitlines()
    expected = {f"INFO mla_tracker.test: t{i}-{n}" for i in range(4) for n in range(500)}
    assert set(lines) >= expected and len([x for x in lines if x in expected]) == 2000


def test_lines_are_written_while_logging_runs_not_only_at_the_end() -> None:
    stream = io.StringIO()
    with configured_logging("text", stream):
        logging.getLogger("mla_tracker.test").error("the database is away")
        assert _wait_for(stream, "the database is away")
        logging.getLogger("mla_tracker.test").warning("a partial upload was left")
        assert _wait_for(stream, "a partial upload was left")
        logging.getLogger("mla_tracker.test").info("an ordinary line")
        assert _wait_for(stream, "an ordinary line")


def test_a_forked_worker_draws_its_own_request_id_prefix() -> None:
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report its prefix and leave without running pytest's exit
        os.write(write, observability._ids["prefix"].encode())
        os._exit(0)
    os.close(write)
    child = os.read(read, 64).decode()
    os.waitpid(pid, 0)
    os.close(read)
    assert len(child) == 16 and child != observability._ids["prefix"]


def test_json_lines_carry_extras_of_any_type() -> None:
    odd = object()
    extras = {
        "when": datetime(2026, 11, 29, 12, 0, tzinfo=UTC),
        "rid": uuid.UUID(int=7),
        "where": Path("/srv/mla"),
        "thing": odd,
        "place": "ສະບາຍດີ",  # Lao, kept as it is
        "huge": 2**70,
        "nan": float("nan"),  # no NaN in JSON: null, so the line stays parseable
    }
    stream = io.StringIO()
    with configured_logging("json", stream):
        logging.getLogger("mla_tracker.test").warning("odd %s", "extras", extra=extras)
        logging.getLogger("mla_tracker.test").warning("plain", extra={"n": 1})
    odd_line, plain = (json.loads(x) for x in stream.getvalue().splitlines()[-2:])
    assert odd_line["message"] == "odd extras"
    assert odd_line["when"].startswith("2026-11-29") and odd_line["rid"].endswith("0007")
    assert odd_line["where"] == "/srv/mla" and odd_line["thing"] == str(odd)
    assert odd_line["place"] == "ສະບາຍດີ" and "ສະບາຍດີ" in stream.getvalue()
    assert odd_line["huge"] == 2**70 and odd_line["nan"] is None
    assert plain["n"] == 1 and plain["level"] == "warning"


def test_the_access_line_names_the_request_and_not_the_middleware() -> None:
    stream = io.StringIO()
    seen = observability._Observed("req-1")
    seen.agency, seen.status = "la-mps", 201
    scope = {"method": "POST", "path": "/v1/requests/x/statements", "client": ("10.0.0.9", 5)}
    with configured_logging("json", stream):
        observability.ObservabilityMiddleware._log(
            scope, seen, "/v1/requests/{request_id:uuid}/statements", 201, 0.0125
        )
        observability.ObservabilityMiddleware._log(scope, seen, None, 503, 0.5)
    ok, failed = (json.loads(x) for x in stream.getvalue().splitlines())
    assert ok["message"] == "POST /v1/requests/{request_id:uuid}/statements -> 201 in 12.5 ms"
    assert ok["level"] == "info" and ok["logger"] == "mla_tracker.access"
    assert (ok["request_id"], ok["agency"], ok["client"]) == ("req-1", "la-mps", "10.0.0.9")
    assert failed["level"] == "error" and failed["message"].endswith("-> 503 in 500.0 ms")
