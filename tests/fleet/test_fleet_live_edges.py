"""A fleet meter is as live at its edges as a single meter (issue 12 item 5), seen from outside
the ``acesm-meter fleet`` process:

- when the fleet comes up, every meter sends its "on connectivity" push to its destination (and,
  on its first start, its installation push), each notification read by gurux-dlms and naming
  that meter's own logical device name; a restarted fleet pushes "on connectivity" again and
  installs no meter twice;
- a head end that writes a meter's TCP_UDP_port (TCP-UDP setup) moves that meter's wrapper
  listener once its connection ends, as a single meter's: the meter answers on the new port and
  not on the old, the others stay where the fleet's numbering put them, a restarted fleet
  starts it on the port set (and lists it so in its CSV); a port another meter holds is refused
  and logged, disturbing neither meter.
"""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest
from fleet.test_fleet_wire import SERIAL, _free_base, fleet, management, read, wrapper
from interop.clients import LONG_UNSIGNED, READER, SUCCESS, Arg, Endpoint, Ref
from push.test_push_wire import CONNECTIVITY, INSTALLATION, Listener, Push, gurux_parse
from support.paths import PROFILE

pytestmark = pytest.mark.interop

COUNT = 5
TCP_UDP_PORT = Ref(41, "0.0.25.0.0.255", 2)
LDN = "0.0.42.0.0.255"


def _push_profile(tmp_path: Path, port: int) -> Path:
    profile = tmp_path / "profile.toml"
    profile.write_text(f'extends = "{PROFILE}"\n' + "".join(
        f'[[object]]\nobis = "{name}"\ndestination = "127.0.0.1:{port}"\n'
        for name in (INSTALLATION, CONNECTIVITY)))
    return profile


def _ldn(push: Push) -> bytes:
    """The logical device name a start-up push carries (second in both push_object_lists),
    as gurux-dlms reads the notification."""
    notify = gurux_parse(push.wire)
    assert bytes(notify.value[0]) == bytes(int(b) for b in push.name.split("."))
    return bytes(notify.value[1])


def _by_meter(pushes: list[Push], name: str) -> dict[bytes, int]:
    counts: dict[bytes, int] = {}
    for push in pushes:
        if push.name == name:
            counts[_ldn(push)] = counts.get(_ldn(push), 0) + 1
    return counts


def test_every_meter_pushes_on_connectivity_and_installs_once(tmp_path: Path) -> None:
    listener = Listener()
    try:
        profile = _push_profile(tmp_path, listener.port)
        state = tmp_path / "state"
        base = _free_base(COUNT)
        args = ("--count", str(COUNT), "--base-port", str(base), "--profile", str(profile),
                "--resident", "2")
        with fleet(state, *args) as f:
            names = {f"ACE{m['serial']}".encode() for m in f.meters}
            got = listener.wait(2 * COUNT)
            log = f.log_text()
        assert _by_meter(got, CONNECTIVITY) == dict.fromkeys(names, 1), log[-3000:]
        assert _by_meter(got, INSTALLATION) == dict.fromkeys(names, 1), log[-3000:]
        for push in got:
            assert (push.source_wport, push.destination_wport) == (1, 0x66)
        with fleet(state, *args) as again:
            later = listener.wait(3 * COUNT)[2 * COUNT:]
            time.sleep(0.5)  # an installation push sent by mistake would come with them
            log = again.log_text()
        assert _by_meter(later, CONNECTIVITY) == dict.fromkeys(names, 1), log[-3000:]
        assert _by_meter(listener.received, INSTALLATION) == dict.fromkeys(names, 1)
        assert "Traceback" not in log
    finally:
        listener.close()


def _connect(port: int, timeout: float = 10.0) -> socket.socket:
    """A connection to the port, retried while nothing listens there yet (the listener moves
    once the connection that set the port has ended)."""
    end = time.monotonic() + timeout
    while True:
        try:
            return socket.create_connection(("127.0.0.1", port), timeout=2)
        except ConnectionRefusedError:
            if time.monotonic() > end:
                raise
            time.sleep(0.05)


def _refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


def _set_port(meter: dict[str, str], endpoint: Endpoint, port: int) -> None:
    driver = management(endpoint, meter)
    driver.associate()
    try:
        assert driver.set(TCP_UDP_PORT, Arg(LONG_UNSIGNED, port)) == SUCCESS
    finally:
        driver.release()


def test_a_meters_port_follows_its_tcp_udp_setup(tmp_path: Path) -> None:
    base = _free_base(COUNT + 1)
    new = base + COUNT  # free: _free_base checked the span
    state = tmp_path / "state"
    args = ("--count", str(COUNT), "--base-port", str(base), "--resident", "2")
    with fleet(state, *args) as f:
        third = f.meters[3]
        assert int(third["wrapper_port"]) == base + 3
        assert read(wrapper(third), TCP_UDP_PORT, READER) == base + 3  # where it listens
        _set_port(third, wrapper(third), new)
        _connect(new).close()
        moved = Endpoint(wrapper(third).framing, "127.0.0.1", new)
        assert bytes(read(moved, SERIAL)).decode() == third["serial"]
        assert read(moved, TCP_UDP_PORT, READER) == new
        assert _refused(base + 3)
        for i in (0, 2, 4):  # the others where the numbering put them
            assert bytes(read(wrapper(f.meters[i]), SERIAL)).decode() == f.meters[i]["serial"]
            assert read(wrapper(f.meters[i]), TCP_UDP_PORT, READER) == base + i
    with fleet(state, *args) as again:
        listed = {m["serial"]: int(m["wrapper_port"]) for m in again.meters}
        assert listed == {m["serial"]: base + i if i != 3 else new
                          for i, m in enumerate(again.meters)}
        assert bytes(read(moved, SERIAL)).decode() == third["serial"]
        assert _refused(base + 3)
        # Meter 4's port for meter 3: the SET is taken, the move refused and logged; neither
        # meter is disturbed.
        _set_port(third, moved, base + 4)
        end = time.monotonic() + 10
        while "cannot move to port" not in again.log_text():
            assert time.monotonic() < end, again.log_text()[-3000:]
            time.sleep(0.05)
        assert f"meter {third['serial']}: tcp: cannot move to port {base + 4}" in again.log_text()
        assert bytes(read(moved, SERIAL)).decode() == third["serial"]
        fourth = again.meters[4]
        assert bytes(read(wrapper(fourth), SERIAL)).decode() == fourth["serial"]
        assert "Traceback" not in again.log_text()
