"""Which ASEAN states each multilateral instrument binds, and since when: operator data.

The built-in entries (`DEFAULT_PROFILE`) are only those `shared/reference/mla-law.md`
confirms, each citing its key there ([MLAT], [MM], [BCP]); every other state and
instrument is *unknown*. An operator extends or corrects them with a TOML file
(`MLA_LEGAL_FILE`, format in docs/operations.md "Legal data"). Bilateral treaties,
reciprocity and domestic law are not multilateral instruments: nothing here checks them.

A request relying on an instrument that does not bind both states, or whose binding is
unknown, gets a completeness *warning*, never a refusal: treaty status changes, and this
data may lag behind it.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any, ClassVar, Final, NoReturn

from .content import Instrument, RequestContent
from .countries import ASEAN_MEMBERS
from .errors import DomainError, MissingItem

#: Severity of a completeness item that neither blocks nor is a drafting tip (policy).
WARNING: Final = "warning"

# Listed explicitly so that an instrument added to `Instrument` later counts as
# multilateral by default: an unknown binding warns, rather than silently passing.
NOT_MULTILATERAL: Final = frozenset(
    {Instrument.BILATERAL_TREATY, Instrument.RECIPROCITY, Instrument.DOMESTIC_LAW}
)

INSTRUMENT_NAMES: Final[Mapping[Instrument, str]] = MappingProxyType(
    {
        Instrument.ASEAN_MLAT_2004: "ASEAN Treaty on Mutual Legal Assistance (2004)",
        Instrument.UN_CYBERCRIME_CONVENTION: "UN Convention against Cybercrime",
        Instrument.BUDAPEST_CONVENTION: "Budapest Convention on Cybercrime",
        Instrument.UNTOC: "UN Convention against Transnational Organized Crime",
        Instrument.UNCAC: "UN Convention against Corruption",
    }
)

#: The mla-law.md keys the built-in entries cite, and what they point to.
REFERENCES: Final[Mapping[str, str]] = MappingProxyType(
    {
        "MLAT": "https://elibrary.judiciary.gov.ph/thebookshelf/showdocs/36/9759",
        "ASEAN": "https://asean.org/our-communities/asean-political-security-community/"
        "rules-based-people-oriented-people-centred/criminal-matters",
        "MM": "https://mdn.gov.mm/en/mola-union-minister-participates-amag-mlat-meeting-brunei",
        "BCP": "https://inview.nl/document/ida9135c0f2679103f04a4f8f7d99c2d8c",
    }
)


def is_multilateral(instrument: Instrument) -> bool:
    """Whether the profile tracks which states the instrument binds."""
    return instrument not in NOT_MULTILATERAL


def instrument_name(instrument: Instrument) -> str:
    """The instrument's name as people write it."""
    return INSTRUMENT_NAMES.get(instrument, instrument.value.replace("_", " "))


class LegalDataInvalid(DomainError):
    """The operator's legal data file cannot be used; names the file, line and entry."""

    problem: ClassVar[str] = "legal-data-invalid"
    title: ClassVar[str] = "Legal data invalid"

    def __init__(
        self, origin: str, reason: str, *, line: int | None = None, entry: str | None = None
    ) -> None:
        self.origin, self.reason, self.line, self.entry = origin, reason, line, entry
        where = origin if line is None else f"{origin}, line {line}"
        super().__init__(f"{where}: {entry}: {reason}" if entry else f"{where}: {reason}")


@dataclass(frozen=True)
class Binding:
    """Whether an instrument binds a state, since when (None: date not recorded), and why."""

    bound: bool
    source: str
    since: date | None = None


@dataclass(frozen=True)
class LegalProfile:
    """Bindings per (instrument, state) and the Budapest Art 29(4) reservations."""

    bindings: Mapping[tuple[Instrument, str], Binding] = field(
        default_factory=lambda: MappingProxyType({})
    )
    #: States that reserved the right to refuse preservation for lack of dual criminality.
    dual_criminality_reservations: frozenset[str] = frozenset()
    #: State → source of its 29(4) reservation entry.
    reservation_sources: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    #: Where the data came from: the built-in defaults or a file path.
    origin: str = "built-in defaults"

    def binding(self, instrument: Instrument, state: str) -> Binding | None:
        """The recorded entry, or None when unknown."""
        return self.bindings.get((instrument, state))

    def binds(self, instrument: Instrument, state: str, *, on: date | None = None) -> bool | None:
        """True / False as recorded (as of `on` if given); None if unknown or not multilateral."""
        if not is_multilateral(instrument):
            return None
        entry = self.binding(instrument, state)
        if entry is None:
            return None
        if not entry.bound:
            return False
        # ASEAN MLAT 31(2): a request may be made once the treaty binds both Parties.
        return on is None or entry.since is None or entry.since <= on


def _mlat(state: str, source: str) -> tuple[tuple[Instrument, str], Binding]:
    return (Instrument.ASEAN_MLAT_2004, state), Binding(True, source)


