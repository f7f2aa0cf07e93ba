"""The communication setup objects seen by two independent clients, on meters of their own (these
tests lock ports and move the HDLC address): Communication port protection (class 124) read by
the public client while the port is locked, and the IEC HDLC setup (class 23, Blue Book 4.8.4)
driving the next HDLC connection."""

from __future__ import annotations

import dataclasses
import socket
from pathlib import Path

import pytest

from .clients import (
    DRIVERS,
    HDLC,
    LONG_UNSIGNED,
    MANAGEMENT,
    PUBLIC,
    READER,
    SUCCESS,
    WRAPPER,
    Arg,
    Association,
    Driver,
    Endpoint,
    Ref,
)
from .conftest import Meter, next_invocation_counter, serve

pytestmark = pytest.mark.interop

GUARD = {WRAPPER: "0.0.44.2.0.255", HDLC: "0.0.44.2.1.255"}
HDLC_SETUP = "0.0.22.0.0.255"
LDN = Ref(1, "0.0.42.0.0.255", 2)
TEMPORARILY_LOCKED = 1
ALLOWED_FAILED_ATTEMPTS = 3  # profiles/acesm.toml


def _open(client: str, endpoint: Endpoint, association: Association, meter: Meter) -> Driver:
    counter = next_invocation_counter(meter, endpoint.framing) if association is MANAGEMENT else 0
    driver = DRIVERS[client](endpoint, association, counter)
    driver.associate()
    return driver


@pytest.mark.parametrize("framing", [WRAPPER, HDLC])
@pytest.mark.parametrize("client", sorted(DRIVERS))
def test_a_locked_out_head_end_reads_why(tmp_path: Path, client: str, framing: str) -> None:
    wrong = dataclasses.replace(READER, secret=b"wrong!!!")
    with serve(tmp_path / "state", history="1h") as meter:
        endpoint = meter.endpoint(framing)
        for _ in range(ALLOWED_FAILED_ATTEMPTS):
            driver = DRIVERS[client](endpoint, wrong, 0)
            with pytest.raises(Exception):  # noqa: B017 - each library raises its own rejection
                driver.associate()
            _abandon(driver)
        public = _open(client, endpoint, PUBLIC, meter)
        guard = GUARD[framing]
        assert public.get(Ref(124, guard, 8)).value == TEMPORARILY_LOCKED
        assert public.get(Ref(124, guard, 9)).value == ALLOWED_FAILED_ATTEMPTS
        assert public.get(Ref(124, guard, 4)).value == 60
        assert public.get(Ref(124, guard, 6)).value == 3600
        public.release()


def _abandon(driver: Driver) -> None:
    """Close a driver whose association was refused (its release may be refused too)."""
    try:
        driver.release()
    except Exception:  # noqa: BLE001 - the connection goes either way
        pass


def _closed_within(endpoint: Endpoint, seconds: float) -> bool:
    """Whether the meter closes, within ``seconds``, a TCP connection that sends nothing."""
    with socket.create_connection((endpoint.host, endpoint.port), timeout=seconds) as sock:
        try:
            return not sock.recv(64)
        except ConnectionResetError:
            return True
        except TimeoutError:
            return False


def _silent(endpoint: Endpoint, frame: bytes) -> bool:
    """Whether the meter leaves ``frame`` (an SNRM) unanswered for a second."""
    with socket.create_connection((endpoint.host, endpoint.port), timeout=1.0) as sock:
        sock.sendall(frame)
        try:
            return not sock.recv(64)
        except TimeoutError:
            return True


@pytest.mark.parametrize("client", sorted(DRIVERS))
def test_hdlc_setup_drives_the_next_connection(tmp_path: Path, client: str) -> None:
    """device_address reads the meter's physical address (17); a SET of device_address, the
    maximum information field lengths and the inactivity time-out applies to the next HDLC
    connection and survives a restart: the meter answers at 18 and no longer at 17, the UA offers
    256-byte information fields, a connection that opens no link is closed after 2 s."""
    settings = {9: 18, 5: 256, 6: 256, 8: 2}
    with serve(tmp_path / "state", history="1h") as meter:
        reader = _open(client, meter.hdlc, READER, meter)
        assert reader.get(Ref(23, HDLC_SETUP, 9)).value == meter.hdlc.physical_address == 17
        reader.release()
        manager = _open(client, meter.tcp, MANAGEMENT, meter)
        for index, value in settings.items():
            assert manager.set(Ref(23, HDLC_SETUP, index), Arg(LONG_UNSIGNED, value)) == SUCCESS
        manager.release()
    with serve(tmp_path / "state", history="1h") as meter:
        moved = dataclasses.replace(meter.hdlc, physical_address=18)
        driver = _open(client, moved, READER, meter)
        assert {i: driver.get(Ref(23, HDLC_SETUP, i)).value for i in settings} == settings
        assert driver.get(LDN).ok
        if client == "gurux":  # UA parameters as gurux took them (its proposal was 512 both ways)
            hdlc = driver.client.hdlcSettings  # type: ignore[attr-defined]
            assert (hdlc.maxInfoTX, hdlc.maxInfoRX) == (256, 256)
        driver.release()
        assert _closed_within(meter.hdlc, 6.0)  # no link opened within the 2 s set
        from gurux_dlms import GXDLMSClient
        from gurux_dlms.enums import Authentication, InterfaceType

        old = GXDLMSClient(True, PUBLIC.client_sap, GXDLMSClient.getServerAddress(1, 17, 4),
                           Authentication.NONE, None, InterfaceType.HDLC)
        old.setServerAddressSize(4)
        assert _silent(meter.hdlc, bytes(old.snrmRequest()))


@pytest.mark.parametrize("client", sorted(DRIVERS))
def test_tcp_udp_setup_inactivity_drives_the_next_wrapper_connection(tmp_path: Path, client: str) -> None:
    """TCP-UDP setup 0.0.25.0.0.255 inactivity_time_out (attribute 6, 180 s from [tcp]) set to 2 s
    by the head end: the next wrapper connection that sends nothing is closed, and the value
    survives a restart."""
    inactivity = Ref(41, "0.0.25.0.0.255", 6)
    with serve(tmp_path / "state", history="1h") as meter:
        manager = _open(client, meter.tcp, MANAGEMENT, meter)
        assert manager.get(inactivity).value == 180
        assert manager.set(inactivity, Arg(LONG_UNSIGNED, 2)) == SUCCESS
        manager.release()
        assert _closed_within(meter.tcp, 6.0)
    with serve(tmp_path / "state", history="1h") as meter:
        assert _closed_within(meter.tcp, 6.0)
        reader = _open(client, meter.tcp, READER, meter)
        assert reader.get(inactivity).value == 2
        reader.release()
