"""Disconnect control (class_id 70, version 0; Blue Book "Disconnect control").

The control_state machine is data: TRANSITIONS names each edge by its Blue Book letter, MODES
says which edges each control_mode allows (cosem-reference.md §2.2, [GX-NET ControlMode.cs]).
Rules: a trigger moves the state along an allowed edge that starts in the current state; a
trigger whose destination is already the current state is a no-op (disconnecting a disconnected
meter succeeds); any other trigger is refused with other-reason. Edge "i" (mode 7 only) is not
public; we take it as remote_reconnect from ready_for_reconnection to connected (L).
Each move is logged in the disconnector control log with the IDIS codes of §4.1.

control_mode comes from the profile (default 4, the IDIS choice: the head end disconnects and
reconnects directly, a local trigger such as the limiter opens to ready_for_reconnection and the
customer's button closes again; no manual disconnect). A ``load`` option names the part of the
scenario's load a load-management relay switches; without it the object is the supply relay.
The manual button and the local triggers are the device's to press (meter/device/relays.py);
scripts reach the local triggers through the ``local_disconnect``/``local_reconnect`` steps.
"""

from __future__ import annotations

import enum
from collections.abc import Callable

from meter.codec.axdr import Boolean, Data, Enum, OctetString
from meter.codec.obis import Obis
from meter.cosem.base import (
    Attr, Context, CosemObject, Method, expect, in_range, on_action, on_get, on_set)
from meter.cosem.events import DisconnectorEvent
from meter.cosem.names import DISCONNECT_CONTROL
from meter.cosem.profile_entry import ProfileEntry
from meter.errors import AccessError, DataAccessResult



class ControlState(enum.IntEnum):
    DISCONNECTED = 0
    CONNECTED = 1
    READY_FOR_RECONNECTION = 2


class Trigger(enum.IntEnum):
    """A cause of a transition; the value is its IDIS disconnector-log event code."""

    MANUAL_DISCONNECT = DisconnectorEvent.MANUAL_DISCONNECTION
    MANUAL_RECONNECT = DisconnectorEvent.MANUAL_CONNECTION
    REMOTE_DISCONNECT = DisconnectorEvent.REMOTE_DISCONNECTION
    REMOTE_RECONNECT = DisconnectorEvent.REMOTE_CONNECTION
    LOCAL_DISCONNECT = DisconnectorEvent.LOCAL_DISCONNECTION
    LOCAL_RECONNECT = DisconnectorEvent.LOCAL_RECONNECTION


_D, _C, _R = ControlState.DISCONNECTED, ControlState.CONNECTED, ControlState.READY_FOR_RECONNECTION

TRANSITIONS: dict[str, tuple[Trigger, ControlState, ControlState]] = {
    "a": (Trigger.REMOTE_RECONNECT, _D, _C),
    "b": (Trigger.REMOTE_DISCONNECT, _C, _D),
    "c": (Trigger.REMOTE_DISCONNECT, _R, _D),
    "d": (Trigger.REMOTE_RECONNECT, _D, _R),
    "e": (Trigger.MANUAL_RECONNECT, _R, _C),
    "f": (Trigger.MANUAL_DISCONNECT, _C, _R),
    "g": (Trigger.LOCAL_DISCONNECT, _C, _R),
    "h": (Trigger.LOCAL_RECONNECT, _R, _C),
    "i": (Trigger.REMOTE_RECONNECT, _R, _C),
}

#: control_mode of a profile entry that names none (see the module docstring).
DEFAULT_MODE = 4

MODES: dict[int, str] = {
    0: "",
    1: "bcfgde",
    2: "bcfgae",
    3: "bcgde",
    4: "bcgae",
    5: "bcfgdeh",
    6: "bcgdeh",
    7: "bcgaieh",
}


