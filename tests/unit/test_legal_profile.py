"""Legal data: which states each instrument binds, the warnings, and the operator's file."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from types import MappingProxyType

import msgspec
import pytest
from click.testing import CliRunner

from mla_tracker.api.app import create_app
from mla_tracker.cli.main import cli
from mla_tracker.config import Settings
from mla_tracker.domain.content import Instrument, RequestContent
from mla_tracker.domain.countries import ASEAN_MEMBERS
from mla_tracker.domain.legal_profile import (
    DEFAULT_PROFILE,
    INSTRUMENT_NAMES,
    NOT_MULTILATERAL,
    REFERENCES,
    WARNING,
    Binding,
    LegalDataInvalid,
    LegalProfile,
    instrument_warnings,
    is_multilateral,
    load_profile,
    parse_profile,
)
from tests.support import mla_content

MLAT = Instrument.ASEAN_MLAT_2004
BUDAPEST = Instrument.BUDAPEST_CONVENTION
MLA_LAW = Path("/work/shared/reference/mla-law.md")


# ---- binds -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("instrument", "state", "on", "expected"),
    [
        pytest.param(MLAT, "LA", None, True, id="asean-mlat-LA-signed-2004-[MLAT][MM]"),
        pytest.param(MLAT, "TH", None, True, id="asean-mlat-TH-signed-2006-[MM]"),
        pytest.param(MLAT, "MM", None, True, id="asean-mlat-MM-ratified-2009-[MM]"),
        pytest.param(MLAT, "SG", date(2000, 1, 1), True, id="asean-mlat-31(2)-no-date-recorded"),
        pytest.param(MLAT, "TL", None, None, id="asean-mlat-TL-unconfirmed"),
        pytest.param(BUDAPEST, "PH", None, True, id="budapest-PH-[BCP]"),
        pytest.param(BUDAPEST, "PH", date(2018, 7, 1), True, id="budapest-PH-from-2018-07-01"),
        pytest.param(BUDAPEST, "PH", date(2018, 6, 30), False, id="budapest-PH-before-2018-07-01"),
        pytest.param(BUDAPEST, "TH", None, None, id="budapest-TH-unknown"),
        pytest.param(BUDAPEST, "FR", None, None, id="budapest-non-member-unknown"),
        pytest.param(Instrument.UN_CYBERCRIME_CONVENTION, "VN", None, None, id="un-cyber-VN-(sec)"),
        pytest.param(Instrument.UNTOC, "SG", None, None, id="untoc-unknown"),
        pytest.param(Instrument.UNCAC, "MY", None, None, id="uncac-unknown"),
        pytest.param(Instrument.BILATERAL_TREATY, "LA", None, None, id="bilateral-not-tracked"),
        pytest.param(Instrument.RECIPROCITY, "LA", None, None, id="reciprocity-not-tracked"),
        pytest.param(Instrument.DOMESTIC_LAW, "LA", None, None, id="domestic-law-not-tracked"),
    ],
)
def test_binds_by_default(
    instrument: Instrument, state: str, on: date | None, expected: bool | None
) -> None:
    assert DEFAULT_PROFILE.binds(instrument, state, on=on) is expected


def test_a_recorded_non_binding_is_false() -> None:
    profile = LegalProfile(
        bindings=MappingProxyType({(BUDAPEST, "TH"): Binding(False, "operator check")})
    )
    assert profile.binds(BUDAPEST, "TH") is False
    assert profile.binds(BUDAPEST, "LA") is None


def test_every_instrument_is_classified_and_named() -> None:
    not_multilateral = {
        Instrument.BILATERAL_TREATY,
        Instrument.RECIPROCITY,
        Instrument.DOMESTIC_LAW,
    }
    assert not_multilateral == NOT_MULTILATERAL
    for instrument in Instrument:
        if is_multilateral(instrument):
            assert instrument in INSTRUMENT_NAMES, instrument


def test_defaults_are_only_what_mla_law_confirms() -> None:
    """Ten MLAT members and the Philippines for Budapest; nothing else; each cites its key."""
    mlat = {s for (i, s), b in DEFAULT_PROFILE.bindings.items() if i is MLAT and b.bound}
    assert mlat == set(ASEAN_MEMBERS) - {"TL"}
    others = {(i, s) for (i, s) in DEFAULT_PROFILE.bindings if i is not MLAT}
    assert others == {(BUDAPEST, "PH")}
    assert DEFAULT_PROFILE.dual_criminality_reservations == frozenset()
    for key, binding in DEFAULT_PROFILE.bindings.items():
        cited = re.findall(r"\[([A-Z0-9]+)\]", binding.source)
        assert cited, key
        assert set(cited) <= set(REFERENCES), key
        assert "mla-law.md §7" in binding.source, key


@pytest.mark.skipif(not MLA_LAW.exists(), reason="shared reference not checked out")
def test_references_match_mla_law() -> None:
    text = MLA_LAW.read_text(encoding="utf-8")
    for key, url in REFERENCES.items():
        assert f"[{key}]: {url}\n" in text, key


# ---- instrument_warnings ---------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    instrument: Instrument | None
    requesting: str
    requested: str
    #: Expected warnings: (state, a fragment of the message).
    warnings: tuple[tuple[str, str], ...]
    on: date | None = None


OPERATOR = LegalProfile(
    bindings=MappingProxyType(
        {
            **DEFAULT_PROFILE.bindings,
            (BUDAPEST, "TH"): Binding(False, "operator: CoE chart, checked 2026-11-30"),
            (Instrument.UNTOC, "SG"): Binding(True, "operator: UNTC", date(2007, 8, 28)),
            (Instrument.UNTOC, "MY"): Binding(True, "operator: UNTC"),
        }
    )
)

CASES = {
    "asean-mlat-31(2)-LA-TH-both-bound": Case(MLAT, "LA", "TH", ()),
    "asean-mlat-31(2)-LA-TL-unconfirmed": Case(MLAT, "LA", "TL", (("TL", "is unknown"),)),
    "budapest-art-29-LA-TH-both-unknown": Case(
        BUDAPEST, "LA", "TH", (("LA", "is unknown"), ("TH", "does not bind"))
    ),
    "budapest-art-29-PH-LA-requested-unknown": Case(BUDAPEST, "PH", "LA", (("LA", "unknown"),)),
    "budapest-art-29-PH-PH-one-state": Case(BUDAPEST, "PH", "PH", ()),
    "budapest-art-29-LA-LA-warned-once": Case(BUDAPEST, "LA", "LA", (("LA", "requesting"),)),
    "budapest-art-29-PH-before-2018-07-01": Case(
        BUDAPEST, "SG", "PH", (("SG", "unknown"), ("PH", "only from 2018-07-01")), date(2018, 6, 1)
    ),
    "untoc-art-18-SG-MY-bound": Case(Instrument.UNTOC, "SG", "MY", (), date(2026, 11, 30)),
    "untoc-art-18-SG-before-2007-08-28": Case(
        Instrument.UNTOC, "MY", "SG", (("SG", "only from 2007-08-28"),), date(2007, 1, 1)
    ),
    "uncac-art-46-BN-VN-unknown": Case(
        Instrument.UNCAC, "BN", "VN", (("BN", "unknown"), ("VN", "unknown"))
    ),
    "un-cybercrime-ch-v-VN-TH-unknown": Case(
        Instrument.UN_CYBERCRIME_CONVENTION, "VN", "TH", (("VN", "unknown"), ("TH", "unknown"))
    ),
    "bilateral-treaty-not-checked": Case(Instrument.BILATERAL_TREATY, "LA", "TL", ()),
    "reciprocity-not-checked": Case(Instrument.RECIPROCITY, "LA", "TL", ()),
    "domestic-law-not-checked": Case(Instrument.DOMESTIC_LAW, "LA", "TL", ()),
    "no-legal-basis-left-to-completeness": Case(None, "LA", "TL", ()),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_instrument_warnings(case: Case) -> None:
    basis = None if case.instrument is None else {"instrument": case.instrument.value}
    content = msgspec.convert(mla_content("a-ca", "b-ca", legal_basis=basis), RequestContent)
    found = instrument_warnings(content, case.requesting, case.requested, OPERATOR, on=case.on)
    assert len(found) == len(case.warnings), found
    for item, (state, fragment) in zip(found, case.warnings, strict=True):
        assert item.severity == WARNING == "warning"
        assert item.field == "legal_basis.instrument"
        assert f"({state})" in item.message and fragment in item.message, item.message
        assert item.message.endswith("the legal data may be out of date: check")


def test_a_not_bound_warning_cites_its_source() -> None:
    content = msgspec.convert(
        mla_content("a-ca", "b-ca", legal_basis={"instrument": "budapest_convention"}),
        RequestContent,
    )
    [_, th] = instrument_warnings(content, "LA", "TH", OPERATOR)
    assert "the requested state, Thailand (TH)," in th.message
    assert "operator: CoE chart, checked 2026-11-30" in th.message


# ---- the operator's file --------------------------------------------------------------

GOOD = """\
# Operator corrections, each with its source.
[[binding]]
instrument = "budapest_convention"
state = "TH"
bound = false
source = "CoE Treaty Office chart, ETS 185, checked 2026-11-30"

