"""The witness over HTTP: `POST /add-checkpoint` (C2SP tlog-witness), served by uvicorn.

Needs the server extra (uvicorn). One process per state file: `serve` holds an
exclusive lock on `<state>.lock`, since the state's check-and-update is atomic only within
one process.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Awaitable, Callable, Iterator, Mapping, MutableMapping
from pathlib import Path
from typing import Any

import uvicorn

from .core import Answer, Witness
from .protocol import MAX_BODY_BYTES


class StateInUse(RuntimeError):
    """Another witness process holds this state file."""


Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Mapping[str, Any]]]
Send = Callable[[Mapping[str, Any]], Awaitable[None]]


def create_witness_app(witness: Witness) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    """The witness's ASGI app: `POST /add-checkpoint`, and its verifier key at `GET /`."""

    # A bare ASGI app rather than the API's framework: the spec fixes the exact Content-Type
    # of a 409 (`text/x.tlog.size`), which a framework would extend with a charset.
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        method, path = scope["method"], scope["path"]
        if path == "/add-checkpoint" and method == "POST":
            body = await _body(receive)
            answer = (
                Answer(413, f"a request body is at most {MAX_BODY_BYTES} bytes\n")
                if body is None
                else witness.add_checkpoint(body)
            )
        elif path == "/" and method in ("GET", "HEAD"):
            answer = Answer(200, witness.cosigner.verifier_key() + "\n")
        elif path in ("/", "/add-checkpoint"):
            answer = Answer(405, "method not allowed\n")
        else:
            answer = Answer(404, "not found\n")
        payload = answer.body.encode("utf-8")
        headers = [
            (b"content-type", answer.content_type.encode("ascii")),
            (b"content-length", str(len(payload)).encode("ascii")),
        ]
        await send({"type": "http.response.start", "status": answer.status, "headers": headers})
        await send({"type": "http.response.body", "body": payload if method != "HEAD" else b""})

    return app


async def _body(receive: Receive) -> bytes | None:
    """The whole request body, or None once it passes the limit (nothing more is read)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks)  # the client went away; an empty or partial body is a 400
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


@contextlib.contextmanager
def state_lock(state_file: Path) -> Iterator[None]:
    """Hold the state file's lock for as long as the witness runs."""
    lock_path = state_file.with_name(state_file.name + ".lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise StateInUse(f"another witness is running on {state_file}") from exc
        yield
    finally:
        os.close(fd)


def server_for(witness: Witness, *, host: str = "127.0.0.1", port: int = 8001) -> uvicorn.Server:
    """A uvicorn server for the witness app; `serve(sockets=[s])` reuses a bound socket."""
    config = uvicorn.Config(
        create_witness_app(witness), host=host, port=port, log_level="warning", lifespan="off"
    )
    return uvicorn.Server(config)
