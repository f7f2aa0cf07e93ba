"""Prepayment in process (issue 11 item 5): the acesm-prepay meter read through its own stack with
hand-moved time. The run with gurux-dlms over a socket is test_prepay_wire.py; these cover
the rules of meter/cosem/prepayment.py one by one: the unit charge and the standing charge
against the energy, the relay per control_mode (button in mode 4; mode 0 cannot disconnect:
event 68), the one-shot emergency credit and its payback, credit mode, a restart."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import FakeTimebase, Meter
from support.paths import ROOT
from support.process import profile_with

from meter.codec import axdr
from meter.codec.obis import Obis
from meter.cosem.disconnect_control import ControlState
from meter.cosem.events import PrepaymentEvent
from meter.cosem.prepayment import unit_charge
from meter.security.prepay_token import make_token

PROFILE = ROOT / "profiles" / "acesm-prepay.toml"
KEY = bytes.fromhex("5445535420544F4B454E204B45592031")
TITLE = bytes.fromhex("4143450000000003")
ACCOUNT = Obis.parse("0.0.19.0.0.255")
GATEWAY = Obis.parse("0.0.19.40.0.255")
TOKEN_CREDIT = Obis.parse("0.0.19.10.0.255")
EMERGENCY = Obis.parse("0.0.19.10.1.255")
UNIT = Obis.parse("0.0.19.20.0.255")
STANDING = Obis.parse("0.0.19.20.1.255")
RELAY = Obis.parse("0.0.96.3.10.255")
ENERGY = Obis.parse("1.0.1.8.0.255")
POWER = Obis.parse("1.0.1.7.0.255")
HISTORY = Obis.parse("0.0.99.14.0.255")
STANDARD_LOG = Obis.parse("0.0.99.98.0.255")
DISCONNECTOR_LOG = Obis.parse("0.0.99.98.2.255")
ALARM_REGISTER_2 = Obis.parse("0.0.97.98.1.255")
SUCCESS = 0


class Prepay:
    """The meter, with the head end's moves."""

    def __init__(self, meter: Meter) -> None:
        self.meter = meter
        self.next_id = 1

    def get(self, class_id: int, obis: Obis, attribute: int) -> object:
        return self.meter.reader().get(class_id, obis, attribute).to_python()

    def act(self, class_id: int, obis: Obis, method: int, params: axdr.Data) -> int:
        result, _ = self.meter.management().action_result(obis, method, params, class_id=class_id)
        return result

    def top_up(self, amount: int) -> int:
        token = make_token(KEY, TITLE, self.next_id, amount)
        self.next_id += 1
        return self.act(115, GATEWAY, 1, axdr.OctetString(token))

    def activate(self) -> None:
        assert self.act(111, ACCOUNT, 1, axdr.Integer(0)) == SUCCESS

    def run(self, seconds: float, step: float = 600) -> None:
        end = self.meter.timebase.t + seconds
        while self.meter.timebase.t < end:
            self.meter.timebase.t = min(end, self.meter.timebase.t + step)
            self.get(8, Obis.parse("0.0.1.0.0.255"), 2)  # a request brings the meter to now

    def available(self) -> int:
        return int(self.get(111, ACCOUNT, 5))  # type: ignore[call-overload]

    def relay(self) -> int:
        return int(self.get(70, RELAY, 3))  # type: ignore[call-overload]

    def codes(self, log: Obis) -> list[int]:
        rows = self.get(7, log, 2)
        assert isinstance(rows, list)
        return [int(row[1]) for row in rows]

    def history(self) -> list[list[int]]:
        rows = self.get(7, HISTORY, 2)
        assert isinstance(rows, list)
        return [[int(x) for x in row[1:]] for row in rows]

    def set_mode(self, mode: int) -> None:
        m = self.meter.management()
        m.set(70, RELAY, 4, axdr.Enum(mode))


def money_matches_energy(p: Prepay) -> None:
    """Each history row: unit charge paid + debt = floor((E - E0) x 25 / 1000) cents."""
    rows = p.history()
    e0 = rows[0][0]
    for energy, paid, _last, _standing, _available, debt in rows:
        assert paid + debt == (energy - e0) * 25 // 1000


@pytest.fixture
def prepay(tmp_path: Path) -> Iterator[Prepay]:
    meter = Meter(tmp_path / "state", PROFILE, timebase=FakeTimebase(scale=3600.0))
    yield Prepay(meter)
    meter.close()


def test_unit_charge_follows_the_energy_and_the_standing_charge_is_daily(prepay: Prepay) -> None:
    assert prepay.top_up(10000) == SUCCESS
    prepay.activate()
    prepay.run(25 * 3600)  # past midnight once
    money_matches_energy(prepay)
    unit_paid = int(prepay.get(113, UNIT, 2))  # type: ignore[call-overload]
    energy = int(prepay.get(3, ENERGY, 2))  # type: ignore[call-overload]
    assert unit_paid == pytest.approx(energy * 25 / 1000, abs=2)  # E0 was 0 at activation
    assert prepay.get(113, STANDING, 2) == 30  # one day boundary
    assert prepay.available() == 10000 - unit_paid - 30
    assert prepay.relay() == ControlState.CONNECTED


