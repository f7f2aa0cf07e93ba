"""A prepayment run over the wire (issue 11 item 5): gurux-dlms as shipped is the head end (its
GXDLMSAccount.activate for the account's method, its GXDLMSTokenGateway/GXDLMSCharge/
GXDLMSCredit for the typed reads; gurux has no enter() helper, so enter is its generic
client.method with the token octet-string) against a time-scaled acesm-prepay meter process
over the TCP wrapper.

A token is accepted once (the same token refused, a forged one and one made for another meter
refused, each with its token_status code); the credit falls with the consumption at the unit
charge, to the cent of floor((E - E0) x 25 / 1000) on every row of the charge collection
history, E following the scenario's 3 x 230 V x 5 A x 0.95; low credit and credit exhausted
are logged, the relay opens at zero and the load-side power reads 0; a new token repays the
debt and the relay closes again (control_mode 6: local reconnect); after a kill -9 the used
tokens stay used and the money still matches the energy."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from interop.clients import SUCCESS, GuruxDriver, Ref, parse_datetime
from supply.test_relays_wire import head_end, read, wait_for
from support.paths import ROOT
from support.process import meter_process

from meter.security.prepay_token import make_token

pytestmark = pytest.mark.interop

PROFILE = ROOT / "profiles" / "acesm-prepay.toml"
KEY = bytes.fromhex("5445535420544F4B454E204B45592031")  # acesm-prepay.toml token_key
TITLE = bytes.fromhex("4143450000000003")  # acesm-prepay.toml [meter] system_title
ACCOUNT, GATEWAY = "0.0.19.0.0.255", "0.0.19.40.0.255"
CHARGE, TOKEN_CREDIT = "0.0.19.20.0.255", "0.0.19.10.0.255"
RELAY = "0.0.96.3.10.255"
AVAILABLE = Ref(111, ACCOUNT, 5)
DEBT = Ref(111, ACCOUNT, 8)
MODE_AND_STATUS = Ref(111, ACCOUNT, 2)
TOKEN_STATUS = Ref(115, GATEWAY, 6)
PAID = Ref(113, CHARGE, 2)
CONTROL_STATE = Ref(70, RELAY, 3)
POWER = Ref(3, "1.0.1.7.0.255", 2)
STANDARD_LOG = Ref(7, "0.0.99.98.0.255", 2)
DISCONNECTOR_LOG = Ref(7, "0.0.99.98.2.255", 2)
HISTORY = Ref(7, "0.0.99.14.0.255", 2)
TOKEN_HISTORY = Ref(7, "0.0.99.15.0.255", 2)
DISCONNECTED, CONNECTED, READY = 0, 1, 2
FULL_W = 3 * 230.0 * 5.0 * 0.95  # acesm.toml [meter]: the scenario's load
LOW_CREDIT, EXHAUSTED, ACCEPTED, REFUSED, RESTORED = 240, 241, 242, 243, 245
WAIT_S = 60.0  # a whole token's worth of consumption at 600x takes about 8 s


def enter(m: GuruxDriver, token: bytes) -> tuple[int, int]:
    """gurux's client.method on Token gateway method 1 with the token; (action-result, status)."""
    from gurux_dlms.enums import DataType
    from gurux_dlms.objects import GXDLMSTokenGateway

    result = int(m._exchange(m.client.method(GXDLMSTokenGateway(GATEWAY), 1, token,
                                             DataType.OCTET_STRING)).error)
    return result, int(read(m, TOKEN_STATUS)[0])


def codes(m: GuruxDriver, ref: Ref) -> list[int]:
    return [int(row[1]) for row in read(m, ref) or []]


def check_history(m: GuruxDriver) -> list[list[Any]]:
    """Every row of the charge collection history: what the unit charge took (paid + debt) is
    floor((E - E0) x 25 / 1000) cents, E0 the first row's (the baseline at activation)."""
    rows = read(m, HISTORY)
    assert rows, "no charge collection history"
    e0 = int(rows[0][1])
    for row in rows:
        energy, paid, debt = int(row[1]), int(row[2]), int(row[6])
        assert paid + debt == (energy - e0) * 25 // 1000, row
    return rows


