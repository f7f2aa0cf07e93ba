"""The generated object catalogues (profiles/*.objects.md, issue 13 item 3) stay true to their
profiles, and the rights they show are the ones the meter serves."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from support.meter import Meter
from support.paths import ROOT

from meter import cli
from meter import profile as profiles
from meter.cosem.association_ln import AssociationLN
from meter.cosem.names import CURRENT_ASSOCIATION
from meter.device import catalogue

BUNDLED = profiles.bundled()


@pytest.mark.parametrize("name", BUNDLED)
def test_the_generated_catalogue_is_not_stale(name: str) -> None:
    profile = profiles.load(profiles.resolve(name))
    generated = ROOT / "profiles" / f"{name}.objects.md"
    fresh = catalogue.render(profile, catalogue.catalogue(profile), "md")
    assert generated.is_file() and generated.read_text(encoding="utf-8") == fresh, (
        f"{generated.name} is stale or missing: regenerate it with "
        f"`acesm-meter profile objects {name} > profiles/{name}.objects.md`")


@pytest.mark.parametrize("name", BUNDLED)
def test_every_object_of_the_profile_is_listed_once(name: str) -> None:
    profile = profiles.load(profiles.resolve(name))
    listed = [e.obis for e in catalogue.catalogue(profile)]
    expected = [*(str(s.obis) for s in profile.objects), *(str(a.obis) for a in profile.associations),
                str(CURRENT_ASSOCIATION)]
    assert listed == expected


@pytest.mark.parametrize("name", BUNDLED)
def test_the_catalogue_shows_the_rights_the_meter_serves(name: str, tmp_path: Path) -> None:
    meter = Meter(tmp_path / "state", profiles.resolve(name))
    try:
        profile = profiles.load(meter.profile)
        entries = {e.obis: e for e in catalogue.catalogue(profile)}
        for a in profile.associations:
            served = meter.device.directory.get(a.obis)
            assert isinstance(served, AssociationLN)
            shown = {obis: e.access[a.name] for obis, e in entries.items() if a.name in e.access}
            expected = {str(obis): catalogue.access_text(
                meter.device.directory.get(obis) or served, *rights)
                for obis, rights in served.rights.items()}
            assert shown == expected, a.name
    finally:
        meter.close()


def test_units_names_and_rights_of_known_objects() -> None:
    entries = {e.obis: e for e in catalogue.catalogue(profiles.load(profiles.resolve("acesm")))}
    energy = entries["1.0.1.8.0.255"]
    assert (energy.class_id, energy.class_name, energy.version) == (3, "register", 0)
    assert (energy.name, energy.unit, energy.scaler) == ("+A active energy import", "Wh", 0)
    assert energy.access == {"reader": "r", "management": "r", "management-sha256": "r",
                             "management-ecdsa": "r"}  # not in the public object_list
    voltage = entries["1.0.32.7.0.255"]
    assert (voltage.unit, voltage.scaler) == ("V", -1)
    clock = entries["0.0.1.0.0.255"]
    assert clock.access["public"] == "r" and clock.access["management"] == "r w2-9 a1-6"
    # The LLS secret (attribute 7) is written by management, never read.
    assert entries["0.0.40.0.2.255"].access["management"] == "r1-6,8-11 w7"


@pytest.mark.parametrize("fmt", ["md", "csv", "json"])
def test_profile_objects_prints_each_format(fmt: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["profile", "objects", "acesm-na", "--format", fmt]) == 0
    out = capsys.readouterr().out
    if fmt == "json":
        rows = json.loads(out)
        assert {r["obis"] for r in rows} >= {"0.0.1.0.0.255", "1.0.1.8.0.255"}
        assert next(r for r in rows if r["obis"] == "0.0.96.1.1.255")["name"] == "equipment identifier"
    elif fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(out)))
        assert rows[0].keys() >= {"obis", "class_id", "class", "version", "name", "unit", "public"}
        assert "1.0.72.7.0.255" not in {r["obis"] for r in rows}  # removed by the NA annex
    else:
        assert out.startswith("# Objects of the `acesm-na` profile")
