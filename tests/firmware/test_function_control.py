"""Function control (class 122, issue 11 item 4; meter/cosem/function_control.py rules 1-3):
named functions switched by method; a disabled function's objects refuse SET and ACTION with
object-unavailable, from a head end and from the meter's own scripts, and say why."""

from __future__ import annotations

import pytest
from cosem.helpers import World, world

from meter.codec.axdr import Array, Boolean, Enum, Integer, LongUnsigned, OctetString, Structure
from meter.codec.obis import Obis
from meter.cosem.disconnect_control import DisconnectControl
from meter.cosem.function_control import FunctionControl
from meter.cosem.script_table import EXECUTE_METHOD, ScriptTable, action
from meter.errors import AccessError, DataAccessResult

LN = Obis(0, 0, 44, 1, 0, 255)
RELAY = Obis(0, 0, 96, 3, 10, 255)
SCRIPT = Obis(0, 0, 10, 0, 106, 255)
SET_STATUS, ADD, REMOVE = 1, 2, 3


def function(name: bytes, *objects: tuple[int, Obis]) -> Structure:
    return Structure((OctetString(name), Array(tuple(
        Structure((LongUnsigned(c), OctetString(o.to_bytes()))) for c, o in objects))))


def statuses(**enabled: bool) -> Array:
    return Array(tuple(Structure((OctetString(n.encode()), Boolean(v))) for n, v in enabled.items()))


def make() -> tuple[World, FunctionControl, DisconnectControl, ScriptTable]:
    control = FunctionControl(LN, function_list=Array((function(b"disconnect", (70, RELAY)),)),
                              activation_status=statuses(disconnect=True))
    relay = DisconnectControl(RELAY, control_mode=Enum(1))
    script = ScriptTable(SCRIPT, scripts=Array((Structure((LongUnsigned(1), Array((
        action(EXECUTE_METHOD, 70, RELAY, 1, Integer(0)),)))),)))
    return world(control, relay, script), control, relay, script


def refused(call: object, result: DataAccessResult) -> str:
    with pytest.raises(AccessError) as caught:
        call()  # type: ignore[operator]
    assert caught.value.result == result
    return str(caught.value)


def test_a_disabled_function_refuses_its_operations_and_works_again_when_enabled() -> None:
    w, control, relay, script = make()
    control.action(SET_STATUS, statuses(disconnect=False), w.ctx())
    assert control.get(2, w.ctx()).to_python() == [[b"disconnect", False]]
    why = refused(lambda: relay.action(1, Integer(0), w.ctx()), DataAccessResult.OBJECT_UNAVAILABLE)
    assert "disconnect" in why and "disabled" in why
    refused(lambda: relay.set(4, Enum(2), w.ctx()), DataAccessResult.OBJECT_UNAVAILABLE)
    # The meter's own script is refused the same way; reads still answer.
    refused(lambda: script.action(1, LongUnsigned(1), w.ctx()), DataAccessResult.OBJECT_UNAVAILABLE)
    assert relay.get(3, w.ctx()) == Enum(1)
    control.action(SET_STATUS, statuses(disconnect=True), w.ctx())
    relay.action(1, Integer(0), w.ctx())
    assert relay.get(3, w.ctx()) == Enum(0)
    assert control in w.changes


def test_add_and_remove_functions() -> None:
    w, control, relay, _ = make()
    control.action(ADD, Array((function(b"billing", (9, SCRIPT)),)), w.ctx())
    assert control.get(2, w.ctx()).to_python() == [[b"disconnect", True], [b"billing", True]]
    control.action(SET_STATUS, statuses(billing=False), w.ctx())
    assert w.directory.refusal(SCRIPT) is not None and w.directory.refusal(RELAY) is None
    control.action(REMOVE, Array((OctetString(b"billing"),)), w.ctx())
    assert w.directory.refusal(SCRIPT) is None
    assert [f[0] for f in control.get(3, w.ctx()).to_python()] == [b"disconnect"]


@pytest.mark.parametrize("method, parameters", [
    (SET_STATUS, statuses(nothing=False)),                            # unknown function
    (ADD, Array((function(b"disconnect", (70, RELAY)),))),            # named twice
    (REMOVE, Array((OctetString(b"nothing"),))),
    (ADD, Array((function(b"x" * 33),))),                              # name too long
    (ADD, Array(tuple(function(f"f{i}".encode()) for i in range(40)))),  # too many
])
def test_a_refused_change_changes_nothing(method: int, parameters: Array) -> None:
    w, control, _, _ = make()
    before = control.dump_state()
    refused(lambda: control.action(method, parameters, w.ctx()), DataAccessResult.OTHER_REASON)
    assert control.dump_state() == before


def test_the_attributes_change_only_by_method_and_the_state_survives_a_restore() -> None:
    w, control, _, _ = make()
    refused(lambda: control.set(2, statuses(disconnect=False), w.ctx()),
            DataAccessResult.READ_WRITE_DENIED)
    control.action(SET_STATUS, statuses(disconnect=False), w.ctx())
    again = FunctionControl(LN)
    again.load_state(control.dump_state())
    assert again.refusal(RELAY) is not None


def test_the_readme_table_names_the_refusal() -> None:
    from support.paths import ROOT

    table = (ROOT / "README.md").read_text(encoding="utf-8").split("### When the meter says no")[1]
    assert DataAccessResult.OBJECT_UNAVAILABLE == 11
    assert any("object-unavailable (11)" in line and str(LN) in line for line in table.splitlines())
