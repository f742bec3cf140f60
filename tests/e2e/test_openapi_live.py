"""Schemathesis against a live server: every response conforms to the OpenAPI document.

Bounded (a few generated examples per operation) so it stays a routine part of `make test`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from tests.e2e.conftest import Server, start_server
from tests.support import OPERATOR_TOKEN

CHECKS: list[Any] = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One `mla serve` on SQLite for the whole module (a server per operation is too slow)."""
    data = tmp_path_factory.mktemp("schemathesis") / "data"
    # No 429s: schemathesis sends the operator token, and a limiter is tested elsewhere.
    env = {"MLA_OPERATOR_TOKEN": OPERATOR_TOKEN, "MLA_AUTH_FAILURE_LIMIT": "0"}
    yield from start_server(None, data, env)


def test_every_response_conforms(live: Server) -> None:
    # Driven by hand, not by schemathesis' pytest plugin, which fails on this pytest version
    # ("'Function' object has no attribute '_nodeid'").
    api = schemathesis.openapi.from_url(live.url + "/schema/openapi.json")
    failures: dict[str, str] = {}
    calls: list[str] = []
    for found in api.get_all_operations():
        operation = found.ok()  # type: ignore[union-attr]  # an invalid operation fails here
        label = operation.label

        @given(case=operation.as_strategy())
        @settings(
            max_examples=5,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,  # the same examples every run: a failure reproduces
            database=None,
        )
        def call(case: schemathesis.Case) -> None:  # type: ignore[type-arg]
            calls.append(label)  # noqa: B023 (called within this iteration only)
            case.call_and_validate(
                base_url=live.url,
                headers={"Authorization": f"Bearer {OPERATOR_TOKEN}"},
                checks=CHECKS,
            )

        try:
            call()
        except Exception as exc:
            failures[label] = str(exc)[:2000]
    assert len(set(calls)) >= 30, sorted(set(calls))  # every operation was exercised
    assert not failures, "\n\n".join(f"{k}: {v}" for k, v in failures.items())