[[binding]]   # overrides the built-in entry
instrument = "asean_mlat_2004"
state = "TL"
bound = true
since = 2026-06-01
source = "ASEAN MLAT depositary notice (example)"

[[dual_criminality_reservation]]
state = "MY"
source = "declaration on ratification (example)"
"""


def test_load_profile_extends_and_overrides_the_defaults(tmp_path: Path) -> None:
    path = tmp_path / "legal.toml"
    path.write_text(GOOD, encoding="utf-8")
    profile = load_profile(path)
    assert profile.origin == str(path)
    assert profile.binds(BUDAPEST, "TH") is False
    assert profile.binding(BUDAPEST, "TH") == Binding(
        False, "CoE Treaty Office chart, ETS 185, checked 2026-11-30"
    )
    assert profile.binds(MLAT, "TL") is True
    assert profile.binds(MLAT, "TL", on=date(2026, 5, 31)) is False
    # Untouched defaults stay.
    assert profile.binds(MLAT, "LA") is True
    assert profile.binds(BUDAPEST, "PH") is True
    assert profile.dual_criminality_reservations == frozenset({"MY"})
    assert profile.reservation_sources == {"MY": "declaration on ratification (example)"}
    assert DEFAULT_PROFILE.binds(MLAT, "TL") is None


def test_an_empty_file_is_the_defaults(tmp_path: Path) -> None:
    path = tmp_path / "legal.toml"
    path.write_text("# nothing to add\n", encoding="utf-8")
    profile = load_profile(path)
    assert profile.bindings == DEFAULT_PROFILE.bindings
    assert profile.dual_criminality_reservations == frozenset()


ENTRY = 'instrument = "untoc"\nstate = "TH"\nbound = true\nsource = "x"\n'

#: id → (file text, line the message must name or None, fragments it must contain).
BAD: dict[str, tuple[str, int | None, tuple[str, ...]]] = {
    "toml-syntax": ("[[binding]]\nstate = TH\n", 2, ("not valid TOML",)),
    "toml-impossible-date": (
        "[[binding]]\n" + ENTRY + "since = 2018-02-30\n",
        6,
        ("not valid TOML", "date"),
    ),
    "unknown-instrument": (
        "# c\n[[binding]]\n" + ENTRY.replace('"untoc"', '"budapest"'),
        3,
        ("[[binding]] #1", "unknown instrument 'budapest'", "budapest_convention"),
    ),
    "not-multilateral": (
        "[[binding]]\n" + ENTRY.replace('"untoc"', '"bilateral_treaty"'),
        2,
        ("[[binding]] #1", "'bilateral_treaty' is not a multilateral instrument"),
    ),
    "bad-country-code": (
        "[[binding]]\n" + ENTRY + "\n[[binding]]\n" + ENTRY.replace('"TH"', '"XX"'),
        9,
        ("[[binding]] #2", "bad country code 'XX'"),
    ),
    "lower-case-country-code": (
        '[[dual_criminality_reservation]]\nstate = "th"\nsource = "x"\n',
        2,
        ("[[dual_criminality_reservation]] #1", "bad country code 'th'"),
    ),
    "quoted-date": (
        "[[binding]]\n" + ENTRY + 'since = "2018-07-01"\n',
        6,
        ("[[binding]] #1", "bad date '2018-07-01'"),
    ),
    "date-time-not-date": (
        "[[binding]]\n" + ENTRY + "since = 2018-07-01T00:00:00\n",
        6,
        ("[[binding]] #1", "bad date"),
    ),
    "since-without-binding": (
        "[[binding]]\n" + ENTRY.replace("true", "false") + "since = 2018-07-01\n",
        6,
        ("[[binding]] #1", "'since' is only meaningful with bound = true"),
    ),
    "missing-source": (
        "[[binding]]\n" + ENTRY.replace('source = "x"\n', ""),
        1,
        ("[[binding]] #1", "missing 'source'"),
    ),
    "blank-source": (
        "[[binding]]\n" + ENTRY.replace('"x"', '"  "'),
        5,
        ("[[binding]] #1", "missing source"),
    ),
    "reservation-without-source": (
        f'[[binding]]\n{ENTRY}\n[[dual_criminality_reservation]]\nstate = "MY"\n',
        7,
        ("[[dual_criminality_reservation]] #1", "missing 'source'"),
    ),
    "bound-not-boolean": (
        "[[binding]]\n" + ENTRY.replace("true", '"yes"'),
        4,
        ("[[binding]] #1", "'bound' must be true or false"),
    ),
    "misspelt-key": (
        "[[binding]]\n" + ENTRY + "sinse = 2018-07-01\n",
        6,
        ("[[binding]] #1", "unknown key 'sinse'"),
    ),
    "duplicate-entry": (
        "[[binding]]\n" + ENTRY + "[[binding]]\n" + ENTRY,
        8,
        ("[[binding]] #2", "duplicate entry for untoc/TH", "#1"),
    ),
    "unknown-table": ("[bindings]\nx = 1\n", 1, ("unknown table 'bindings'",)),
    "table-not-array": ("[binding]\n" + ENTRY, 1, ("must be an array of tables",)),
    "inline-array-has-no-line": (
        'binding = [{instrument = "untoc", state = "XX", bound = true, source = "x"}]\n',
        None,
        ("[[binding]] #1", "bad country code 'XX'"),
    ),
}


@pytest.mark.parametrize(("text", "line", "fragments"), BAD.values(), ids=BAD.keys())
def test_load_profile_rejects_bad_files(
    tmp_path: Path, text: str, line: int | None, fragments: tuple[str, ...]
) -> None:
    path = tmp_path / "legal.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(LegalDataInvalid) as caught:
        load_profile(path)
    message = str(caught.value)
    where = str(path) if line is None else f"{path}, line {line}:"
    assert message.startswith(where), message
    if line is None:
        assert ", line " not in message
    assert caught.value.line == line
    for fragment in fragments:
        assert fragment in message, message


def test_a_missing_file_names_it(tmp_path: Path) -> None:
    path = tmp_path / "absent.toml"
    with pytest.raises(LegalDataInvalid, match=re.escape(str(path))):
        load_profile(path)


# ---- configuration and start-up ----------------------------------------------------------


def test_settings_read_mla_legal_file() -> None:
    assert Settings.from_env({}).legal_file is None
    assert Settings.from_env({"MLA_LEGAL_FILE": "/etc/mla/legal.toml"}).legal_file == Path(
        "/etc/mla/legal.toml"
    )


def test_the_app_refuses_a_bad_legal_file(tmp_path: Path) -> None:
    path = tmp_path / "legal.toml"
    path.write_text("[[binding]]\n" + ENTRY.replace('"TH"', '"XX"'), encoding="utf-8")
    with pytest.raises(LegalDataInvalid, match=r"line 3: \[\[binding\]\] #1: bad country"):
        create_app(Settings(data_dir=tmp_path / "data", legal_file=path))


def test_serve_prints_the_bad_entry_and_stops(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`mla serve` with a bad file: one clear line, exit 1, no traceback, nothing migrated."""
    import uvicorn

    def must_not_run(*args: object, **kwargs: object) -> None:
        raise AssertionError("served despite a bad legal file")

    monkeypatch.setattr(uvicorn, "run", must_not_run)
    path = tmp_path / "legal.toml"
    path.write_text("[[binding]]\n" + ENTRY.replace('"untoc"', '"untoc2"'), encoding="utf-8")
    data = tmp_path / "data"
    env = {"MLA_DATA_DIR": str(data), "MLA_LEGAL_FILE": str(path), "MLA_DATABASE_URL": ""}
    result = CliRunner().invoke(cli, ["serve"], env=env)
    assert result.exit_code == 1, result.output
    assert f"Error: MLA_LEGAL_FILE: {path}, line 2: [[binding]] #1: unknown instrument" in (
        result.output
    )
    assert "Traceback" not in result.output
    assert not data.exists()


def test_the_documented_example_loads() -> None:
    """docs/operations.md's example file is accepted and means what the text says."""
    doc = (Path(__file__).parents[2] / "docs" / "operations.md").read_text(encoding="utf-8")
    section = doc.split("## Legal data", 1)[1].split("\n## ", 1)[0]
    example = re.search(r"```toml\n(.*?)```", section, re.S)
    assert example is not None
    profile = parse_profile(example.group(1), origin="docs/operations.md")
    assert profile.binds(BUDAPEST, "TH") is False
    assert profile.binding(MLAT, "TL") == Binding(
        True, "depositary notification no. …, received 2026-06-10", date(2026, 6, 1)
    )
    assert profile.dual_criminality_reservations == frozenset({"MY"})
    for key, url in REFERENCES.items():
        assert f"[{key}]: {url}\n" in section, key
