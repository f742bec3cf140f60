"""The OpenAPI document is valid and says what the service really answers (issue 11, item 8)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient
from openapi_spec_validator import validate

from mla_tracker.api.app import create_app
from mla_tracker.config import Settings
from mla_tracker.domain.content import (
    DataCategory,
    Instrument,
    ObstacleReason,
    PreservationRisk,
    RefusalGround,
)
from mla_tracker.domain.model import Action, AgencyRole, Kind, State, Urgency
from tests.support import OPERATOR_TOKEN

PROBLEM = "application/problem+json"
METHODS = ("get", "post", "put", "patch", "delete")
#: Routes that read no token (issue 11 item 8), as (method, path).
PUBLIC = {
    ("get", "/health"),
    ("get", "/ready"),
    ("get", "/v1/agencies"),
    ("get", "/v1/agencies/{agency_id}"),
    ("get", "/v1/agencies/{agency_id}/key-events"),
    ("post", "/v1/agencies/{agency_id}/key-events"),
    ("get", "/v1/key-events"),
    ("get", "/v1/server-key"),
    ("get", "/v1/log/checkpoint"),
    ("get", "/v1/log/key"),
    ("get", "/v1/log/proof/consistency"),
    ("get", "/.well-known/mla-tracker-log-key"),
    ("post", "/v1/sessions/challenge"),
    ("post", "/v1/sessions"),
}


@pytest.fixture(scope="module")
def doc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The document as `GET /schema/openapi.json` serves it."""
    data: Path = tmp_path_factory.mktemp("openapi") / "data"
    settings = Settings(data_dir=data, operator_token=OPERATOR_TOKEN)
    with TestClient(app=create_app(settings)) as client:
        response = client.get("/schema/openapi.json")
        assert response.status_code == 200
        yield response.json()


def _operations(doc: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in doc["paths"].items():
        for method in METHODS:
            if method in item:
                yield method, path, item[method]


def _resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if ref is None:
        return schema
    resolved: dict[str, Any] = doc["components"]["schemas"][ref.rsplit("/", 1)[-1]]
    return resolved


def test_the_document_is_valid_openapi_3_1(doc: dict[str, Any]) -> None:
    assert doc["openapi"].startswith("3.1")
    validate(doc)


def test_public_operations_declare_no_security_and_the_rest_bearer(doc: dict[str, Any]) -> None:
    assert doc["security"] == [{"bearer": []}]
    seen = set()
    for method, path, op in _operations(doc):
        if (method, path) in PUBLIC:
            seen.add((method, path))
            assert op.get("security") == [], f"{method} {path} should declare security: []"
        else:
            assert "security" not in op, f"{method} {path} should keep the bearer default"
    assert seen == PUBLIC


def test_every_error_is_problem_json_and_token_routes_answer_401(doc: dict[str, Any]) -> None:
    for method, path, op in _operations(doc):
        errors = {int(s): r for s, r in op["responses"].items() if int(s) >= 400}
        for status, response in errors.items():
            assert list(response["content"]) == [PROBLEM], f"{method} {path} {status}"
            schema = _resolve(doc, response["content"][PROBLEM]["schema"])
            assert schema["title"] == "ProblemDetails"
        if (method, path) not in PUBLIC:
            assert {401, 429} <= set(errors), f"{method} {path} answers 401 and 429"
            assert "WWW-Authenticate" in errors[401]["headers"]
        if "requestBody" in op and "application/json" in op["requestBody"]["content"]:
            assert {400, 413, 415, 422} <= set(errors), f"{method} {path} body errors"


def test_problem_details_schema(doc: dict[str, Any]) -> None:
    schema = doc["components"]["schemas"]["ProblemDetails"]
    assert set(schema["required"]) == {"type", "title", "status", "detail", "instance"}
    assert schema["additionalProperties"] is True  # errors, head, size, missing …


@pytest.mark.parametrize(
    ("method", "path", "statuses"),
    [
        ("post", "/v1/requests/{request_id}/statements", {403, 404, 409, 422}),
        ("get", "/v1/requests/{request_id}/packages/{package_id}/content", {403, 409, 416}),
        ("put", "/v1/requests/{request_id}/packages/{package_id}/content", {409, 413, 422}),
        ("post", "/v1/agencies", {403, 409}),
        ("get", "/ready", {503}),
        ("get", "/v1/log/checkpoint", {404}),
    ],
)
def test_route_specific_problems(
    doc: dict[str, Any], method: str, path: str, statuses: set[int]
) -> None:
    declared = {int(s) for s in doc["paths"][path][method]["responses"]}
    assert statuses <= declared


def test_strict_bodies_refuse_unknown_members(doc: dict[str, Any]) -> None:
    schemas = doc["components"]["schemas"]
    for name in ("RegisterAgency", "NewKey", "SignedStatement", "Envelope", "Signature"):
        assert schemas[name]["additionalProperties"] is False, name
    # Every JSON request body is a strict Struct.
    for method, path, op in _operations(doc):
        media = op.get("requestBody", {}).get("content", {}).get("application/json")
        if media:
            schema = _resolve(doc, media["schema"])
            assert schema.get("additionalProperties") is False, f"{method} {path}"


def test_completeness_documents_the_request_content(doc: dict[str, Any]) -> None:
    body = doc["paths"]["/v1/requests/completeness"]["post"]["requestBody"]
    schema = body["content"]["application/json"]["schema"]
    assert schema == {"$ref": "#/components/schemas/RequestContent"}
    assert doc["components"]["schemas"]["RequestContent"]["additionalProperties"] is False


@pytest.mark.parametrize(
    "enum",
    [
        Instrument,
        DataCategory,
        RefusalGround,
        ObstacleReason,
        PreservationRisk,
        Action,
        Kind,
        State,
        Urgency,
        AgencyRole,
    ],
)
def test_enum_values_are_in_the_schema(doc: dict[str, Any], enum: Any) -> None:
    schema = doc["components"]["schemas"][enum.__name__]
    assert sorted(schema["enum"]) == sorted(e.value for e in enum)


def test_responses_name_their_enums(doc: dict[str, Any]) -> None:
    props = doc["components"]["schemas"]["RequestSummary"]["properties"]
    for field, enum in (("kind", Kind), ("state", State), ("urgency", Urgency)):
        assert sorted(_resolve(doc, props[field])["enum"]) == sorted(e.value for e in enum)
    statement = doc["components"]["schemas"]["StatementOut"]["properties"]
    assert _resolve(doc, statement["action"])["title"] == "Action"
    body = doc["components"]["schemas"]["SignedStatement"]["properties"]["body"]
    assert body["contentEncoding"] == "base64" and "refuse → Refusal" in body["description"]


def test_a_log_size_beyond_64_bits_is_a_400_not_a_500(tmp_path: Path) -> None:
    # Found by the schemathesis run (tests/e2e/test_openapi_live.py): the driver overflowed.
    settings = Settings(data_dir=tmp_path / "data", operator_token=OPERATOR_TOKEN)
    with TestClient(app=create_app(settings)) as client:
        response = client.get("/v1/log/checkpoint", params={"size": str(10**33)})
    assert response.status_code == 400
    assert response.headers["content-type"].startswith(PROBLEM)
