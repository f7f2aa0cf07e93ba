"""The virtual LCD (meter/device/display.py) on injected time: the text it shows at given times
(scrolling through the display list 0.0.21.0.1.255 every display_scroll_s, each item as short
code, value and unit), the consumer message via display 0.0.96.13.1.255 overriding it for
display_message_s from its write (its time kept across a restart), a SET of the list's
capture_objects changing what scrolls. Writes go through the meter's own server (SET by a
management client), as a head end's would."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from support import FakeTimebase
from support.meter import START, Meter
from support.process import profile_with

from meter.codec.axdr import Array, Integer, LongUnsigned, OctetString, Structure
from meter.codec.obis import Obis
from meter.cosem.names import CONSUMER_MESSAGE_DISPLAY, DISPLAY_LIST
from meter.device.display import short_code

ENERGY = Obis.parse("1.0.1.8.0.255")
ITEMS = ["1.0.0", "1.8.0", "2.8.0", "1.8.1", "1.8.2", "C.14.0", "32.7.0"]


@pytest.fixture
def meter(tmp_path: Path) -> Iterator[Meter]:
    profile = profile_with(tmp_path, "[meter]\ndisplay_scroll_s = 10\ndisplay_message_s = 30\n")
    m = Meter(tmp_path / "state", profile, timebase=FakeTimebase(START, scale=3600.0))
    yield m
    m.close()


def index_at(t: float, n: int = len(ITEMS), scroll: int = 10) -> int:
    return math.floor(t / scroll) % n


def write_message(meter: Meter, text: bytes) -> None:
    client = meter.management()
    assert client.set(1, CONSUMER_MESSAGE_DISPLAY, 2, OctetString(text)) == 0
    client.release()


def test_short_codes() -> None:
    assert short_code(Obis.parse("1.0.1.8.0.255")) == "1.8.0"
    assert short_code(Obis.parse("0.0.96.14.0.255")) == "C.14.0"
    assert short_code(Obis.parse("0.0.97.97.0.255")) == "F.97.0"
    assert short_code(Obis.parse("1.0.1.8.0.101")) == "1.8.0*101"
    assert short_code(Obis.parse("0.1.25.9.0.255")) == "0-1:25.9.0"


def test_the_lcd_scrolls_through_the_display_list(meter: Meter) -> None:
    device = meter.device
    seen = []
    for k in range(len(ITEMS) + 1):
        t = START + 10 * k + 3  # inside each 10 s slot
        text = device.display_text(t)
        state = device.display_state(t)
        assert state["text"] == text and state["message"] is None
        assert state["index"] == index_at(t) and state["list"] == str(DISPLAY_LIST)
        assert text.split(" ")[0] == ITEMS[index_at(t)]
        seen.append(text)
        if text.startswith("1.8.0 "):
            # +A as the register holds it (Wh, scaler from its scaler_unit), shown in kWh
            value, unit = text.split(" ")[1:]
            client = meter.reader()
            wh = client.get(3, ENERGY, 2).to_python()
            scaler = client.get(3, ENERGY, 3).items[0].to_python()
            client.release()
            assert unit == "kWh" and float(value) == pytest.approx(wh * 10.0 ** scaler / 1000, abs=0.001)
        if text.startswith("1.0.0 "):
            assert text == f"1.0.0 {datetime.fromtimestamp(t, UTC):%Y-%m-%d %H:%M:%S}"  # local = UTC
        if text.startswith("32.7.0 "):
            assert text.endswith(" V") and 200 < float(text.split(" ")[1]) < 260
    assert {s.split(" ")[0] for s in seen} == set(ITEMS)
    # Within one slot the LCD shows the same item; the next slot shows the next one.
    t = START + 1000
    first = device.display_state(t)["index"]
    assert device.display_state(t + 9.9 - t % 10)["index"] == first
    assert device.display_state(t + 10)["index"] == (first + 1) % 7


def test_a_consumer_message_overrides_for_its_time_and_survives_a_restart(meter: Meter) -> None:
    device = meter.device
    meter.timebase.t = START + 100
    write_message(meter, b"Power cut Tuesday 9-11")
    state = meter.device.display_state(START + 105)
    assert state["text"] == state["message"] == "Power cut Tuesday 9-11"
    assert state["index"] is None
    meter.timebase.t = START + 110
    meter.reopen()  # the message and its write time are the meter's to keep
    device = meter.device
    assert device.display_text(START + 129) == "Power cut Tuesday 9-11"
    text = device.display_text(START + 131)  # display_message_s = 30 after the write
    assert text.split(" ")[0] == ITEMS[index_at(START + 131)]
    # A new message shows again; an empty one clears it at once.
    meter.timebase.t = START + 140
    write_message(meter, b"\x01\x02")  # not text: shown as hex
    assert meter.device.display_text(START + 141) == "0102"
    write_message(meter, b"")
    assert meter.device.display_state(START + 142)["message"] is None


def test_a_message_with_no_time_limit_shows_until_cleared(tmp_path: Path) -> None:
    # acesm: display_message_s 0; the engine fast-forwards (scale > 10) through the day
    m = Meter(tmp_path / "state", timebase=FakeTimebase(START, scale=3600.0))
    try:
        m.timebase.t = START + 5
        write_message(m, b"Hello")
        assert m.device.display_text(START + 86400) == "Hello"
        write_message(m, b"")
        assert m.device.display_text(START + 86400).split(" ")[0] in ITEMS
    finally:
        m.close()


def test_a_set_of_capture_objects_changes_what_scrolls(meter: Meter) -> None:
    def column(class_id: int, name: str) -> Structure:
        return Structure((LongUnsigned(class_id), OctetString(Obis.parse(name).to_bytes()),
                          Integer(2), LongUnsigned(0)))

    client = meter.management()
    assert client.set(7, DISPLAY_LIST, 3, Array((column(3, "1.0.2.8.0.255"),
                                                 column(1, "0.0.96.14.0.255")))) == 0
    client.release()
    device = meter.device
    t = START + 20 * 60
    shown = [device.display_text(t + 10 * k).split(" ")[0] for k in range(4)]
    first = index_at(t, 2)
    expected = [["2.8.0", "C.14.0"][(first + k) % 2] for k in range(4)]
    assert shown == expected
    assert device.display_state(t)["items"] == ["1.0.2.8.0.255", "0.0.96.14.0.255"]