def test_out_of_credit_in_mode_4_the_customer_presses_the_button(prepay: Prepay) -> None:
    prepay.set_mode(4)
    assert prepay.top_up(100) == SUCCESS
    prepay.activate()
    prepay.run(2 * 3600, step=60)
    assert prepay.available() == 0 and prepay.relay() == ControlState.READY_FOR_RECONNECTION
    assert prepay.get(3, POWER, 2) == 0
    debt = int(prepay.get(111, ACCOUNT, 8))  # type: ignore[call-overload]
    assert prepay.top_up(1000) == SUCCESS
    assert prepay.get(111, ACCOUNT, 8) == 0 and prepay.available() == 1000 - debt
    assert prepay.relay() == ControlState.READY_FOR_RECONNECTION  # mode 4 has no local reconnect
    assert prepay.meter.device.press_button() == ControlState.CONNECTED
    prepay.run(60)
    assert float(prepay.get(3, POWER, 2)) > 3000  # type: ignore[arg-type]
    log = prepay.codes(STANDARD_LOG)
    assert log.index(240) < log.index(241) < log.index(245)
    # Both raised their alarm bits in alarm register 2 (acesm-prepay.toml: 8 low, 9 out).
    assert int(prepay.get(1, ALARM_REGISTER_2, 2)) & 0x300 == 0x300  # type: ignore[call-overload]
    assert prepay.codes(DISCONNECTOR_LOG) == [64, 59, 61]


def test_mode_0_cannot_disconnect_and_logs_the_failure(prepay: Prepay) -> None:
    prepay.set_mode(0)
    assert prepay.top_up(50) == SUCCESS
    prepay.activate()
    prepay.run(3600, step=60)
    assert prepay.relay() == ControlState.CONNECTED
    assert prepay.codes(DISCONNECTOR_LOG) == [68]  # disconnect/reconnect failure
    assert int(prepay.get(111, ACCOUNT, 8)) > 0  # type: ignore[call-overload]
    money_matches_energy(prepay)


def test_emergency_credit_is_one_shot_and_paid_back(prepay: Prepay) -> None:
    assert prepay.top_up(300) == SUCCESS
    prepay.activate()
    assert prepay.get(112, EMERGENCY, 8) == 0  # enabled, not selectable yet
    assert prepay.act(112, EMERGENCY, 3, axdr.Unsigned(0)) != SUCCESS
    prepay.run(4 * 3600, step=60)  # token credit below 1.00 EUR and then spent: out of credit
    assert prepay.relay() == ControlState.READY_FOR_RECONNECTION
    assert prepay.get(112, EMERGENCY, 8) == 1  # selectable
    assert prepay.act(112, EMERGENCY, 3, axdr.Unsigned(0)) == SUCCESS
    assert prepay.get(112, EMERGENCY, 2) == 500
    assert prepay.act(112, EMERGENCY, 3, axdr.Unsigned(0)) != SUCCESS  # one shot
    assert prepay.relay() == ControlState.CONNECTED  # back in credit: mode 6 reconnects
    prepay.run(1800, step=60)
    assert prepay.get(112, EMERGENCY, 8) == 3  # in use
    left = int(prepay.get(112, EMERGENCY, 2))  # type: ignore[call-overload]
    assert 0 < left < 500
    debt = int(prepay.get(111, ACCOUNT, 8))  # type: ignore[call-overload]
    assert prepay.get(111, ACCOUNT, 6) == 500 - left + debt  # amount to clear
    assert prepay.top_up(2000) == SUCCESS
    assert prepay.get(112, EMERGENCY, 8) == 0 and prepay.get(112, EMERGENCY, 2) == 0  # ready again
    assert prepay.available() == 2000 - (500 - left) - debt
    assert 244 in prepay.codes(STANDARD_LOG)
    money_matches_energy(prepay)


def test_credit_mode_never_disconnects(tmp_path: Path) -> None:
    profile = profile_with(tmp_path, '[[object]]\nobis = "0.0.19.0.0.255"\npayment_mode = 1\n'
                                     "account_status = 2\n", PROFILE)
    meter = Meter(tmp_path / "state", profile, timebase=FakeTimebase(scale=3600.0))
    p = Prepay(meter)
    p.run(2 * 3600)
    assert p.relay() == ControlState.CONNECTED
    debt = int(p.get(111, ACCOUNT, 8))  # type: ignore[call-overload]
    assert debt > 0 and p.available() == -debt
    money_matches_energy(p)
    meter.close()


def test_a_passive_unit_charge_becomes_active(prepay: Prepay) -> None:
    new = unit_charge((3, ENERGY, 2), -3, 0, 50)
    assert prepay.act(113, UNIT, 1, new) == SUCCESS
    assert prepay.get(113, UNIT, 6) == new.to_python() != prepay.get(113, UNIT, 5)
    assert prepay.act(113, UNIT, 2, axdr.Integer(0)) == SUCCESS
    assert prepay.get(113, UNIT, 5) == new.to_python()
    assert prepay.act(113, UNIT, 1, axdr.Integer(3)) != SUCCESS  # not a unit_charge


