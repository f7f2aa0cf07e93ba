"""Each interface class builds itself from its profile entry (cosem/profile_entry.py)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from meter.codec.axdr import (
    Array, Data, DoubleLongUnsigned, Enum, Integer, LongUnsigned, OctetString, Structure, Unsigned)
from meter.codec.obis import Obis
from meter.cosem.base import Context
from meter.cosem.profile_entry import OptionError, ProfileEntry
from meter.cosem.registry import class_named
from meter.cosem.register import Register

LN = Obis(1, 0, 1, 8, 0, 255)
TITLE = bytes.fromhex("4143450000000001")


def _step(ctx: Context) -> None:
    pass


def entry(obis: Obis, **options: Any) -> ProfileEntry:
    def class_id_of(target: Obis) -> int | None:
        return 3 if target == LN else None

    return ProfileEntry(obis, options, meter={"time_zone": -60}, tcp={"inactivity_timeout": 30},
                        hdlc={"window_size": 7}, metrology={}, system_title=TITLE,
                        typed_value=lambda raw: Unsigned(int(raw["unsigned"])),
                        time_source=lambda: 0.0, built={LN: Register(LN)},
                        class_id_of=class_id_of, algorithm_written=lambda e, v: None,
                        script_steps={"closes_billing": _step})


def build(kind: str, obis: Obis = LN, **options: Any) -> Mapping[int, Data]:
    obj = class_named(kind).from_profile(entry(obis, **options))
    return {a.index: obj.value(a.py_name) for a in obj.ATTRIBUTES[1:]}


def test_options_become_attribute_values() -> None:
    values = build("register", scaler=-2, unit=30, value={"unsigned": 4})
    assert values[2] == Unsigned(4) and values[3] == Structure((Integer(-2), Enum(30)))
    assert build("demand_register", period=60)[8] == DoubleLongUnsigned(60)
    clock = build("clock", Obis(0, 0, 1, 0, 0, 255))
    assert clock[3].to_python() == -60  # [meter] time_zone
    assert build("tcp_udp_setup", Obis(0, 0, 25, 0, 0, 255))[6] == LongUnsigned(30)
    assert build("hdlc_setup", Obis(0, 0, 22, 0, 0, 255))[4] == Unsigned(7)
    assert build("security_setup", Obis(0, 0, 43, 0, 0, 255), security_suite=1)[5] == \
        OctetString(TITLE)
    profile = build("profile_generic", Obis(1, 0, 99, 1, 0, 255), capture_objects=[[str(LN), 2]])
    assert profile[3] == Array((Structure((LongUnsigned(3), OctetString(LN.to_bytes()),
                                           Integer(2), LongUnsigned(0))),))


def test_script_table_takes_class_ids_and_steps() -> None:
    table = class_named("script_table").from_profile(entry(
        Obis(0, 0, 10, 0, 1, 255),
        scripts=[{"id": 1, "closes_billing": True,
                  "actions": [{"service": "execute", "obis": str(LN), "index": 1}]}]))
    assert table.items("scripts")[0] == Structure((LongUnsigned(1), Array((Structure((
        Enum(2), LongUnsigned(3), OctetString(LN.to_bytes()), Integer(1), Integer(0))),))))


@pytest.mark.parametrize(("kind", "options"), [
    ("port_protection", {}),
    ("profile_generic", {"capture_objects": [["0.0.96.1.0.255", 2]]}),
    ("script_table", {"scripts": [{"id": 1, "actions": [{"service": "write", "obis": "0.0.1.2.3.255",
                                                          "index": 2}]}]}),
    ("single_action_schedule", {"execution_time": [["00", "FFFF"]], "script": "0.0.10.0.1.255"}),
    ("measurement_algorithm", {}),
])
def test_bad_options(kind: str, options: dict[str, Any]) -> None:
    with pytest.raises(OptionError):
        class_named(kind).from_profile(entry(Obis(0, 0, 1, 0, 0, 255), **options))