_MLAT_2004 = "mla-law.md §7: signed 29 Nov 2004 [MLAT]; all ten original members ratified [MM]"
_MLAT_2006 = "mla-law.md §7: signed 2006 [ASEAN]; all ten original members ratified [MM]"

# Only what mla-law.md confirms. The MLAT's per-state entry-into-force dates are not
# confirmed there ("in force 2013" is not per state), so `since` stays unrecorded; Timor-
# Leste's status is marked (U). The UN Convention against Cybercrime's ratifications are
# secondary-sourced and its entry into force unconfirmed; UNTOC/UNCAC parties are not
# covered: all of those stay unknown.
DEFAULT_PROFILE: Final = LegalProfile(
    bindings=MappingProxyType(
        dict(
            [
                *(_mlat(s, _MLAT_2004) for s in ("BN", "KH", "ID", "LA", "MY", "PH", "SG", "VN")),
                _mlat("TH", _MLAT_2006),
                _mlat("MM", "mla-law.md §7: signed 2006 [ASEAN]; ratified in 2009 [MM]"),
                (
                    (Instrument.BUDAPEST_CONVENTION, "PH"),
                    Binding(
                        True,
                        "mla-law.md §7: Budapest party since 1 Jul 2018 [BCP]",
                        date(2018, 7, 1),
                    ),
                ),
            ]
        )
    )
)


def instrument_warnings(
    content: RequestContent,
    requesting_country: str,
    requested_country: str,
    profile: LegalProfile,
    *,
    on: date | None = None,
) -> list[MissingItem]:
    """Warnings when the request's multilateral legal basis may not bind both states."""
    basis = content.legal_basis
    if basis is None or not is_multilateral(basis.instrument):
        return []
    found: list[MissingItem] = []
    sides = [("requesting", requesting_country), ("requested", requested_country)]
    for role, state in sides if requesting_country != requested_country else sides[:1]:
        if profile.binds(basis.instrument, state, on=on) is not True:
            entry = profile.binding(basis.instrument, state)
            message = _warning(basis.instrument, role, state, entry)
            found.append(MissingItem("legal_basis.instrument", message, WARNING))
    return found


def _warning(instrument: Instrument, role: str, state: str, entry: Binding | None) -> str:
    name = instrument_name(instrument)
    who = f"the {role} state, {ASEAN_MEMBERS.get(state, (state,))[0]} ({state}),"
    check = "the legal data may be out of date: check"
    if entry is None:
        return f"whether the {name} binds {who} is unknown: {check}"
    if entry.bound:
        return f"the {name} binds {who} only from {entry.since}, per {entry.source}: {check}"
    return f"the {name} does not bind {who} per {entry.source}: {check}"


# ---- the operator's file ------------------------------------------------------------------

_TABLES: Final = ("binding", "dual_criminality_reservation")
_BINDING_KEYS: Final = ("instrument", "state", "bound", "since", "source")
_RESERVATION_KEYS: Final = ("state", "source")


def load_profile(path: Path, base: LegalProfile = DEFAULT_PROFILE) -> LegalProfile:
    """Read an operator's TOML file over `base`; raise LegalDataInvalid naming line and entry."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise LegalDataInvalid(str(path), f"cannot read the legal data file: {exc}") from exc
    return parse_profile(text, origin=str(path), base=base)


def parse_profile(
    text: str, *, origin: str = "<legal data>", base: LegalProfile = DEFAULT_PROFILE
) -> LegalProfile:
    """Parse the TOML text; its entries replace `base`'s for the same instrument and state."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        found = re.search(r"line (\d+)", str(exc))
        line = getattr(exc, "lineno", None) or (int(found.group(1)) if found else None)
        raise LegalDataInvalid(origin, f"not valid TOML: {exc}", line=line) from exc
    for key in data:
        if key not in _TABLES:
            raise LegalDataInvalid(
                origin,
                f"unknown table '{key}'; expected [[{']], [['.join(_TABLES)}]]",
                line=_line_of(text, rf"\[*\s*{re.escape(key)}\s*[\]=]"),
            )
    bindings = dict(base.bindings)
    first: dict[tuple[Instrument, str], _Entry] = {}
    for entry in _entries(text, origin, data, "binding"):
        entry.check_keys(_BINDING_KEYS, required=("instrument", "state", "bound", "source"))
        instrument = entry.instrument()
        state = entry.state()
        bound = entry.value("bound", bool, "true or false")
        since = entry.since(bound)
        source = entry.source()
        if (instrument, state) in first:
            earlier = first[instrument, state].label
            entry.fail("state", f"duplicate entry for {instrument.value}/{state} ({earlier})")
        first[instrument, state] = entry
        bindings[instrument, state] = Binding(bound, source, since)
    sources = dict(base.reservation_sources)
    reserved = set(base.dual_criminality_reservations)
    seen: dict[str, _Entry] = {}
    for entry in _entries(text, origin, data, "dual_criminality_reservation"):
        entry.check_keys(_RESERVATION_KEYS, required=_RESERVATION_KEYS)
        state = entry.state()
        if state in seen:
            entry.fail("state", f"duplicate reservation for {state} ({seen[state].label})")
        seen[state] = entry
        sources[state] = entry.source()
        reserved.add(state)
    return LegalProfile(
        bindings=MappingProxyType(bindings),
        dual_criminality_reservations=frozenset(reserved),
        reservation_sources=MappingProxyType(sources),
        origin=origin,
    )


