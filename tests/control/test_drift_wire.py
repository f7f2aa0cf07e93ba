"""Clock drift on a running `acesm-meter serve --control` process, seen by gurux-dlms as a head
end sees it (ACESM UC 6, clock synchronisation): the control API sets the crystal 100 ppm fast,
ten simulated days pass in a jump, the head end reads the clock 0.0.1.0.0.255 ~86.4 s ahead of
true time (GET /time), the management client (HLS-GMAC) writes the time and the deviation is ~0
again while the rate stays and accumulates from the setting; the load profile's capture times
stay on meter time's quarter-hour grid throughout. Bad rates get a 400, the meter serving on."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from interop import clients as dlms
from interop.clients import Endpoint, GuruxDriver, Ref, parse_datetime
from interop.clients import read_ok as read
from interop.conftest import INVOCATION_COUNTER
from support.process import MeterProcess, meter_process

from meter.control import Client, ControlError

pytestmark = pytest.mark.interop

CLOCK = Ref(8, "0.0.1.0.0.255", 2)
LOAD_PROFILE = "1.0.99.1.0.255"
PPM = 100.0
DAYS = 10


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[MeterProcess, Client]]:
    tmp = tmp_path_factory.mktemp("drift")
    with meter_process(tmp / "state", "--tcp", "127.0.0.1:0", "--control", "127.0.0.1:0") as process:
        host, port = process.address("control")
        yield process, Client(f"http://{host}:{port}")


def head_end(process: MeterProcess) -> GuruxDriver:
    driver = GuruxDriver(Endpoint(dlms.WRAPPER, *process.address("tcp")), dlms.READER)
    driver.associate()
    return driver


def management(process: MeterProcess) -> GuruxDriver:
    endpoint = Endpoint(dlms.WRAPPER, *process.address("tcp"))
    public = GuruxDriver(endpoint, dlms.PUBLIC)
    public.associate()
    try:
        counter = int(read(public, INVOCATION_COUNTER)) + 1
    finally:
        public.release()
    driver = GuruxDriver(endpoint, dlms.MANAGEMENT, counter)
    driver.associate()
    return driver


def deviation_on_the_wire(driver: GuruxDriver, client: Client) -> float:
    """The meter's clock as the head end reads it minus true time (GET /time right after: at
    time scale 1 the two are a fraction of a second apart; the clock reads whole seconds)."""
    meter = parse_datetime(read(driver, CLOCK))
    true = datetime.fromisoformat(client.time()["true_time"])
    return (meter - true).total_seconds()


def capture_times(driver: GuruxDriver, last: int) -> list[datetime]:
    entries = int(read(driver, Ref(7, LOAD_PROFILE, 7)))
    rows = driver.read_profile_entries(LOAD_PROFILE, max(1, entries - last + 1), entries)
    return [parse_datetime(row[0]) for row in rows]


def test_a_drifting_clock_is_found_off_and_set_right_by_the_head_end(
        served: tuple[MeterProcess, Client]) -> None:
    process, client = served
    answer = client.drift(PPM)
    assert answer == {"drift_ppm": PPM, "deviation_s": 0.0}
    jumped = client.jump(f"{DAYS}d")
    expected = PPM * 1e-6 * DAYS * 86400  # 86.4 s fast
    assert jumped["drift_ppm"] == PPM
    assert expected - 1 < jumped["deviation_s"] <= expected  # whole one-second steps

    m = head_end(process)
    try:
        assert deviation_on_the_wire(m, client) == pytest.approx(expected, abs=1.5)
        times = capture_times(m, 96 * DAYS)
        assert len(times) >= 96 * DAYS - 2
        assert all(t.minute % 15 == 0 and t.second == 0 for t in times), times[-5:]
    finally:
        m.release()

    # UC 6: the head end corrects the clock by a SET of its time, to true time.
    hes = management(process)
    try:
        true = datetime.fromisoformat(client.time()["true_time"]) + timedelta(seconds=1)
        setting = dlms.encode_datetime(true.replace(microsecond=0))
        assert hes.set(CLOCK, dlms.Arg(dlms.OCTET_STRING, setting)) == dlms.SUCCESS
        assert deviation_on_the_wire(hes, client) == pytest.approx(0.0, abs=1.5)
    finally:
        hes.release()
    now = client.time()
    assert now["drift_ppm"] == PPM and abs(now["deviation_s"]) <= 1.5

    # The rate is the crystal's: a day later the clock is ~8.6 s fast again.
    client.jump("1d")
    m = head_end(process)
    try:
        assert deviation_on_the_wire(m, client) == pytest.approx(8.64, abs=2.0)
        times = capture_times(m, 96)
        assert all(t.minute % 15 == 0 and t.second == 0 for t in times), times[-5:]
    finally:
        m.release()


@pytest.mark.parametrize("body", [{"ppm": 20_000}, {"ppm": "fast"}, {}, {"ppm": None}])
def test_a_bad_rate_is_a_400_and_the_meter_serves_on(served: tuple[MeterProcess, Client],
                                                      body: dict[str, object]) -> None:
    process, client = served
    with pytest.raises(ControlError) as refused:
        client.request("POST", "/inject/drift", body)
    assert refused.value.status == 400 and "ppm" in str(refused.value)
    assert "drift_ppm" in client.time()
    m = head_end(process)
    try:
        assert read(m, CLOCK)
    finally:
        m.release()
