"""`mla serve` logs: JSON lines by default, text on request, uvicorn's access log off."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from mla_tracker.config import ConfigError, Settings
from tests.e2e.conftest import start_server
from tests.support import OPERATOR_TOKEN, register_sync


def test_serve_logs_every_line_as_json_with_request_ids(tmp_path: Path) -> None:
    env = {"MLA_OPERATOR_TOKEN": OPERATOR_TOKEN}
    for server in start_server(None, tmp_path / "data", env):
        with httpx.Client(base_url=server.url, timeout=10) as http:
            _key, token = register_sync(http, "la-mps", "LA", "central_authority")
            who = http.get(
                "/v1/whoami",
                headers={"Authorization": f"Bearer {token}", "X-Request-ID": "probe-1"},
            )
            assert who.status_code == 200 and who.headers["x-request-id"] == "probe-1"
            scraped = http.get("/metrics").text
    log = server.log.read_text()
    lines = [json.loads(line) for line in log.splitlines()]  # every line is one JSON object
    assert {"time", "level", "logger", "message"} <= set(lines[0])
    probe = [line for line in lines if line.get("request_id") == "probe-1"]
    assert len(probe) == 1
    assert probe[0]["agency"] == "la-mps" and probe[0]["route"] == "/v1/whoami"
    assert probe[0]["status"] == 200 and probe[0]["latency_ms"] >= 0
    # Ours replaces uvicorn's access log (which would say `"GET /v1/whoami HTTP/1.1" 200`).
    assert not any(line["logger"] == "uvicorn.access" for line in lines)
    assert "HTTP/1.1" not in log
    assert token not in log and OPERATOR_TOKEN not in log
    assert 'mla_requests_total{app_name="mla-tracker",method="GET",path="/v1/whoami"' in scraped


def test_serve_logs_text_when_asked(tmp_path: Path) -> None:
    env = {"MLA_OPERATOR_TOKEN": OPERATOR_TOKEN, "MLA_LOG_FORMAT": "text"}
    for server in start_server(None, tmp_path / "data", env):
        httpx.get(server.url + "/health", headers={"X-Request-ID": "probe-2"}, timeout=10)
    log = server.log.read_text()
    assert "INFO mla_tracker.access: GET /health -> 200 in " in log
    assert "[probe-2]" in log
    assert not log.lstrip().startswith("{")


def test_log_format_setting() -> None:
    assert Settings.from_env({}).log_format == "json"
    assert Settings.from_env({"MLA_LOG_FORMAT": "TEXT"}).log_format == "text"
    with pytest.raises(ConfigError, match="MLA_LOG_FORMAT"):
        Settings.from_env({"MLA_LOG_FORMAT": "xml"})