def _line_of(text: str, pattern: str, start: int = 0, stop: int | None = None) -> int | None:
    """1-based number of the first line from `start` (0-based) matching `pattern`."""
    lines = text.splitlines()[start:stop]
    for n, line in enumerate(lines, start + 1):
        if re.match(rf"\s*{pattern}", line):
            return n
    return None


def _entries(text: str, origin: str, data: dict[str, Any], table: str) -> list[_Entry]:
    raw = data.get(table, [])
    if not isinstance(raw, list) or not all(isinstance(item, dict) for item in raw):
        raise LegalDataInvalid(
            origin,
            f"'{table}' must be an array of tables: write each entry under [[{table}]]",
            line=_line_of(text, rf"\[*\s*{table}\s*[\]=]"),
        )
    # Entries written as [[table]] headers get line numbers; inline arrays do not.
    header = re.compile(rf"\s*\[\[\s*{table}\s*\]\]\s*(#.*)?$")
    starts = [n for n, line in enumerate(text.splitlines()) if header.match(line)]
    if len(starts) != len(raw):
        starts = []
    return [
        _Entry(text, origin, table, i, item, starts[i] if starts else None)
        for i, item in enumerate(raw)
    ]


class _Entry:
    """One [[table]] entry being validated; every failure names its line and position."""

    def __init__(
        self, text: str, origin: str, table: str, index: int, raw: dict[str, Any], start: int | None
    ) -> None:
        self.text, self.origin, self.raw, self.start = text, origin, raw, start
        self.label = f"[[{table}]] #{index + 1}"

    def fail(self, key: str | None, reason: str) -> NoReturn:
        """Raise LegalDataInvalid at the key's line, else the entry's header line."""
        line = None
        if self.start is not None:
            nxt = _line_of(self.text, r"\[", self.start + 1)
            if key is not None:
                line = _line_of(self.text, rf"{key}\s*=", self.start + 1, nxt and nxt - 1)
            line = line or self.start + 1
        raise LegalDataInvalid(self.origin, reason, line=line, entry=self.label)

    def check_keys(self, allowed: tuple[str, ...], *, required: tuple[str, ...]) -> None:
        """Refuse unknown keys (typos) and missing ones."""
        for key in self.raw:
            if key not in allowed:
                self.fail(key, f"unknown key '{key}'; expected {', '.join(allowed)}")
        for key in required:
            if key not in self.raw:
                why = ": every entry needs its source" if key == "source" else ""
                self.fail(None, f"missing '{key}'{why}")

    def value(self, key: str, kind: type, expected: str) -> Any:
        """The key's value, checked to be of `kind`."""
        value = self.raw[key]
        if not isinstance(value, kind):
            self.fail(key, f"'{key}' must be {expected}, got {value!r}")
        return value

    def instrument(self) -> Instrument:
        """The entry's multilateral instrument."""
        name = self.value("instrument", str, "an instrument name")
        try:
            instrument = Instrument(name)
        except ValueError:
            known = ", ".join(i.value for i in Instrument if is_multilateral(i))
            self.fail("instrument", f"unknown instrument '{name}'; expected one of {known}")
        if not is_multilateral(instrument):
            self.fail(
                "instrument",
                f"'{name}' is not a multilateral instrument: no binding is recorded for it",
            )
        return instrument

    def state(self) -> str:
        """The entry's ASEAN member code."""
        code = self.value("state", str, "an ISO 3166 alpha-2 code")
        if code not in ASEAN_MEMBERS:
            self.fail(
                "state",
                f"bad country code '{code}'; expected an ASEAN member: {', '.join(ASEAN_MEMBERS)}",
            )
        return str(code)

    def since(self, bound: bool) -> date | None:
        """The optional date the instrument took effect for the state."""
        if "since" not in self.raw:
            return None
        value: object = self.raw["since"]
        # tomllib gives datetime (a date subclass) for a date-time: the time means nothing here.
        if isinstance(value, datetime) or not isinstance(value, date):
            self.fail("since", f"bad date {value!r}: write an unquoted TOML date, e.g. 2018-07-01")
        if not bound:
            self.fail("since", "'since' is only meaningful with bound = true")
        return value

    def source(self) -> str:
        """The entry's source, which must say something."""
        text = self.value("source", str, "a citation")
        if not text.strip():
            self.fail("source", "missing source: cite where this comes from")
        return str(text).strip()
