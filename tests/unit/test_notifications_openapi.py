"""The notification routes document their problems and the SSE stream's media type."""

from __future__ import annotations

from pathlib import Path

import pytest
from litestar.testing import TestClient

from mla_tracker.api.app import create_app
from mla_tracker.config import Settings
from tests.support import OPERATOR_TOKEN


@pytest.mark.parametrize(
    ("method", "path", "statuses"),
    [
        ("post", "/v1/webhooks", {400, 401, 403, 415, 422, 429}),
        ("delete", "/v1/webhooks/{webhook_id}", {403, 404}),
        ("post", "/v1/webhooks/{webhook_id}/rotate-secret", {400, 403, 404, 422}),
        ("get", "/v1/webhooks/{webhook_id}/deliveries", {400, 403, 404}),
        ("post", "/v1/webhooks/deliveries/{delivery_id}/redrive", {403, 404, 409}),
        ("get", "/v1/events", {400, 401, 403}),
        ("get", "/v1/events/stream", {400, 401, 403}),
    ],
)
def test_notification_routes_declare_their_problems(
    tmp_path: Path, method: str, path: str, statuses: set[int]
) -> None:
    settings = Settings(data_dir=tmp_path / "data", operator_token=OPERATOR_TOKEN)
    with TestClient(app=create_app(settings)) as client:
        doc = client.get("/schema/openapi.json").json()
    operation = doc["paths"][path][method]
    assert statuses <= {int(s) for s in operation["responses"]}
    if path.endswith("/stream"):
        assert list(operation["responses"]["200"]["content"]) == ["text/event-stream"]
        header = next(p for p in operation["parameters"] if p["in"] == "header")
        assert header["name"].lower() == "last-event-id"
