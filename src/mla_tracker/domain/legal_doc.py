"""Render docs/legal.md from the code: every rule, every move and value, and its source.

Run `python -m mla_tracker.domain.legal_doc > docs/legal.md` after changing a rule; the
test suite fails while the file and the code disagree.
"""

from __future__ import annotations

from enum import StrEnum

from .model import Kind
from .sources import ENUM_SOURCES, RULES
from .transitions import TABLES

_HEADER = """# Legal rules and their sources

Generated from `src/mla_tracker/domain/` by `python -m mla_tracker.domain.legal_doc`; do
not edit by hand (a test compares this file with the code). Citations follow
`mla-law.md`: BC = Budapest Convention, UNCC = UN Convention against Cybercrime, EU =
Regulation (EU) 2023/1543, MACMA = the Singapore and Malaysia Mutual Assistance in
Criminal Matters Acts. **policy** marks what this project chose where no instrument
prescribes it; a bilateral arrangement may differ, and the deadlines issue makes such
rules configurable.
"""


def _rules() -> list[str]:
    lines = ["## Rules", "", "| rule | what holds | source | where |", "|---|---|---|---|"]
    for rule in RULES:
        lines.append(f"| `{rule.id}` | {rule.text} | {rule.source} | `{rule.where}` |")
    return lines


def _moves(kind: Kind) -> list[str]:
    lines = [
        f"## Moves of a `{kind}` request",
        "",
        "| from | action | to | by | source |",
        "|---|---|---|---|---|",
    ]
    for (state, action), move in TABLES[kind].items():
        parties = ", ".join(sorted(move.parties))
        lines.append(f"| `{state}` | `{action}` | `{move.target}` | {parties} | {move.source} |")
    return lines


def _values(enum: type[StrEnum]) -> list[str]:
    sources = ENUM_SOURCES[enum]
    lines = [f"### {enum.__name__}", "", "| value | source |", "|---|---|"]
    lines += [f"| `{member.value}` | {sources[member]} |" for member in enum]
    return lines


def render() -> str:
    """The whole of docs/legal.md."""
    parts = [_HEADER, *_rules(), ""]
    for kind in Kind:
        parts += [*_moves(kind), ""]
    parts += ["## Enumerated values", ""]
    for enum in ENUM_SOURCES:
        parts += [*_values(enum), ""]
    parts += _deadlines()
    return "\n".join(parts).rstrip() + "\n"


def _deadlines() -> list[str]:
    from .deadlines import DEFAULT_RULES, Unit  # appended section: keeps the header untouched

    lines = [
        "## Deadlines",
        "",
        "Defaults; `MLA_DEADLINES_FILE` overrides them per pair of countries (docs/deadlines.md).",
        "",
        "| kind | urgency | opens on entering | deadline | length | warnings | by | source |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in DEFAULT_RULES:
        length = "the `until` date" if r.unit is Unit.UNTIL_DATE else f"{r.length} {r.unit}"
        warn = ", ".join(str(w) for w in r.warn)
        lines.append(
            f"| `{r.kind}` | `{r.urgency}` | `{r.starts}` | `{r.deadline}` | {length} | "
            f"{warn} | {r.phase.responsible} | {r.source} |"
        )
    return [*lines, ""]


if __name__ == "__main__":
    print(render(), end="")
