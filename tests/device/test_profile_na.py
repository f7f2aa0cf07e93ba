"""profiles/acesm-na.toml (NA annex: 60 Hz split-phase 1P3W 120/240 V, NA-01 algorithm objects)
and the profile loader's ``remove`` list that drops inherited objects."""

from __future__ import annotations

from pathlib import Path

import pytest
from support import ClientError, Keys, management, reader

from meter.codec import axdr
from meter.codec.obis import Obis
from meter.profile import ProfileError, load

from .helpers import ENERGY, fast_timebase, open_device

L3 = ["1.0.72.7.0.255", "1.0.71.7.0.255", "1.0.72.32.0.255", "1.0.72.33.0.255",
      "1.0.72.36.0.255", "1.0.72.37.0.255",
      "1.0.72.34.0.255", "1.0.72.38.0.255"]  # and the L3 sag / swell magnitudes
ALGORITHMS = [Obis(1, 0, 0, 11, e, 255) for e in range(1, 8)]
# Two legs * 120 V * 5 A * PF 0.95.
POWER_NA_W = 2 * 120.0 * 5.0 * 0.95


def test_na_profile_loads() -> None:
    p = load("acesm-na")
    assert p.meter["wiring"] == "1P3W" and p.meter["frequency"] == 60.0
    present = {o.obis for o in p.objects}
    assert not present & {Obis.parse(o) for o in L3}
    for legs in ("1.0.32.7.0.255", "1.0.52.7.0.255", "1.0.31.7.0.255", "1.0.51.7.0.255"):
        assert Obis.parse(legs) in present
    specs = {o.obis: o for o in p.objects}
    for obis in ALGORITHMS:
        assert specs[obis].kind == "measurement_algorithm" and specs[obis].write == "management"
    # Everything else is inherited unchanged.
    assert len(p.objects) == len(load("acesm").objects) - len(L3)


def test_na_profile_serves(tmp_path: Path) -> None:
    tb = fast_timebase()
    dev = open_device(tmp_path / "state", tb, profile="acesm-na", history=3600.0)
    r = reader(dev, tb)
    assert r.get(3, Obis.parse("1.0.14.7.0.255"), 2) == axdr.DoubleLong(6000)  # 60.00 Hz
    for leg in ("1.0.32.7.0.255", "1.0.52.7.0.255"):
        assert r.get(3, Obis.parse(leg), 2) == axdr.DoubleLong(1200)  # 120.0 V
    energy = r.get(3, ENERGY, 2)
    assert isinstance(energy, axdr.DoubleLongUnsigned)
    assert energy.value == pytest.approx(POWER_NA_W, abs=1.5)
    for gone in L3:
        with pytest.raises(ClientError):
            r.get(3, Obis.parse(gone), 2)
    # NA-01 selections: management may write them, the reader only read.
    assert r.set(1, ALGORITHMS[0], 2, axdr.Enum(2)) != 0
    m = management(dev, tb, Keys())
    assert m.server_title == bytes.fromhex("4143450000000002")
    for obis in ALGORITHMS:
        current = m.get(1, obis, 2)
        assert m.set(1, obis, 2, current) == 0
    assert m.set(1, ALGORITHMS[0], 2, axdr.Enum(2)) == 0
    assert r.get(1, ALGORITHMS[0], 2) == axdr.Enum(2)
    dev.close()


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


BASE = """
[meter]
manufacturer = "ACE"
serial = "1"
system_title = "4143450000000001"
[[object]]
obis = "0.0.96.1.0.255"
class = "data"
[[object]]
obis = "0.0.96.1.1.255"
class = "data"
"""


def test_remove_drops_inherited_objects(tmp_path: Path) -> None:
    _write(tmp_path / "base.toml", BASE)
    child = _write(tmp_path / "child.toml", 'extends = "base.toml"\nremove = ["0.0.96.1.1.255"]\n')
    assert [str(o.obis) for o in load(child).objects] == ["0.0.96.1.0.255"]


@pytest.mark.parametrize("text", [
    'extends = "base.toml"\nremove = ["0.0.96.1.9.255"]\n',  # not in the parent: a typo
    'extends = "base.toml"\nremove = "0.0.96.1.1.255"\n',    # not a list
    'extends = "base.toml"\nremove = ["not an obis"]\n',
    'remove = ["0.0.96.1.1.255"]\n' + BASE,                  # no parent to remove from
])
def test_bad_remove_is_a_profile_error(tmp_path: Path, text: str) -> None:
    _write(tmp_path / "base.toml", BASE)
    with pytest.raises(ProfileError):
        load(_write(tmp_path / "child.toml", text))
