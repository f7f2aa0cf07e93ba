"""What a head end's read on a new connection does to the meter (the per-connection path that
tools/bench-fleet measures): the session is in the communication log and its counter, every
time; its writes do not make the next request re-plan the scheduler (only what a plan rests on
does); its alarm bits raised once are logged at INFO once, not at every session."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from meter import apdu as A
from meter.codec.obis import Obis
from meter.cosem.names import COMMUNICATION_LOG
from meter.device import Device
from meter.device.scheduler import Scheduler
from meter.link.framing import Framing
from meter.link.wrapper import WrapperPdu

from .helpers import fast_timebase, open_device

AARQ = bytes.fromhex("601DA109060760857405080101BE10040E01000000065F1F0400007E1FFFFF")
GET_SERIAL = bytes.fromhex("C001C1" "0001" "0000600100FF" "02" "00")
COUNTER = Obis.parse("0.0.96.15.5.255")  # communication events (profiles/acesm.toml)


def _read(device: Device, now: float) -> bytes:
    stack = device.new_stack(Framing.WRAPPER, now=lambda: now)
    stack.connection_made(0.0)
    aare = stack.receive_data(WrapperPdu(16, 1, AARQ).to_bytes(), 0.0)
    reply = stack.receive_data(WrapperPdu(16, 1, GET_SERIAL).to_bytes(), 0.0)
    stack.connection_lost()
    answer = A.decode_apdu(aare[8:])
    assert isinstance(answer, A.AARE) and answer.result == A.AssociationResult.ACCEPTED
    return reply[8:]


def test_every_session_is_logged_and_counted_without_replanning(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    timebase = fast_timebase()
    device = open_device(tmp_path / "state", timebase)
    now = timebase.now()
    _read(device, now)  # the first session may plan (the state's first request)
    log = device.directory.get(COMMUNICATION_LOG)
    counter = device.directory.get(COUNTER)
    assert log is not None and counter is not None
    rows, count = len(log.buffer), counter.int_value("value")
    plans = []
    real = Scheduler._run_until
    monkeypatch.setattr(Scheduler, "_run_until", lambda self, t: (plans.append(t), real(self, t)))
    caplog.set_level(logging.DEBUG)
    for _ in range(3):
        assert _read(device, now)[:4] == bytes.fromhex("C401C100")  # data of the GET
    assert len(log.buffer) == rows + 3 and counter.int_value("value") == count + 3
    assert plans == []  # nothing they wrote is something a plan rests on
    alarms = [r for r in caplog.records if r.getMessage().startswith("alarm SESSION_OPENED")]
    assert alarms and all(r.levelno == logging.DEBUG for r in alarms)  # raised by the first
    device.persistence.changed(device.clock)  # a clock setting re-plans
    device.commit()
    device.at(now + 1.0)
    assert plans
    device.close()

    again = open_device(tmp_path / "state", timebase)  # and all of it was stored
    assert len(again.directory.get(COMMUNICATION_LOG).buffer) == rows + 3  # type: ignore[union-attr]
    assert again.directory.get(COUNTER).int_value("value") == count + 3  # type: ignore[union-attr]
    again.close()