class DisconnectControl(CosemObject):
    CLASS_ID = 70
    VERSION = 0
    NAME = "disconnect_control"
    ATTRIBUTES = (
        Attr(1, "logical_name", OctetString),
        Attr(2, "output_state", Boolean, static=False),
        Attr(3, "control_state", Enum, static=False, default=Enum(int(_C))),
        Attr(4, "control_mode", Enum, default=Enum(0)),
    )
    METHODS = (Method(1, "remote_disconnect"), Method(2, "remote_reconnect"))

    def __init__(self, logical_name: Obis, **values: Data) -> None:
        super().__init__(logical_name, **values)
        #: Called with the new output state (True = connected) when it changes (the device
        #: opens or closes the simulated relay).
        self.on_output: Callable[[bool], None] | None = None
        #: The scenario load this relay switches; None: the whole supply.
        self.load: str | None = None

    @classmethod
    def from_profile(cls, entry: ProfileEntry) -> DisconnectControl:
        obj = cls(entry.obis, **cls.profile_values(entry))
        load = entry.options.get("load")
        obj.load = None if load is None else str(load)
        return obj

    @classmethod
    def profile_values(cls, entry: ProfileEntry) -> dict[str, Data]:
        return {**super().profile_values(entry),
                "control_mode": Enum(entry.int_option("control_mode", DEFAULT_MODE))}

    @property
    def connected(self) -> bool:
        return self.state == _C

    @property
    def state(self) -> ControlState:
        return ControlState(self.int_value("control_state"))

    def trigger(self, trigger: Trigger, ctx: Context) -> None:
        """Apply a remote, manual (button) or local (limiter, supervision) trigger."""
        mode = self.int_value("control_mode")
        state = self.state
        for letter in MODES[mode]:
            cause, start, end = TRANSITIONS[letter]
            if cause == trigger and start == state:
                self._move(trigger, end, ctx)
                return
        if not any(TRANSITIONS[x][0] == trigger and TRANSITIONS[x][2] == state for x in MODES[mode]):
            if (trigger == Trigger.LOCAL_DISCONNECT and state == _C) or (
                    trigger == Trigger.LOCAL_RECONNECT and state != _C):
                # The meter itself (limiter, prepayment) wanted the relay to move and it could
                # not: the IDIS disconnect/reconnect failure. A refused remote or manual trigger
                # is answered to whoever asked, so it is not logged.
                ctx.log_event(DisconnectorEvent.DISCONNECT_RECONNECT_FAILURE)
            raise AccessError(DataAccessResult.OTHER_REASON,
                              f"{trigger.name} not allowed in {state.name}, mode {mode}")

    def allowed(self) -> str:
        """The letters of the transitions the current control_mode allows."""
        return MODES[self.int_value("control_mode")]

    def _move(self, trigger: Trigger, end: ControlState, ctx: Context) -> None:
        was_connected = self.state == _C
        self.store("control_state", Enum(int(end)))
        ctx.log_event(DisconnectorEvent(trigger))
        if end == _R:
            ctx.log_event(DisconnectorEvent.READY_FOR_MANUAL_RECONNECTION)
        if (end == _C) != was_connected and self.on_output is not None:
            self.on_output(end == _C)
        ctx.changed(self)

    def press_button(self, ctx: Context) -> None:
        """The customer's push button: closes a relay that is ready for reconnection and opens
        a connected one (manual disconnection, where the mode has it)."""
        self.trigger(Trigger.MANUAL_RECONNECT if self.state == _R else Trigger.MANUAL_DISCONNECT, ctx)

    @on_get("output_state")
    def read_output_state(self, ctx: Context, selector: int | None, parameters: Data | None) -> Data:
        return Boolean(self.connected)

    @on_set("output_state")
    def write_output_state(self, value: Data, ctx: Context) -> None:
        raise AccessError(DataAccessResult.READ_WRITE_DENIED, "output_state follows control_state")

    @on_set("control_state")
    def write_control_state(self, value: Data, ctx: Context) -> None:
        raise AccessError(DataAccessResult.READ_WRITE_DENIED, "control_state moves by triggers")

    @on_set("control_mode")
    def write_control_mode(self, value: Data, ctx: Context) -> None:
        in_range(expect(value, Enum, "control_mode").value, 0, 7, "control_mode")
        self.store("control_mode", value)

    @on_action("remote_disconnect")
    def remote_disconnect(self, parameters: Data | None, ctx: Context) -> None:
        self.trigger(Trigger.REMOTE_DISCONNECT, ctx)

    @on_action("remote_reconnect")
    def remote_reconnect(self, parameters: Data | None, ctx: Context) -> None:
        self.trigger(Trigger.REMOTE_RECONNECT, ctx)


def _local(trigger: Trigger) -> Callable[[Context], None]:
    def step(ctx: Context) -> None:
        relay = ctx.directory.get(DISCONNECT_CONTROL)
        if not isinstance(relay, DisconnectControl):
            raise AccessError(DataAccessResult.OBJECT_UNDEFINED, "no supply relay")
        relay.trigger(trigger, ctx)
    return step


#: Script steps (a script marked ``local_disconnect = true`` ...) that move the supply relay by
#: a local trigger: the limiter's actions (transitions g and h).
LOCAL_STEPS: dict[str, Callable[[Context], None]] = {
    "local_disconnect": _local(Trigger.LOCAL_DISCONNECT),
    "local_reconnect": _local(Trigger.LOCAL_RECONNECT),
}
