from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from meter.codec.axdr import Boolean, Enum, Integer
from meter.codec.obis import Obis
from meter.cosem.disconnect_control import (
    MODES, TRANSITIONS, ControlState, DisconnectControl, Trigger)
from meter.errors import AccessError, DataAccessResult

from .helpers import world

DISCONNECTOR_LOG = Obis.parse("0.0.99.98.2.255")

LN = Obis(0, 0, 96, 3, 10, 255)


def make(mode: int) -> tuple:  # type: ignore[type-arg]
    obj = DisconnectControl(LN, control_mode=Enum(mode))
    w = world(obj)
    return w, obj, w.ctx()


@pytest.mark.parametrize("mode, after_reconnect", [(1, 2), (2, 1), (3, 2), (4, 1), (5, 2),
                                                   (6, 2), (7, 1)])
def test_remote_cycle(mode: int, after_reconnect: int) -> None:
    w, obj, ctx = make(mode)
    seen: list[bool] = []
    obj.on_output = seen.append
    obj.action(1, Integer(0), ctx)
    assert obj.get(3, ctx) == Enum(0) and obj.get(2, ctx) == Boolean(False)
    obj.action(1, Integer(0), ctx)  # again: already disconnected, no-op
    obj.action(2, Integer(0), ctx)
    assert obj.get(3, ctx) == Enum(after_reconnect)
    if after_reconnect == 2:
        obj.trigger(Trigger.MANUAL_RECONNECT, ctx)
    assert obj.state == ControlState.CONNECTED and seen == [False, True]
    assert (DISCONNECTOR_LOG, 62) in w.events and (DISCONNECTOR_LOG, 63) in w.events


def test_mode_zero_refuses() -> None:
    w, obj, ctx = make(0)
    with pytest.raises(AccessError) as exc:
        obj.action(1, Integer(0), ctx)
    assert exc.value.result == DataAccessResult.OTHER_REASON
    with pytest.raises(AccessError):
        obj.set(4, Enum(8), ctx)
    with pytest.raises(AccessError):
        obj.set(3, Enum(0), ctx)


@settings(max_examples=100)
@given(st.integers(0, 7), st.lists(st.sampled_from(list(Trigger)), max_size=10))
def test_machine_never_crashes(mode: int, triggers: list[Trigger]) -> None:
    w, obj, ctx = make(mode)
    for trigger in triggers:
        before = obj.state
        try:
            obj.trigger(trigger, ctx)
        except AccessError:
            assert obj.state == before
            continue
        allowed = {(TRANSITIONS[x][0], TRANSITIONS[x][1], TRANSITIONS[x][2]) for x in MODES[mode]}
        assert (trigger, before, obj.state) in allowed or before == obj.state
