"""Profiles are validated as a whole at load (issue 7 item 7): every mistake is reported at once
with its file, line and key, by ``acesm-meter profile check`` and by ``serve`` before it writes
anything; the schema knows exactly the keys the code reads."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support.paths import ROOT
from support.process import MeterProcess

from meter import cli, profile_schema
from meter.cosem.registry import _all_classes
from meter.metrology.scenario import WIRINGS
from meter.profile import _SIMPLE, bundled

# One file with every mistake of the issue; the line of each is where the check must point.
BAD = """\
extends = "acesm"

[meter]
max_pdu_sise = 2048

[keys]
encryption = "0102030405"

[hdlc]
physical_address = "seventeen"

[[object]]
obis = "1.0.1.8.0"
class = "register"

[[object]]
obis = "1.0.99.8.0.255"
class = "registr"
read = "reader"

[[object]]
obis = "0.0.43.0.3.255"
security_suite = 2

[[object]]
obis = "0.0.96.10.1.255"
value = { unsigned = 300 }

[[association]]
client_sap = 32
secret = ""

[[object]]
obis = "0.0.15.0.0.255"
script = "0.0.10.0.9.255"
execution_time = [["0000", "FFFFFF01FF"]]

[[object]]
obis = "0.0.10.0.1.255"
scripts = [{ id = 1, actions = [{ service = "jump", obis = "0.0.98.1.0.255", index = 2 }] }]
"""
EXPECTED = [  # (line, key, words of the message)
    (4, "[meter] max_pdu_sise", "unknown key"),
    (10, "[hdlc] physical_address", "an integer, not 'seventeen'"),
    (13, "[[object]] 1.0.1.8.0 obis", "an OBIS code A.B.C.D.E.F"),
    (18, "[[object]] 1.0.99.8.0.255 class", "unknown class 'registr'"),
    (7, "[keys] encryption", "(suite 0): 5 bytes, must be 16"),
    (27, "[[object]] 0.0.96.10.1.255 value", "value 300 outside 0..255"),
    (31, "[[association]] 32 secret", "mechanism 1 needs a secret"),
    (35, "[[object]] 0.0.15.0.0.255 script", "0.0.10.0.9.255 is not a script_table"),
    (36, "[[object]] 0.0.15.0.0.255 execution_time", "length in bytes 2 outside 4..5"),
    (40, "[[object]] 0.0.10.0.1.255 scripts", "script 0: scripts: { id, actions"),
]
# ... and one in the file it extends: suite 2 on 0.0.43.0.3.255 takes the 16-byte [keys] of
# acesm.toml, whose line is reported.
BASE = ROOT / "profiles" / "acesm.toml"
BASE_LINE = 1 + BASE.read_text().splitlines().index(
    'authentication = "D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF"')


def _check(capsys: pytest.CaptureFixture[str], path: Path | str) -> tuple[int, list[str], str]:
    code = cli.main(["profile", "check", str(path)])
    out, err = capsys.readouterr()
    return code, err.splitlines(), out


def test_every_mistake_is_reported_with_file_line_and_key(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(BAD)
    code, err, _ = _check(capsys, path)
    assert code == 1
    assert err[0] == f"acesm-meter: error: profile {path}: {len(err) - 1} errors"
    for line, key, words in EXPECTED:
        assert any(e.startswith(f"{path}:{line}: {key}: ") and words in e for e in err), (key, err)
    assert f"{BASE}:{BASE_LINE}: [keys] authentication: authentication key of 0.0.43.0.3.255 " \
           "(suite 2): 16 bytes, must be 32" in err
    assert "Traceback" not in "\n".join(err)


@pytest.mark.parametrize("name", ["acesm", "acesm-na", "acesm-prepay", "acesm-suite2"])
def test_every_bundled_profile_passes(capsys: pytest.CaptureFixture[str], name: str) -> None:
    assert name in bundled()
    code, err, out = _check(capsys, name)
    assert (code, err) == (0, [])
    assert re.fullmatch(rf".*/{name}\.toml: ok \(\d+ objects, 5 associations\)\n", out)


def test_extends_finds_a_bundled_profile_by_name(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "mine.toml"
    path.write_text('extends = "acesm-na"\n[meter]\nserial = "0000000000009"\n')
    assert _check(capsys, path)[0] == 0


def test_an_unknown_profile_name_lists_the_bundled_ones(capsys: pytest.CaptureFixture[str]) -> None:
    code, err, _ = _check(capsys, "acesm-eu")
    assert code == 1
    assert err == ["acesm-meter: error: no profile 'acesm-eu': not a file, nor a bundled profile "
                   "(acesm, acesm-na, acesm-prepay, acesm-suite2)"]


def test_serve_refuses_a_bad_profile_before_writing_state(tmp_path: Path) -> None:
    path, state = tmp_path / "bad.toml", tmp_path / "state"
    path.write_text('extends = "acesm"\n[hdlc]\nphysical_address = "seventeen"\n')
    meter = MeterProcess(state, "--profile", str(path), "--tcp", "127.0.0.1:0")
    try:
        assert meter.finish(timeout=30) == 1
    finally:
        meter.kill()
    assert f"{path}:3: [hdlc] physical_address: an integer" in meter.log_text()
    assert not state.exists()


# --- the schema is what the code reads ----------------------------------------------------------


def test_schema_classes_are_the_classes_a_profile_can_name() -> None:
    names = {cls.NAME for cls in _all_classes()  # the meter's own, not classes tests define
             if cls.__module__.startswith("meter.")} - {"association_ln"}  # from [[association]]
    assert set(profile_schema.CLASS_OPTIONS) == names


def test_schema_value_types_and_wirings_are_the_codes() -> None:
    strings = {"octet_string", "octet_string_hex", "visible_string", "utf8_string", "null"}
    assert set(profile_schema.VALUE_KINDS) == set(_SIMPLE) | strings
    assert set(profile_schema.METER["wiring"].choices) == set(WIRINGS)


_READS = {  # pattern of a profile read in meter/ -> the schema table that must hold the key
    r'(?:_int\(o, |\bo\.get\(|\bo\[|options\.get\()"(\w+)"': "object",
    r'(?:profile\.meter|\bm)(?:\.get\(|\[)"(\w+)"': "meter",
    r'\bh\.get\("(\w+)"': "hdlc",
    r'profile\.tcp\.get\("(\w+)"': "tcp",
}


def test_every_key_the_code_reads_is_in_the_schema() -> None:
    object_keys = set(profile_schema.OBJECT).union(*profile_schema.CLASS_OPTIONS.values())
    known = {"object": object_keys, **{k: set(v) for k, v in profile_schema.SECTIONS.items()}}
    missing = []
    for source in (ROOT / "meter").rglob("*.py"):
        text = source.read_text()
        for pattern, table in _READS.items():
            missing += [(source.name, table, key) for key in re.findall(pattern, text)
                        if key not in known[table]]
    assert missing == []


# --- garbage never crashes the validator ----------------------------------------------------------

_LEAF = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=8))
_KEYS = st.sampled_from(["meter", "keys", "hdlc", "object", "association", "obis", "class",
                         "security_suite", "keys", "capture_objects", "source", "encryption",
                         "metrology", "algorithms", "values", "selected", "x"])
_DATA = st.recursive(_LEAF, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                    st.dictionaries(_KEYS, inner, max_size=5)),
                     max_leaves=30)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(_KEYS, _DATA, max_size=6))
def test_any_data_gives_problems_not_exceptions(data: dict[str, Any]) -> None:
    problems = profile_schema.validate(data)
    assert all(isinstance(p, profile_schema.Problem) for p in problems)
