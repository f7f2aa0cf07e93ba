"""What the device tests add to the shared harness (tests/support): the objects they read, a
fast-forwarding timebase, profile rows as tuples, a simulated kill -9, a start that must be
refused."""

from __future__ import annotations

from pathlib import Path

from support import START, FakeTimebase
from support.process import MeterProcess

from meter.codec import axdr
from meter.codec.cosem_time import CosemDateTime
from meter.codec.obis import Obis
from meter.device import Device

QUARTER = 900.0
# Default profile load: 3 phases * 230 V * 5 A * PF 0.95 (profiles/acesm.toml [meter]).
POWER_W = 3 * 230.0 * 5.0 * 0.95

ENERGY = Obis.parse("1.0.1.8.0.255")
CLOCK = Obis.parse("0.0.1.0.0.255")
LOAD_PROFILE = Obis.parse("1.0.99.1.0.255")
BILLING = Obis.parse("0.0.98.1.0.255")
EVENT_LOG = Obis.parse("0.0.99.98.0.255")
IC_OBJECT = Obis.parse("0.0.43.1.0.255")
BILLING_COUNTER = Obis.parse("1.0.0.1.0.255")


def fast_timebase(t: float = START) -> FakeTimebase:
    """scale > 10: the engine fast-forwards (closed form) instead of sampling."""
    return FakeTimebase(t, scale=3600.0)


def timestamp(value: axdr.Data) -> float:
    """A COSEM date-time octet string (clock, profile row) as UTC seconds."""
    assert isinstance(value, axdr.OctetString)
    return CosemDateTime.from_bytes(value.value).to_datetime().timestamp()


def rows(data: axdr.Data) -> list[tuple[object, ...]]:
    """A profile buffer as tuples, the capture time first as UTC seconds."""
    assert isinstance(data, axdr.Array)
    out = []
    for row in data.items:
        first, *rest = row.items  # type: ignore[attr-defined]
        out.append((timestamp(first), *(v.to_python() for v in rest)))
    return out


def crash(device: Device) -> None:
    """What a kill -9 right after the last response leaves: the store, nothing more committed."""
    device.store.close()


def open_device(state: Path, timebase: FakeTimebase, *, history: float | None = None,
                profile: str = "acesm") -> Device:
    return Device.open(profile, state, timebase, history=history)


def refused_start(state: Path, *args: str, timeout: float = 30.0) -> str:
    """Run ``acesm-meter serve`` on ``state`` (plus ``args``) as a real process that must refuse
    to start: exit non-zero, within ``timeout``, with one line on stderr and no traceback.
    Returns that line."""
    meter = MeterProcess(state, *args)
    code = meter.finish(timeout)
    err = meter.log_text()
    assert code != 0, f"the meter started: {err!r}"
    assert "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("acesm-meter: error: "), err
    return lines[0]
