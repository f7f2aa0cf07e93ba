"""Function control over the wire (issue 11 item 4), gurux-dlms as shipped (its
GXDLMSFunctionControl builds the requests) against a real meter process: the disconnect function
disabled -> remote_disconnect refused with object-unavailable, still after a restart; enabled
again -> it works. The bundled firmware update function switches the Image transfer the same
way. Disconnect control is added by a profile overlay here (issue 11 item 1 brings it to the
default profile)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from interop.clients import MANAGEMENT, PUBLIC, WRAPPER, Arg, Endpoint, GuruxDriver, Ref
from support.process import meter_process, profile_with

pytestmark = pytest.mark.interop

CONTROL = "0.0.44.1.0.255"
RELAY = "0.0.96.3.10.255"
CONTROL_STATE = Ref(70, RELAY, 3)
CONTROL_MODE = Ref(70, RELAY, 4)
REMOTE_DISCONNECT = Ref(70, RELAY, 1)
IMAGE_INITIATE = Ref(18, "0.0.44.0.0.255", 1)
INVOCATION_COUNTER = Ref(1, "0.0.43.1.0.255", 2)
INTEGER, ENUM = 15, 22
SUCCESS, OBJECT_UNAVAILABLE = 0, 11
OVERLAY = f"""
[[object]]
obis = "{RELAY}"
class = "disconnect_control"
read = "reader"
write = "management"
methods = "management"

[[object]]
obis = "{CONTROL}"
class = "function_control"
functions = [{{ name = "disconnect", objects = ["{RELAY}"] }},
             {{ name = "firmware update", objects = ["0.0.44.0.0.255", "0.0.15.0.2.255"] }}]
"""


@contextmanager
def serve(state: Path, profile: Path) -> Iterator[Endpoint]:
    with meter_process(state, "--profile", str(profile), "--tcp", "127.0.0.1:0") as process:
        yield Endpoint(WRAPPER, *process.address("tcp"))


def management(endpoint: Endpoint) -> GuruxDriver:
    public = GuruxDriver(endpoint, PUBLIC)
    public.associate()
    counter = int(public.get(INVOCATION_COUNTER).value) + 1
    public.release()
    driver = GuruxDriver(endpoint, MANAGEMENT, counter)
    driver.associate()
    return driver


def set_status(driver: GuruxDriver, **enabled: bool) -> int:
    from gurux_dlms.objects import GXDLMSFunctionControl

    control = GXDLMSFunctionControl(CONTROL)
    names = {"disconnect": "disconnect", "firmware_update": "firmware update"}
    frames = control.setFunctionStatus(driver.client, [(names[k], v) for k, v in enabled.items()])
    return int(driver._exchange(frames).error)


def statuses(driver: GuruxDriver) -> Any:
    return driver.get(Ref(122, CONTROL, 2)).value


def test_gurux_disables_and_enables_the_disconnect_function(tmp_path: Path) -> None:
    profile = profile_with(tmp_path, OVERLAY)
    state = tmp_path / "state"
    with serve(state, profile) as endpoint:
        m = management(endpoint)
        assert m.set(CONTROL_MODE, Arg(ENUM, 1)) == SUCCESS
        assert set_status(m, disconnect=False) == SUCCESS
        assert statuses(m) == [[b"disconnect", False], [b"firmware update", True]]
        assert m.action(REMOTE_DISCONNECT, Arg(INTEGER, 0)).result == OBJECT_UNAVAILABLE
        assert m.get(CONTROL_STATE).value == 1  # still connected
        assert m.set(CONTROL_MODE, Arg(ENUM, 2)) == OBJECT_UNAVAILABLE
        m.release()

    with serve(state, profile) as endpoint:  # the switch is kept
        m = management(endpoint)
        assert m.action(REMOTE_DISCONNECT, Arg(INTEGER, 0)).result == OBJECT_UNAVAILABLE
        assert set_status(m, disconnect=True, firmware_update=False) == SUCCESS
        assert m.action(REMOTE_DISCONNECT, Arg(INTEGER, 0)).result == SUCCESS
        assert m.get(CONTROL_STATE).value == 0
        from gurux_dlms.objects import GXDLMSImageTransfer

        frames = GXDLMSImageTransfer().imageTransferInitiate(m.client, "fw", 1000)
        assert int(m._exchange(frames).error) == OBJECT_UNAVAILABLE
        m.release()


def test_gurux_adds_and_removes_a_function(tmp_path: Path) -> None:
    from gurux_dlms.enums import ObjectType
    from gurux_dlms.objects import GXDLMSDisconnectControl, GXDLMSFunctionControl

    profile = profile_with(tmp_path, OVERLAY)
    with serve(tmp_path / "state", profile) as endpoint:
        m = management(endpoint)
        control = GXDLMSFunctionControl(CONTROL)
        relay = GXDLMSDisconnectControl(RELAY)
        assert relay.objectType == ObjectType.DISCONNECT_CONTROL
        assert int(m._exchange(control.addFunction(m.client, "relay", [relay])).error) == SUCCESS
        assert [f[0] for f in m.get(Ref(122, CONTROL, 3)).value] == [
            b"disconnect", b"firmware update", b"relay"]
        assert int(m._exchange(control.removeFunction(m.client, "relay")).error) == SUCCESS
        assert int(m._exchange(control.removeFunction(m.client, "relay")).error) != SUCCESS
        m.release()
