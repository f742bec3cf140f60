"""docs/legal.md is the code's own account of its rules, and every value names a source."""

from __future__ import annotations

import inspect
from enum import StrEnum
from pathlib import Path

import pytest

from mla_tracker.domain import content, model
from mla_tracker.domain.legal_doc import render
from mla_tracker.domain.sources import ENUM_SOURCES, RULES
from mla_tracker.domain.transitions import TABLES

DOC = Path(__file__).resolve().parents[2] / "docs" / "legal.md"

#: Enums that carry no legal meaning of their own (the lifecycle's vocabulary, whose
#: sources are the transition rows).
LIFECYCLE = {model.State, model.Action, model.Party}


def test_docs_legal_md_is_generated_from_the_code() -> None:
    assert DOC.read_text() == render(), (
        "docs/legal.md is out of date: run `python -m mla_tracker.domain.legal_doc > docs/legal.md`"
    )


def _domain_enums() -> list[type[StrEnum]]:
    found = []
    for module in (content, model):
        for _, value in inspect.getmembers(module, inspect.isclass):
            if issubclass(value, StrEnum) and value is not StrEnum and value not in LIFECYCLE:
                found.append(value)
    return found


@pytest.mark.parametrize("enum", _domain_enums(), ids=lambda e: e.__name__)
def test_every_value_names_its_source(enum: type[StrEnum]) -> None:
    sources = ENUM_SOURCES.get(enum)
    assert sources is not None, f"{enum.__name__} has no sources in domain/sources.py"
    for member in enum:
        assert sources.get(member, "").strip(), f"{enum.__name__}.{member.name} has no source"


def test_every_move_and_rule_names_its_source() -> None:
    for table in TABLES.values():
        for key, move in table.items():
            assert move.source.strip(), key
    assert len({r.id for r in RULES}) == len(RULES)
    for rule in RULES:
        assert rule.source.strip() and rule.text.strip(), rule.id