def test_tokens_and_money_survive_a_restart(prepay: Prepay) -> None:
    assert prepay.top_up(5000) == SUCCESS
    prepay.activate()
    prepay.run(3600)
    paid = prepay.get(113, UNIT, 2)
    prepay.meter.restart()
    assert prepay.get(113, UNIT, 2) == paid
    prepay.next_id = 1
    assert prepay.top_up(5000) != SUCCESS  # id 1 is still used
    assert prepay.get(115, GATEWAY, 6) == [6, "00000000"]
    prepay.run(3600)
    money_matches_energy(prepay)
    assert prepay.available() == 5000 - int(prepay.get(113, UNIT, 2))  # type: ignore[call-overload]


def test_ids_are_remembered_in_a_window(prepay: Prepay) -> None:
    prepay.next_id = 100
    assert prepay.top_up(10) == SUCCESS
    prepay.next_id = 37  # 63 below the highest: still in the window, unused
    assert prepay.top_up(10) == SUCCESS
    prepay.next_id = 36  # 64 below: too old
    assert prepay.top_up(10) != SUCCESS
    assert prepay.get(115, GATEWAY, 6) == [6, "00000000"]
    prepay.next_id = 37
    assert prepay.top_up(10) != SUCCESS
    assert prepay.available() == 20


def test_garbage_to_enter_is_refused_and_the_meter_serves_on(prepay: Prepay) -> None:
    rng = random.Random(11)
    token = make_token(KEY, TITLE, 5, 100)
    bad: list[axdr.Data] = [axdr.Integer(3), axdr.NULL, axdr.Structure((axdr.OctetString(token),)),
                            axdr.OctetString(token * 30)]
    bad += [axdr.OctetString(rng.randbytes(rng.randrange(0, 80))) for _ in range(150)]
    for params in bad:
        assert prepay.act(115, GATEWAY, 1, params) != SUCCESS
        assert prepay.get(115, GATEWAY, 6) in ([4, "00000000"], [5, "00000000"], [0, "00000000"])
    assert prepay.available() == 0
    assert prepay.top_up(100) == SUCCESS  # the gateway still takes a good token
    assert prepay.available() == 100


def test_while_disconnected_the_standing_charge_becomes_debt(prepay: Prepay) -> None:
    """credit_charge_configuration bit 0 (collect when disconnected) is off in the profile."""
    assert prepay.top_up(100) == SUCCESS
    prepay.activate()
    prepay.run(2 * 3600, step=60)
    assert prepay.relay() == ControlState.READY_FOR_RECONNECTION
    debt = int(prepay.get(111, ACCOUNT, 8))  # type: ignore[call-overload]
    prepay.run(23 * 3600)  # past midnight, the supply open all along
    assert prepay.get(111, ACCOUNT, 8) == debt + 30
    assert prepay.get(113, STANDING, 2) == 0 and prepay.available() == 0
    assert prepay.top_up(1000) == SUCCESS  # the debt is repaid first, and counts as paid
    assert prepay.available() == 1000 - debt - 30
    assert prepay.get(113, STANDING, 2) == 30 and prepay.get(111, ACCOUNT, 8) == 0
    prepay.run(120, step=60)
    energy, paid, _, standing, _, debt_now = prepay.history()[-1]
    assert (paid, standing, debt_now) == (energy * 25 // 1000, 30, 0)  # E0 = 0 at activation


def test_function_control_disables_prepayment(prepay: Prepay) -> None:
    """acesm-prepay names a "prepayment" function: disabled, enter and the account's methods
    answer object-unavailable (11); enabled again, a token is accepted."""
    control = Obis.parse("0.0.44.1.0.255")

    def switch(on: bool) -> None:
        entry = axdr.Structure((axdr.OctetString(b"prepayment"), axdr.Boolean(on)))
        assert prepay.act(122, control, 1, axdr.Array((entry,))) == SUCCESS

    switch(False)
    token = axdr.OctetString(make_token(KEY, TITLE, 1, 100))
    assert prepay.act(115, GATEWAY, 1, token) == 11
    assert prepay.act(111, ACCOUNT, 1, axdr.Integer(0)) == 11
    switch(True)
    assert prepay.act(115, GATEWAY, 1, token) == SUCCESS


def test_the_button_without_credit_closes_the_relay_until_the_next_collection(prepay: Prepay) -> None:
    assert prepay.top_up(100) == SUCCESS
    prepay.activate()
    prepay.run(2 * 3600, step=60)
    assert prepay.relay() == ControlState.READY_FOR_RECONNECTION
    assert prepay.meter.device.press_button() == ControlState.CONNECTED
    prepay.run(60, step=60)
    assert prepay.relay() == ControlState.READY_FOR_RECONNECTION
    assert prepay.codes(DISCONNECTOR_LOG) == [64, 59, 61, 64, 59]
    assert prepay.codes(STANDARD_LOG).count(PrepaymentEvent.CREDIT_EXHAUSTED) == 1  # once