def test_prepayment_run_over_gurux(tmp_path: Path) -> None:
    from gurux_dlms.objects import GXDLMSAccount, GXDLMSCharge

    state = tmp_path / "state"
    with meter_process(state, "--tcp", "127.0.0.1:0", "--profile", str(PROFILE),
                       "--time-scale", "600") as process:
        with head_end(process) as m:
            assert read(m, MODE_AND_STATUS) == [2, 1]  # prepayment, new
            # gurux's own charge class reads the unit charge the meter encodes
            charge = GXDLMSCharge(CHARGE)
            assert m._exchange(m.client.read(charge, 5)).error == 0
            first = make_token(KEY, TITLE, 1, 100)
            assert enter(m, first) == (SUCCESS, 3)
            assert enter(m, first)[1] == 6  # the same token: validation failure
            assert enter(m, first)[0] != SUCCESS
            forged = first[:-1] + bytes([first[-1] ^ 1])
            assert enter(m, forged)[1] == 5  # authentication failure
            assert enter(m, make_token(KEY, bytes.fromhex("4143450000000001"), 2, 100))[1] == 5
            assert enter(m, first[:10])[1] == 4  # format failure
            assert read(m, AVAILABLE) == 100
            assert int(m._exchange(GXDLMSAccount(ACCOUNT).activate(m.client)).error) == SUCCESS
            assert read(m, MODE_AND_STATUS) == [2, 2]
            t0 = time.monotonic()
            # 1.00 EUR at 25 cent/kWh of 3.28 kW: about 73 simulated minutes, then the relay opens
            wait_for(m, CONTROL_STATE, READY, WAIT_S)
            assert read(m, POWER) == 0 and read(m, AVAILABLE) == 0
            assert time.monotonic() - t0 > 3  # it took consumption (600x: >= 30 min simulated)
            log = codes(m, STANDARD_LOG)
            assert log.index(LOW_CREDIT) < log.index(EXHAUSTED)
            assert codes(m, DISCONNECTOR_LOG)[-2:] == [64, 59]  # local disconnection, ready
            rows = check_history(m)
            assert int(rows[-1][2]) + int(rows[-1][6]) >= 100  # the whole token was used
            # the energy follows the scenario's load (the relay was closed until the last row)
            closed = [r for r in rows if int(r[2]) < 100]
            seconds = (parse_datetime(bytes(closed[-1][0]))
                       - parse_datetime(bytes(rows[0][0]))).total_seconds()
            energy = int(closed[-1][1]) - int(rows[0][1])
            assert energy == pytest.approx(FULL_W * seconds / 3600, rel=0.01)
            # a new token: repays the debt, the relay closes again (mode 6, transition h)
            debt = read(m, DEBT)
            assert enter(m, make_token(KEY, TITLE, 2, 500)) == (SUCCESS, 3)
            assert read(m, DEBT) == 0
            assert read(m, AVAILABLE) <= 500 - debt
            assert read(m, CONTROL_STATE) == CONNECTED
            wait_for(m, POWER, lambda w: w > 3000)
            assert codes(m, STANDARD_LOG)[-2:] == [RESTORED, ACCEPTED]
            assert len(read(m, TOKEN_HISTORY)) == 2
            wait_for(m, PAID, lambda p: p > 110)  # the credit falls again
            paid_before = read(m, PAID)
        process.kill()  # kill -9 after the head end left: nothing runs on the way down

    with meter_process(state, "--tcp", "127.0.0.1:0", "--profile", str(PROFILE),
                       "--time-scale", "600") as process, head_end(process) as m:
        assert enter(m, make_token(KEY, TITLE, 2, 500))[1] == 6  # still used after the crash
        assert enter(m, first)[1] == 6
        assert read(m, PAID) >= paid_before - 1  # a kill loses at most the uncommitted minute
        wait_for(m, PAID, lambda p: p > paid_before + 2)
        check_history(m)


def test_token_make_cli_is_accepted_by_the_meter(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "meter.cli", "token", "make", "--amount", "250", "--meter",
         TITLE.hex(), "--id", "9"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    token = bytes.fromhex(out.strip())
    assert token == make_token(KEY, TITLE, 9, 250)  # the key from the profile's token gateway
    with meter_process(tmp_path / "state", "--tcp", "127.0.0.1:0", "--profile", str(PROFILE)) as process, \
            head_end(process) as m:
        assert enter(m, token) == (SUCCESS, 3)
        assert read(m, AVAILABLE) == 250
