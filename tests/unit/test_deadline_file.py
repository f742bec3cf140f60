"""The operator's deadline file: valid entries override per pair, mistakes name the line."""

from __future__ import annotations

from pathlib import Path

import pytest

from mla_tracker.domain.deadline_file import DeadlineRulesInvalid, load_rules, parse_rules
from mla_tracker.domain.deadlines import DeadlineKind, Unit
from mla_tracker.domain.legal_profile import LegalDataInvalid
from mla_tracker.domain.model import Kind, Urgency

GOOD = """\
# LA-TH arrangement
[[deadline]]
between = ["TH", "LA"]
kind = "mla"
deadline = "execute"
length = 40
unit = "business_days"
source = "LA-TH MoU 2019 Art 7"

[[deadline]]
between = ["LA", "TH"]
kind = "mla"
deadline = "execute"
urgency = "urgent"
length = 5
unit = "calendar_days"
warn = [2]
source = "LA-TH MoU 2019 Art 8"
"""


def _execute(rules_text: str, urgency: Urgency, pair: tuple[str, str]):  # type: ignore[no-untyped-def]
    rules = parse_rules(rules_text).for_request(Kind.MLA, urgency, *pair)
    return next(r for r in rules if r.deadline is DeadlineKind.EXECUTE)


def test_overrides_apply_to_the_pair_either_way_and_the_narrower_wins() -> None:
    normal = _execute(GOOD, Urgency.NORMAL, ("LA", "TH"))
    assert (normal.length, normal.unit, normal.source) == (
        40,
        Unit.BUSINESS_DAYS,
        "LA-TH MoU 2019 Art 7",
    )
    assert normal.warn == (10, 3)  # the built-in warnings when the file gives none
    urgent = _execute(GOOD, Urgency.URGENT, ("TH", "LA"))
    assert (urgent.length, urgent.unit, urgent.warn) == (5, Unit.CALENDAR_DAYS, (2,))
    assert urgent.id == "mla.execute.urgent@LA-TH"
    other = _execute(GOOD, Urgency.NORMAL, ("LA", "VN"))
    assert other.length == 60 and other.pair is None and "policy default" in other.source


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        (
            GOOD.replace('unit = "calendar_days"', 'unit = "fortnights"'),
            16,
            "unknown unit 'fortnights'",
        ),
        (
            GOOD.replace("length = 40", "length = 4000"),
            6,
            "'length' must be a whole number from 1 to 365",
        ),
        (
            GOOD.replace('between = ["LA", "TH"]', 'between = ["LA", "FR"]'),
            11,
            "bad country code 'FR'",
        ),
        (
            GOOD.replace('between = ["TH", "LA"]', 'between = ["TH"]'),
            3,
            "two different country codes",
        ),
        (GOOD.replace('source = "LA-TH MoU 2019 Art 8"\n', ""), 10, "missing 'source'"),
        (
            GOOD.replace(
                'deadline = "execute"\nlength = 40', 'deadline = "preservation_expiry"\nlength = 40'
            ),
            5,
            "cannot be overridden",
        ),
        (
            GOOD.replace(
                'kind = "mla"\ndeadline = "execute"\nlength = 40',
                'kind = "mla"\ndeadline = "preserve"\nlength = 40',
            ),
            5,
            "has no 'preserve' deadline",
        ),
        (
            GOOD.replace('urgency = "urgent"', 'urgency = "urgent"\nlenght = 3'),
            15,
            "unknown key 'lenght'",
        ),
        (GOOD.replace("warn = [2]", "warn = [9]"), 17, "'warn' must be a whole number from 1 to 4"),
        (
            GOOD + '\n[[deadline]]\nbetween = ["LA", "TH"]\nkind = "mla"\ndeadline = "execute"\n'
            'length = 3\nunit = "hours"\nsource = "x"\n',
            23,
            "duplicate rule for LA-TH",
        ),
        ("[deadlines]\nx = 1\n", 1, "unknown table 'deadlines'"),
        ("[[deadline]\n", 1, "not valid TOML"),
    ],
)
def test_invalid_file_names_line_and_reason(text: str, line: int, reason: str) -> None:
    with pytest.raises(DeadlineRulesInvalid) as caught:
        parse_rules(text, origin="deadlines.toml")
    err = caught.value
    assert reason in err.reason, err
    assert err.line == line, err
    assert str(err).startswith(f"deadlines.toml, line {line}")
    assert isinstance(err, LegalDataInvalid) and err.problem == "deadline-rules-invalid"


def test_load_from_file(tmp_path: Path) -> None:
    path = tmp_path / "deadlines.toml"
    path.write_text(GOOD)
    assert load_rules(path).origin == str(path)
    with pytest.raises(DeadlineRulesInvalid, match="cannot read"):
        load_rules(tmp_path / "missing.toml")
