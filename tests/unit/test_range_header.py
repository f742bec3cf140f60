"""The `Range` header of package downloads: what is honoured, and what is ignored."""

from __future__ import annotations

import pytest

from mla_tracker.api.controllers.evidence import parse_range


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("bytes=0-99", (0, 99)),
        ("bytes=100-", (100, None)),
        ("bytes=-10", (None, 10)),
        (" bytes=5-9 ", (5, 9)),
    ],
)
def test_single_byte_ranges_are_honoured(header: str, expected: tuple[int, int]) -> None:
    assert parse_range(header) == expected


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "bytes=-",
        "bytes=9-5",  # last before first
        "bytes=0-1,5-9",  # several ranges: served whole
        "items=0-9",
        "bytes=0-9\nX",
        "bytes=\u0660-\u0669",  # Arabic-Indic digits, which int() would read as 0 and 9
        "bytes=\uff10-\uff19",  # fullwidth digits
    ],
)
def test_anything_else_is_ignored_and_the_whole_package_served(header: str | None) -> None:
    assert parse_range(header) is None
