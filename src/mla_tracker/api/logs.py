"""Log lines: JSON or text formatting, the request id on every line, and a writer thread.

`configured_logging` formats each record in the caller's context and leaves the finished
line for one writer thread, which every 50 ms writes whatever has queued up in one `write`
and one flush: a slow pipe never blocks the event loop, and under load the per-request
access line costs a share of one syscall rather than a syscall and a thread wake-up
(issue 13 found the old line-at-a-time queue listener taking a tenth of the CPU).
"""

from __future__ import annotations

import collections
import contextvars
import logging
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import IO, Any

import msgspec

#: The id of the request being handled, stamped on every record logged meanwhile.
request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "mla_request_id", default=None
)
#: Lines written in one go at most: bounds the memory of one batch.
_MAX_BATCH = 1024

_RESERVED = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
    "taskName",
    "color_message",  # uvicorn's ANSI-coloured copy of the message
}


class RequestIdFilter(logging.Filter):
    """Stamp every record logged while a request runs with that request's id."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Add `request_id` unless the record has one."""
        if not hasattr(record, "request_id"):
            rid = request_id.get()
            if rid is not None:
                record.request_id = rid
        return True


_encode_line = msgspec.json.Encoder(enc_hook=str).encode


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, and the record's extras."""

    def format(self, record: logging.LogRecord) -> str:
        """Render the record."""
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update((k, v) for k, v in record.__dict__.items() if k not in _RESERVED)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        # A third of json.dumps's time, on every request's access line (issue 13); what
        # msgspec has no JSON form for is written as its str(), as json.dumps(default=str).
        return _encode_line(line).decode()


class TextFormatter(logging.Formatter):
    """`LEVEL logger: message [request id]`, for a terminal."""

    def format(self, record: logging.LogRecord) -> str:
        """Render the record."""
        text = f"{record.levelname} {record.name}: {record.getMessage()}"
        agency = getattr(record, "agency", None)
        if agency:
            text += f" agency={agency}"
        if rid := getattr(record, "request_id", None):
            text += f" [{rid}]"
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


def _formatter(log_format: str) -> logging.Formatter:
    return JsonFormatter() if log_format == "json" else TextFormatter()


def log_handler(log_format: str, stream: IO[str] | None = None) -> logging.Handler:
    """A stream handler (stderr by default) with the request-id filter and the chosen format."""
    handler = logging.StreamHandler(stream)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(_formatter(log_format))
    return handler


class _Deferred(logging.Handler):
    """Formats in the caller's own context (its request id) and leaves the line for the
    writer thread; a warning or an error wakes the writer at once."""

    def __init__(self, writer: _BatchWriter) -> None:
        super().__init__()
        self.writer = writer

    def emit(self, record: logging.LogRecord) -> None:
        """Queue the finished line (no args, no traceback object cross the thread)."""
        try:
            self.writer.put(self.format(record), urgent=record.levelno >= logging.WARNING)
        except Exception:  # a record that cannot be formatted must not fail the caller
            self.handleError(record)


class _BatchWriter:
    """One thread writing queued lines to a stream, every line queued so far at once.

    Lines wait at most `interval` seconds. Appending to a deque takes no lock and wakes no
    thread: a queue that woke the writer per line cost a GIL hand-off per request.
    """

    def __init__(self, stream: IO[str], interval: float = 0.05) -> None:
        self.stream = stream
        self.interval = interval
        self.lines: collections.deque[str] = collections.deque()
        self.wake = threading.Event()
        self.stopping = False
        self.thread = threading.Thread(target=self._run, name="mla-log-writer", daemon=True)

    def put(self, line: str, *, urgent: bool = False) -> None:
        """Queue one line; `urgent` (or a long backlog) writes it without waiting."""
        self.lines.append(line)
        if urgent or len(self.lines) >= _MAX_BATCH:
            self.wake.set()

    def _run(self) -> None:
        while True:
            self.wake.wait(self.interval)
            self.wake.clear()
            stopping = self.stopping  # read before draining: nothing queued before is lost
            while self.lines:
                batch: list[str] = []
                while self.lines and len(batch) < _MAX_BATCH:
                    batch.append(self.lines.popleft())
                self._write("\n".join(batch) + "\n")
            if stopping:
                return

    def _write(self, text: str) -> None:
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):  # a closed or broken stderr: nowhere left to say it
            pass

    def start(self) -> None:
        """Start writing."""
        self.thread.start()

    def stop(self) -> None:
        """Write everything queued, then stop."""
        self.stopping = True
        self.wake.set()
        self.thread.join()


@contextmanager
def configured_logging(log_format: str, stream: IO[str] | None = None) -> Iterator[None]:
    """Send all logging (ours, uvicorn's, alembic's) to `stream` (stderr) as `log_format`
    ("json" or "text"), through a writer thread so a slow pipe never blocks the event loop."""
    writer = _BatchWriter(stream or sys.stderr)
    front = _Deferred(writer)
    front.addFilter(RequestIdFilter())
    front.setFormatter(_formatter(log_format))
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    root.handlers[:] = [front]
    root.setLevel(logging.INFO)
    logging.captureWarnings(True)  # warnings too, so every line of stderr is in one format
    writer.start()
    try:
        yield
    finally:
        root.handlers[:] = saved_handlers
        writer.stop()
        logging.captureWarnings(False)
        root.setLevel(saved_level)
